//! People on PostgreSQL: accounts, memberships, sessions, the setup link, invitations,
//! password resets, portal links and sessions. Each method is one transaction. The
//! check-then-act units that SQLite's single writer keeps safe lock what they decide on:
//! a membership change locks the workspace's memberships, an invitation its workspace row,
//! the first-run setup a transaction-scoped advisory lock; single-use links are spent by a
//! conditional `UPDATE`, which only one of two racing requests wins.

use deadpool_postgres::GenericClient;
use tokio_postgres::Row;

use super::store::{workspace, WORKSPACE_COLS};
use super::PgStore;
use crate::domain::{check_member_change, Email, Role};
use crate::store::types::{
    AcceptRefused, Invitation, Invited, LinkState, Member, MemberAdded, MemberChanged, Membership,
    NewAccountSession, NewInvitation, NewLink, NewSession, PortalSessionRow, Redeemed, SessionRow,
    SetupOutcome, SetupTokenState, StoreError, User, Workspace,
};

type Result<T> = std::result::Result<T, StoreError>;

/// The advisory lock of the first-run setup ("hooksetu").
const SETUP_LOCK: i64 = 0x686f_6f6b_7365_7475;

const USER_COLS: &str = "id, email, password_hash, is_instance_admin";

fn user(r: &Row) -> User {
    User {
        id: r.get(0),
        email: r.get(1),
        password_hash: r.get(2),
        is_instance_admin: r.get(3),
    }
}

fn role(r: &Row, i: usize) -> Role {
    Role::parse(r.get::<_, &str>(i)).unwrap_or(Role::Viewer)
}

const INVITATION_COLS: &str =
    "i.id, i.workspace_id, w.slug, w.name, i.email, i.role, i.created_at, i.expires_at";

fn invitation(r: &Row) -> Invitation {
    Invitation {
        id: r.get(0),
        workspace_id: r.get(1),
        workspace_slug: r.get(2),
        workspace_name: r.get(3),
        email: r.get(4),
        role: role(r, 5),
        created_at: r.get(6),
        expires_at: r.get(7),
    }
}

async fn user_insert<C: GenericClient>(
    c: &C,
    email: &Email,
    password_hash: &str,
    instance_admin: bool,
) -> Result<Option<i64>> {
    let now = crate::clock::now_ms();
    let inserted = c
        .query_one(
            "INSERT INTO users (email, password_hash, is_instance_admin, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $4) RETURNING id",
            &[&email.as_str(), &password_hash, &instance_admin, &now],
        )
        .await;
    match inserted {
        Ok(row) => Ok(Some(row.get(0))),
        Err(e) if super::store::is_unique_violation(&e) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

async fn membership_upsert<C: GenericClient>(c: &C, ws: i64, user: i64, r: Role) -> Result<()> {
    c.execute(
        "INSERT INTO memberships (workspace_id, user_id, role, created_at) VALUES ($1, $2, $3, $4)
         ON CONFLICT (workspace_id, user_id) DO UPDATE SET role = EXCLUDED.role",
        &[&ws, &user, &r.as_str(), &crate::clock::now_ms()],
    )
    .await?;
    Ok(())
}

async fn pending<C: GenericClient>(c: &C, ws: i64, now: i64) -> Result<Vec<Invitation>> {
    let rows = c
        .query(
            &format!(
                "SELECT {INVITATION_COLS} FROM invitations i JOIN workspaces w ON w.id = i.workspace_id
                 WHERE i.workspace_id = $1 AND i.accepted_at IS NULL AND i.revoked_at IS NULL
                   AND i.expires_at > $2
                 ORDER BY i.id DESC"
            ),
            &[&ws, &now],
        )
        .await?;
    Ok(rows.iter().map(invitation).collect())
}

async fn invitation_by_hash<C: GenericClient>(
    c: &C,
    token_hash: &[u8],
    now: i64,
) -> Result<LinkState<Invitation>> {
    let row = c
        .query_opt(
            &format!(
                "SELECT {INVITATION_COLS}, i.accepted_at, i.revoked_at, w.deleted_at
                 FROM invitations i JOIN workspaces w ON w.id = i.workspace_id WHERE i.token_hash = $1"
            ),
            &[&token_hash],
        )
        .await?;
    let Some(r) = row else {
        return Ok(LinkState::Unknown);
    };
    let (accepted, revoked, deleted): (Option<i64>, Option<i64>, Option<i64>) =
        (r.get(8), r.get(9), r.get(10));
    let inv = invitation(&r);
    Ok(if deleted.is_some() {
        LinkState::Unknown
    } else if accepted.is_some() {
        LinkState::Used
    } else if revoked.is_some() {
        LinkState::Revoked
    } else if inv.expires_at <= now {
        LinkState::Expired
    } else {
        LinkState::Valid(inv)
    })
}

/// Spends an invitation link; the invitation, or `None` if it was not usable any more.
async fn invitation_accept<C: GenericClient>(
    c: &C,
    token_hash: &[u8],
    now: i64,
) -> Result<Option<Invitation>> {
    let row = c
        .query_opt(
            &format!(
                "WITH accepted AS (
                     UPDATE invitations SET accepted_at = $2
                     WHERE token_hash = $1 AND accepted_at IS NULL AND revoked_at IS NULL AND expires_at > $2
                       AND workspace_id IN (SELECT id FROM workspaces WHERE deleted_at IS NULL)
                     RETURNING *)
                 SELECT {INVITATION_COLS} FROM accepted i JOIN workspaces w ON w.id = i.workspace_id"
            ),
            &[&token_hash, &now],
        )
        .await?;
    Ok(row.as_ref().map(invitation))
}

impl PgStore {
    pub async fn users_count(&self) -> Result<i64> {
        let c = self.conn().await?;
        Ok(c.query_one("SELECT count(*) FROM users", &[]).await?.get(0))
    }

    pub async fn user_by_email(&self, email: &str) -> Result<Option<User>> {
        if email.contains('\0') {
            return Ok(None); // PostgreSQL text holds no NUL: nothing can match
        }
        let c = self.conn().await?;
        let row = c
            .query_opt(
                &format!("SELECT {USER_COLS} FROM users WHERE email = $1"),
                &[&email.trim().to_lowercase()],
            )
            .await?;
        Ok(row.as_ref().map(user))
    }

    pub async fn user_by_id(&self, id: i64) -> Result<Option<User>> {
        let c = self.conn().await?;
        let row = c
            .query_opt(
                &format!("SELECT {USER_COLS} FROM users WHERE id = $1"),
                &[&id],
            )
            .await?;
        Ok(row.as_ref().map(user))
    }

    pub async fn user_create(
        &self,
        email: Email,
        password_hash: String,
        instance_admin: bool,
        membership: Option<(i64, Role)>,
    ) -> Result<Option<i64>> {
        let mut c = self.conn().await?;
        let tx = c.transaction().await?;
        let Some(id) = user_insert(&tx, &email, &password_hash, instance_admin).await? else {
            return Ok(None);
        };
        if let Some((ws, r)) = membership {
            membership_upsert(&tx, ws, id, r).await?;
        }
        tx.commit().await?;
        Ok(Some(id))
    }

    pub async fn workspace_with_role(
        &self,
        slug: &str,
        user: Option<i64>,
    ) -> Result<Option<(Workspace, Option<Role>)>> {
        let c = self.conn().await?;
        let row = c
            .query_opt(
                &format!(
                    "SELECT {WORKSPACE_COLS},
                            (SELECT m.role FROM memberships m WHERE m.workspace_id = workspaces.id AND m.user_id = $2)
                     FROM workspaces WHERE slug = $1 AND deleted_at IS NULL"
                ),
                &[&slug, &user],
            )
            .await?;
        Ok(row.map(|r| {
            let membership: Option<&str> = r.get(7);
            (workspace(&r), membership.and_then(|m| Role::parse(m).ok()))
        }))
    }

    pub async fn memberships_of(&self, user_id: i64) -> Result<Vec<Membership>> {
        let c = self.conn().await?;
        let rows = c
            .query(
                "SELECT w.id, w.slug, w.name, w.created_at, coalesce(w.updated_at, w.created_at),
                        w.webhooks_enabled, w.max_webhooks, m.role
                 FROM memberships m JOIN workspaces w ON w.id = m.workspace_id
                 WHERE m.user_id = $1 AND w.deleted_at IS NULL ORDER BY w.slug",
                &[&user_id],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|r| Membership {
                workspace: workspace(r),
                role: role(r, 7),
            })
            .collect())
    }

    pub async fn member_role(&self, workspace_id: i64, user_id: i64) -> Result<Option<Role>> {
        let c = self.conn().await?;
        let row = c
            .query_opt(
                "SELECT role FROM memberships WHERE workspace_id = $1 AND user_id = $2",
                &[&workspace_id, &user_id],
            )
            .await?;
        Ok(row.map(|r| role(&r, 0)))
    }

    pub async fn members_page(
        &self,
        workspace_id: i64,
        now: i64,
    ) -> Result<(Vec<Member>, Vec<Invitation>)> {
        let c = self.conn().await?;
        let rows = c
            .query(
                "SELECT u.id, u.email, m.role FROM memberships m JOIN users u ON u.id = m.user_id
                 WHERE m.workspace_id = $1 ORDER BY u.email",
                &[&workspace_id],
            )
            .await?;
        let members = rows
            .iter()
            .map(|r| Member {
                user_id: r.get(0),
                email: r.get(1),
                role: role(r, 2),
            })
            .collect();
        Ok((members, pending(&c, workspace_id, now).await?))
    }

    pub async fn member_add_existing(
        &self,
        workspace_id: i64,
        user_id: i64,
        r: Role,
    ) -> Result<MemberAdded> {
        let c = self.conn().await?;
        let n = c
            .execute(
                "INSERT INTO memberships (workspace_id, user_id, role, created_at) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (workspace_id, user_id) DO NOTHING",
                &[&workspace_id, &user_id, &r.as_str(), &crate::clock::now_ms()],
            )
            .await?;
        Ok(if n == 1 {
            MemberAdded::Added
        } else {
            MemberAdded::AlreadyMember
        })
    }

    pub async fn member_add_new(
        &self,
        workspace_id: i64,
        email: Email,
        password_hash: String,
        r: Role,
    ) -> Result<MemberAdded> {
        Ok(
            match self
                .user_create(email, password_hash, false, Some((workspace_id, r)))
                .await?
            {
                Some(_) => MemberAdded::Added,
                None => MemberAdded::EmailTaken,
            },
        )
    }

    pub async fn member_change(
        &self,
        workspace_id: i64,
        user_id: i64,
        new_role: Option<Role>,
        actor_is_owner: bool,
    ) -> Result<MemberChanged> {
        let mut c = self.conn().await?;
        let tx = c.transaction().await?;
        // Locks the workspace's memberships: two changes at once cannot both take away the
        // last owner.
        let rows = tx
            .query(
                "SELECT m.user_id, u.email, m.role FROM memberships m JOIN users u ON u.id = m.user_id
                 WHERE m.workspace_id = $1 ORDER BY m.user_id FOR UPDATE OF m",
                &[&workspace_id],
            )
            .await?;
        let Some(target) = rows.iter().find(|r| r.get::<_, i64>(0) == user_id) else {
            return Ok(MemberChanged::NotMember);
        };
        let email: String = target.get(1);
        let owners = rows.iter().filter(|r| role(r, 2) == Role::Owner).count();
        if let Err(why) = check_member_change(role(target, 2), new_role, owners, actor_is_owner) {
            return Ok(MemberChanged::Refused(why, email));
        }
        match new_role {
            Some(r) => membership_upsert(&tx, workspace_id, user_id, r).await?,
            None => {
                tx.execute(
                    "DELETE FROM memberships WHERE workspace_id = $1 AND user_id = $2",
                    &[&workspace_id, &user_id],
                )
                .await?;
            }
        }
        tx.commit().await?;
        Ok(MemberChanged::Done(email))
    }

    pub async fn session_create(&self, s: NewAccountSession) -> Result<()> {
        let c = self.conn().await?;
        let now = crate::clock::now_ms();
        c.execute(
            "INSERT INTO sessions (token_hash, user_id, csrf_token, created_at, expires_at, ip, user_agent)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
            &[
                &s.token_hash,
                &s.user_id,
                &s.csrf_token,
                &now,
                &(now + s.ttl_ms),
                &s.ip,
                &s.user_agent,
            ],
        )
        .await?;
        // Housekeeping: drop expired sessions as new ones arrive.
        c.execute("DELETE FROM sessions WHERE expires_at < $1", &[&now])
            .await?;
        Ok(())
    }

    pub async fn session_delete(&self, token_hash: Vec<u8>) -> Result<()> {
        let c = self.conn().await?;
        c.execute("DELETE FROM sessions WHERE token_hash = $1", &[&token_hash])
            .await?;
        Ok(())
    }

    pub async fn identify(
        &self,
        account: Option<Vec<u8>>,
        portal: Option<Vec<u8>>,
        now: i64,
    ) -> Result<(Option<(SessionRow, User)>, Option<PortalSessionRow>)> {
        let c = self.conn().await?;
        let account = match account {
            None => None,
            Some(h) => c
                .query_opt(
                    "SELECT s.id, s.user_id, s.csrf_token, s.expires_at,
                            u.id, u.email, u.password_hash, u.is_instance_admin
                     FROM sessions s JOIN users u ON u.id = s.user_id
                     WHERE s.token_hash = $1 AND s.expires_at > $2",
                    &[&h, &now],
                )
                .await?
                .map(|r| {
                    (
                        SessionRow {
                            id: r.get(0),
                            user_id: r.get(1),
                            csrf_token: r.get(2),
                            expires_at: r.get(3),
                        },
                        User {
                            id: r.get(4),
                            email: r.get(5),
                            password_hash: r.get(6),
                            is_instance_admin: r.get(7),
                        },
                    )
                }),
        };
        let portal = match portal {
            None => None,
            Some(h) => c
                .query_opt(
                    "SELECT s.id, s.workspace_id, w.slug, s.role, s.email, s.csrf_token, s.last_seen_at
                     FROM portal_sessions s JOIN workspaces w ON w.id = s.workspace_id
                     WHERE s.token_hash = $1 AND s.expires_at > $2 AND w.deleted_at IS NULL",
                    &[&h, &now],
                )
                .await?
                .map(|r| PortalSessionRow {
                    id: r.get(0),
                    workspace_id: r.get(1),
                    workspace_slug: r.get(2),
                    role: role(&r, 3),
                    email: r.get(4),
                    csrf_token: r.get(5),
                    last_seen_at: r.get(6),
                }),
        };
        Ok((account, portal))
    }

    pub async fn password_change(
        &self,
        user_id: i64,
        password_hash: String,
        keep_session: Option<i64>,
        now: i64,
    ) -> Result<()> {
        let mut c = self.conn().await?;
        let tx = c.transaction().await?;
        set_password(&tx, user_id, &password_hash, keep_session, now).await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn setup_token_create(&self, token_hash: Vec<u8>, ttl_ms: i64) -> Result<()> {
        let mut c = self.conn().await?;
        let tx = c.transaction().await?;
        let now = crate::clock::now_ms();
        // Only the newest link works.
        tx.execute("DELETE FROM setup_tokens", &[]).await?;
        tx.execute(
            "INSERT INTO setup_tokens (token_hash, created_at, expires_at) VALUES ($1, $2, $3)",
            &[&token_hash, &now, &(now + ttl_ms)],
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn setup_state(&self, token_hash: Vec<u8>) -> Result<(SetupTokenState, i64)> {
        let c = self.conn().await?;
        Ok((setup_token_state(&c, &token_hash).await?, users(&c).await?))
    }

    pub async fn setup_first_admin(
        &self,
        token_hash: Vec<u8>,
        email: Email,
        password_hash: String,
    ) -> Result<SetupOutcome> {
        let mut c = self.conn().await?;
        let tx = c.transaction().await?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&SETUP_LOCK])
            .await?;
        let n = users(&tx).await?;
        let st = setup_token_state(&tx, &token_hash).await?;
        let now = crate::clock::now_ms();
        let spent = n == 0
            && st == SetupTokenState::Valid
            && tx
                .execute(
                    "UPDATE setup_tokens SET used_at = $2
                     WHERE token_hash = $1 AND used_at IS NULL AND expires_at > $2",
                    &[&token_hash, &now],
                )
                .await?
                == 1;
        if !spent {
            return Ok(SetupOutcome::Unavailable(st, n > 0));
        }
        let id = user_insert(&tx, &email, &password_hash, true)
            .await?
            .expect("no users exist yet");
        tx.commit().await?;
        Ok(SetupOutcome::Created(id))
    }

    pub async fn invitation_create(&self, new: NewInvitation) -> Result<Invited> {
        let mut c = self.conn().await?;
        let tx = c.transaction().await?;
        let ws = new.workspace_id;
        // One invitation decision per workspace at a time.
        tx.execute("SELECT 1 FROM workspaces WHERE id = $1 FOR UPDATE", &[&ws])
            .await?;
        let member = tx
            .query_opt(
                "SELECT 1 FROM memberships m JOIN users u ON u.id = m.user_id
                 WHERE m.workspace_id = $1 AND u.email = $2",
                &[&ws, &new.email.as_str()],
            )
            .await?;
        if member.is_some() {
            return Ok(Invited::AlreadyMember);
        }
        // Replacing an owner's invitation takes the owner role away from it.
        let owner_pending = pending(&tx, ws, new.now)
            .await?
            .iter()
            .any(|i| i.email == new.email.as_str() && i.role == Role::Owner);
        if !new.actor_is_owner && owner_pending {
            return Ok(Invited::OwnerOnly);
        }
        tx.execute(
            "UPDATE invitations SET revoked_at = $3
             WHERE workspace_id = $1 AND email = $2 AND accepted_at IS NULL AND revoked_at IS NULL",
            &[&ws, &new.email.as_str(), &new.now],
        )
        .await?;
        tx.execute(
            "INSERT INTO invitations (token_hash, workspace_id, email, role, invited_by, created_at, expires_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
            &[
                &new.token_hash,
                &ws,
                &new.email.as_str(),
                &new.role.as_str(),
                &new.invited_by,
                &new.now,
                &(new.now + new.ttl_ms),
            ],
        )
        .await?;
        tx.commit().await?;
        Ok(Invited::Created)
    }

    pub async fn invitation_pending(
        &self,
        workspace_id: i64,
        id: i64,
        now: i64,
    ) -> Result<Option<Invitation>> {
        let c = self.conn().await?;
        Ok(pending(&c, workspace_id, now)
            .await?
            .into_iter()
            .find(|i| i.id == id))
    }

    pub async fn invitation_revoke(&self, workspace_id: i64, id: i64, now: i64) -> Result<bool> {
        let c = self.conn().await?;
        Ok(c.execute(
            "UPDATE invitations SET revoked_at = $3
             WHERE id = $1 AND workspace_id = $2 AND accepted_at IS NULL AND revoked_at IS NULL",
            &[&id, &workspace_id, &now],
        )
        .await?
            == 1)
    }

    pub async fn invitation_state(
        &self,
        token_hash: Vec<u8>,
        now: i64,
    ) -> Result<LinkState<Invitation>> {
        let c = self.conn().await?;
        invitation_by_hash(&c, &token_hash, now).await
    }

    pub async fn invitation_lookup(
        &self,
        token_hash: Vec<u8>,
        now: i64,
    ) -> Result<LinkState<(Invitation, bool)>> {
        let c = self.conn().await?;
        Ok(match invitation_by_hash(&c, &token_hash, now).await? {
            LinkState::Valid(inv) => {
                let has_account = c
                    .query_opt("SELECT 1 FROM users WHERE email = $1", &[&inv.email])
                    .await?
                    .is_some();
                LinkState::Valid((inv, has_account))
            }
            LinkState::Expired => LinkState::Expired,
            LinkState::Used => LinkState::Used,
            LinkState::Revoked => LinkState::Revoked,
            LinkState::Unknown => LinkState::Unknown,
        })
    }

    pub async fn invitation_accept_existing(
        &self,
        token_hash: Vec<u8>,
        user_id: i64,
        now: i64,
    ) -> Result<std::result::Result<Invitation, AcceptRefused>> {
        let mut c = self.conn().await?;
        let tx = c.transaction().await?;
        let Some(inv) = invitation_accept(&tx, &token_hash, now).await? else {
            return Ok(Err(AcceptRefused::Gone));
        };
        tx.execute(
            "INSERT INTO memberships (workspace_id, user_id, role, created_at) VALUES ($1, $2, $3, $4)
             ON CONFLICT (workspace_id, user_id) DO NOTHING",
            &[&inv.workspace_id, &user_id, &inv.role.as_str(), &now],
        )
        .await?;
        tx.commit().await?;
        Ok(Ok(inv))
    }

    pub async fn invitation_accept_new(
        &self,
        token_hash: Vec<u8>,
        email: Email,
        password_hash: String,
        now: i64,
    ) -> Result<std::result::Result<(i64, Invitation), AcceptRefused>> {
        let mut c = self.conn().await?;
        let tx = c.transaction().await?;
        let Some(inv) = invitation_accept(&tx, &token_hash, now).await? else {
            return Ok(Err(AcceptRefused::Gone));
        };
        let Some(uid) = user_insert(&tx, &email, &password_hash, false).await? else {
            return Ok(Err(AcceptRefused::AccountExists));
        };
        membership_upsert(&tx, inv.workspace_id, uid, inv.role).await?;
        tx.commit().await?;
        Ok(Ok((uid, inv)))
    }

    pub async fn password_reset_create(
        &self,
        token_hash: Vec<u8>,
        user_id: i64,
        now: i64,
        ttl_ms: i64,
    ) -> Result<()> {
        let c = self.conn().await?;
        c.execute(
            "INSERT INTO password_resets (token_hash, user_id, created_at, expires_at) VALUES ($1, $2, $3, $4)",
            &[&token_hash, &user_id, &now, &(now + ttl_ms)],
        )
        .await?;
        Ok(())
    }

    pub async fn password_reset_state(
        &self,
        token_hash: Vec<u8>,
        now: i64,
    ) -> Result<LinkState<String>> {
        let c = self.conn().await?;
        let row = c
            .query_opt(
                "SELECT u.email, r.expires_at, r.used_at FROM password_resets r JOIN users u ON u.id = r.user_id
                 WHERE r.token_hash = $1",
                &[&token_hash],
            )
            .await?;
        Ok(match row {
            None => LinkState::Unknown,
            Some(r) if r.get::<_, Option<i64>>(2).is_some() => LinkState::Used,
            Some(r) if r.get::<_, i64>(1) <= now => LinkState::Expired,
            Some(r) => LinkState::Valid(r.get(0)),
        })
    }

    pub async fn password_reset_apply(
        &self,
        token_hash: Vec<u8>,
        password_hash: String,
        now: i64,
    ) -> Result<Option<i64>> {
        let mut c = self.conn().await?;
        let tx = c.transaction().await?;
        let Some(row) = tx
            .query_opt(
                "UPDATE password_resets SET used_at = $2
                 WHERE token_hash = $1 AND used_at IS NULL AND expires_at > $2 RETURNING user_id",
                &[&token_hash, &now],
            )
            .await?
        else {
            return Ok(None);
        };
        let uid: i64 = row.get(0);
        set_password(&tx, uid, &password_hash, None, now).await?;
        tx.commit().await?;
        Ok(Some(uid))
    }

    pub async fn portal_link_create(&self, l: NewLink) -> Result<i64> {
        let c = self.conn().await?;
        let row = c
            .query_one(
                "INSERT INTO portal_links (token_hash, workspace_id, role, email, api_key_id, created_at, expires_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
                &[
                    &l.token_hash,
                    &l.workspace_id,
                    &l.role.as_str(),
                    &l.email,
                    &l.api_key_id,
                    &l.created_at,
                    &l.expires_at,
                ],
            )
            .await?;
        Ok(row.get(0))
    }

    pub async fn portal_link_redeem(&self, link_hash: Vec<u8>, s: NewSession) -> Result<Redeemed> {
        let mut c = self.conn().await?;
        let tx = c.transaction().await?;
        let Some(link) = tx
            .query_opt(
                "SELECT l.id, l.workspace_id, l.role, l.email, l.expires_at, l.used_at, w.slug, w.deleted_at
                 FROM portal_links l JOIN workspaces w ON w.id = l.workspace_id WHERE l.token_hash = $1",
                &[&link_hash],
            )
            .await?
        else {
            return Ok(Redeemed::Unknown);
        };
        let (id, ws): (i64, i64) = (link.get(0), link.get(1));
        if link.get::<_, Option<i64>>(5).is_some() {
            return Ok(Redeemed::Used);
        }
        if link.get::<_, i64>(4) <= s.now {
            return Ok(Redeemed::Expired);
        }
        if link.get::<_, Option<i64>>(7).is_some() {
            return Ok(Redeemed::Unknown);
        }
        // Only one of two requests opening the link at once spends it.
        let n = tx
            .execute(
                "UPDATE portal_links SET used_at = $2 WHERE id = $1 AND used_at IS NULL",
                &[&id, &s.now],
            )
            .await?;
        if n == 0 {
            return Ok(Redeemed::Used);
        }
        tx.execute(
            "INSERT INTO portal_sessions (token_hash, workspace_id, link_id, role, email, csrf_token, created_at, last_seen_at, expires_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $7, $8)",
            &[
                &s.token_hash,
                &ws,
                &id,
                &link.get::<_, &str>(2),
                &link.get::<_, Option<&str>>(3),
                &s.csrf_token,
                &s.now,
                &(s.now + s.idle_ms),
            ],
        )
        .await?;
        tx.commit().await?;
        Ok(Redeemed::Opened {
            workspace_slug: link.get(6),
        })
    }

    pub async fn portal_session_touch(&self, id: i64, now: i64, idle_ms: i64) -> Result<()> {
        let c = self.conn().await?;
        c.execute(
            "UPDATE portal_sessions SET last_seen_at = $2, expires_at = $3 WHERE id = $1 AND expires_at > $2",
            &[&id, &now, &(now + idle_ms)],
        )
        .await?;
        Ok(())
    }
}

async fn users<C: GenericClient>(c: &C) -> Result<i64> {
    Ok(c.query_one("SELECT count(*) FROM users", &[]).await?.get(0))
}

async fn setup_token_state<C: GenericClient>(c: &C, token_hash: &[u8]) -> Result<SetupTokenState> {
    let row = c
        .query_opt(
            "SELECT expires_at, used_at FROM setup_tokens WHERE token_hash = $1",
            &[&token_hash],
        )
        .await?;
    Ok(match row {
        None => SetupTokenState::Unknown,
        Some(r) if r.get::<_, Option<i64>>(1).is_some() => SetupTokenState::Unknown,
        Some(r) if r.get::<_, i64>(0) <= crate::clock::now_ms() => SetupTokenState::Expired,
        Some(_) => SetupTokenState::Valid,
    })
}

/// Sets a password, voids the account's reset links, and ends its sessions but `keep`.
async fn set_password<C: GenericClient>(
    c: &C,
    user_id: i64,
    password_hash: &str,
    keep: Option<i64>,
    now: i64,
) -> Result<()> {
    c.execute(
        "UPDATE users SET password_hash = $2, updated_at = $3 WHERE id = $1",
        &[&user_id, &password_hash, &now],
    )
    .await?;
    c.execute(
        "UPDATE password_resets SET used_at = $2 WHERE user_id = $1 AND used_at IS NULL",
        &[&user_id, &now],
    )
    .await?;
    c.execute(
        "DELETE FROM sessions WHERE user_id = $1 AND id IS DISTINCT FROM $2",
        &[&user_id, &keep],
    )
    .await?;
    Ok(())
}
