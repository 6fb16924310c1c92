-- Governance rules managed through the admin API: authorization policies and role grants,
-- rate limits, budgets and guardrails. Each row is one rule as a JSON document; the hub
-- validates it on write and merges it with the rules of the configuration file into one
-- snapshot. Rules from the configuration file are not stored here.
CREATE TABLE rules (
    kind        TEXT NOT NULL,
    id          TEXT NOT NULL,
    body        TEXT NOT NULL,
    created_by  TEXT,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL,
    PRIMARY KEY (kind, id)
);

-- Budget usage, one row per (budget, subject, period, measure, replica) holding that replica's
-- absolute total. A write replaces a row only when its version is higher, so replaying or
-- reordering writes changes nothing; a subject's spend is the sum over replicas.
CREATE TABLE budget_usage (
    rule_id       TEXT NOT NULL,
    subject       TEXT NOT NULL,
    period        TEXT NOT NULL,
    measure       TEXT NOT NULL,
    replica       TEXT NOT NULL,
    spent         BIGINT NOT NULL,
    alerts_fired  TEXT NOT NULL,
    version       BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL,
    PRIMARY KEY (rule_id, subject, period, measure, replica)
);

-- Budget alerts, one per budget, subject, period and threshold across all replicas: the
-- first replica to insert the row delivers the alert.
CREATE TABLE budget_alerts (
    dedupe_key    TEXT PRIMARY KEY,
    body          TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    delivered_at  BIGINT,
    attempts      BIGINT NOT NULL DEFAULT 0
);
