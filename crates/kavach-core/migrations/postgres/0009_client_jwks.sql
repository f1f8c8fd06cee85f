-- Key sets of private_key_jwt clients registered with a `jwks_uri`, as last fetched:
-- shared by every instance, kept until `cached_until` (from the response's HTTP caching).
CREATE TABLE kavach_oauth_jwks_cache (
    uri           TEXT PRIMARY KEY NOT NULL,
    jwks          TEXT NOT NULL,
    fetched_at    TIMESTAMPTZ NOT NULL,
    cached_until  TIMESTAMPTZ NOT NULL
);
