-- Schema v4: what a vendor needs to put Hookline inside its own product.

-- Plans (seed 004 gates webhooks behind a plan and a feature flag). A workspace without the
-- feature keeps its webhooks and deliveries but takes no webhook changes; max_webhooks NULL
-- means no cap. deleted_at marks a workspace whose rows are being removed in batches: it is
-- gone for every reader at once, and start-up resumes a removal a crash interrupted.
ALTER TABLE workspaces ADD COLUMN webhooks_enabled INTEGER NOT NULL DEFAULT 1;
ALTER TABLE workspaces ADD COLUMN max_webhooks INTEGER;
ALTER TABLE workspaces ADD COLUMN updated_at INTEGER;
ALTER TABLE workspaces ADD COLUMN deleted_at INTEGER;
UPDATE workspaces SET updated_at = created_at;

-- Who changed a webhook last: an account's email, a portal visitor's, or an API key's name.
ALTER TABLE webhooks ADD COLUMN changed_by TEXT;

-- One-time links into a workspace's settings, made by the vendor's backend. Stored hashed;
-- used_at is set by the one request that opens the link.
CREATE TABLE portal_links (
    id            INTEGER PRIMARY KEY,
    token_hash    BLOB NOT NULL UNIQUE,
    workspace_id  INTEGER NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    role          TEXT NOT NULL CHECK (role IN ('admin', 'viewer')),
    email         TEXT,
    api_key_id    INTEGER REFERENCES api_keys(id) ON DELETE SET NULL, -- NULL: the CLI
    created_at    INTEGER NOT NULL,
    expires_at    INTEGER NOT NULL,
    used_at       INTEGER
);
CREATE INDEX portal_links_workspace ON portal_links(workspace_id);
CREATE INDEX portal_links_expires ON portal_links(expires_at);

-- The session a portal link opens: one workspace, one role, no user account. It ends when
-- idle (expires_at moves forward as it is used).
CREATE TABLE portal_sessions (
    id            INTEGER PRIMARY KEY,
    token_hash    BLOB NOT NULL UNIQUE,
    workspace_id  INTEGER NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    link_id       INTEGER REFERENCES portal_links(id) ON DELETE SET NULL,
    role          TEXT NOT NULL CHECK (role IN ('admin', 'viewer')),
    email         TEXT,
    csrf_token    TEXT NOT NULL,
    created_at    INTEGER NOT NULL,
    last_seen_at  INTEGER NOT NULL,
    expires_at    INTEGER NOT NULL
);
CREATE INDEX portal_sessions_workspace ON portal_sessions(workspace_id);
CREATE INDEX portal_sessions_expires ON portal_sessions(expires_at);

-- Invitations of password accounts into a workspace (one-time link, 7 days).
CREATE TABLE invitations (
    id            INTEGER PRIMARY KEY,
    token_hash    BLOB NOT NULL UNIQUE,
    workspace_id  INTEGER NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    email         TEXT NOT NULL,
    role          TEXT NOT NULL CHECK (role IN ('owner', 'admin', 'viewer')),
    invited_by    INTEGER REFERENCES users(id) ON DELETE SET NULL,
    created_at    INTEGER NOT NULL,
    expires_at    INTEGER NOT NULL,
    accepted_at   INTEGER,
    revoked_at    INTEGER
);
CREATE INDEX invitations_workspace ON invitations(workspace_id, id);
CREATE INDEX invitations_expires ON invitations(expires_at);

-- Password reset links (one-time, 1 hour).
CREATE TABLE password_resets (
    id          INTEGER PRIMARY KEY,
    token_hash  BLOB NOT NULL UNIQUE,
    user_id     INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    used_at     INTEGER
);
CREATE INDEX password_resets_user ON password_resets(user_id);
CREATE INDEX password_resets_expires ON password_resets(expires_at);
