-- Phone numbers (`[phone_number]`): a user's number in E.164 form (unique), and whether
-- a code sent to it proved it.
ALTER TABLE kavach_user ADD COLUMN phone_number TEXT;
ALTER TABLE kavach_user ADD COLUMN phone_number_verified BOOLEAN NOT NULL DEFAULT FALSE;
CREATE UNIQUE INDEX kavach_user_phone_number ON kavach_user (phone_number);
