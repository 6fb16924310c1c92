-- Users' OAuth grants to upstream MCP servers that act for each user (authorization code with
-- PKCE), and the consents under way. Portable between SQLite and Postgres, like 0001.

-- One grant per (server, principal): the user's tokens as one JSON document sealed with the
-- master key (AES-256-GCM, bound to the server and principal), never in plaintext. `version`
-- grows with every write, so that a refresh or a deletion based on an old read changes nothing.
CREATE TABLE mcp_grants (
    server        TEXT NOT NULL,
    principal_id  TEXT NOT NULL REFERENCES principals (id) ON DELETE CASCADE,
    scope         TEXT NOT NULL,
    key_id        TEXT NOT NULL,
    nonce         TEXT NOT NULL,
    ciphertext    TEXT NOT NULL,
    version       BIGINT NOT NULL,
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL,
    PRIMARY KEY (server, principal_id)
);
CREATE INDEX mcp_grants_principal ON mcp_grants (principal_id);

-- Consent links handed to a user whose call needed their consent: the SHA-256 of the ticket,
-- bound to the user and the server, short-lived and taken once.
CREATE TABLE mcp_consent_tickets (
    ticket_hash   TEXT PRIMARY KEY,
    server        TEXT NOT NULL,
    principal_id  TEXT NOT NULL REFERENCES principals (id) ON DELETE CASCADE,
    expires_at    BIGINT NOT NULL
);
CREATE INDEX mcp_consent_tickets_principal ON mcp_consent_tickets (principal_id, expires_at);

-- Consents under way at an authorization server, keyed by the SHA-256 of their state; the
-- PKCE verifier sealed like a grant. Each is taken once, by its callback.
CREATE TABLE mcp_consents (
    state_hash    TEXT PRIMARY KEY,
    server        TEXT NOT NULL,
    principal_id  TEXT NOT NULL REFERENCES principals (id) ON DELETE CASCADE,
    key_id        TEXT NOT NULL,
    nonce         TEXT NOT NULL,
    ciphertext    TEXT NOT NULL,
    expires_at    BIGINT NOT NULL
);
