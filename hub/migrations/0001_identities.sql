-- Portable between SQLite and Postgres: TEXT ids (UUIDv7), BIGINT epoch milliseconds.
CREATE TABLE principals (
    id            TEXT PRIMARY KEY,
    kind          TEXT NOT NULL,
    name          TEXT NOT NULL UNIQUE,
    email         TEXT,
    display_name  TEXT,
    description   TEXT,
    role          TEXT NOT NULL,
    disabled_at   BIGINT,
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL
);

CREATE TABLE teams (
    id           TEXT PRIMARY KEY,
    name         TEXT NOT NULL UNIQUE,
    description  TEXT,
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL
);

CREATE TABLE memberships (
    team_id       TEXT NOT NULL REFERENCES teams (id) ON DELETE CASCADE,
    principal_id  TEXT NOT NULL REFERENCES principals (id) ON DELETE CASCADE,
    role          TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    PRIMARY KEY (team_id, principal_id)
);
CREATE INDEX memberships_principal ON memberships (principal_id);

CREATE TABLE api_keys (
    id            TEXT PRIMARY KEY,
    name          TEXT NOT NULL,
    prefix        TEXT NOT NULL,
    hash          TEXT NOT NULL UNIQUE,
    principal_id  TEXT NOT NULL REFERENCES principals (id) ON DELETE CASCADE,
    team_id       TEXT REFERENCES teams (id) ON DELETE SET NULL,
    scopes        TEXT NOT NULL,
    expires_at    BIGINT,
    created_at    BIGINT NOT NULL,
    last_used_at  BIGINT,
    revoked_at    BIGINT
);
CREATE INDEX api_keys_principal ON api_keys (principal_id);

CREATE TABLE secrets (
    name         TEXT PRIMARY KEY,
    description  TEXT,
    key_id       TEXT NOT NULL,
    nonce        TEXT NOT NULL,
    ciphertext   TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL
);

CREATE TABLE hub_meta (
    name   TEXT PRIMARY KEY,
    value  TEXT NOT NULL
);
