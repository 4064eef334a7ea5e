//! Delivery history as people read it: lists and searches, one delivery with its payload
//! and attempts, stored response bodies, and a webhook's hourly health.

use std::collections::BTreeMap;

use super::types::{DeliveryDetail, DeliveryPage, DeliveryRow, HourStats};
use super::{store_methods, StoreResult};
use crate::domain::DeliveryFilter;

store_methods! {
    /// A page of deliveries, newest first, with ids below `before`: of one webhook, or of the
    /// workspace. `None` when `webhook` is not the workspace's.
    fn deliveries_page(&self, ws: i64, webhook: Option<i64>, filter: DeliveryFilter, before: i64, limit: usize) -> StoreResult<Option<Vec<DeliveryRow>>>;
    /// A bounded page of a search (it says how far it looked); `None` as for `deliveries_page`.
    fn deliveries_search(&self, ws: i64, webhook: Option<i64>, filter: DeliveryFilter, before: i64, limit: usize) -> StoreResult<Option<DeliveryPage>>;
    /// One delivery of the workspace, without its payload or attempts.
    fn delivery_get(&self, ws: i64, id: i64) -> StoreResult<Option<DeliveryRow>>;
    /// A delivery with its payload and attempts (the newest `limit`, when given).
    fn delivery_detail(&self, ws: i64, id: i64, limit: Option<usize>) -> StoreResult<Option<DeliveryDetail>>;
    /// The exact request body of a delivery, with its event's public id.
    fn delivery_payload(&self, ws: i64, id: i64) -> StoreResult<Option<(String, String)>>;
    /// The response body attempt `number` of a delivery stored.
    fn attempt_response(&self, ws: i64, id: i64, number: i64) -> StoreResult<Option<Vec<u8>>>;
    /// A webhook's attempts counted by hour in `[from, to)`; `None` when the webhook is not
    /// the workspace's.
    fn webhook_hours(&self, ws: i64, webhook: i64, from: i64, to: i64) -> StoreResult<Option<BTreeMap<i64, HourStats>>>;
}
