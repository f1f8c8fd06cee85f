-- Clients described by a Client ID Metadata Document (client_id = the document's URL):
-- the fetched metadata is kept until `cached_until` (from the document's HTTP caching).
ALTER TABLE kavach_oauth_client ADD COLUMN cached_until INTEGER;
