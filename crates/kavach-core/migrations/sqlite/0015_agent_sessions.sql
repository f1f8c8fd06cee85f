-- Ephemeral agent sessions: a short-lived token for one task (SHA-256 only), with an
-- optional cap on the actions it may take, counted by one atomic update per decision.
CREATE TABLE kavach_agent_session (
    id           TEXT PRIMARY KEY NOT NULL,
    agent_id     TEXT NOT NULL REFERENCES kavach_agent (id) ON DELETE CASCADE,
    token_hash   TEXT NOT NULL UNIQUE,
    task         TEXT,
    max_actions  INTEGER,
    actions_used INTEGER NOT NULL DEFAULT 0,
    expires_at   INTEGER NOT NULL,
    created_at   INTEGER NOT NULL
);
CREATE INDEX kavach_agent_session_agent ON kavach_agent_session (agent_id);
