-- RFC 8628 device authorization: the device code is stored as SHA-256, the short user
-- code as an HMAC under the server secret (it is low-entropy).
CREATE TABLE kavach_oauth_device (
    device_code_hash TEXT PRIMARY KEY NOT NULL,
    user_code_hash   TEXT NOT NULL UNIQUE,
    client_id        TEXT NOT NULL,
    scope            TEXT NOT NULL,
    resource         TEXT,
    status           TEXT NOT NULL,
    user_id          TEXT,
    auth_time        TIMESTAMPTZ,
    interval_secs    BIGINT NOT NULL,
    last_poll_at     TIMESTAMPTZ,
    created_at       TIMESTAMPTZ NOT NULL,
    expires_at       TIMESTAMPTZ NOT NULL
);
