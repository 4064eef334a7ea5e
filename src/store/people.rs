//! People: accounts, memberships and their rules, sessions, the first-run setup link,
//! invitations, password resets, and portal links and sessions.

use super::types::{
    AcceptRefused, Invitation, Invited, LinkState, Member, MemberAdded, MemberChanged, Membership,
    NewAccountSession, NewInvitation, NewLink, NewSession, PortalSessionRow, Redeemed, SessionRow,
    SetupOutcome, SetupTokenState, User,
};
use super::{store_methods, StoreResult};
use crate::domain::{Email, Role};

store_methods! {
    /// How many accounts exist (none: the first-run setup link is offered).
    fn users_count(&self) -> StoreResult<i64>;
    /// An account by email, case-insensitively.
    fn user_by_email(&self, email: &str) -> StoreResult<Option<User>>;
    fn user_by_id(&self, id: i64) -> StoreResult<Option<User>>;
    /// Makes an account (and, with `membership`, a member of that workspace) in one unit;
    /// `None` when the address has an account.
    fn user_create(&self, email: Email, password_hash: String, instance_admin: bool, membership: Option<(i64, Role)>) -> StoreResult<Option<i64>>;
    /// The live workspaces a user belongs to, with their role in each, by slug.
    fn memberships_of(&self, user_id: i64) -> StoreResult<Vec<Membership>>;
    /// A user's role in a workspace, if a member.
    fn member_role(&self, workspace_id: i64, user_id: i64) -> StoreResult<Option<Role>>;
    /// A workspace's members (by email) and its pending invitations.
    fn members_page(&self, workspace_id: i64, now: i64) -> StoreResult<(Vec<Member>, Vec<Invitation>)>;
    /// Adds an account as a member, unless it is one.
    fn member_add_existing(&self, workspace_id: i64, user_id: i64, role: Role) -> StoreResult<MemberAdded>;
    /// Makes an account and adds it as a member, unless the address has an account by now.
    fn member_add_new(&self, workspace_id: i64, email: Email, password_hash: String, role: Role) -> StoreResult<MemberAdded>;
    /// Changes a member's role (`None`: removes them) under `domain::check_member_change`.
    fn member_change(&self, workspace_id: i64, user_id: i64, role: Option<Role>, actor_is_owner: bool) -> StoreResult<MemberChanged>;
    /// Opens an account session (and drops expired ones).
    fn session_create(&self, session: NewAccountSession) -> StoreResult<()>;
    /// Ends the account session with this token hash.
    fn session_delete(&self, token_hash: Vec<u8>) -> StoreResult<()>;
    /// The live account session (with its user) and portal session of a request's cookies.
    fn identify(&self, account: Option<Vec<u8>>, portal: Option<Vec<u8>>, now: i64) -> StoreResult<(Option<(SessionRow, User)>, Option<PortalSessionRow>)>;
    /// Sets a password, voids mailed reset links and ends every other session than `keep_session`.
    fn password_change(&self, user_id: i64, password_hash: String, keep_session: Option<i64>, now: i64) -> StoreResult<()>;
    /// Stores the first-run setup link; only the newest one works.
    fn setup_token_create(&self, token_hash: Vec<u8>, ttl_ms: i64) -> StoreResult<()>;
    /// The setup link's state, and how many accounts exist.
    fn setup_state(&self, token_hash: Vec<u8>) -> StoreResult<(SetupTokenState, i64)>;
    /// Spends the setup link and makes the first instance admin, if both still can be.
    fn setup_first_admin(&self, token_hash: Vec<u8>, email: Email, password_hash: String) -> StoreResult<SetupOutcome>;
    /// Invites an address into a workspace; a pending invitation of it there is replaced.
    fn invitation_create(&self, new: NewInvitation) -> StoreResult<Invited>;
    /// A workspace's pending invitation by id.
    fn invitation_pending(&self, workspace_id: i64, id: i64, now: i64) -> StoreResult<Option<Invitation>>;
    /// Withdraws a pending invitation; false if there was none.
    fn invitation_revoke(&self, workspace_id: i64, id: i64, now: i64) -> StoreResult<bool>;
    /// What an invitation link is now.
    fn invitation_state(&self, token_hash: Vec<u8>, now: i64) -> StoreResult<LinkState<Invitation>>;
    /// What an invitation link is now and, if it works, whether its address has an account.
    fn invitation_lookup(&self, token_hash: Vec<u8>, now: i64) -> StoreResult<LinkState<(Invitation, bool)>>;
    /// Spends the link and makes the account a member (if not one yet).
    fn invitation_accept_existing(&self, token_hash: Vec<u8>, user_id: i64, now: i64) -> StoreResult<Result<Invitation, AcceptRefused>>;
    /// Spends the link and makes a new account, a member; returns the account's id.
    fn invitation_accept_new(&self, token_hash: Vec<u8>, email: Email, password_hash: String, now: i64) -> StoreResult<Result<(i64, Invitation), AcceptRefused>>;
    /// Stores a password reset link of an account.
    fn password_reset_create(&self, token_hash: Vec<u8>, user_id: i64, now: i64, ttl_ms: i64) -> StoreResult<()>;
    /// What a reset link is now (valid: the account's email).
    fn password_reset_state(&self, token_hash: Vec<u8>, now: i64) -> StoreResult<LinkState<String>>;
    /// Spends the link, sets the password, ends every session and voids the other links;
    /// the account's id, or `None` if the link no longer works.
    fn password_reset_apply(&self, token_hash: Vec<u8>, password_hash: String, now: i64) -> StoreResult<Option<i64>>;
    /// Stores a portal link.
    fn portal_link_create(&self, link: NewLink) -> StoreResult<i64>;
    /// Spends a portal link (once) and opens its session.
    fn portal_link_redeem(&self, link_hash: Vec<u8>, session: NewSession) -> StoreResult<Redeemed>;
    /// Moves a portal session's idle end forward.
    fn portal_session_touch(&self, id: i64, now: i64, idle_ms: i64) -> StoreResult<()>;
}
