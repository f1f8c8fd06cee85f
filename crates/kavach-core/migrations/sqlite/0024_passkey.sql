-- Passkeys (`[passkey]`, better-auth's `passkey` table): WebAuthn credentials of users.
-- `public_key` holds the credential as webauthn-rs keeps it (JSON: the COSE public key,
-- the signature counter, the backup flags); `counter` repeats the counter so a sign-in
-- advances it with one conditional UPDATE. `user_handle` is the WebAuthn user handle the
-- authenticator returns (base64url), compared at sign-in; none for a passkey imported
-- from better-auth, which keeps no handle. The ceremony challenges are single-use rows of
-- kavach_verification.
CREATE TABLE kavach_passkey (
    id            TEXT PRIMARY KEY NOT NULL,
    name          TEXT,
    user_id       TEXT NOT NULL REFERENCES kavach_user (id) ON DELETE CASCADE,
    credential_id TEXT NOT NULL UNIQUE,
    public_key    TEXT NOT NULL,
    counter       BIGINT NOT NULL DEFAULT 0,
    device_type   TEXT NOT NULL,
    backed_up     BOOLEAN NOT NULL DEFAULT FALSE,
    transports    TEXT,
    user_handle   TEXT,
    created_at    INTEGER NOT NULL,
    last_used_at  INTEGER
);
CREATE INDEX kavach_passkey_user ON kavach_passkey (user_id);
