-- Access tokens a client got before this time are no longer active (set when an operator
-- disables it): client_credentials tokens belong to no grant family that could be revoked.
ALTER TABLE kavach_oauth_client ADD COLUMN revoked_before INTEGER;

-- Indexes for the queries that revoke a client's families, and for the purge of used ids.
-- (The refresh-token purge scans: an index there would cost every rotation a write.)
CREATE INDEX kavach_oauth_family_client ON kavach_oauth_family (client_id);
CREATE INDEX kavach_oauth_jti_expires ON kavach_oauth_jti (expires_at);
