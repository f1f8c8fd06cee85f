-- API keys (`[api_key]`, better-auth's `apikey` table): the key stored as
-- base64url(SHA-256(key)) only (found by its unique index), its first characters kept
-- to recognise it; per-key permissions, expiry, a remaining-uses counter with an
-- optional refill, and a per-key rate limit (counted by the shared rate limiter).
CREATE TABLE kavach_api_key (
    id                     TEXT PRIMARY KEY NOT NULL,
    user_id                TEXT NOT NULL REFERENCES kavach_user (id) ON DELETE CASCADE,
    name                   TEXT,
    start                  TEXT,
    prefix                 TEXT,
    key_hash               TEXT NOT NULL UNIQUE,
    enabled                BOOLEAN NOT NULL DEFAULT TRUE,
    expires_at             TIMESTAMPTZ,
    remaining              BIGINT,
    refill_amount          BIGINT,
    refill_interval        BIGINT,
    last_refill_at         TIMESTAMPTZ,
    rate_limit_enabled     BOOLEAN NOT NULL DEFAULT TRUE,
    rate_limit_time_window BIGINT,
    rate_limit_max         BIGINT,
    request_count          BIGINT NOT NULL DEFAULT 0,
    last_request           TIMESTAMPTZ,
    permissions            TEXT,
    metadata               TEXT,
    created_at             TIMESTAMPTZ NOT NULL,
    updated_at             TIMESTAMPTZ NOT NULL
);
CREATE INDEX kavach_api_key_user ON kavach_api_key (user_id);
