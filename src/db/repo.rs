//! Queries on a `&Connection`. The server runs them through [`super::Db`]; the CLI runs them
//! on its own connection, so both share one implementation.

use rusqlite::{params, Connection, OptionalExtension};

use super::DbError;
use crate::clock::now_ms;
use crate::domain::{Email, EventTypeName, Role, Scopes};

use super::is_unique_violation;

pub use super::workspaces::{
    create_workspace, list_workspaces, workspace_by_id, workspace_by_slug, Workspace,
};

#[derive(Debug, Clone)]
pub struct User {
    pub id: i64,
    pub email: String,
    pub password_hash: String,
    pub is_instance_admin: bool,
}

fn map_user(r: &rusqlite::Row) -> rusqlite::Result<User> {
    Ok(User {
        id: r.get(0)?,
        email: r.get(1)?,
        password_hash: r.get(2)?,
        is_instance_admin: r.get(3)?,
    })
}

pub fn count_users(conn: &Connection) -> Result<i64, DbError> {
    Ok(conn.query_row("SELECT count(*) FROM users", [], |r| r.get(0))?)
}

/// Creates a user; `Ok(None)` if the email is taken.
pub fn create_user(
    conn: &Connection,
    email: &Email,
    password_hash: &str,
    instance_admin: bool,
) -> Result<Option<i64>, DbError> {
    let now = now_ms();
    match conn.execute(
        "INSERT INTO users (email, password_hash, is_instance_admin, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?4)",
        params![email.as_str(), password_hash, instance_admin, now],
    ) {
        Ok(_) => Ok(Some(conn.last_insert_rowid())),
        Err(e) if is_unique_violation(&e) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

pub fn user_by_email(conn: &Connection, email: &str) -> Result<Option<User>, DbError> {
    Ok(conn
        .query_row(
            "SELECT id, email, password_hash, is_instance_admin FROM users WHERE email = ?1",
            [email.trim().to_lowercase()],
            map_user,
        )
        .optional()?)
}

pub fn user_by_id(conn: &Connection, id: i64) -> Result<Option<User>, DbError> {
    Ok(conn
        .query_row(
            "SELECT id, email, password_hash, is_instance_admin FROM users WHERE id = ?1",
            [id],
            map_user,
        )
        .optional()?)
}

pub fn set_password(conn: &Connection, user_id: i64, password_hash: &str) -> Result<(), DbError> {
    conn.execute(
        "UPDATE users SET password_hash = ?2, updated_at = ?3 WHERE id = ?1",
        params![user_id, password_hash, now_ms()],
    )?;
    Ok(())
}

/// Adds the user to the workspace, or changes their role there.
pub fn upsert_membership(
    conn: &Connection,
    workspace_id: i64,
    user_id: i64,
    role: Role,
) -> Result<(), DbError> {
    conn.execute(
        "INSERT INTO memberships (workspace_id, user_id, role, created_at) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (workspace_id, user_id) DO UPDATE SET role = excluded.role",
        params![workspace_id, user_id, role.as_str(), now_ms()],
    )?;
    Ok(())
}

pub fn remove_membership(
    conn: &Connection,
    workspace_id: i64,
    user_id: i64,
) -> Result<bool, DbError> {
    Ok(conn.execute(
        "DELETE FROM memberships WHERE workspace_id = ?1 AND user_id = ?2",
        params![workspace_id, user_id],
    )? > 0)
}

pub fn role_in(
    conn: &Connection,
    workspace_id: i64,
    user_id: i64,
) -> Result<Option<Role>, DbError> {
    let role: Option<String> = conn
        .query_row(
            "SELECT role FROM memberships WHERE workspace_id = ?1 AND user_id = ?2",
            params![workspace_id, user_id],
            |r| r.get(0),
        )
        .optional()?;
    Ok(role.and_then(|r| Role::parse(&r).ok()))
}

#[derive(Debug, Clone)]
pub struct Membership {
    pub workspace: Workspace,
    pub role: Role,
}

/// The workspaces a user belongs to, with their role in each.
pub fn memberships_of(conn: &Connection, user_id: i64) -> Result<Vec<Membership>, DbError> {
    let mut st = conn.prepare_cached(
        "SELECT w.id, w.slug, w.name, w.created_at, COALESCE(w.updated_at, w.created_at),
                w.webhooks_enabled, w.max_webhooks, m.role FROM memberships m
         JOIN workspaces w ON w.id = m.workspace_id
         WHERE m.user_id = ?1 AND w.deleted_at IS NULL ORDER BY w.slug",
    )?;
    let rows = st
        .query_map([user_id], |r| {
            Ok(Membership {
                workspace: super::workspaces::map_workspace(r)?,
                role: Role::parse(&r.get::<_, String>(7)?).unwrap_or(Role::Viewer),
            })
        })?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}

#[derive(Debug, Clone)]
pub struct Member {
    pub user_id: i64,
    pub email: String,
    pub role: Role,
}

pub fn members_of(conn: &Connection, workspace_id: i64) -> Result<Vec<Member>, DbError> {
    let mut st = conn.prepare_cached(
        "SELECT u.id, u.email, m.role FROM memberships m JOIN users u ON u.id = m.user_id
         WHERE m.workspace_id = ?1 ORDER BY u.email",
    )?;
    let rows = st
        .query_map([workspace_id], |r| {
            Ok(Member {
                user_id: r.get(0)?,
                email: r.get(1)?,
                role: Role::parse(&r.get::<_, String>(2)?).unwrap_or(Role::Viewer),
            })
        })?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}

// ---- sessions ----

pub struct SessionRow {
    pub id: i64,
    pub user_id: i64,
    pub csrf_token: String,
    pub expires_at: i64,
}

pub fn create_session(
    conn: &Connection,
    token_hash: &[u8],
    user_id: i64,
    csrf_token: &str,
    ttl_ms: i64,
    ip: Option<&str>,
    user_agent: Option<&str>,
) -> Result<(), DbError> {
    let now = now_ms();
    conn.execute(
        "INSERT INTO sessions (token_hash, user_id, csrf_token, created_at, expires_at, ip, user_agent)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![token_hash, user_id, csrf_token, now, now + ttl_ms, ip, user_agent],
    )?;
    // Housekeeping: drop expired sessions as new ones arrive.
    conn.execute("DELETE FROM sessions WHERE expires_at < ?1", [now])?;
    Ok(())
}

pub fn session_by_hash(
    conn: &Connection,
    token_hash: &[u8],
) -> Result<Option<SessionRow>, DbError> {
    Ok(conn
        .query_row(
            "SELECT id, user_id, csrf_token, expires_at FROM sessions WHERE token_hash = ?1 AND expires_at > ?2",
            params![token_hash, now_ms()],
            |r| Ok(SessionRow { id: r.get(0)?, user_id: r.get(1)?, csrf_token: r.get(2)?, expires_at: r.get(3)? }),
        )
        .optional()?)
}

pub fn delete_session(conn: &Connection, token_hash: &[u8]) -> Result<(), DbError> {
    conn.execute("DELETE FROM sessions WHERE token_hash = ?1", [token_hash])?;
    Ok(())
}

/// Ends every session of a user except, optionally, one (used after a password change).
pub fn delete_sessions_of(
    conn: &Connection,
    user_id: i64,
    keep: Option<i64>,
) -> Result<(), DbError> {
    conn.execute(
        "DELETE FROM sessions WHERE user_id = ?1 AND id IS NOT ?2",
        params![user_id, keep],
    )?;
    Ok(())
}

// ---- first-run setup tokens ----

pub fn create_setup_token(
    conn: &Connection,
    token_hash: &[u8],
    ttl_ms: i64,
) -> Result<(), DbError> {
    let now = now_ms();
    // Only the newest link works.
    conn.execute("DELETE FROM setup_tokens", [])?;
    conn.execute(
        "INSERT INTO setup_tokens (token_hash, created_at, expires_at) VALUES (?1, ?2, ?3)",
        params![token_hash, now, now + ttl_ms],
    )?;
    Ok(())
}

#[derive(Debug, PartialEq, Eq)]
pub enum SetupTokenState {
    Valid,
    Expired,
    Unknown,
}

pub fn setup_token_state(conn: &Connection, token_hash: &[u8]) -> Result<SetupTokenState, DbError> {
    let row: Option<(i64, Option<i64>)> = conn
        .query_row(
            "SELECT expires_at, used_at FROM setup_tokens WHERE token_hash = ?1",
            [token_hash],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    Ok(match row {
        None | Some((_, Some(_))) => SetupTokenState::Unknown,
        Some((exp, None)) if exp <= now_ms() => SetupTokenState::Expired,
        Some(_) => SetupTokenState::Valid,
    })
}

/// Marks the token used; `false` if it was not valid any more (a race with another request).
pub fn consume_setup_token(conn: &Connection, token_hash: &[u8]) -> Result<bool, DbError> {
    let now = now_ms();
    Ok(conn.execute(
        "UPDATE setup_tokens SET used_at = ?2 WHERE token_hash = ?1 AND used_at IS NULL AND expires_at > ?2",
        params![token_hash, now],
    )? == 1)
}

// ---- API keys ----

#[derive(Debug, Clone, serde::Serialize)]
pub struct ApiKeyRow {
    pub id: i64,
    pub workspace_id: Option<i64>,
    pub name: String,
    pub prefix: String,
    #[serde(skip)]
    pub scopes: Scopes,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

fn map_key(r: &rusqlite::Row) -> rusqlite::Result<ApiKeyRow> {
    Ok(ApiKeyRow {
        id: r.get(0)?,
        workspace_id: r.get(1)?,
        name: r.get(2)?,
        prefix: r.get(3)?,
        scopes: Scopes::parse(&r.get::<_, String>(4)?).unwrap_or_default(),
        created_at: r.get(5)?,
        last_used_at: r.get(6)?,
        revoked_at: r.get(7)?,
    })
}

const KEY_COLS: &str =
    "id, workspace_id, name, prefix, scopes, created_at, last_used_at, revoked_at";

#[allow(clippy::too_many_arguments)]
pub fn create_api_key(
    conn: &Connection,
    workspace_id: Option<i64>,
    name: &str,
    prefix: &str,
    key_hash: &[u8],
    scopes: Scopes,
    created_by: Option<i64>,
) -> Result<i64, DbError> {
    conn.execute(
        "INSERT INTO api_keys (workspace_id, name, prefix, key_hash, scopes, created_by, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![workspace_id, name, prefix, key_hash, scopes.to_string(), created_by, now_ms()],
    )?;
    Ok(conn.last_insert_rowid())
}

/// A live (not revoked) key by its hash.
pub fn api_key_by_hash(conn: &Connection, key_hash: &[u8]) -> Result<Option<ApiKeyRow>, DbError> {
    // Every API request runs this: parse it once per connection.
    Ok(conn
        .prepare_cached(&format!(
            "SELECT {KEY_COLS} FROM api_keys WHERE key_hash = ?1 AND revoked_at IS NULL"
        ))?
        .query_row([key_hash], map_key)
        .optional()?)
}

pub fn list_api_keys(
    conn: &Connection,
    workspace_id: Option<i64>,
) -> Result<Vec<ApiKeyRow>, DbError> {
    let mut st = conn.prepare_cached(&format!(
        "SELECT {KEY_COLS} FROM api_keys WHERE workspace_id IS ?1 ORDER BY revoked_at IS NOT NULL, id DESC"
    ))?;
    let rows = st
        .query_map([workspace_id], map_key)?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}

/// A page of a workspace's keys by id (oldest first), after `after`.
pub fn list_api_keys_after(
    conn: &Connection,
    workspace_id: i64,
    after: i64,
    limit: usize,
) -> Result<Vec<ApiKeyRow>, DbError> {
    let mut st = conn.prepare_cached(&format!(
        "SELECT {KEY_COLS} FROM api_keys WHERE workspace_id = ?1 AND id > ?2 ORDER BY id LIMIT ?3"
    ))?;
    let rows = st
        .query_map(params![workspace_id, after, limit as i64], map_key)?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}

pub fn api_key_by_id(
    conn: &Connection,
    workspace_id: i64,
    id: i64,
) -> Result<Option<ApiKeyRow>, DbError> {
    Ok(conn
        .query_row(
            &format!("SELECT {KEY_COLS} FROM api_keys WHERE workspace_id = ?1 AND id = ?2"),
            params![workspace_id, id],
            map_key,
        )
        .optional()?)
}

/// Revokes a key of the given workspace (`None`: an instance key). `false` if there was none.
pub fn revoke_api_key(
    conn: &Connection,
    workspace_id: Option<i64>,
    key_id: i64,
) -> Result<bool, DbError> {
    Ok(conn.execute(
        "UPDATE api_keys SET revoked_at = ?3 WHERE id = ?1 AND workspace_id IS ?2 AND revoked_at IS NULL",
        params![key_id, workspace_id, now_ms()],
    )? == 1)
}

pub fn touch_api_key(conn: &Connection, key_id: i64, at: i64) -> Result<(), DbError> {
    conn.execute(
        "UPDATE api_keys SET last_used_at = ?2 WHERE id = ?1",
        params![key_id, at],
    )?;
    Ok(())
}

// ---- event types ----

#[derive(Debug, Clone)]
pub struct EventTypeRow {
    pub id: i64,
    pub name: String,
    pub description: String,
    pub example: Option<String>,
    pub created_at: i64,
}

fn map_event_type(r: &rusqlite::Row) -> rusqlite::Result<EventTypeRow> {
    Ok(EventTypeRow {
        id: r.get(0)?,
        name: r.get(1)?,
        description: r.get(2)?,
        example: r.get(3)?,
        created_at: r.get(4)?,
    })
}

/// Creates an event type; `Ok(None)` if the name exists.
pub fn create_event_type(
    conn: &Connection,
    name: &EventTypeName,
    description: &str,
    example: Option<&str>,
) -> Result<Option<EventTypeRow>, DbError> {
    let now = now_ms();
    match conn.execute(
        "INSERT INTO event_types (name, description, example, created_at) VALUES (?1, ?2, ?3, ?4)",
        params![name.as_str(), description, example, now],
    ) {
        Ok(_) => Ok(Some(EventTypeRow {
            id: conn.last_insert_rowid(),
            name: name.to_string(),
            description: description.into(),
            example: example.map(Into::into),
            created_at: now,
        })),
        Err(e) if is_unique_violation(&e) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

pub fn list_event_types(conn: &Connection) -> Result<Vec<EventTypeRow>, DbError> {
    let mut st = conn.prepare_cached(
        "SELECT id, name, description, example, created_at FROM event_types WHERE archived_at IS NULL ORDER BY name",
    )?;
    let rows = st
        .query_map([], map_event_type)?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}

/// A page of event types by name, after the name `after`.
pub fn list_event_types_after(
    conn: &Connection,
    after: Option<&str>,
    limit: usize,
) -> Result<Vec<EventTypeRow>, DbError> {
    let mut st = conn.prepare_cached(
        "SELECT id, name, description, example, created_at FROM event_types
         WHERE archived_at IS NULL AND name > ?1 ORDER BY name LIMIT ?2",
    )?;
    let rows = st
        .query_map(params![after.unwrap_or(""), limit as i64], map_event_type)?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}

/// Cached: every publish asks it (in the writer), once per distinct event type.
pub fn event_type_by_name(conn: &Connection, name: &str) -> Result<Option<EventTypeRow>, DbError> {
    Ok(conn
        .prepare_cached(
            "SELECT id, name, description, example, created_at FROM event_types WHERE name = ?1 AND archived_at IS NULL",
        )?
        .query_row([name], map_event_type)
        .optional()?)
}

/// Whether `name` is an event type that is not archived: what a publish checks, in the
/// writer, for each type it names. It reads no more of the row (an example payload can be
/// large): reading the whole row was about 2% of the writer's time in single publishes.
pub fn event_type_exists(conn: &Connection, name: &str) -> Result<bool, DbError> {
    Ok(conn
        .prepare_cached("SELECT 1 FROM event_types WHERE name = ?1 AND archived_at IS NULL")?
        .exists([name])?)
}

// ---- units of work: the store's SQLite backend (see `crate::store`) ----

/// A key to create; the key itself is never stored, only its hash.
#[derive(Debug, Clone)]
pub struct NewApiKey {
    /// `None`: an instance key.
    pub workspace_id: Option<i64>,
    pub name: String,
    pub prefix: String,
    pub hash: Vec<u8>,
    pub scopes: Scopes,
    pub created_by: Option<i64>,
}

/// Who an API key is, and the workspace a request with it acts in.
#[derive(Debug, Clone)]
pub enum CallerLookup {
    /// No live key has this hash.
    NoKey,
    /// The workspace named (or the key's own) is not there, or a workspace key named another.
    UnknownWorkspace(String),
    Found(ApiKeyRow, Option<Workspace>),
}

impl super::Db {
    pub async fn api_key_create(&self, new: NewApiKey) -> Result<ApiKeyRow, DbError> {
        self.write(move |c| {
            let id = create_api_key(
                c,
                new.workspace_id,
                &new.name,
                &new.prefix,
                &new.hash,
                new.scopes,
                new.created_by,
            )?;
            Ok(c.query_row(
                &format!("SELECT {KEY_COLS} FROM api_keys WHERE id = ?1"),
                [id],
                map_key,
            )?)
        })
        .await
    }

    pub async fn api_caller(
        &self,
        key_hash: Vec<u8>,
        workspace: Option<String>,
    ) -> Result<CallerLookup, DbError> {
        // A client's every request carries its key: look it up once in a while (`db::callers`).
        if let Some(found) = self.callers().get(&key_hash, &workspace) {
            return Ok(found);
        }
        let generation = self.callers().generation();
        let (hash, named) = (key_hash.clone(), workspace.clone());
        let found = self
            .read(move |conn| {
                let Some(key) = api_key_by_hash(conn, &key_hash)? else {
                    return Ok(CallerLookup::NoKey);
                };
                let ws = match (key.workspace_id, workspace) {
                    (Some(id), named) => match workspace_by_id(conn, id)? {
                        // A workspace key that names another workspace finds nothing there.
                        Some(ws) if named.as_deref().is_none_or(|n| n == ws.slug) => Some(ws),
                        _ => return Ok(CallerLookup::UnknownWorkspace(named.unwrap_or_default())),
                    },
                    (None, Some(slug)) => match workspace_by_slug(conn, &slug)? {
                        Some(ws) => Some(ws),
                        None => return Ok(CallerLookup::UnknownWorkspace(slug)),
                    },
                    (None, None) => None,
                };
                Ok(CallerLookup::Found(key, ws))
            })
            .await?;
        self.callers().put(generation, hash, named, &found);
        Ok(found)
    }

    pub async fn api_key_touch(&self, id: i64, at: i64) -> Result<(), DbError> {
        self.callers().touched(id, at);
        self.write(move |c| touch_api_key(c, id, at)).await
    }

    pub async fn api_keys_all(&self, workspace_id: Option<i64>) -> Result<Vec<ApiKeyRow>, DbError> {
        self.read(move |c| list_api_keys(c, workspace_id)).await
    }

    pub async fn api_keys_page(
        &self,
        workspace_id: i64,
        after: i64,
        limit: usize,
    ) -> Result<Vec<ApiKeyRow>, DbError> {
        self.read(move |c| list_api_keys_after(c, workspace_id, after, limit))
            .await
    }

    pub async fn api_key_get(
        &self,
        workspace_id: i64,
        id: i64,
    ) -> Result<Option<ApiKeyRow>, DbError> {
        self.read(move |c| api_key_by_id(c, workspace_id, id)).await
    }

    pub async fn api_key_revoke(
        &self,
        workspace_id: Option<i64>,
        id: i64,
    ) -> Result<Option<ApiKeyRow>, DbError> {
        let revoked = self
            .write(move |c| {
                let sql =
                    format!("SELECT {KEY_COLS} FROM api_keys WHERE id = ?1 AND workspace_id IS ?2");
                let Some(row) = c
                    .query_row(&sql, params![id, workspace_id], map_key)
                    .optional()?
                else {
                    return Ok(None);
                };
                if row.revoked_at.is_some() {
                    return Ok(Some(row));
                }
                revoke_api_key(c, workspace_id, id)?;
                Ok(Some(c.query_row(
                    &sql,
                    params![id, workspace_id],
                    map_key,
                )?))
            })
            .await;
        self.callers().clear();
        revoked
    }

    pub async fn event_type_create(
        &self,
        new: crate::domain::NewEventType,
    ) -> Result<Option<EventTypeRow>, DbError> {
        self.write(move |c| {
            create_event_type(c, &new.name, &new.description, new.example.as_deref())
        })
        .await
    }

    pub async fn event_types_all(&self) -> Result<Vec<EventTypeRow>, DbError> {
        self.read(list_event_types).await
    }

    pub async fn event_types_page(
        &self,
        after: Option<String>,
        limit: usize,
    ) -> Result<Vec<EventTypeRow>, DbError> {
        self.read(move |c| list_event_types_after(c, after.as_deref(), limit))
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Slug;

    #[test]
    fn a_publish_sees_only_event_types_that_exist_and_are_not_archived() {
        let dir = tempfile::tempdir().unwrap();
        let conn = crate::db::open_and_migrate(dir.path()).unwrap();
        let name = EventTypeName::parse("order.paid").unwrap();
        create_event_type(&conn, &name, "", Some(r#"{"big": "example"}"#))
            .unwrap()
            .unwrap();
        assert!(event_type_exists(&conn, "order.paid").unwrap());
        assert!(!event_type_exists(&conn, "order.refunded").unwrap());
        assert!(!event_type_exists(&conn, "ORDER.PAID").unwrap());
        assert!(!event_type_exists(&conn, "").unwrap());
        conn.execute(
            "UPDATE event_types SET archived_at = 1 WHERE name = 'order.paid'",
            [],
        )
        .unwrap();
        assert!(!event_type_exists(&conn, "order.paid").unwrap());
    }

    #[test]
    fn workspace_user_membership_roundtrip() {
        let dir = tempfile::tempdir().unwrap();
        let conn = crate::db::open_and_migrate(dir.path()).unwrap();
        let ws = create_workspace(&conn, &Slug::parse("acme").unwrap(), "Acme")
            .unwrap()
            .unwrap();
        assert!(
            create_workspace(&conn, &Slug::parse("acme").unwrap(), "Again")
                .unwrap()
                .is_none()
        );
        let email = Email::parse("ann@example.com").unwrap();
        let uid = create_user(&conn, &email, "hash", false).unwrap().unwrap();
        assert!(create_user(&conn, &email, "hash", false).unwrap().is_none());
        upsert_membership(&conn, ws.id, uid, Role::Viewer).unwrap();
        upsert_membership(&conn, ws.id, uid, Role::Admin).unwrap();
        assert_eq!(role_in(&conn, ws.id, uid).unwrap(), Some(Role::Admin));
        assert_eq!(memberships_of(&conn, uid).unwrap().len(), 1);
        assert_eq!(
            user_by_email(&conn, "ANN@example.com").unwrap().unwrap().id,
            uid
        );
    }
}
