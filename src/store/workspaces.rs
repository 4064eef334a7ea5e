//! Workspaces: provision, read, change (name and plan), delete, and remove a deleted one's
//! history in batches.

use super::types::{Workspace, WorkspaceChange};
use super::{store_methods, StoreResult};
use crate::domain::{NewWorkspace, Role};

store_methods! {
    /// Creates a workspace with its plan; `None` when the slug is taken.
    fn workspace_create(&self, new: NewWorkspace) -> StoreResult<Option<Workspace>>;
    /// A live (not deleted) workspace by slug.
    fn workspace_by_slug(&self, slug: &str) -> StoreResult<Option<Workspace>>;
    /// A live workspace by id.
    fn workspace_by_id(&self, id: i64) -> StoreResult<Option<Workspace>>;
    /// A live workspace by slug, with `user`'s membership role in it (if any).
    fn workspace_with_role(&self, slug: &str, user: Option<i64>) -> StoreResult<Option<(Workspace, Option<Role>)>>;
    /// Every live workspace, by slug.
    fn workspaces_all(&self) -> StoreResult<Vec<Workspace>>;
    /// A page of live workspaces by slug, after `after`.
    fn workspaces_page(&self, after: Option<String>, limit: usize) -> StoreResult<Vec<Workspace>>;
    /// Applies `change`; `None` if there is no such workspace.
    fn workspace_update(&self, id: i64, change: WorkspaceChange) -> StoreResult<Option<Workspace>>;
    /// Makes the workspace vanish for everyone at once (access ends, webhooks stop); its
    /// history stays until `workspace_purge_batch` removes it. False: no such workspace.
    fn workspace_mark_deleted(&self, id: i64) -> StoreResult<bool>;
    /// Workspaces whose history is still being removed.
    fn workspaces_deleted(&self) -> StoreResult<Vec<i64>>;
    /// Removes up to about `limit` rows of a deleted workspace's history; true when none is left.
    fn workspace_purge_batch(&self, id: i64, limit: i64) -> StoreResult<bool>;
}
