-- Two-factor authentication (`[two_factor]`): a TOTP secret per user (sealed with the
-- server secret), backup codes as keyed hashes (single use), the last accepted TOTP time
-- step (a code is never accepted twice), per-account failures and lock; pending sign-ins
-- waiting for their second factor (SHA-256 of the cookie's token, attempts counted, the
-- emailed code as a keyed hash);
-- trusted devices (SHA-256 of the cookie's token, revocable, expiring).
ALTER TABLE kavach_user ADD COLUMN two_factor_enabled BOOLEAN NOT NULL DEFAULT FALSE;
CREATE TABLE kavach_two_factor (
    id           TEXT PRIMARY KEY NOT NULL,
    user_id      TEXT NOT NULL UNIQUE REFERENCES kavach_user (id) ON DELETE CASCADE,
    secret       TEXT NOT NULL,
    backup_codes TEXT NOT NULL,
    verified     BOOLEAN NOT NULL DEFAULT FALSE,
    last_step    BIGINT NOT NULL DEFAULT 0,
    failed_count BIGINT NOT NULL DEFAULT 0,
    locked_until TIMESTAMPTZ,
    created_at   TIMESTAMPTZ NOT NULL,
    updated_at   TIMESTAMPTZ NOT NULL
);
CREATE TABLE kavach_two_factor_challenge (
    id         TEXT PRIMARY KEY NOT NULL,
    user_id    TEXT NOT NULL REFERENCES kavach_user (id) ON DELETE CASCADE,
    method     TEXT NOT NULL,
    otp_hash   TEXT,
    otp_expires_at TIMESTAMPTZ,
    attempts   BIGINT NOT NULL DEFAULT 0,
    expires_at TIMESTAMPTZ NOT NULL,
    created_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX kavach_two_factor_challenge_user ON kavach_two_factor_challenge (user_id);
CREATE TABLE kavach_trusted_device (
    id         TEXT PRIMARY KEY NOT NULL,
    user_id    TEXT NOT NULL REFERENCES kavach_user (id) ON DELETE CASCADE,
    user_agent TEXT,
    expires_at TIMESTAMPTZ NOT NULL,
    created_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX kavach_trusted_device_user ON kavach_trusted_device (user_id);
