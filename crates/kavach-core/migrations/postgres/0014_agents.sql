-- The agents capability: agents owned by a user or an organization (exactly one),
-- their API keys (SHA-256 only, found through the unique index), their permissions
-- (a resource pattern, actions and constraints, allow or deny), approvals bound to the
-- hash of one exact call, budgets per agent or per owner, and the counters the trust
-- score is computed from. A delegated agent points at its parent; deleting the parent,
-- the owning user or the owning organization deletes everything below it.
CREATE TABLE kavach_agent (
    id                    TEXT PRIMARY KEY NOT NULL,
    owner_user_id         TEXT REFERENCES kavach_user (id) ON DELETE CASCADE,
    owner_organization_id TEXT REFERENCES kavach_organization (id) ON DELETE CASCADE,
    created_by            TEXT,
    parent_id             TEXT REFERENCES kavach_agent (id) ON DELETE CASCADE,
    root_id               TEXT NOT NULL,
    depth                 INTEGER NOT NULL DEFAULT 0,
    max_depth             INTEGER NOT NULL DEFAULT 0,
    name                  TEXT NOT NULL,
    agent_type            TEXT NOT NULL,
    status                TEXT NOT NULL,
    expires_at            TIMESTAMPTZ,
    metadata              TEXT NOT NULL DEFAULT '{}',
    created_at            TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at            TIMESTAMPTZ NOT NULL DEFAULT now(),
    last_active_at        TIMESTAMPTZ,
    CHECK ((owner_user_id IS NULL) <> (owner_organization_id IS NULL))
);
CREATE INDEX kavach_agent_owner_user ON kavach_agent (owner_user_id);
CREATE INDEX kavach_agent_owner_org ON kavach_agent (owner_organization_id);
CREATE INDEX kavach_agent_parent ON kavach_agent (parent_id);
CREATE INDEX kavach_agent_root ON kavach_agent (root_id);

-- `expires_at`: set when the key was rotated (the grace period) or given an expiry.
CREATE TABLE kavach_agent_key (
    id           TEXT PRIMARY KEY NOT NULL,
    agent_id     TEXT NOT NULL REFERENCES kavach_agent (id) ON DELETE CASCADE,
    token_hash   TEXT NOT NULL UNIQUE,
    prefix       TEXT NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    expires_at   TIMESTAMPTZ,
    last_used_at TIMESTAMPTZ
);
CREATE INDEX kavach_agent_key_agent ON kavach_agent_key (agent_id);

-- `effect`: allow or deny; `actions`: a JSON list; `constraints`: a JSON object.
CREATE TABLE kavach_agent_permission (
    id          TEXT PRIMARY KEY NOT NULL,
    agent_id    TEXT NOT NULL REFERENCES kavach_agent (id) ON DELETE CASCADE,
    effect      TEXT NOT NULL,
    resource    TEXT NOT NULL,
    actions     TEXT NOT NULL,
    constraints TEXT NOT NULL DEFAULT '{}',
    expires_at  TIMESTAMPTZ,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX kavach_agent_permission_agent ON kavach_agent_permission (agent_id);

-- `request_hash`: SHA-256 of the exact action, resource and arguments. `uses_left`
-- counts the calls an approval still lets through; `valid_until` ends it.
CREATE TABLE kavach_agent_approval (
    id           TEXT PRIMARY KEY NOT NULL,
    agent_id     TEXT NOT NULL REFERENCES kavach_agent (id) ON DELETE CASCADE,
    request_hash TEXT NOT NULL,
    action       TEXT NOT NULL,
    resource     TEXT NOT NULL,
    arguments    TEXT NOT NULL,
    status       TEXT NOT NULL,
    uses_left    BIGINT NOT NULL DEFAULT 1,
    expires_at   TIMESTAMPTZ NOT NULL,
    valid_until  TIMESTAMPTZ,
    decided_by   TEXT,
    decided_at   TIMESTAMPTZ,
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX kavach_agent_approval_request ON kavach_agent_approval (agent_id, request_hash);

-- A budget applies to one agent, or to every agent of one owner. Limits are NULL when unset.
CREATE TABLE kavach_agent_budget (
    id                    TEXT PRIMARY KEY NOT NULL,
    agent_id              TEXT REFERENCES kavach_agent (id) ON DELETE CASCADE,
    owner_user_id         TEXT REFERENCES kavach_user (id) ON DELETE CASCADE,
    owner_organization_id TEXT REFERENCES kavach_organization (id) ON DELETE CASCADE,
    calls_per_day         BIGINT,
    calls_per_month       BIGINT,
    cost_per_day          BIGINT,
    cost_per_month        BIGINT,
    action                TEXT NOT NULL,
    created_at            TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX kavach_agent_budget_agent ON kavach_agent_budget (agent_id);
CREATE INDEX kavach_agent_budget_user ON kavach_agent_budget (owner_user_id);
CREATE INDEX kavach_agent_budget_org ON kavach_agent_budget (owner_organization_id);

-- What the trust score is computed from (added to in groups, never read per call).
CREATE TABLE kavach_agent_stats (
    agent_id          TEXT PRIMARY KEY NOT NULL REFERENCES kavach_agent (id) ON DELETE CASCADE,
    allowed           BIGINT NOT NULL DEFAULT 0,
    denied            BIGINT NOT NULL DEFAULT 0,
    approvals_refused BIGINT NOT NULL DEFAULT 0,
    budget_breaches   BIGINT NOT NULL DEFAULT 0,
    anomalies         BIGINT NOT NULL DEFAULT 0
);
