-- The seed's session statement copies better-auth's session tokens in plain text.
-- Kavach accepts them (and re-keys each on first use), but stores only hashes of
-- its own tokens; this statement (from docs/migrate-from-better-auth.md) replaces
-- every copied token with base64url(SHA-256(token)) at once. better-auth's tokens
-- are 32 characters; Kavach's hashes are 43, so running it twice changes nothing.
UPDATE kavach_session
SET token = rtrim(translate(encode(sha256(convert_to(token, 'UTF8')), 'base64'), '+/', '-_'), '=')
WHERE length(token) = 32;
