-- One row per LLM call, MCP tool call and A2A hop. Ids are UUIDv7, so the primary key is also
-- the time index: a time range is an id range. The columns are what filters and analytics
-- read; `extra` holds the record's other fields as JSON (ids of the request and span, timings,
-- sizes, fallback path, guardrail verdicts, delegation chain, the error's message), `bodies`
-- the logged bodies, cleared by their own (shorter) retention.
CREATE TABLE requests (
    id TEXT PRIMARY KEY,
    at BIGINT NOT NULL,
    plane TEXT NOT NULL,
    trace_id TEXT,
    principal TEXT NOT NULL,
    team TEXT,
    key_id TEXT,
    target TEXT NOT NULL,
    model TEXT,
    provider TEXT,
    tool TEXT,
    agent TEXT,
    status TEXT NOT NULL,
    error_class TEXT,
    latency_us BIGINT NOT NULL,
    input_tokens BIGINT NOT NULL,
    output_tokens BIGINT NOT NULL,
    cached_tokens BIGINT NOT NULL,
    cost_micros BIGINT NOT NULL,
    metadata TEXT NOT NULL,
    extra TEXT NOT NULL,
    bodies TEXT
);
CREATE INDEX requests_trace ON requests (trace_id);
-- Every caller without the audit area's read access is filtered to their own requests.
CREATE INDEX requests_principal ON requests (principal, id);

-- The audit trail: append-only, each row chained to the one before by its hash.
CREATE TABLE audit_log (
    seq BIGINT PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    at BIGINT NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT NOT NULL,
    outcome TEXT NOT NULL,
    details TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
);
CREATE INDEX audit_log_at ON audit_log (at);

-- The chain's head: one row, locked by every append, so that writers (replicas included) take
-- turns and the chain never forks.
CREATE TABLE audit_head (
    id INTEGER PRIMARY KEY,
    seq BIGINT NOT NULL,
    hash TEXT NOT NULL
);
INSERT INTO audit_head (id, seq, hash)
VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000');
