//! Deliveries as people read them and act on them: a webhook's list with its filters, one
//! delivery with its payload and attempts, the exact bytes, and Retry.

use crate::db::hooks::{self, AttemptRow, DeliveryRow};
use crate::delivery::queue;
use crate::domain::DeliveryFilter;
use crate::state::AppState;

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
        .db
        .read(move |c| {
            if hooks::get_webhook(c, ws, webhook)?.is_none() {
                return Ok(None);
            }
            Ok(Some(hooks::list_deliveries(
                c,
                ws,
                Some(webhook),
                &filter,
                before,
                limit,
            )?))
        })
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
        .db
        .read(move |c| hooks::list_deliveries(c, ws, None, &filter, before, limit))
        .await?)
}

/// A page of a search, bounded (see [`hooks::search_deliveries`]): of the workspace, or of
/// one webhook (404 when it is not the workspace's).
pub async fn search_page(
    state: &AppState,
    ws: i64,
    webhook: Option<i64>,
    filter: DeliveryFilter,
    before: i64,
    limit: usize,
) -> ServiceResult<hooks::DeliveryPage> {
    state
        .db
        .read(move |c| {
            if let Some(w) = webhook {
                if hooks::get_webhook(c, ws, w)?.is_none() {
                    return Ok(None);
                }
            }
            Ok(Some(hooks::search_deliveries(
                c, ws, webhook, &filter, before, limit,
            )?))
        })
        .await?
        .ok_or(ServiceError::NotFound("webhook"))
}

/// One delivery of the workspace, without its payload or attempts.
pub async fn find(state: &AppState, ws: i64, id: i64) -> ServiceResult<DeliveryRow> {
    state
        .db
        .read(move |c| hooks::get_delivery(c, ws, id))
        .await?
        .ok_or(ServiceError::NotFound("delivery"))
}

/// A delivery with what it sent and every attempt.
pub struct DeliveryDetail {
    pub delivery: DeliveryRow,
    /// The request body, byte-identical on every attempt to what was signed.
    pub payload: String,
    /// Oldest first: every attempt, or the newest ones when the read was limited.
    pub attempts: Vec<AttemptRow>,
    /// How many attempts there are in all.
    pub attempts_total: usize,
}

/// A delivery with its payload and its attempts (the newest `limit` of them, when given).
pub async fn get(
    state: &AppState,
    ws: i64,
    id: i64,
    limit: Option<usize>,
) -> ServiceResult<DeliveryDetail> {
    state
        .db
        .read(move |c| {
            let Some(delivery) = hooks::get_delivery(c, ws, id)? else {
                return Ok(None);
            };
            let payload = hooks::event_body(c, delivery.event_id)?.unwrap_or_default();
            let attempts = hooks::newest_attempts_of(c, delivery.id, limit.unwrap_or(usize::MAX))?;
            let attempts_total = match limit {
                Some(l) if attempts.len() >= l => hooks::attempt_count(c, delivery.id)?,
                _ => attempts.len(),
            };
            Ok(Some(DeliveryDetail {
                delivery,
                payload,
                attempts,
                attempts_total,
            }))
        })
        .await?
        .ok_or(ServiceError::NotFound("delivery"))
}

/// The exact request body of a delivery, and its event's public id (for a file name).
pub async fn payload(state: &AppState, ws: i64, id: i64) -> ServiceResult<(String, String)> {
    state
        .db
        .read(move |c| {
            let Some(d) = hooks::get_delivery(c, ws, id)? else {
                return Ok(None);
            };
            Ok(hooks::event_body(c, d.event_id)?.map(|b| (d.event_public_id, b)))
        })
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
        .db
        .read(move |c| {
            if hooks::get_delivery(c, ws, id)?.is_none() {
                return Ok(None);
            }
            Ok(hooks::attempt_response_body(c, id, number)?.flatten())
        })
        .await?
        .ok_or(ServiceError::NotFound("attempt"))
}

/// Schedules one more attempt now, whatever the delivery's state (a finished one goes back
/// to `retrying`), and wakes the engine. Returns the delivery as it is now.
pub async fn retry(state: &AppState, ws: i64, id: i64) -> ServiceResult<DeliveryRow> {
    let row = state
        .db
        .write(move |c| {
            if !queue::retry_now(c, ws, id)? {
                return Ok(None);
            }
            hooks::get_delivery(c, ws, id)
        })
        .await?
        .ok_or(ServiceError::NotFound("delivery"))?;
    state.wake.notify_one();
    Ok(row)
}
