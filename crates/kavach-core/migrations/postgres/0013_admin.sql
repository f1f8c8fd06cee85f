-- The admin capability: a platform role on users (NULL reads as the default role, `user`)
-- and impersonation sessions, marked with the acting admin's id.
ALTER TABLE kavach_user ADD COLUMN role TEXT;
ALTER TABLE kavach_session ADD COLUMN impersonated_by TEXT;
