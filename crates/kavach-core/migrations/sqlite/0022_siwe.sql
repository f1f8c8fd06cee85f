-- Sign-In with Ethereum (`[siwe]`, better-auth's `walletAddress` table): the wallet
-- addresses linked to users, one row per address and chain (EIP-55 form). A wallet signs
-- in its user; the nonces are single-use rows of kavach_verification.
CREATE TABLE kavach_wallet_address (
    id         TEXT PRIMARY KEY NOT NULL,
    user_id    TEXT NOT NULL REFERENCES kavach_user (id) ON DELETE CASCADE,
    address    TEXT NOT NULL,
    chain_id   BIGINT NOT NULL,
    is_primary BOOLEAN NOT NULL DEFAULT FALSE,
    created_at INTEGER NOT NULL,
    UNIQUE (address, chain_id)
);
CREATE INDEX kavach_wallet_address_user ON kavach_wallet_address (user_id);
