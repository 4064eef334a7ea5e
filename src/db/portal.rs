//! Portal links (one-time, stored hashed) and the portal sessions they open.

use rusqlite::{params, Connection, OptionalExtension};

use super::DbError;
use crate::domain::Role;

#[derive(Debug, Clone)]
pub struct NewLink {
    pub token_hash: Vec<u8>,
    pub workspace_id: i64,
    pub role: Role,
    pub email: Option<String>,
    pub api_key_id: Option<i64>,
    pub created_at: i64,
    pub expires_at: i64,
}

pub fn create_link(conn: &Connection, l: &NewLink) -> Result<i64, DbError> {
    conn.prepare_cached(
        "INSERT INTO portal_links (token_hash, workspace_id, role, email, api_key_id, created_at, expires_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?
    .execute(params![
        l.token_hash,
        l.workspace_id,
        l.role.as_str(),
        l.email,
        l.api_key_id,
        l.created_at,
        l.expires_at
    ])?;
    Ok(conn.last_insert_rowid())
}

/// What opening a link found.
#[derive(Debug)]
pub enum Redeemed {
    /// The link was valid and is now used: its session was made.
    Opened {
        workspace_slug: String,
    },
    /// The link was used before.
    Used,
    Expired,
    Unknown,
}

#[derive(Debug, Clone)]
pub struct NewSession {
    pub token_hash: Vec<u8>,
    pub csrf_token: String,
    pub now: i64,
    pub idle_ms: i64,
}

/// id, workspace, role, email, expires_at, used_at.
type LinkRow = (i64, i64, String, Option<String>, i64, Option<i64>);

/// Uses the link (once: the `used_at IS NULL` update decides under concurrency) and opens
/// its session, in one transaction.
pub fn redeem_link(
    conn: &Connection,
    link_hash: &[u8],
    s: &NewSession,
) -> Result<Redeemed, DbError> {
    let found: Option<LinkRow> = conn
        .prepare_cached(
            "SELECT id, workspace_id, role, email, expires_at, used_at FROM portal_links WHERE token_hash = ?1",
        )?
        .query_row([link_hash], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?))
        })
        .optional()?;
    let Some((id, ws, role, email, expires_at, used_at)) = found else {
        return Ok(Redeemed::Unknown);
    };
    if used_at.is_some() {
        return Ok(Redeemed::Used);
    }
    if expires_at <= s.now {
        return Ok(Redeemed::Expired);
    }
    let slug: Option<String> = conn
        .query_row(
            "SELECT slug FROM workspaces WHERE id = ?1 AND deleted_at IS NULL",
            [ws],
            |r| r.get(0),
        )
        .optional()?;
    let Some(slug) = slug else {
        return Ok(Redeemed::Unknown);
    };
    let n = conn.execute(
        "UPDATE portal_links SET used_at = ?2 WHERE id = ?1 AND used_at IS NULL",
        params![id, s.now],
    )?;
    if n == 0 {
        return Ok(Redeemed::Used);
    }
    conn.execute(
        "INSERT INTO portal_sessions (token_hash, workspace_id, link_id, role, email, csrf_token, created_at, last_seen_at, expires_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7, ?8)",
        params![
            s.token_hash,
            ws,
            id,
            role,
            email,
            s.csrf_token,
            s.now,
            s.now + s.idle_ms
        ],
    )?;
    Ok(Redeemed::Opened {
        workspace_slug: slug,
    })
}

/// A live portal session.
#[derive(Debug, Clone)]
pub struct SessionRow {
    pub id: i64,
    pub workspace_id: i64,
    pub workspace_slug: String,
    pub role: Role,
    pub email: Option<String>,
    pub csrf_token: String,
    pub last_seen_at: i64,
}

/// The session of `token_hash`, if it has not been idle past its end.
pub fn session_by_hash(
    conn: &Connection,
    token_hash: &[u8],
    now: i64,
) -> Result<Option<SessionRow>, DbError> {
    Ok(conn
        .prepare_cached(
            "SELECT s.id, s.workspace_id, w.slug, s.role, s.email, s.csrf_token, s.last_seen_at
             FROM portal_sessions s JOIN workspaces w ON w.id = s.workspace_id
             WHERE s.token_hash = ?1 AND s.expires_at > ?2 AND w.deleted_at IS NULL",
        )?
        .query_row(params![token_hash, now], |r| {
            Ok(SessionRow {
                id: r.get(0)?,
                workspace_id: r.get(1)?,
                workspace_slug: r.get(2)?,
                role: Role::parse(&r.get::<_, String>(3)?).unwrap_or(Role::Viewer),
                email: r.get(4)?,
                csrf_token: r.get(5)?,
                last_seen_at: r.get(6)?,
            })
        })
        .optional()?)
}

/// Moves an active session's idle end forward.
pub fn touch_session(conn: &Connection, id: i64, now: i64, idle_ms: i64) -> Result<(), DbError> {
    conn.prepare_cached(
        "UPDATE portal_sessions SET last_seen_at = ?2, expires_at = ?3 WHERE id = ?1 AND expires_at > ?2",
    )?
    .execute(params![id, now, now + idle_ms])?;
    Ok(())
}

/// Removes links that expired before `before` and sessions that ended before it
/// (retention).
pub fn purge_expired(conn: &Connection, before: i64) -> Result<usize, DbError> {
    let a = conn.execute("DELETE FROM portal_links WHERE expires_at <= ?1", [before])?;
    let b = conn.execute(
        "DELETE FROM portal_sessions WHERE expires_at <= ?1",
        [before],
    )?;
    Ok(a + b)
}

// ---- units of work: the store's SQLite backend (see `crate::store`) ----

impl super::Db {
    pub async fn portal_link_create(&self, link: NewLink) -> Result<i64, DbError> {
        self.write(move |c| create_link(c, &link)).await
    }

    pub async fn portal_link_redeem(
        &self,
        link_hash: Vec<u8>,
        session: NewSession,
    ) -> Result<Redeemed, DbError> {
        self.write(move |c| redeem_link(c, &link_hash, &session))
            .await
    }

    pub async fn portal_session_touch(
        &self,
        id: i64,
        now: i64,
        idle_ms: i64,
    ) -> Result<(), DbError> {
        self.write(move |c| touch_session(c, id, now, idle_ms))
            .await
    }
}
