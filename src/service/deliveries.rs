//! Deliveries as people read them and act on them: a webhook's list with its filters, one
//! delivery with its payload and attempts, the exact bytes, and Retry.

use crate::domain::DeliveryFilter;
use crate::state::AppState;
pub use crate::store::types::DeliveryDetail;
use crate::store::types::{DeliveryPage, DeliveryRow};

use super::{ServiceError, ServiceResult};

/// A page of a webhook's deliveries, newest first, with ids below `before`.
pub async fn list(
    state: &AppState,
    ws: i64,
    webhook: i64,
    filter: DeliveryFilter,
    before: i64,
    limit: usize,
) -> ServiceResult<Vec<DeliveryRow>> {
    state
        .store
        .deliveries_page(ws, Some(webhook), filter, before, limit)
        .await?
        .ok_or(ServiceError::NotFound("webhook"))
}

/// A page of the workspace's deliveries (all webhooks), newest first, with ids below
/// `before`. A `webhook_id` filter of another workspace finds nothing.
pub async fn search(
    state: &AppState,
    ws: i64,
    filter: DeliveryFilter,
    before: i64,
    limit: usize,
) -> ServiceResult<Vec<DeliveryRow>> {
    Ok(state
        .store
        .deliveries_page(ws, None, filter, before, limit)
        .await?
        .unwrap_or_default())
}

/// A page of a search, bounded (see `db::hooks::search_deliveries`): of the workspace, or of
/// one webhook (404 when it is not the workspace's).
pub async fn search_page(
    state: &AppState,
    ws: i64,
    webhook: Option<i64>,
    filter: DeliveryFilter,
    before: i64,
    limit: usize,
) -> ServiceResult<DeliveryPage> {
    state
        .store
        .deliveries_search(ws, webhook, filter, before, limit)
        .await?
        .ok_or(ServiceError::NotFound("webhook"))
}

/// One delivery of the workspace, without its payload or attempts.
pub async fn find(state: &AppState, ws: i64, id: i64) -> ServiceResult<DeliveryRow> {
    state
        .store
        .delivery_get(ws, id)
        .await?
        .ok_or(ServiceError::NotFound("delivery"))
}

/// A delivery with its payload and its attempts (the newest `limit` of them, when given).
pub async fn get(
    state: &AppState,
    ws: i64,
    id: i64,
    limit: Option<usize>,
) -> ServiceResult<DeliveryDetail> {
    state
        .store
        .delivery_detail(ws, id, limit)
        .await?
        .ok_or(ServiceError::NotFound("delivery"))
}

/// The exact request body of a delivery, and its event's public id (for a file name).
pub async fn payload(state: &AppState, ws: i64, id: i64) -> ServiceResult<(String, String)> {
    state
        .store
        .delivery_payload(ws, id)
        .await?
        .ok_or(ServiceError::NotFound("delivery"))
}

/// The response body attempt `number` of a delivery stored (its first 64 KiB).
pub async fn response_body(
    state: &AppState,
    ws: i64,
    id: i64,
    number: i64,
) -> ServiceResult<Vec<u8>> {
    state
        .store
        .attempt_response(ws, id, number)
        .await?
        .ok_or(ServiceError::NotFound("attempt"))
}

/// Schedules one more attempt now, whatever the delivery's state (a finished one goes back
/// to `retrying`), and wakes the engine. Returns the delivery as it is now.
pub async fn retry(state: &AppState, ws: i64, id: i64) -> ServiceResult<DeliveryRow> {
    let row = state
        .store
        .retry_now(ws, id)
        .await?
        .ok_or(ServiceError::NotFound("delivery"))?;
    state.wake.notify_one();
    Ok(row)
}
