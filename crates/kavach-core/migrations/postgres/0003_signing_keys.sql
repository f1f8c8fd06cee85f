-- Asymmetric signing keys for JWTs (JWKS). The private key is sealed with a key
-- derived from the server secret (AES-256-GCM); at most one active key per algorithm.
CREATE TABLE kavach_jwks (
    id          TEXT PRIMARY KEY NOT NULL,
    alg         TEXT NOT NULL,
    public_jwk  TEXT NOT NULL,
    private_key TEXT NOT NULL,
    active      BOOLEAN NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL,
    expires_at  TIMESTAMPTZ
);
CREATE UNIQUE INDEX kavach_jwks_active_idx ON kavach_jwks (alg) WHERE active;
