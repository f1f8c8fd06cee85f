-- The seed's account statement does not copy passwords. This statement (from
-- docs/migrate-from-better-auth.md) adds them, so users keep their passwords;
-- Kavach verifies better-auth's scrypt hashes and rehashes them on sign-in.
UPDATE kavach_account k
SET password = a.password
FROM account a
WHERE a.id = k.id AND a.password IS NOT NULL AND k.password IS NULL;
