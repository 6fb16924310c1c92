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
-- reordering writes changes nothing; a subject's spend is the sum over replicas. `period` is
-- the ISO name of a calendar period (2026-11-26, 2026-W48, 2026-11): the hub reads only the
-- current periods' rows and deletes those older than the previous period.
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
CREATE INDEX budget_usage_period ON budget_usage (period);

-- Budget alerts, one per budget, subject, period and threshold across all replicas: the
-- first replica to insert the row delivers the alert. Every delivery attempt is claimed first
-- by moving `next_attempt_at` forward (only one replica's update can match), so an alert is
-- posted by one replica at a time, and the retry backoff is shared by all of them.
-- Alerts are deleted 35 days after they were raised, delivered or not.
CREATE TABLE budget_alerts (
    dedupe_key       TEXT PRIMARY KEY,
    body             TEXT NOT NULL,
    created_at       BIGINT NOT NULL,
    delivered_at     BIGINT,
    attempts         BIGINT NOT NULL DEFAULT 0,
    next_attempt_at  BIGINT
);
CREATE INDEX budget_alerts_pending ON budget_alerts (delivered_at, next_attempt_at);
CREATE INDEX budget_alerts_created ON budget_alerts (created_at);
