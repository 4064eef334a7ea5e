//! API keys (who may call the API, and in which workspace) and the instance's event types.

use super::types::{ApiKeyRow, CallerLookup, EventTypeRow, NewApiKey};
use super::{store_methods, StoreResult};
use crate::domain::NewEventType;

store_methods! {
    /// Stores a new key (its hash only) and returns it.
    fn api_key_create(&self, new: NewApiKey) -> StoreResult<ApiKeyRow>;
    /// The live key with this hash, and the workspace the request acts in: the key's own, or
    /// for an instance key the one `workspace` names (the `Hookline-Workspace` header).
    fn api_caller(&self, key_hash: Vec<u8>, workspace: Option<String>) -> StoreResult<CallerLookup>;
    /// Records when a key was last used.
    fn api_key_touch(&self, id: i64, at: i64) -> StoreResult<()>;
    /// A workspace's keys (`None`: the instance keys), live ones first, newest first.
    fn api_keys_all(&self, workspace_id: Option<i64>) -> StoreResult<Vec<ApiKeyRow>>;
    /// A page of a workspace's keys by id, after `after`.
    fn api_keys_page(&self, workspace_id: i64, after: i64, limit: usize) -> StoreResult<Vec<ApiKeyRow>>;
    /// One key of a workspace, live or revoked.
    fn api_key_get(&self, workspace_id: i64, id: i64) -> StoreResult<Option<ApiKeyRow>>;
    /// Revokes a key of the workspace (`None`: an instance key) and returns it as revoked;
    /// `None` if there is no such key. Revoking a revoked key changes nothing.
    fn api_key_revoke(&self, workspace_id: Option<i64>, id: i64) -> StoreResult<Option<ApiKeyRow>>;
    /// Creates an event type; `None` if the name exists.
    fn event_type_create(&self, new: NewEventType) -> StoreResult<Option<EventTypeRow>>;
    /// Every live event type, by name.
    fn event_types_all(&self) -> StoreResult<Vec<EventTypeRow>>;
    /// A page of live event types by name, after `after`.
    fn event_types_page(&self, after: Option<String>, limit: usize) -> StoreResult<Vec<EventTypeRow>>;
}
