//! Invitations into a workspace and password reset links: one-time tokens, stored only as
//! their SHA-256 (`crate::auth::token_hash`), so a copy of the database opens no account.
//!
//! A token is spent by one `UPDATE … WHERE <still usable> RETURNING …`: of two requests
//! racing with the same link, exactly one gets the row back; the other sees it spent.

use rusqlite::{params, Connection, OptionalExtension};

use super::DbError;
use crate::domain::{Email, Role};

/// A pending (or just accepted) invitation, with the workspace it is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invitation {
    pub id: i64,
    pub workspace_id: i64,
    pub workspace_slug: String,
    pub workspace_name: String,
    pub email: String,
    pub role: Role,
    pub created_at: i64,
    pub expires_at: i64,
}

/// What a one-time link is now. `Expired`, `Used` and `Revoked` are links that existed (an
/// answer of 410 Gone); `Unknown` never did (404).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkState<T> {
    Valid(T),
    Expired,
    Used,
    Revoked,
    Unknown,
}

const INVITATION_COLS: &str =
    "i.id, i.workspace_id, w.slug, w.name, i.email, i.role, i.created_at, i.expires_at";

fn map_invitation(r: &rusqlite::Row) -> rusqlite::Result<Invitation> {
    Ok(Invitation {
        id: r.get(0)?,
        workspace_id: r.get(1)?,
        workspace_slug: r.get(2)?,
        workspace_name: r.get(3)?,
        email: r.get(4)?,
        role: Role::parse(&r.get::<_, String>(5)?).unwrap_or(Role::Viewer),
        created_at: r.get(6)?,
        expires_at: r.get(7)?,
    })
}

/// Stores a new invitation of `email` into the workspace. A pending invitation of the same
/// address there is revoked first: only the newest link works.
#[allow(clippy::too_many_arguments)]
pub fn create_invitation(
    conn: &Connection,
    token_hash: &[u8],
    workspace_id: i64,
    email: &Email,
    role: Role,
    invited_by: Option<i64>,
    now: i64,
    ttl_ms: i64,
) -> Result<i64, DbError> {
    conn.execute(
        "UPDATE invitations SET revoked_at = ?3
         WHERE workspace_id = ?1 AND email = ?2 AND accepted_at IS NULL AND revoked_at IS NULL",
        params![workspace_id, email.as_str(), now],
    )?;
    conn.execute(
        "INSERT INTO invitations (token_hash, workspace_id, email, role, invited_by, created_at, expires_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![token_hash, workspace_id, email.as_str(), role.as_str(), invited_by, now, now + ttl_ms],
    )?;
    Ok(conn.last_insert_rowid())
}

/// The invitations of a workspace that can still be accepted, newest first.
pub fn pending_invitations(
    conn: &Connection,
    workspace_id: i64,
    now: i64,
) -> Result<Vec<Invitation>, DbError> {
    let mut st = conn.prepare_cached(&format!(
        "SELECT {INVITATION_COLS} FROM invitations i JOIN workspaces w ON w.id = i.workspace_id
         WHERE i.workspace_id = ?1 AND i.accepted_at IS NULL AND i.revoked_at IS NULL AND i.expires_at > ?2
         ORDER BY i.id DESC"
    ))?;
    let rows = st
        .query_map(params![workspace_id, now], map_invitation)?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}

/// The role of the pending invitation of `email` into the workspace, if there is one.
pub fn pending_role_of(
    conn: &Connection,
    workspace_id: i64,
    email: &Email,
    now: i64,
) -> Result<Option<Role>, DbError> {
    Ok(pending_invitations(conn, workspace_id, now)?
        .into_iter()
        .find(|i| i.email == email.as_str())
        .map(|i| i.role))
}

/// A pending invitation of the workspace by id.
pub fn pending_invitation(
    conn: &Connection,
    workspace_id: i64,
    id: i64,
    now: i64,
) -> Result<Option<Invitation>, DbError> {
    Ok(pending_invitations(conn, workspace_id, now)?
        .into_iter()
        .find(|i| i.id == id))
}

/// Withdraws a pending invitation; `false` if there was none to withdraw.
pub fn revoke_invitation(
    conn: &Connection,
    workspace_id: i64,
    id: i64,
    now: i64,
) -> Result<bool, DbError> {
    Ok(conn.execute(
        "UPDATE invitations SET revoked_at = ?3
         WHERE id = ?1 AND workspace_id = ?2 AND accepted_at IS NULL AND revoked_at IS NULL",
        params![id, workspace_id, now],
    )? == 1)
}

/// What the invitation link with this token is now.
pub fn invitation_state(
    conn: &Connection,
    token_hash: &[u8],
    now: i64,
) -> Result<LinkState<Invitation>, DbError> {
    let row = conn
        .query_row(
            &format!(
                "SELECT {INVITATION_COLS}, i.accepted_at, i.revoked_at, w.deleted_at
                 FROM invitations i JOIN workspaces w ON w.id = i.workspace_id WHERE i.token_hash = ?1"
            ),
            [token_hash],
            |r| {
                Ok((
                    map_invitation(r)?,
                    r.get::<_, Option<i64>>(8)?,
                    r.get::<_, Option<i64>>(9)?,
                    r.get::<_, Option<i64>>(10)?,
                ))
            },
        )
        .optional()?;
    Ok(match row {
        None | Some((_, _, _, Some(_))) => LinkState::Unknown,
        Some((_, Some(_), _, _)) => LinkState::Used,
        Some((_, _, Some(_), _)) => LinkState::Revoked,
        Some((inv, ..)) if inv.expires_at <= now => LinkState::Expired,
        Some((inv, ..)) => LinkState::Valid(inv),
    })
}

/// Marks the invitation accepted and returns it, or `None` if it could not be accepted any
/// more (used, revoked, expired or unknown: a race with another request, or a stale form).
pub fn accept_invitation(
    conn: &Connection,
    token_hash: &[u8],
    now: i64,
) -> Result<Option<Invitation>, DbError> {
    let id: Option<i64> = conn
        .query_row(
            "UPDATE invitations SET accepted_at = ?2
             WHERE token_hash = ?1 AND accepted_at IS NULL AND revoked_at IS NULL AND expires_at > ?2
               AND workspace_id IN (SELECT id FROM workspaces WHERE deleted_at IS NULL)
             RETURNING id",
            params![token_hash, now],
            |r| r.get(0),
        )
        .optional()?;
    let Some(id) = id else {
        return Ok(None);
    };
    Ok(conn
        .query_row(
            &format!(
                "SELECT {INVITATION_COLS} FROM invitations i JOIN workspaces w ON w.id = i.workspace_id WHERE i.id = ?1"
            ),
            [id],
            map_invitation,
        )
        .optional()?)
}

// ---- password resets ----

/// Stores a reset link for the user.
pub fn create_password_reset(
    conn: &Connection,
    token_hash: &[u8],
    user_id: i64,
    now: i64,
    ttl_ms: i64,
) -> Result<(), DbError> {
    conn.execute(
        "INSERT INTO password_resets (token_hash, user_id, created_at, expires_at) VALUES (?1, ?2, ?3, ?4)",
        params![token_hash, user_id, now, now + ttl_ms],
    )?;
    Ok(())
}

/// What the reset link with this token is now; a valid one gives the account's email.
pub fn password_reset_state(
    conn: &Connection,
    token_hash: &[u8],
    now: i64,
) -> Result<LinkState<String>, DbError> {
    let row: Option<(String, i64, Option<i64>)> = conn
        .query_row(
            "SELECT u.email, r.expires_at, r.used_at FROM password_resets r JOIN users u ON u.id = r.user_id
             WHERE r.token_hash = ?1",
            [token_hash],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .optional()?;
    Ok(match row {
        None => LinkState::Unknown,
        Some((_, _, Some(_))) => LinkState::Used,
        Some((_, exp, None)) if exp <= now => LinkState::Expired,
        Some((email, _, None)) => LinkState::Valid(email),
    })
}

/// Spends the reset link and returns its user's id, or `None` if it was not usable any more.
pub fn consume_password_reset(
    conn: &Connection,
    token_hash: &[u8],
    now: i64,
) -> Result<Option<i64>, DbError> {
    Ok(conn
        .query_row(
            "UPDATE password_resets SET used_at = ?2
             WHERE token_hash = ?1 AND used_at IS NULL AND expires_at > ?2 RETURNING user_id",
            params![token_hash, now],
            |r| r.get(0),
        )
        .optional()?)
}

/// Spends every outstanding reset link of the user (after their password was set).
pub fn invalidate_password_resets(
    conn: &Connection,
    user_id: i64,
    now: i64,
) -> Result<usize, DbError> {
    Ok(conn.execute(
        "UPDATE password_resets SET used_at = ?2 WHERE user_id = ?1 AND used_at IS NULL",
        params![user_id, now],
    )?)
}

/// Deletes invitations and reset links that ended (expired, used, accepted or revoked)
/// before `before`; they only answered "this link is no longer valid" until then.
pub fn purge_ended(conn: &Connection, before: i64) -> Result<usize, DbError> {
    let a = conn.execute(
        "DELETE FROM invitations WHERE min(expires_at, coalesce(accepted_at, expires_at), coalesce(revoked_at, expires_at)) < ?1",
        [before],
    )?;
    let b = conn.execute(
        "DELETE FROM password_resets WHERE min(expires_at, coalesce(used_at, expires_at)) < ?1",
        [before],
    )?;
    Ok(a + b)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::token_hash;
    use crate::db::repo;
    use crate::domain::Slug;

    fn setup() -> (tempfile::TempDir, Connection, i64, i64) {
        let dir = tempfile::tempdir().unwrap();
        let conn = crate::db::open_and_migrate(dir.path()).unwrap();
        let ws = repo::create_workspace(&conn, &Slug::parse("acme").unwrap(), "Acme")
            .unwrap()
            .unwrap();
        let uid = repo::create_user(&conn, &Email::parse("ann@example.com").unwrap(), "h", false)
            .unwrap()
            .unwrap();
        (dir, conn, ws.id, uid)
    }

    #[test]
    fn an_invitation_is_accepted_once_and_a_new_one_replaces_the_old() {
        let (_d, c, ws, uid) = setup();
        let email = Email::parse("Bob@Example.com").unwrap();
        let now = 1_000_000;
        create_invitation(
            &c,
            &token_hash("one"),
            ws,
            &email,
            Role::Admin,
            Some(uid),
            now,
            100,
        )
        .unwrap();
        create_invitation(
            &c,
            &token_hash("two"),
            ws,
            &email,
            Role::Viewer,
            Some(uid),
            now,
            100,
        )
        .unwrap();
        assert_eq!(
            invitation_state(&c, &token_hash("one"), now).unwrap(),
            LinkState::Revoked
        );
        let pending = pending_invitations(&c, ws, now).unwrap();
        assert_eq!(pending.len(), 1);
        assert_eq!(
            (pending[0].email.as_str(), pending[0].role),
            ("bob@example.com", Role::Viewer)
        );
        assert!(accept_invitation(&c, &token_hash("one"), now)
            .unwrap()
            .is_none());
        assert!(
            accept_invitation(&c, &token_hash("two"), now + 100)
                .unwrap()
                .is_none(),
            "expired"
        );
        assert_eq!(
            invitation_state(&c, &token_hash("two"), now + 100).unwrap(),
            LinkState::Expired
        );
        let inv = accept_invitation(&c, &token_hash("two"), now + 99)
            .unwrap()
            .unwrap();
        assert_eq!(inv.workspace_slug, "acme");
        assert!(accept_invitation(&c, &token_hash("two"), now + 99)
            .unwrap()
            .is_none());
        assert_eq!(
            invitation_state(&c, &token_hash("two"), now).unwrap(),
            LinkState::Used
        );
        assert_eq!(
            invitation_state(&c, &token_hash("nope"), now).unwrap(),
            LinkState::Unknown
        );
        assert!(pending_invitations(&c, ws, now).unwrap().is_empty());
    }

    #[test]
    fn a_reset_link_is_spent_once_and_with_the_others_of_its_user() {
        let (_d, c, _ws, uid) = setup();
        let now = 5_000_000;
        create_password_reset(&c, &token_hash("a"), uid, now, 10).unwrap();
        create_password_reset(&c, &token_hash("b"), uid, now, 10).unwrap();
        assert_eq!(
            password_reset_state(&c, &token_hash("a"), now).unwrap(),
            LinkState::Valid("ann@example.com".into())
        );
        assert_eq!(
            consume_password_reset(&c, &token_hash("a"), now + 10).unwrap(),
            None,
            "expired"
        );
        assert_eq!(
            consume_password_reset(&c, &token_hash("a"), now).unwrap(),
            Some(uid)
        );
        assert_eq!(
            consume_password_reset(&c, &token_hash("a"), now).unwrap(),
            None
        );
        assert_eq!(invalidate_password_resets(&c, uid, now).unwrap(), 1);
        assert_eq!(
            password_reset_state(&c, &token_hash("b"), now).unwrap(),
            LinkState::Used
        );
        assert_eq!(purge_ended(&c, now + 1).unwrap(), 2);
        assert_eq!(
            password_reset_state(&c, &token_hash("b"), now).unwrap(),
            LinkState::Unknown
        );
    }
}
