-- The seed's session statement copies better-auth's session tokens in plain text
-- (such rows keep `origin = 'copied'`). Kavach accepts them through a signed
-- better-auth cookie (and re-keys each on first use), but stores only hashes of
-- its own tokens; this statement (from docs/migrate-from-better-auth.md) replaces
-- every copied token with base64url(SHA-256(token)) at once and marks the row as
-- holding a hash. Running it twice changes nothing.
UPDATE kavach_session
SET token = rtrim(translate(encode(sha256(convert_to(token, 'UTF8')), 'base64'), '+/', '-_'), '='),
    origin = 'kavach'
WHERE origin = 'copied';
