//! The rows and outcomes the store returns, whatever the backend. (They are defined beside
//! the SQLite code for now and named here, so callers already import them from the store;
//! they move here when the Postgres backend needs them: plan step 9.)

/// What `hookline migrate-to-postgres` moves (see `store::copy`).
pub use super::copy::{Batch as CopyBatch, Cell, Copied, TABLES as COPY_TABLES};
pub use crate::db::handoff::Handoff;
pub use crate::db::hooks::{
    AttemptRow, DeliveryDetail, DeliveryPage, DeliveryRow, PREVIEW_HEAD, SEARCH_SPAN,
};
pub use crate::db::hooks::{EventRow, IDEMPOTENCY_TTL_MS};
pub use crate::db::hooks::{LastDeliveries, WebhookRow};
pub use crate::db::invites::{Invitation, LinkState};
pub use crate::db::jobs::{JobKind, JobParams, JobRefused, JobRow, JobState};
pub use crate::db::notices::Waiting;
pub use crate::db::people::{
    AcceptRefused, Invited, MemberAdded, MemberChanged, NewAccountSession, NewInvitation,
    SetupOutcome,
};
pub use crate::db::portal::{NewLink, NewSession, Redeemed, SessionRow as PortalSessionRow};
pub use crate::db::publish::{Draft, Idempotency, Published, Stored};
pub use crate::db::queue::{
    AttemptResult, ClaimRequest, ClaimRound, Claimed, Gauges, Looked, RecordRules, TestEvent,
    LEASE_MS,
};
pub use crate::db::repo::{ApiKeyRow, CallerLookup, EventTypeRow, NewApiKey};
pub use crate::db::repo::{Member, Membership, SessionRow, SetupTokenState, User};
pub use crate::db::stats::{HourStats, HOUR_MS};
pub use crate::db::workspaces::{Workspace, WorkspaceChange};
/// What a store method can fail with (also `crate::store::StoreError`).
pub use crate::db::DbError as StoreError;
