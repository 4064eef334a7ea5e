//! People's units of work on SQLite: accounts, memberships, sessions, the first-run setup
//! link, invitations and password resets. Each method is one read or one write job; a
//! check-then-act (the last owner, an invitation's single use) is safe because one writer runs
//! at a time. The statements are in [`super::repo`] and [`super::invites`].

use super::invites::{self, Invitation, LinkState};
use super::repo::{self, Member, Membership, SessionRow, SetupTokenState, User};
use super::{Db, DbError};
use crate::domain::{check_member_change, Email, MemberRefusal, Role};

/// What adding a member found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemberAdded {
    Added,
    AlreadyMember,
    /// An account with the address was made since it was looked up.
    EmailTaken,
}

/// What a role change (or removal) did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MemberChanged {
    /// Done; the member's email.
    Done(String),
    NotMember,
    /// Refused by the rules; with the member's email.
    Refused(MemberRefusal, String),
}

/// What inviting found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Invited {
    Created,
    AlreadyMember,
    /// A pending invitation as owner would be replaced by someone who is not an owner.
    OwnerOnly,
}

/// Why accepting an invitation did not go through (nothing was written).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AcceptRefused {
    /// The link was spent (or withdrawn, or expired) since the page was checked.
    Gone,
    /// An account with the address was made since the page was shown.
    AccountExists,
}

/// What the first-run setup form found.
#[derive(Debug, PartialEq, Eq)]
pub enum SetupOutcome {
    /// The first instance admin, made.
    Created(i64),
    /// The link does not work (any more), or someone has an account already (`true`).
    Unavailable(SetupTokenState, bool),
}

/// A new account session.
#[derive(Debug, Clone)]
pub struct NewAccountSession {
    pub token_hash: Vec<u8>,
    pub user_id: i64,
    pub csrf_token: String,
    pub ttl_ms: i64,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

/// A new invitation.
#[derive(Debug, Clone)]
pub struct NewInvitation {
    pub token_hash: Vec<u8>,
    pub workspace_id: i64,
    pub email: Email,
    pub role: Role,
    pub invited_by: Option<i64>,
    /// Only an owner may replace a pending invitation as owner.
    pub actor_is_owner: bool,
    pub now: i64,
    pub ttl_ms: i64,
}

enum Refused {
    Accept(AcceptRefused),
    Db(DbError),
}

impl From<DbError> for Refused {
    fn from(e: DbError) -> Self {
        Refused::Db(e)
    }
}

impl Db {
    pub async fn workspace_with_role(
        &self,
        slug: &str,
        user: Option<i64>,
    ) -> Result<Option<(super::workspaces::Workspace, Option<Role>)>, DbError> {
        let slug = slug.to_string();
        self.read(move |c| {
            let Some(ws) = super::workspaces::workspace_by_slug(c, &slug)? else {
                return Ok(None);
            };
            let role = match user {
                Some(uid) => repo::role_in(c, ws.id, uid)?,
                None => None,
            };
            Ok(Some((ws, role)))
        })
        .await
    }

    pub async fn users_count(&self) -> Result<i64, DbError> {
        self.read(repo::count_users).await
    }

    pub async fn user_by_email(&self, email: &str) -> Result<Option<User>, DbError> {
        let email = email.to_string();
        self.read(move |c| repo::user_by_email(c, &email)).await
    }

    pub async fn user_by_id(&self, id: i64) -> Result<Option<User>, DbError> {
        self.read(move |c| repo::user_by_id(c, id)).await
    }

    pub async fn user_create(
        &self,
        email: Email,
        password_hash: String,
        instance_admin: bool,
        membership: Option<(i64, Role)>,
    ) -> Result<Option<i64>, DbError> {
        self.write(move |c| {
            let Some(id) = repo::create_user(c, &email, &password_hash, instance_admin)? else {
                return Ok(None);
            };
            if let Some((ws, role)) = membership {
                repo::upsert_membership(c, ws, id, role)?;
            }
            Ok(Some(id))
        })
        .await
    }

    pub async fn memberships_of(&self, user_id: i64) -> Result<Vec<Membership>, DbError> {
        self.read(move |c| repo::memberships_of(c, user_id)).await
    }

    pub async fn member_role(
        &self,
        workspace_id: i64,
        user_id: i64,
    ) -> Result<Option<Role>, DbError> {
        self.read(move |c| repo::role_in(c, workspace_id, user_id))
            .await
    }

    pub async fn members_page(
        &self,
        workspace_id: i64,
        now: i64,
    ) -> Result<(Vec<Member>, Vec<Invitation>), DbError> {
        self.read(move |c| {
            Ok((
                repo::members_of(c, workspace_id)?,
                invites::pending_invitations(c, workspace_id, now)?,
            ))
        })
        .await
    }

    pub async fn member_add_existing(
        &self,
        workspace_id: i64,
        user_id: i64,
        role: Role,
    ) -> Result<MemberAdded, DbError> {
        self.write(move |c| {
            if repo::role_in(c, workspace_id, user_id)?.is_some() {
                return Ok(MemberAdded::AlreadyMember);
            }
            repo::upsert_membership(c, workspace_id, user_id, role)?;
            Ok(MemberAdded::Added)
        })
        .await
    }

    pub async fn member_add_new(
        &self,
        workspace_id: i64,
        email: Email,
        password_hash: String,
        role: Role,
    ) -> Result<MemberAdded, DbError> {
        self.write(move |c| {
            let Some(id) = repo::create_user(c, &email, &password_hash, false)? else {
                return Ok(MemberAdded::EmailTaken);
            };
            repo::upsert_membership(c, workspace_id, id, role)?;
            Ok(MemberAdded::Added)
        })
        .await
    }

    pub async fn member_change(
        &self,
        workspace_id: i64,
        user_id: i64,
        role: Option<Role>,
        actor_is_owner: bool,
    ) -> Result<MemberChanged, DbError> {
        self.write(move |c| {
            let members = repo::members_of(c, workspace_id)?;
            let Some(target) = members.iter().find(|m| m.user_id == user_id) else {
                return Ok(MemberChanged::NotMember);
            };
            let owners = members.iter().filter(|m| m.role == Role::Owner).count();
            if let Err(why) = check_member_change(target.role, role, owners, actor_is_owner) {
                return Ok(MemberChanged::Refused(why, target.email.clone()));
            }
            match role {
                Some(r) => repo::upsert_membership(c, workspace_id, user_id, r)?,
                None => {
                    repo::remove_membership(c, workspace_id, user_id)?;
                }
            }
            Ok(MemberChanged::Done(target.email.clone()))
        })
        .await
    }

    pub async fn session_create(&self, s: NewAccountSession) -> Result<(), DbError> {
        self.write(move |c| {
            repo::create_session(
                c,
                &s.token_hash,
                s.user_id,
                &s.csrf_token,
                s.ttl_ms,
                s.ip.as_deref(),
                s.user_agent.as_deref(),
            )
        })
        .await
    }

    pub async fn session_delete(&self, token_hash: Vec<u8>) -> Result<(), DbError> {
        self.write(move |c| repo::delete_session(c, &token_hash))
            .await
    }

    pub async fn identify(
        &self,
        account: Option<Vec<u8>>,
        portal: Option<Vec<u8>>,
        now: i64,
    ) -> Result<
        (
            Option<(SessionRow, User)>,
            Option<super::portal::SessionRow>,
        ),
        DbError,
    > {
        self.read(move |c| {
            let account = match account {
                None => None,
                Some(h) => match repo::session_by_hash(c, &h)? {
                    None => None,
                    Some(s) => repo::user_by_id(c, s.user_id)?.map(|u| (s, u)),
                },
            };
            let portal = match portal {
                None => None,
                Some(h) => super::portal::session_by_hash(c, &h, now)?,
            };
            Ok((account, portal))
        })
        .await
    }

    pub async fn password_change(
        &self,
        user_id: i64,
        password_hash: String,
        keep_session: Option<i64>,
        now: i64,
    ) -> Result<(), DbError> {
        self.write(move |c| {
            repo::set_password(c, user_id, &password_hash)?;
            // A reset link mailed before the change must not undo it.
            invites::invalidate_password_resets(c, user_id, now)?;
            repo::delete_sessions_of(c, user_id, keep_session)
        })
        .await
    }

    pub async fn setup_token_create(
        &self,
        token_hash: Vec<u8>,
        ttl_ms: i64,
    ) -> Result<(), DbError> {
        self.write(move |c| repo::create_setup_token(c, &token_hash, ttl_ms))
            .await
    }

    pub async fn setup_state(
        &self,
        token_hash: Vec<u8>,
    ) -> Result<(SetupTokenState, i64), DbError> {
        self.read(move |c| {
            Ok((
                repo::setup_token_state(c, &token_hash)?,
                repo::count_users(c)?,
            ))
        })
        .await
    }

    pub async fn setup_first_admin(
        &self,
        token_hash: Vec<u8>,
        email: Email,
        password_hash: String,
    ) -> Result<SetupOutcome, DbError> {
        self.write(move |c| {
            let users = repo::count_users(c)?;
            let st = repo::setup_token_state(c, &token_hash)?;
            if users > 0
                || st != SetupTokenState::Valid
                || !repo::consume_setup_token(c, &token_hash)?
            {
                return Ok(SetupOutcome::Unavailable(st, users > 0));
            }
            let id =
                repo::create_user(c, &email, &password_hash, true)?.expect("no users exist yet");
            Ok(SetupOutcome::Created(id))
        })
        .await
    }

    pub async fn invitation_create(&self, new: NewInvitation) -> Result<Invited, DbError> {
        self.write(move |c| {
            let ws = new.workspace_id;
            if let Some(u) = repo::user_by_email(c, new.email.as_str())? {
                if repo::role_in(c, ws, u.id)?.is_some() {
                    return Ok(Invited::AlreadyMember);
                }
            }
            // Replacing an owner's invitation takes the owner role away from it.
            if !new.actor_is_owner
                && invites::pending_role_of(c, ws, &new.email, new.now)? == Some(Role::Owner)
            {
                return Ok(Invited::OwnerOnly);
            }
            invites::create_invitation(
                c,
                &new.token_hash,
                ws,
                &new.email,
                new.role,
                new.invited_by,
                new.now,
                new.ttl_ms,
            )?;
            Ok(Invited::Created)
        })
        .await
    }

    pub async fn invitation_pending(
        &self,
        workspace_id: i64,
        id: i64,
        now: i64,
    ) -> Result<Option<Invitation>, DbError> {
        self.read(move |c| invites::pending_invitation(c, workspace_id, id, now))
            .await
    }

    pub async fn invitation_revoke(
        &self,
        workspace_id: i64,
        id: i64,
        now: i64,
    ) -> Result<bool, DbError> {
        self.write(move |c| invites::revoke_invitation(c, workspace_id, id, now))
            .await
    }

    pub async fn invitation_state(
        &self,
        token_hash: Vec<u8>,
        now: i64,
    ) -> Result<LinkState<Invitation>, DbError> {
        self.read(move |c| invites::invitation_state(c, &token_hash, now))
            .await
    }

    pub async fn invitation_lookup(
        &self,
        token_hash: Vec<u8>,
        now: i64,
    ) -> Result<LinkState<(Invitation, bool)>, DbError> {
        self.read(move |c| {
            Ok(match invites::invitation_state(c, &token_hash, now)? {
                LinkState::Valid(inv) => {
                    let has_account = repo::user_by_email(c, &inv.email)?.is_some();
                    LinkState::Valid((inv, has_account))
                }
                LinkState::Expired => LinkState::Expired,
                LinkState::Used => LinkState::Used,
                LinkState::Revoked => LinkState::Revoked,
                LinkState::Unknown => LinkState::Unknown,
            })
        })
        .await
    }

    pub async fn invitation_accept_existing(
        &self,
        token_hash: Vec<u8>,
        user_id: i64,
        now: i64,
    ) -> Result<Result<Invitation, AcceptRefused>, DbError> {
        let done = self
            .try_write(move |c| {
                let inv = invites::accept_invitation(c, &token_hash, now)?
                    .ok_or(Refused::Accept(AcceptRefused::Gone))?;
                if repo::role_in(c, inv.workspace_id, user_id)?.is_none() {
                    repo::upsert_membership(c, inv.workspace_id, user_id, inv.role)?;
                }
                Ok(inv)
            })
            .await;
        settle(done)
    }

    pub async fn invitation_accept_new(
        &self,
        token_hash: Vec<u8>,
        email: Email,
        password_hash: String,
        now: i64,
    ) -> Result<Result<(i64, Invitation), AcceptRefused>, DbError> {
        let done = self
            .try_write(move |c| {
                let inv = invites::accept_invitation(c, &token_hash, now)?
                    .ok_or(Refused::Accept(AcceptRefused::Gone))?;
                let uid = repo::create_user(c, &email, &password_hash, false)?
                    .ok_or(Refused::Accept(AcceptRefused::AccountExists))?;
                repo::upsert_membership(c, inv.workspace_id, uid, inv.role)?;
                Ok((uid, inv))
            })
            .await;
        settle(done)
    }

    pub async fn password_reset_create(
        &self,
        token_hash: Vec<u8>,
        user_id: i64,
        now: i64,
        ttl_ms: i64,
    ) -> Result<(), DbError> {
        self.write(move |c| invites::create_password_reset(c, &token_hash, user_id, now, ttl_ms))
            .await
    }

    pub async fn password_reset_state(
        &self,
        token_hash: Vec<u8>,
        now: i64,
    ) -> Result<LinkState<String>, DbError> {
        self.read(move |c| invites::password_reset_state(c, &token_hash, now))
            .await
    }

    pub async fn password_reset_apply(
        &self,
        token_hash: Vec<u8>,
        password_hash: String,
        now: i64,
    ) -> Result<Option<i64>, DbError> {
        let done = self
            .try_write(move |c| {
                let uid = invites::consume_password_reset(c, &token_hash, now)?
                    .ok_or(Refused::Accept(AcceptRefused::Gone))?;
                repo::set_password(c, uid, &password_hash)?;
                repo::delete_sessions_of(c, uid, None)?;
                invites::invalidate_password_resets(c, uid, now)?;
                Ok(uid)
            })
            .await;
        Ok(settle(done)?.ok())
    }
}

/// A refusal rolled its write back: it is an answer, not an error.
fn settle<T>(done: Result<T, Refused>) -> Result<Result<T, AcceptRefused>, DbError> {
    match done {
        Ok(v) => Ok(Ok(v)),
        Err(Refused::Accept(why)) => Ok(Err(why)),
        Err(Refused::Db(e)) => Err(e),
    }
}
