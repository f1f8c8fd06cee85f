-- Kavach foundation schema (PostgreSQL). Timestamps are timestamptz, booleans boolean,
-- so `INSERT ... SELECT` from better-auth's tables works unchanged.
CREATE TABLE kavach_user (
    id             TEXT PRIMARY KEY NOT NULL,
    email          TEXT NOT NULL UNIQUE,
    name           TEXT NOT NULL DEFAULT '',
    email_verified BOOLEAN NOT NULL DEFAULT FALSE,
    image          TEXT,
    created_at     TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at     TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE kavach_account (
    id                       TEXT PRIMARY KEY NOT NULL,
    user_id                  TEXT NOT NULL REFERENCES kavach_user (id) ON DELETE CASCADE,
    provider_id              TEXT NOT NULL,
    provider_account_id      TEXT NOT NULL,
    access_token             TEXT,
    refresh_token            TEXT,
    id_token                 TEXT,
    scope                    TEXT,
    expires_at               TIMESTAMPTZ,
    refresh_token_expires_at TIMESTAMPTZ,
    password                 TEXT,
    created_at               TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at               TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX kavach_account_provider_idx ON kavach_account (provider_id, provider_account_id);
CREATE INDEX kavach_account_user_id_idx ON kavach_account (user_id);

-- `token` holds the SHA-256 of the session token (base64url), never the token itself.
CREATE TABLE kavach_session (
    id         TEXT PRIMARY KEY NOT NULL,
    user_id    TEXT NOT NULL REFERENCES kavach_user (id) ON DELETE CASCADE,
    token      TEXT NOT NULL UNIQUE,
    expires_at TIMESTAMPTZ NOT NULL,
    ip_address TEXT,
    user_agent TEXT,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX kavach_session_user_id_idx ON kavach_session (user_id);

-- `identifier` is "<purpose>:<sha256 of the token>"; `value` is the JSON payload.
CREATE TABLE kavach_verification (
    id         TEXT PRIMARY KEY NOT NULL,
    identifier TEXT NOT NULL UNIQUE,
    value      TEXT NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE kavach_rate_limit (
    key          TEXT PRIMARY KEY NOT NULL,
    count        BIGINT NOT NULL,
    window_start BIGINT NOT NULL
);

CREATE TABLE kavach_audit_head (
    id   INTEGER PRIMARY KEY NOT NULL,
    seq  BIGINT NOT NULL,
    hash TEXT NOT NULL
);
INSERT INTO kavach_audit_head (id, seq, hash) VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000');

CREATE TABLE kavach_audit_event (
    seq        BIGINT PRIMARY KEY NOT NULL,
    id         TEXT NOT NULL UNIQUE,
    created_at TIMESTAMPTZ NOT NULL,
    kind       TEXT NOT NULL,
    user_id    TEXT,
    ip_address TEXT,
    user_agent TEXT,
    data       TEXT NOT NULL,
    prev_hash  TEXT NOT NULL,
    hash       TEXT NOT NULL
);
CREATE INDEX kavach_audit_event_user_idx ON kavach_audit_event (user_id);
