//! Webhooks: the plan check, create, read, change, delete and rotate the secret.

use super::types::{EventTypeRow, LastDeliveries, WebhookRow};
use super::{store_methods, StoreResult};
use crate::domain::{PlanRefusal, WebhookSettings};

store_methods! {
    /// The workspace plan's refusal of any change of its webhooks, if it refuses.
    fn webhook_plan(&self, ws: i64) -> StoreResult<Option<PlanRefusal>>;
    /// Stores a new webhook (its secret sealed) unless the plan refuses, in one unit: two
    /// creations at once cannot both take the plan's last place.
    fn webhook_create(&self, ws: i64, settings: WebhookSettings, secret_enc: Vec<u8>, by: String) -> StoreResult<Result<WebhookRow, PlanRefusal>>;
    /// A webhook of the workspace.
    fn webhook_get(&self, ws: i64, id: i64) -> StoreResult<Option<WebhookRow>>;
    /// A page of the workspace's webhooks, oldest first, with ids above `after`.
    fn webhooks_page(&self, ws: i64, after: i64, limit: usize) -> StoreResult<Vec<WebhookRow>>;
    /// A page of webhooks, and the newest delivery of each of the workspace's webhooks.
    fn webhooks_with_last_delivery(&self, ws: i64, after: i64, limit: usize) -> StoreResult<(Vec<WebhookRow>, LastDeliveries)>;
    /// Replaces a webhook's settings and records who did; `None`: no such webhook.
    fn webhook_save(&self, ws: i64, id: i64, settings: WebhookSettings, by: String) -> StoreResult<Option<WebhookRow>>;
    /// Deletes a webhook with its delivery history; false: no such webhook.
    fn webhook_delete(&self, ws: i64, id: i64) -> StoreResult<bool>;
    /// Installs a new sealed secret; the previous one signs until `previous_expires_at`.
    fn webhook_rotate(&self, ws: i64, id: i64, secret_enc: Vec<u8>, previous_expires_at: i64, by: String) -> StoreResult<bool>;
    /// How many webhooks are switched off, in all workspaces.
    fn webhooks_inactive_count(&self) -> StoreResult<i64>;
    /// A live event type by name.
    fn event_type_by_name(&self, name: &str) -> StoreResult<Option<EventTypeRow>>;
}
