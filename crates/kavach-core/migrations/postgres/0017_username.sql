-- Usernames (`[username]`): the normalised form (lower case) is unique and is what
-- sign-in looks up; the display form keeps the user's spelling.
ALTER TABLE kavach_user ADD COLUMN username TEXT;
ALTER TABLE kavach_user ADD COLUMN display_username TEXT;
CREATE UNIQUE INDEX kavach_user_username ON kavach_user (username);
