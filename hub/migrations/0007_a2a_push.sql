-- A2A push notifications relayed through the hub. Portable between SQLite and Postgres, like
-- 0001.

-- A client's push-notification config, kept by the hub: the agent was given the hub's own
-- webhook (`/a2a/_push/<id>`) and a secret instead, and the hub delivers what the agent sends
-- there to the client's URL. Only the SHA-256 of the secret is kept. The client's token and
-- credentials are sealed with the master key (bound to `a2a-push:<id>`); `key_id`, `nonce` and
-- `ciphertext` are null when the client gave neither.
CREATE TABLE a2a_push_subscriptions (
    id              TEXT PRIMARY KEY,
    secret_hash     TEXT NOT NULL,
    agent           TEXT NOT NULL,
    -- Null until known: a config given with a message that starts a task.
    task_id         TEXT,
    -- The config's id as the client gave it (or the agent assigned it), when known.
    config_id       TEXT,
    -- On whose behalf (`user:alice`): the task's owner.
    principal       TEXT NOT NULL,
    -- Who made the request (`user:alice`, `service:planner`), for the guardrails' facts.
    caller          TEXT NOT NULL,
    -- The client's `x-agenthub-metadata` (a JSON object), for the guardrails' facts.
    metadata        TEXT NOT NULL,
    -- `1.0` or `0.3`: notifications are delivered in this version.
    client_version  TEXT NOT NULL,
    url             TEXT NOT NULL,
    auth_scheme     TEXT,
    key_id          TEXT,
    nonce           TEXT,
    ciphertext      TEXT,
    -- The exchange that made it: notifications are recorded in its trace.
    trace_id        TEXT NOT NULL,
    span_id         TEXT NOT NULL,
    -- The last delivery's sequence number: deliveries go out in this order.
    next_seq        BIGINT NOT NULL DEFAULT 0,
    created_at      BIGINT NOT NULL,
    -- The last notification (or creation): idle subscriptions are deleted after a while.
    updated_at      BIGINT NOT NULL
);
CREATE INDEX a2a_push_subscriptions_task ON a2a_push_subscriptions (agent, task_id);
CREATE INDEX a2a_push_subscriptions_updated ON a2a_push_subscriptions (updated_at);

-- One notification to deliver to a client's webhook: the body exactly as it is sent (in the
-- client's version, after the guardrails), every attempt the same. `id` is the delivery id the
-- client sees (stable across retries). Each attempt is claimed in the store first (`attempts`
-- and `next_attempt_at` move together), so one replica sends it at a time; a subscription's
-- deliveries go out one after another, in `seq` order.
CREATE TABLE a2a_push_deliveries (
    id               TEXT PRIMARY KEY,
    subscription_id  TEXT NOT NULL REFERENCES a2a_push_subscriptions (id) ON DELETE CASCADE,
    seq              BIGINT NOT NULL,
    body             TEXT NOT NULL,
    created_at       BIGINT NOT NULL,
    attempts         BIGINT NOT NULL DEFAULT 0,
    next_attempt_at  BIGINT NOT NULL,
    -- `pending`, `delivered` or `failed`.
    state            TEXT NOT NULL,
    finished_at      BIGINT,
    last_error       TEXT,
    UNIQUE (subscription_id, seq)
);
CREATE INDEX a2a_push_deliveries_due ON a2a_push_deliveries (state, next_attempt_at);
CREATE INDEX a2a_push_deliveries_finished ON a2a_push_deliveries (finished_at);
