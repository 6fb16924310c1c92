-- Authentication: identity-provider links, provider-managed memberships, login sessions.
-- Portable between SQLite and Postgres, like 0001.

-- The issuer whose claims granted a membership; NULL for memberships made by hand, which a
-- login never changes. A hand edit of a managed membership takes it over (sets NULL).
ALTER TABLE memberships ADD COLUMN managed_by TEXT;

-- A person at an OpenID provider, linked to a hub user by the stable (issuer, sub) pair.
CREATE TABLE identity_links (
    issuer         TEXT NOT NULL,
    subject        TEXT NOT NULL,
    principal_id   TEXT NOT NULL REFERENCES principals (id) ON DELETE CASCADE,
    -- The hub role the provider's claims granted ('admin'), if a login granted it.
    managed_role   TEXT,
    created_at     BIGINT NOT NULL,
    last_login_at  BIGINT NOT NULL,
    PRIMARY KEY (issuer, subject)
);
CREATE INDEX identity_links_principal ON identity_links (principal_id);

-- Login sessions (web console cookie, or a token for the CLI). Only the SHA-256 of the token
-- is stored.
CREATE TABLE sessions (
    id            TEXT PRIMARY KEY,
    hash          TEXT NOT NULL UNIQUE,
    principal_id  TEXT NOT NULL REFERENCES principals (id) ON DELETE CASCADE,
    provider      TEXT NOT NULL,
    client        TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    expires_at    BIGINT NOT NULL
);
CREATE INDEX sessions_principal ON sessions (principal_id);
CREATE INDEX sessions_expiry ON sessions (expires_at);

-- Logins started at /auth/oidc/{provider}/login and not yet completed, keyed by the SHA-256
-- of their state. Each is consumed by its callback, once.
CREATE TABLE oidc_logins (
    state_hash     TEXT PRIMARY KEY,
    provider       TEXT NOT NULL,
    nonce          TEXT NOT NULL,
    pkce_verifier  TEXT NOT NULL,
    redirect_to    TEXT NOT NULL,
    cli_port       BIGINT,
    cli_challenge  TEXT,
    expires_at     BIGINT NOT NULL
);

-- One-time codes handed to `agenthub login`'s loopback listener, exchanged once for a session.
CREATE TABLE login_codes (
    code_hash     TEXT PRIMARY KEY,
    principal_id  TEXT NOT NULL REFERENCES principals (id) ON DELETE CASCADE,
    provider      TEXT NOT NULL,
    challenge     TEXT NOT NULL,
    expires_at    BIGINT NOT NULL
);
