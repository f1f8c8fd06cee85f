-- Bans (enforced at sign-in and on every session check) and imported metadata (JSON).
ALTER TABLE kavach_user ADD COLUMN banned BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE kavach_user ADD COLUMN ban_reason TEXT;
ALTER TABLE kavach_user ADD COLUMN ban_expires TIMESTAMPTZ;
ALTER TABLE kavach_user ADD COLUMN metadata TEXT;
