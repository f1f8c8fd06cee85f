-- Where a session row came from. 'kavach': written by Kavach, `token` holds the SHA-256 of
-- the session token. 'copied': inserted by other SQL (the seed's INSERT ... SELECT from
-- better-auth's session table), `token` holds better-auth's plain token; such a row is only
-- ever matched through a signed better-auth cookie, never by a stored value or a hash.
ALTER TABLE kavach_session ADD COLUMN origin TEXT NOT NULL DEFAULT 'copied';
-- Rows written before this migration: SHA-256 values (43 base64url characters) are Kavach's.
UPDATE kavach_session SET origin = 'kavach' WHERE length(token) = 43;

-- When a client first completed a grant (dynamic clients that never do are purged), and
-- which resources' tokens it may introspect (space-separated, or '*'; set by an operator).
ALTER TABLE kavach_oauth_client ADD COLUMN used_at INTEGER;
ALTER TABLE kavach_oauth_client ADD COLUMN introspects TEXT;
UPDATE kavach_oauth_client SET used_at = updated_at;
CREATE INDEX kavach_oauth_client_unused ON kavach_oauth_client (kind, created_at) WHERE used_at IS NULL;
CREATE INDEX kavach_oauth_code_user ON kavach_oauth_code (user_id);
