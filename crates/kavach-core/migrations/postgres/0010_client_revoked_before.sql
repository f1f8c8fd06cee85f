-- Access tokens a client got before this time are no longer active (set when an operator
-- disables it): client_credentials tokens belong to no grant family that could be revoked.
ALTER TABLE kavach_oauth_client ADD COLUMN revoked_before TIMESTAMPTZ;
