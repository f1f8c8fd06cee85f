-- The organization capability: organizations, their members (with roles), invitations,
-- teams and, with dynamic roles on, roles defined per organization. The session carries
-- the active organization and team.
CREATE TABLE kavach_organization (
    id         TEXT PRIMARY KEY NOT NULL,
    name       TEXT NOT NULL,
    slug       TEXT NOT NULL UNIQUE,
    logo       TEXT,
    metadata   TEXT,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);

-- `role`: one role name, or several separated by commas.
CREATE TABLE kavach_member (
    id              TEXT PRIMARY KEY NOT NULL,
    organization_id TEXT NOT NULL REFERENCES kavach_organization (id) ON DELETE CASCADE,
    user_id         TEXT NOT NULL REFERENCES kavach_user (id) ON DELETE CASCADE,
    role            TEXT NOT NULL,
    created_at      INTEGER NOT NULL
);
CREATE UNIQUE INDEX kavach_member_org_user ON kavach_member (organization_id, user_id);
CREATE INDEX kavach_member_user ON kavach_member (user_id);

CREATE TABLE kavach_team (
    id              TEXT PRIMARY KEY NOT NULL,
    organization_id TEXT NOT NULL REFERENCES kavach_organization (id) ON DELETE CASCADE,
    name            TEXT NOT NULL,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL
);
CREATE UNIQUE INDEX kavach_team_org_name ON kavach_team (organization_id, name);

CREATE TABLE kavach_team_member (
    id         TEXT PRIMARY KEY NOT NULL,
    team_id    TEXT NOT NULL REFERENCES kavach_team (id) ON DELETE CASCADE,
    user_id    TEXT NOT NULL REFERENCES kavach_user (id) ON DELETE CASCADE,
    created_at INTEGER NOT NULL
);
CREATE UNIQUE INDEX kavach_team_member_team_user ON kavach_team_member (team_id, user_id);
CREATE INDEX kavach_team_member_user ON kavach_team_member (user_id);

-- `status`: pending, accepted, rejected or canceled.
CREATE TABLE kavach_invitation (
    id              TEXT PRIMARY KEY NOT NULL,
    organization_id TEXT NOT NULL REFERENCES kavach_organization (id) ON DELETE CASCADE,
    email           TEXT NOT NULL,
    role            TEXT NOT NULL,
    team_id         TEXT,
    status          TEXT NOT NULL,
    inviter_id      TEXT NOT NULL,
    expires_at      INTEGER NOT NULL,
    created_at      INTEGER NOT NULL
);
CREATE INDEX kavach_invitation_org ON kavach_invitation (organization_id, status);
CREATE INDEX kavach_invitation_email ON kavach_invitation (email, status);

-- `permission`: the role's statements as JSON, `{"project":["create","update"]}`.
CREATE TABLE kavach_organization_role (
    id              TEXT PRIMARY KEY NOT NULL,
    organization_id TEXT NOT NULL REFERENCES kavach_organization (id) ON DELETE CASCADE,
    role            TEXT NOT NULL,
    permission      TEXT NOT NULL,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL
);
CREATE UNIQUE INDEX kavach_organization_role_org_role ON kavach_organization_role (organization_id, role);

ALTER TABLE kavach_session ADD COLUMN active_organization_id TEXT;
ALTER TABLE kavach_session ADD COLUMN active_team_id TEXT;
