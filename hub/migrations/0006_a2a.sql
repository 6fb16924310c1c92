-- The A2A plane's records. Portable between SQLite and Postgres, like 0001.

-- The hub's keys for signing the A2A messages it forwards and the cards it serves: the private
-- key (PKCS#8) sealed with the master key and bound to its kid, never in plaintext. The newest
-- key that is not retired signs; retired keys stay published in the JWKS until `expires_at`,
-- so that signatures made just before a rotation still verify.
CREATE TABLE a2a_signing_keys (
    kid          TEXT PRIMARY KEY,
    algorithm    TEXT NOT NULL,
    public_jwk   TEXT NOT NULL,
    key_id       TEXT NOT NULL,
    nonce        TEXT NOT NULL,
    ciphertext   TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    retired_at   BIGINT,
    expires_at   BIGINT
);

-- Every task relayed through the hub: the agent that owns it (agents mint task ids, so two
-- agents may mint the same one) and the principal that started it, who alone may read it.
CREATE TABLE a2a_tasks (
    agent        TEXT NOT NULL,
    task_id      TEXT NOT NULL,
    principal    TEXT NOT NULL,
    context_id   TEXT,
    trace_id     TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    PRIMARY KEY (agent, task_id)
);
CREATE INDEX a2a_tasks_task ON a2a_tasks (task_id);

-- The trace of every exchange, one row per event: a request relayed to an agent, its answer,
-- each status update, artifact or message of a stream, or an error. Bodies are stored after
-- the guardrails redacted them. `span_id` is one hop (one relayed request), `parent_span_id`
-- the hop that caused it in a delegation chain.
CREATE TABLE a2a_trace_events (
    id              TEXT PRIMARY KEY,
    trace_id        TEXT NOT NULL,
    span_id         TEXT NOT NULL,
    parent_span_id  TEXT,
    seq             BIGINT NOT NULL,
    at              BIGINT NOT NULL,
    kind            TEXT NOT NULL,
    agent           TEXT NOT NULL,
    method          TEXT NOT NULL,
    principal       TEXT NOT NULL,
    chain           TEXT NOT NULL,
    context_id      TEXT,
    task_id         TEXT,
    outcome         TEXT,
    duration_ms     BIGINT,
    body            TEXT
);
CREATE INDEX a2a_trace_events_trace ON a2a_trace_events (trace_id, at);
