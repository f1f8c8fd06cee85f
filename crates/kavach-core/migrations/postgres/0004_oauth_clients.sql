-- OAuth clients: registered dynamically (RFC 7591), pre-registered by an operator, or
-- described by a Client ID Metadata Document. Secrets and registration access tokens
-- are stored as SHA-256 only; `metadata` is the registered metadata as returned.
CREATE TABLE kavach_oauth_client (
    client_id                TEXT PRIMARY KEY NOT NULL,
    kind                     TEXT NOT NULL,
    client_secret_hash       TEXT,
    registration_token_hash  TEXT,
    client_name              TEXT,
    redirect_uris            TEXT NOT NULL,
    token_endpoint_auth_method TEXT NOT NULL,
    metadata                 TEXT NOT NULL,
    disabled                 BOOLEAN NOT NULL DEFAULT FALSE,
    created_at               TIMESTAMPTZ NOT NULL,
    updated_at               TIMESTAMPTZ NOT NULL
);
