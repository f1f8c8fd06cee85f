-- One-time codes sent to an address (`[email_otp]`, `[phone_number]`): at most one live
-- code per purpose and address, stored as a keyed hash (HMAC with the server secret over
-- the purpose, the address and the code), its wrong attempts counted, expiring.
CREATE TABLE kavach_otp (
    purpose    TEXT NOT NULL,
    target     TEXT NOT NULL,
    code_hash  TEXT NOT NULL,
    attempts   BIGINT NOT NULL DEFAULT 0,
    expires_at TIMESTAMPTZ NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (purpose, target)
);
CREATE INDEX kavach_otp_expires ON kavach_otp (expires_at);
