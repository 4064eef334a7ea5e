-- Hookline schema v1. Timestamps are unix milliseconds (INTEGER).

CREATE TABLE workspaces (
    id          INTEGER PRIMARY KEY,
    slug        TEXT NOT NULL UNIQUE,
    name        TEXT NOT NULL,
    created_at  INTEGER NOT NULL
);

CREATE TABLE users (
    id                 INTEGER PRIMARY KEY,
    email              TEXT NOT NULL UNIQUE,
    password_hash      TEXT NOT NULL,
    is_instance_admin  INTEGER NOT NULL DEFAULT 0,
    created_at         INTEGER NOT NULL,
    updated_at         INTEGER NOT NULL
);

CREATE TABLE memberships (
    workspace_id  INTEGER NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    user_id       INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    role          TEXT NOT NULL CHECK (role IN ('owner', 'admin', 'viewer')),
    created_at    INTEGER NOT NULL,
    PRIMARY KEY (workspace_id, user_id)
) WITHOUT ROWID;
CREATE INDEX memberships_user ON memberships(user_id);

CREATE TABLE sessions (
    id          INTEGER PRIMARY KEY,
    token_hash  BLOB NOT NULL UNIQUE,
    user_id     INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    csrf_token  TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    ip          TEXT,
    user_agent  TEXT
);
CREATE INDEX sessions_user ON sessions(user_id);
CREATE INDEX sessions_expires ON sessions(expires_at);

CREATE TABLE setup_tokens (
    id          INTEGER PRIMARY KEY,
    token_hash  BLOB NOT NULL UNIQUE,
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    used_at     INTEGER
);

CREATE TABLE api_keys (
    id            INTEGER PRIMARY KEY,
    workspace_id  INTEGER REFERENCES workspaces(id) ON DELETE CASCADE, -- NULL: instance key
    name          TEXT NOT NULL DEFAULT '',
    prefix        TEXT NOT NULL,
    key_hash      BLOB NOT NULL UNIQUE,
    scopes        TEXT NOT NULL,
    created_by    INTEGER REFERENCES users(id) ON DELETE SET NULL,
    created_at    INTEGER NOT NULL,
    last_used_at  INTEGER,
    revoked_at    INTEGER
);
CREATE INDEX api_keys_workspace ON api_keys(workspace_id, id);

CREATE TABLE event_types (
    id           INTEGER PRIMARY KEY,
    name         TEXT NOT NULL UNIQUE,
    description  TEXT NOT NULL DEFAULT '',
    example      TEXT,            -- JSON object, the example payload
    created_at   INTEGER NOT NULL,
    archived_at  INTEGER
);

CREATE TABLE webhooks (
    id                          INTEGER PRIMARY KEY,
    workspace_id                INTEGER NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    name                        TEXT NOT NULL DEFAULT '',
    description                 TEXT NOT NULL DEFAULT '',
    url                         TEXT NOT NULL,
    events                      TEXT NOT NULL,              -- JSON array of names, or ["*"]
    is_active                   INTEGER NOT NULL DEFAULT 1,
    headers                     TEXT NOT NULL DEFAULT '{}', -- JSON object
    retry_schedule              TEXT NOT NULL,              -- JSON array of seconds between attempts
    retry_count                 INTEGER NOT NULL,
    timeout_seconds             INTEGER NOT NULL DEFAULT 30,
    notification_email          TEXT,
    secret_enc                  BLOB NOT NULL,
    previous_secret_enc         BLOB,
    previous_secret_expires_at  INTEGER,
    disabled_at                 INTEGER,
    disabled_reason             TEXT,
    last_triggered_at           INTEGER,
    last_success_at             INTEGER,
    last_failure_at             INTEGER,
    failure_count               INTEGER NOT NULL DEFAULT 0,
    failing_since               INTEGER,
    last_notified_at            INTEGER,
    created_at                  INTEGER NOT NULL,
    updated_at                  INTEGER NOT NULL
);
CREATE INDEX webhooks_workspace ON webhooks(workspace_id, id);

CREATE TABLE events (
    id            INTEGER PRIMARY KEY,
    public_id     TEXT NOT NULL UNIQUE,  -- evt_...
    workspace_id  INTEGER NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    type          TEXT NOT NULL,
    body          TEXT NOT NULL,         -- the exact JSON bytes that are signed and sent
    created_at    INTEGER NOT NULL
);
CREATE INDEX events_workspace ON events(workspace_id, id);
CREATE INDEX events_created ON events(created_at);

CREATE TABLE idempotency_keys (
    workspace_id     INTEGER NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    key              TEXT NOT NULL,
    route            TEXT NOT NULL,
    request_hash     BLOB NOT NULL,
    response_status  INTEGER NOT NULL,
    response_body    TEXT NOT NULL,
    created_at       INTEGER NOT NULL,
    PRIMARY KEY (workspace_id, route, key)
) WITHOUT ROWID;
CREATE INDEX idempotency_created ON idempotency_keys(created_at);

CREATE TABLE deliveries (
    id                INTEGER PRIMARY KEY,
    workspace_id      INTEGER NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    webhook_id        INTEGER NOT NULL REFERENCES webhooks(id) ON DELETE CASCADE,
    event_id          INTEGER NOT NULL REFERENCES events(id) ON DELETE CASCADE,
    event_type        TEXT NOT NULL,
    status            TEXT NOT NULL CHECK (status IN ('pending', 'retrying', 'succeeded', 'failed')),
    attempt_count     INTEGER NOT NULL DEFAULT 0,
    next_attempt_at   INTEGER,           -- NULL once final
    lease_until       INTEGER,           -- set while an attempt is in flight
    last_status_code  INTEGER,
    last_duration_ms  INTEGER,
    last_error        TEXT,
    created_at        INTEGER NOT NULL,
    updated_at        INTEGER NOT NULL
);
CREATE INDEX deliveries_due ON deliveries(webhook_id, next_attempt_at) WHERE next_attempt_at IS NOT NULL;
CREATE INDEX deliveries_webhook ON deliveries(webhook_id, id);
CREATE INDEX deliveries_webhook_status ON deliveries(webhook_id, status, id);
CREATE INDEX deliveries_webhook_type ON deliveries(webhook_id, event_type, id);
CREATE INDEX deliveries_event ON deliveries(event_id);

CREATE TABLE attempts (
    id                INTEGER PRIMARY KEY,
    delivery_id       INTEGER NOT NULL REFERENCES deliveries(id) ON DELETE CASCADE,
    attempt_number    INTEGER NOT NULL,
    started_at        INTEGER NOT NULL,
    duration_ms       INTEGER,
    request_headers   TEXT NOT NULL,     -- JSON object
    response_status   INTEGER,
    response_headers  TEXT,              -- JSON object
    response_body     BLOB,              -- at most 64 KiB
    error             TEXT
);
CREATE INDEX attempts_delivery ON attempts(delivery_id, id);
CREATE INDEX attempts_started ON attempts(started_at);

-- Failure and disable notices (seed 001's notification email), sent or not.
CREATE TABLE notifications (
    id          INTEGER PRIMARY KEY,
    webhook_id  INTEGER NOT NULL REFERENCES webhooks(id) ON DELETE CASCADE,
    kind        TEXT NOT NULL CHECK (kind IN ('delivery_failed', 'webhook_disabled')),
    recipient   TEXT,
    subject     TEXT NOT NULL,
    body        TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    sent_at     INTEGER,
    error       TEXT
);
CREATE INDEX notifications_webhook ON notifications(webhook_id, id);
