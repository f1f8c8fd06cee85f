-- DPoP (RFC 9449): the key thumbprint a grant's tokens are bound to.
ALTER TABLE kavach_oauth_family ADD COLUMN dpop_jkt TEXT;
