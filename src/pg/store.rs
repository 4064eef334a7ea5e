//! The store's methods on PostgreSQL, with the same names and signatures as the SQLite
//! backend's (`src/db`), so `tests/store.rs` runs one body against both. Each method is one
//! transaction (or one statement). Concepts are added step by step (plan steps 10-13); the
//! `Store` enum gains its `Postgres` variant when every method exists.

use std::sync::Arc;

use deadpool_postgres::{Object, Pool};
use tokio_postgres::Row;

use super::{PgError, Target};
use crate::clock::now_ms;
use crate::domain::{NewEventType, NewWorkspace, Scopes};
use crate::store::types::{
    ApiKeyRow, CallerLookup, EventTypeRow, NewApiKey, StoreError, Workspace, WorkspaceChange,
};

type Result<T> = std::result::Result<T, StoreError>;

impl From<tokio_postgres::Error> for StoreError {
    fn from(e: tokio_postgres::Error) -> Self {
        if e.is_closed() {
            StoreError::Unavailable(Arc::new(e))
        } else {
            StoreError::Backend(Arc::new(e))
        }
    }
}

impl From<PgError> for StoreError {
    fn from(e: PgError) -> Self {
        StoreError::Unavailable(Arc::new(e))
    }
}

/// A unique violation: the create methods report it as `None`, like SQLite's.
pub(super) fn is_unique_violation(e: &tokio_postgres::Error) -> bool {
    e.code() == Some(&tokio_postgres::error::SqlState::UNIQUE_VIOLATION)
}

/// The shared store on PostgreSQL: a pool of connections. Cheap to clone.
#[derive(Clone)]
pub struct PgStore {
    pool: Pool,
    pub(super) target: Arc<Target>,
    pub(super) node: Arc<super::node::Node>,
}

impl PgStore {
    /// Connects, brings the schema up to date (once, whoever starts with it) and opens the
    /// pool of `pool_size` connections.
    pub async fn open(target: &Target, pool_size: usize) -> std::result::Result<PgStore, PgError> {
        let mut client = target.connect().await?;
        super::migrate(&mut client).await?;
        Ok(PgStore {
            pool: target.pool(pool_size)?,
            target: Arc::new(target.clone()),
            node: Arc::new(super::node::Node::new()),
        })
    }

    pub(super) async fn conn(&self) -> Result<Object> {
        self.pool
            .get()
            .await
            .map_err(|e| StoreError::Unavailable(Arc::new(PgError::Pool(e.to_string()))))
    }

    pub async fn ping(&self) -> Result<()> {
        self.conn().await?.query_one("SELECT 1", &[]).await?;
        Ok(())
    }

    // ---- workspaces ----

    pub async fn workspace_create(&self, new: NewWorkspace) -> Result<Option<Workspace>> {
        let c = self.conn().await?;
        let now = now_ms();
        let inserted = c
            .query_one(
                &format!(
                    "INSERT INTO workspaces (slug, name, created_at, updated_at, webhooks_enabled, max_webhooks)
                     VALUES ($1, $2, $3, $3, $4, $5) RETURNING {WORKSPACE_COLS}"
                ),
                &[
                    &new.slug.as_str(),
                    &new.name,
                    &now,
                    &new.webhooks_enabled,
                    &new.max_webhooks,
                ],
            )
            .await;
        match inserted {
            Ok(row) => Ok(Some(workspace(&row))),
            Err(e) if is_unique_violation(&e) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    pub async fn workspace_by_slug(&self, slug: &str) -> Result<Option<Workspace>> {
        if slug.contains('\0') {
            return Ok(None); // PostgreSQL text holds no NUL: nothing can match
        }
        let c = self.conn().await?;
        let row = c
            .query_opt(
                &format!(
                    "SELECT {WORKSPACE_COLS} FROM workspaces WHERE slug = $1 AND deleted_at IS NULL"
                ),
                &[&slug],
            )
            .await?;
        Ok(row.as_ref().map(workspace))
    }

    pub async fn workspace_by_id(&self, id: i64) -> Result<Option<Workspace>> {
        let c = self.conn().await?;
        let row = c
            .query_opt(
                &format!(
                    "SELECT {WORKSPACE_COLS} FROM workspaces WHERE id = $1 AND deleted_at IS NULL"
                ),
                &[&id],
            )
            .await?;
        Ok(row.as_ref().map(workspace))
    }

    pub async fn workspaces_all(&self) -> Result<Vec<Workspace>> {
        let c = self.conn().await?;
        let rows = c
            .query(
                &format!(
                    "SELECT {WORKSPACE_COLS} FROM workspaces WHERE deleted_at IS NULL ORDER BY slug"
                ),
                &[],
            )
            .await?;
        Ok(rows.iter().map(workspace).collect())
    }

    pub async fn workspaces_page(
        &self,
        after: Option<String>,
        limit: usize,
    ) -> Result<Vec<Workspace>> {
        let c = self.conn().await?;
        let rows = c
            .query(
                &format!(
                    "SELECT {WORKSPACE_COLS} FROM workspaces WHERE deleted_at IS NULL AND slug > $1
                     ORDER BY slug LIMIT $2"
                ),
                &[&after.unwrap_or_default(), &(limit as i64)],
            )
            .await?;
        Ok(rows.iter().map(workspace).collect())
    }

    pub async fn workspace_update(
        &self,
        id: i64,
        change: WorkspaceChange,
    ) -> Result<Option<Workspace>> {
        let c = self.conn().await?;
        // `None` keeps a field; `Some(None)` clears the cap ($5 says whether $4 applies).
        let row = c
            .query_opt(
                &format!(
                    "UPDATE workspaces SET name = coalesce($2, name),
                         webhooks_enabled = coalesce($3, webhooks_enabled),
                         max_webhooks = CASE WHEN $5 THEN $4 ELSE max_webhooks END,
                         updated_at = $6
                     WHERE id = $1 AND deleted_at IS NULL RETURNING {WORKSPACE_COLS}"
                ),
                &[
                    &id,
                    &change.name,
                    &change.webhooks_enabled,
                    &change.max_webhooks.flatten(),
                    &change.max_webhooks.is_some(),
                    &now_ms(),
                ],
            )
            .await?;
        Ok(row.as_ref().map(workspace))
    }

    // ---- event types ----

    pub async fn event_type_create(&self, new: NewEventType) -> Result<Option<EventTypeRow>> {
        let c = self.conn().await?;
        let inserted = c
            .query_one(
                &format!(
                    "INSERT INTO event_types (name, description, example, created_at)
                     VALUES ($1, $2, $3, $4) RETURNING {EVENT_TYPE_COLS}"
                ),
                &[
                    &new.name.as_str(),
                    &new.description,
                    &new.example,
                    &now_ms(),
                ],
            )
            .await;
        match inserted {
            Ok(row) => Ok(Some(event_type(&row))),
            Err(e) if is_unique_violation(&e) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    pub async fn event_types_all(&self) -> Result<Vec<EventTypeRow>> {
        let c = self.conn().await?;
        let rows = c
            .query(
                &format!(
                    "SELECT {EVENT_TYPE_COLS} FROM event_types WHERE archived_at IS NULL ORDER BY name"
                ),
                &[],
            )
            .await?;
        Ok(rows.iter().map(event_type).collect())
    }

    pub async fn event_types_page(
        &self,
        after: Option<String>,
        limit: usize,
    ) -> Result<Vec<EventTypeRow>> {
        let c = self.conn().await?;
        let rows = c
            .query(
                &format!(
                    "SELECT {EVENT_TYPE_COLS} FROM event_types
                     WHERE archived_at IS NULL AND name > $1 ORDER BY name LIMIT $2"
                ),
                &[&after.unwrap_or_default(), &(limit as i64)],
            )
            .await?;
        Ok(rows.iter().map(event_type).collect())
    }

    pub async fn event_type_by_name(&self, name: &str) -> Result<Option<EventTypeRow>> {
        if name.contains('\0') {
            return Ok(None); // PostgreSQL text holds no NUL: nothing can match
        }
        let c = self.conn().await?;
        let row = c
            .query_opt(
                &format!(
                    "SELECT {EVENT_TYPE_COLS} FROM event_types WHERE name = $1 AND archived_at IS NULL"
                ),
                &[&name],
            )
            .await?;
        Ok(row.as_ref().map(event_type))
    }

    // ---- API keys ----

    pub async fn api_key_create(&self, new: NewApiKey) -> Result<ApiKeyRow> {
        let c = self.conn().await?;
        let row = c
            .query_one(
                &format!(
                    "INSERT INTO api_keys (workspace_id, name, prefix, key_hash, scopes, created_by, created_at)
                     VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING {KEY_COLS}"
                ),
                &[
                    &new.workspace_id,
                    &new.name,
                    &new.prefix,
                    &new.hash,
                    &new.scopes.to_string(),
                    &new.created_by,
                    &now_ms(),
                ],
            )
            .await?;
        Ok(api_key(&row))
    }

    /// One round trip: the key and the workspace it acts in.
    pub async fn api_caller(
        &self,
        key_hash: Vec<u8>,
        named: Option<String>,
    ) -> Result<CallerLookup> {
        let c = self.conn().await?;
        let Some(key) = c
            .query_opt(
                &format!(
                    "SELECT {KEY_COLS} FROM api_keys WHERE key_hash = $1 AND revoked_at IS NULL"
                ),
                &[&key_hash],
            )
            .await?
        else {
            return Ok(CallerLookup::NoKey);
        };
        let key = api_key(&key);
        let ws = match (key.workspace_id, named) {
            (Some(id), named) => {
                let found = c
                    .query_opt(
                        &format!(
                            "SELECT {WORKSPACE_COLS} FROM workspaces WHERE id = $1 AND deleted_at IS NULL"
                        ),
                        &[&id],
                    )
                    .await?
                    .as_ref()
                    .map(workspace);
                match found {
                    // A workspace key that names another workspace finds nothing there.
                    Some(ws) if named.as_deref().is_none_or(|n| n == ws.slug) => Some(ws),
                    _ => return Ok(CallerLookup::UnknownWorkspace(named.unwrap_or_default())),
                }
            }
            (None, Some(slug)) => {
                let found = c
                    .query_opt(
                        &format!(
                            "SELECT {WORKSPACE_COLS} FROM workspaces WHERE slug = $1 AND deleted_at IS NULL"
                        ),
                        &[&slug],
                    )
                    .await?;
                match found {
                    Some(row) => Some(workspace(&row)),
                    None => return Ok(CallerLookup::UnknownWorkspace(slug)),
                }
            }
            (None, None) => None,
        };
        Ok(CallerLookup::Found(key, ws))
    }

    pub async fn api_key_touch(&self, id: i64, at: i64) -> Result<()> {
        let c = self.conn().await?;
        c.execute(
            "UPDATE api_keys SET last_used_at = $2 WHERE id = $1",
            &[&id, &at],
        )
        .await?;
        Ok(())
    }

    pub async fn api_keys_all(&self, workspace_id: Option<i64>) -> Result<Vec<ApiKeyRow>> {
        let c = self.conn().await?;
        let rows = c
            .query(
                &format!(
                    "SELECT {KEY_COLS} FROM api_keys WHERE workspace_id IS NOT DISTINCT FROM $1
                     ORDER BY revoked_at IS NOT NULL, id DESC"
                ),
                &[&workspace_id],
            )
            .await?;
        Ok(rows.iter().map(api_key).collect())
    }

    pub async fn api_keys_page(
        &self,
        workspace_id: i64,
        after: i64,
        limit: usize,
    ) -> Result<Vec<ApiKeyRow>> {
        let c = self.conn().await?;
        let rows = c
            .query(
                &format!(
                    "SELECT {KEY_COLS} FROM api_keys WHERE workspace_id = $1 AND id > $2 ORDER BY id LIMIT $3"
                ),
                &[&workspace_id, &after, &(limit as i64)],
            )
            .await?;
        Ok(rows.iter().map(api_key).collect())
    }

    pub async fn api_key_get(&self, workspace_id: i64, id: i64) -> Result<Option<ApiKeyRow>> {
        let c = self.conn().await?;
        let row = c
            .query_opt(
                &format!("SELECT {KEY_COLS} FROM api_keys WHERE workspace_id = $1 AND id = $2"),
                &[&workspace_id, &id],
            )
            .await?;
        Ok(row.as_ref().map(api_key))
    }

    /// One statement: revokes a live key, and returns the key as it is then either way.
    pub async fn api_key_revoke(
        &self,
        workspace_id: Option<i64>,
        id: i64,
    ) -> Result<Option<ApiKeyRow>> {
        let c = self.conn().await?;
        let row = c
            .query_opt(
                &format!(
                    "WITH revoked AS (
                         UPDATE api_keys SET revoked_at = $3
                         WHERE id = $1 AND workspace_id IS NOT DISTINCT FROM $2 AND revoked_at IS NULL
                         RETURNING {KEY_COLS})
                     SELECT {KEY_COLS} FROM revoked
                     UNION ALL
                     SELECT {KEY_COLS} FROM api_keys
                     WHERE id = $1 AND workspace_id IS NOT DISTINCT FROM $2
                       AND NOT EXISTS (SELECT 1 FROM revoked)"
                ),
                &[&id, &workspace_id, &now_ms()],
            )
            .await?;
        Ok(row.as_ref().map(api_key))
    }
}

pub(super) const WORKSPACE_COLS: &str =
    "id, slug, name, created_at, coalesce(updated_at, created_at), webhooks_enabled, max_webhooks";

pub(super) fn workspace(r: &Row) -> Workspace {
    Workspace {
        id: r.get(0),
        slug: r.get(1),
        name: r.get(2),
        created_at: r.get(3),
        updated_at: r.get(4),
        webhooks_enabled: r.get(5),
        max_webhooks: r.get(6),
    }
}

const EVENT_TYPE_COLS: &str = "id, name, description, example, created_at";

fn event_type(r: &Row) -> EventTypeRow {
    EventTypeRow {
        id: r.get(0),
        name: r.get(1),
        description: r.get(2),
        example: r.get(3),
        created_at: r.get(4),
    }
}

const KEY_COLS: &str =
    "id, workspace_id, name, prefix, scopes, created_at, last_used_at, revoked_at";

fn api_key(r: &Row) -> ApiKeyRow {
    ApiKeyRow {
        id: r.get(0),
        workspace_id: r.get(1),
        name: r.get(2),
        prefix: r.get(3),
        scopes: Scopes::parse(r.get::<_, &str>(4)).unwrap_or_default(),
        created_at: r.get(5),
        last_used_at: r.get(6),
        revoked_at: r.get(7),
    }
}
