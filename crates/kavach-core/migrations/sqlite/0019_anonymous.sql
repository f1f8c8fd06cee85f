-- Anonymous users (`[anonymous]`): a user with no credential and a placeholder address,
-- reachable only through its sessions; linked to a real account (and deleted) when it
-- signs in or up, and purged once it has no session left.
ALTER TABLE kavach_user ADD COLUMN is_anonymous BOOLEAN NOT NULL DEFAULT FALSE;
CREATE INDEX kavach_user_anonymous ON kavach_user (created_at) WHERE is_anonymous;
