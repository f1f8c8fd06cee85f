-- Additional user fields (`[user.additional_fields]`, better-auth's additionalFields):
-- one JSON object per user, checked against the configuration's declarations on every
-- write, so declaring or dropping a field needs no migration. NULL: none.
ALTER TABLE kavach_user ADD COLUMN additional_fields TEXT;
