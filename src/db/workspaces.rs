//! Workspaces: create, read, list, change (name and plan), and delete. A deleted workspace
//! disappears for every reader at once (its slug is freed, its keys, sessions and links are
//! gone, its webhooks stop), and its history is then removed in small batches by
//! [`purge_batch`], so deleting a big tenant never holds the writer for long.

use rusqlite::{params, Connection, OptionalExtension};

use super::is_unique_violation;
use super::DbError;
use crate::clock::now_ms;
use crate::domain::Slug;

#[derive(Debug, Clone, serde::Serialize)]
pub struct Workspace {
    pub id: i64,
    pub slug: String,
    pub name: String,
    pub created_at: i64,
    pub updated_at: i64,
    /// The plan's feature flag: without it, webhooks are read-only.
    pub webhooks_enabled: bool,
    /// The plan's cap on webhooks; `None`: no cap.
    pub max_webhooks: Option<i64>,
}

const COLUMNS: &str =
    "id, slug, name, created_at, COALESCE(updated_at, created_at), webhooks_enabled, max_webhooks";

pub(super) fn map_workspace(r: &rusqlite::Row) -> rusqlite::Result<Workspace> {
    Ok(Workspace {
        id: r.get(0)?,
        slug: r.get(1)?,
        name: r.get(2)?,
        created_at: r.get(3)?,
        updated_at: r.get(4)?,
        webhooks_enabled: r.get(5)?,
        max_webhooks: r.get(6)?,
    })
}

/// A new workspace's plan.
#[derive(Debug, Clone, Copy, Default)]
pub struct Plan {
    pub webhooks_enabled: Option<bool>,
    /// `Some(None)`: no cap.
    pub max_webhooks: Option<Option<i64>>,
}

/// Creates a workspace; `Ok(None)` when the slug is taken.
pub fn create_workspace(
    conn: &Connection,
    slug: &Slug,
    name: &str,
) -> Result<Option<Workspace>, DbError> {
    create_workspace_with(conn, slug, name, Plan::default())
}

pub fn create_workspace_with(
    conn: &Connection,
    slug: &Slug,
    name: &str,
    plan: Plan,
) -> Result<Option<Workspace>, DbError> {
    let now = now_ms();
    match conn.execute(
        "INSERT INTO workspaces (slug, name, created_at, updated_at, webhooks_enabled, max_webhooks)
         VALUES (?1, ?2, ?3, ?3, ?4, ?5)",
        params![
            slug.as_str(),
            name,
            now,
            plan.webhooks_enabled.unwrap_or(true),
            plan.max_webhooks.flatten()
        ],
    ) {
        Ok(_) => workspace_by_id(conn, conn.last_insert_rowid()),
        Err(e) if is_unique_violation(&e) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

pub fn workspace_by_slug(conn: &Connection, slug: &str) -> Result<Option<Workspace>, DbError> {
    Ok(conn
        .prepare_cached(&format!(
            "SELECT {COLUMNS} FROM workspaces WHERE slug = ?1 AND deleted_at IS NULL"
        ))?
        .query_row([slug], map_workspace)
        .optional()?)
}

pub fn workspace_by_id(conn: &Connection, id: i64) -> Result<Option<Workspace>, DbError> {
    Ok(conn
        .prepare_cached(&format!(
            "SELECT {COLUMNS} FROM workspaces WHERE id = ?1 AND deleted_at IS NULL"
        ))?
        .query_row([id], map_workspace)
        .optional()?)
}

/// Every workspace, by slug.
pub fn list_workspaces(conn: &Connection) -> Result<Vec<Workspace>, DbError> {
    let mut st = conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM workspaces WHERE deleted_at IS NULL ORDER BY slug"
    ))?;
    let rows = st.query_map([], map_workspace)?.collect::<Result<_, _>>()?;
    Ok(rows)
}

/// A page of workspaces by slug, after `after`.
pub fn list_workspaces_after(
    conn: &Connection,
    after: Option<&str>,
    limit: usize,
) -> Result<Vec<Workspace>, DbError> {
    let mut st = conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM workspaces WHERE deleted_at IS NULL AND slug > ?1 ORDER BY slug LIMIT ?2"
    ))?;
    let rows = st
        .query_map(params![after.unwrap_or(""), limit as i64], map_workspace)?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}

/// What a change of a workspace carries; `None` fields keep their value.
#[derive(Debug, Clone, Default)]
pub struct WorkspaceChange {
    pub name: Option<String>,
    pub webhooks_enabled: Option<bool>,
    /// `Some(None)` removes the cap.
    pub max_webhooks: Option<Option<i64>>,
}

/// Applies `change`; `Ok(None)` if there is no such workspace.
pub fn update_workspace(
    conn: &Connection,
    id: i64,
    change: &WorkspaceChange,
) -> Result<Option<Workspace>, DbError> {
    let Some(ws) = workspace_by_id(conn, id)? else {
        return Ok(None);
    };
    conn.execute(
        "UPDATE workspaces SET name = ?2, webhooks_enabled = ?3, max_webhooks = ?4, updated_at = ?5 WHERE id = ?1",
        params![
            id,
            change.name.as_deref().unwrap_or(&ws.name),
            change.webhooks_enabled.unwrap_or(ws.webhooks_enabled),
            change.max_webhooks.unwrap_or(ws.max_webhooks),
            now_ms()
        ],
    )?;
    workspace_by_id(conn, id)
}

/// How many webhooks the workspace has (for its plan's cap).
pub fn count_webhooks(conn: &Connection, id: i64) -> Result<i64, DbError> {
    Ok(conn
        .prepare_cached("SELECT COUNT(*) FROM webhooks WHERE workspace_id = ?1")?
        .query_row([id], |r| r.get(0))?)
}

/// The first step of deleting a workspace, in one transaction: the workspace vanishes for
/// every reader (its slug gets a `~id` suffix no valid slug has, so the slug is free again),
/// everyone's access ends (API keys, memberships, portal links and sessions, invitations),
/// and its webhooks stop, so the engine claims nothing more of it. Returns false when there
/// is no such workspace.
pub fn mark_deleted(conn: &Connection, id: i64) -> Result<bool, DbError> {
    let now = now_ms();
    let n = conn.execute(
        "UPDATE workspaces SET deleted_at = ?2, slug = slug || '~' || id, updated_at = ?2
         WHERE id = ?1 AND deleted_at IS NULL",
        params![id, now],
    )?;
    if n == 0 {
        return Ok(false);
    }
    for sql in [
        "DELETE FROM api_keys WHERE workspace_id = ?1",
        "DELETE FROM memberships WHERE workspace_id = ?1",
        "DELETE FROM portal_sessions WHERE workspace_id = ?1",
        "DELETE FROM portal_links WHERE workspace_id = ?1",
        "DELETE FROM invitations WHERE workspace_id = ?1",
        "UPDATE webhooks SET is_active = 0, disabled_reason = 'workspace deleted', updated_at = ?2 WHERE workspace_id = ?1",
    ] {
        if sql.contains("?2") {
            conn.execute(sql, params![id, now])?;
        } else {
            conn.execute(sql, params![id])?;
        }
    }
    Ok(true)
}

/// Workspaces whose removal is under way (a crash may have interrupted it).
pub fn deleted_workspaces(conn: &Connection) -> Result<Vec<i64>, DbError> {
    let mut st =
        conn.prepare_cached("SELECT id FROM workspaces WHERE deleted_at IS NOT NULL ORDER BY id")?;
    let rows = st.query_map([], |r| r.get(0))?.collect::<Result<_, _>>()?;
    Ok(rows)
}

/// Removes up to about `limit` rows of a deleted workspace's history, children first
/// (attempts go with their deliveries, deliveries with their webhook's batch, then events,
/// idempotency keys, webhooks, and last the workspace row). Returns true when nothing is
/// left. Only a workspace marked deleted is touched.
pub fn purge_batch(conn: &Connection, id: i64, limit: i64) -> Result<bool, DbError> {
    let deleted: Option<i64> = conn
        .query_row(
            "SELECT deleted_at FROM workspaces WHERE id = ?1",
            [id],
            |r| r.get(0),
        )
        .optional()?
        .flatten();
    if deleted.is_none() {
        return Ok(true);
    }
    // Deliveries, webhook by webhook (their index is per webhook); their attempts cascade.
    let hook: Option<i64> = conn
        .query_row(
            "SELECT w.id FROM webhooks w WHERE w.workspace_id = ?1
               AND EXISTS (SELECT 1 FROM deliveries d WHERE d.webhook_id = w.id) LIMIT 1",
            [id],
            |r| r.get(0),
        )
        .optional()?;
    if let Some(hook) = hook {
        conn.execute(
            "DELETE FROM deliveries WHERE id IN (SELECT id FROM deliveries WHERE webhook_id = ?1 LIMIT ?2)",
            params![hook, limit],
        )?;
        return Ok(false);
    }
    for sql in [
        "DELETE FROM events WHERE id IN (SELECT id FROM events WHERE workspace_id = ?1 LIMIT ?2)",
        // WITHOUT ROWID: batched by its primary key.
        "DELETE FROM idempotency_keys WHERE (workspace_id, route, key) IN
             (SELECT workspace_id, route, key FROM idempotency_keys WHERE workspace_id = ?1 LIMIT ?2)",
        "DELETE FROM webhooks WHERE id IN (SELECT id FROM webhooks WHERE workspace_id = ?1 LIMIT ?2)",
    ] {
        if conn.execute(sql, params![id, limit])? > 0 {
            return Ok(false);
        }
    }
    conn.execute("DELETE FROM workspaces WHERE id = ?1", [id])?;
    Ok(true)
}

// ---- units of work: the store's SQLite backend (see `crate::store`) ----

impl super::Db {
    pub async fn workspace_create(
        &self,
        new: crate::domain::NewWorkspace,
    ) -> Result<Option<Workspace>, DbError> {
        self.write(move |c| {
            create_workspace_with(
                c,
                &new.slug,
                &new.name,
                Plan {
                    webhooks_enabled: Some(new.webhooks_enabled),
                    max_webhooks: Some(new.max_webhooks),
                },
            )
        })
        .await
    }

    pub async fn workspace_by_slug(&self, slug: &str) -> Result<Option<Workspace>, DbError> {
        let slug = slug.to_string();
        self.read(move |c| workspace_by_slug(c, &slug)).await
    }

    pub async fn workspace_by_id(&self, id: i64) -> Result<Option<Workspace>, DbError> {
        self.read(move |c| workspace_by_id(c, id)).await
    }

    pub async fn workspaces_all(&self) -> Result<Vec<Workspace>, DbError> {
        self.read(list_workspaces).await
    }

    pub async fn workspaces_page(
        &self,
        after: Option<String>,
        limit: usize,
    ) -> Result<Vec<Workspace>, DbError> {
        self.read(move |c| list_workspaces_after(c, after.as_deref(), limit))
            .await
    }

    pub async fn workspace_update(
        &self,
        id: i64,
        change: WorkspaceChange,
    ) -> Result<Option<Workspace>, DbError> {
        let changed = self.write(move |c| update_workspace(c, id, &change)).await;
        // API callers name workspaces by slug: forget what was looked up.
        self.callers().clear();
        changed
    }

    pub async fn workspace_mark_deleted(&self, id: i64) -> Result<bool, DbError> {
        let deleted = self.write(move |c| mark_deleted(c, id)).await;
        self.callers().clear();
        deleted
    }

    pub async fn workspaces_deleted(&self) -> Result<Vec<i64>, DbError> {
        self.read(deleted_workspaces).await
    }

    /// A background write: publishes and claims go first.
    pub async fn workspace_purge_batch(&self, id: i64, limit: i64) -> Result<bool, DbError> {
        self.write_background(move |c| purge_batch(c, id, limit))
            .await
    }
}
