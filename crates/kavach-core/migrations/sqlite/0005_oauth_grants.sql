-- The authorization server's state. Every secret (authorization code, refresh token,
-- request_uri) is stored as its SHA-256 only; the successor of a rotated refresh
-- token is kept sealed for the grace window so a concurrent refresh gets the same one.

-- A user's remembered consent to a client (what "remember this decision" stores).
CREATE TABLE kavach_oauth_consent (
    user_id     TEXT NOT NULL,
    client_id   TEXT NOT NULL,
    scope       TEXT NOT NULL,
    resource    TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    PRIMARY KEY (user_id, client_id)
);

-- Pushed authorization requests (RFC 9126), single use.
CREATE TABLE kavach_oauth_par (
    request_uri_hash TEXT PRIMARY KEY NOT NULL,
    client_id        TEXT NOT NULL,
    params           TEXT NOT NULL,
    expires_at       INTEGER NOT NULL
);

-- Authorization codes, single use; a replay revokes the family the code created.
CREATE TABLE kavach_oauth_code (
    code_hash   TEXT PRIMARY KEY NOT NULL,
    family_id   TEXT NOT NULL,
    request     TEXT NOT NULL,
    user_id     TEXT NOT NULL,
    auth_time   INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    used_at     INTEGER
);

-- A grant family: everything issued from one authorization (or one client_credentials
-- grant). Revoking the family kills its refresh tokens and its access tokens.
CREATE TABLE kavach_oauth_family (
    id          TEXT PRIMARY KEY NOT NULL,
    client_id   TEXT NOT NULL,
    user_id     TEXT,
    scope       TEXT NOT NULL,
    resource    TEXT,
    auth_time   INTEGER,
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    revoked_at  INTEGER
);
CREATE INDEX kavach_oauth_family_user ON kavach_oauth_family (user_id, client_id);

-- Refresh tokens. Rotating one inserts its successor with `parent_hash` = its hash:
-- the UNIQUE constraint lets only one successor exist, so a rotation is one statement and
-- a concurrent one loses; the successor's own token is kept sealed (for the grace window).
CREATE TABLE kavach_oauth_refresh (
    token_hash        TEXT PRIMARY KEY NOT NULL,
    family_id         TEXT NOT NULL,
    created_at        INTEGER NOT NULL,
    parent_hash       TEXT UNIQUE,
    token_sealed      TEXT
);
CREATE INDEX kavach_oauth_refresh_family ON kavach_oauth_refresh (family_id);

-- Individually revoked access tokens (RFC 7009) and used client-assertion ids, kept
-- until the token would have expired anyway.
CREATE TABLE kavach_oauth_jti (
    jti         TEXT PRIMARY KEY NOT NULL,
    expires_at  INTEGER NOT NULL
);
