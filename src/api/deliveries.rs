//! `GET /api/v1/webhooks/{id}/deliveries`, `GET /api/v1/deliveries/{id}`,
//! `POST /api/v1/deliveries/{id}/retry`.

use std::collections::BTreeMap;

use actix_web::http::StatusCode;
use actix_web::web;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::extract::path_id;
use super::pagination::{decode_cursor, encode_cursor, next_page, parse_limit};
use super::responses::{ScopeErrors, WorkspaceHeader};
use super::{envelope, page, ApiError, ApiResult, Caller, Envelope, ErrorEnvelope, Page};
use crate::clock::rfc3339;
use crate::domain::{DeliveryFilter, DeliveryFilterInput, Scope};
use crate::service::deliveries;
use crate::state::AppState;
use crate::store::types::{AttemptRow, DeliveryPage, DeliveryRow};

/// One event to one webhook.
#[derive(Serialize, ToSchema)]
pub struct DeliveryOut {
    pub id: i64,
    pub webhook_id: i64,
    #[schema(example = "evt_2vN7bL1sWz3kTMd9xYpQ2vN7bL1")]
    pub event_id: String,
    #[schema(example = "project.created")]
    pub event_type: String,
    #[schema(
        example = "succeeded",
        pattern = "^(pending|retrying|succeeded|failed)$"
    )]
    pub status: String,
    /// Attempts made so far.
    pub attempts: i64,
    /// The HTTP status of the last attempt's answer.
    #[schema(required = true)]
    pub response_status: Option<i64>,
    /// The duration of the last attempt.
    #[schema(required = true)]
    pub response_time_ms: Option<i64>,
    /// Why the last attempt failed, when it did.
    #[schema(required = true)]
    pub last_error: Option<String>,
    /// When the next attempt is due (RFC 3339), while one is.
    #[schema(required = true, format = DateTime)]
    pub next_attempt_at: Option<String>,
    /// RFC 3339.
    #[schema(format = DateTime)]
    pub created_at: String,
    /// RFC 3339.
    #[schema(format = DateTime)]
    pub updated_at: String,
    /// Made by a replay (`POST /webhooks/{id}/replay`) rather than by publishing.
    pub replay: bool,
    /// The replay job that made it, if one did.
    #[schema(required = true)]
    pub job_id: Option<i64>,
}

impl From<DeliveryRow> for DeliveryOut {
    fn from(d: DeliveryRow) -> Self {
        DeliveryOut {
            id: d.id,
            webhook_id: d.webhook_id,
            event_id: d.event_public_id,
            event_type: d.event_type,
            status: d.status.as_str().to_string(),
            attempts: d.attempt_count,
            response_status: d.last_status_code,
            response_time_ms: d.last_duration_ms,
            last_error: d.last_error,
            next_attempt_at: d.next_attempt_at.map(rfc3339),
            created_at: rfc3339(d.created_at),
            updated_at: rfc3339(d.updated_at),
            replay: d.job_id.is_some(),
            job_id: d.job_id,
        }
    }
}

/// Filters and pagination of a list of deliveries. Every filter is optional; together they
/// must all hold.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DeliveriesQuery {
    /// Only deliveries in this status: `pending`, `retrying`, `succeeded` or `failed`.
    #[param(pattern = "^(pending|retrying|succeeded|failed)$")]
    pub status: Option<String>,
    /// Only deliveries of this event type.
    #[param(example = "project.created")]
    pub event_type: Option<String>,
    /// Only deliveries to this webhook (on the workspace-wide list; a webhook's own list
    /// accepts only its own id).
    #[param(minimum = 1)]
    pub webhook_id: Option<String>,
    /// Only deliveries whose last answer had this HTTP status: a code (`503`) or a class
    /// (`4xx`, `5xx`).
    #[param(example = "5xx")]
    pub http_status: Option<String>,
    /// Only deliveries created at or after this time (RFC 3339).
    #[param(example = "2026-12-03T00:00:00Z")]
    pub since: Option<String>,
    /// Only deliveries created before this time (RFC 3339); later than `since`.
    #[param(example = "2026-12-03T06:00:00Z")]
    pub until: Option<String>,
    /// Only deliveries of this event (`evt_…`).
    pub event_id: Option<String>,
    /// Page size, 1–100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<i64>,
    /// `meta.next_cursor` of the previous page, as it is.
    pub cursor: Option<String>,
}

/// Lists a webhook's deliveries, newest first. As on `GET /deliveries`, a page may hold
/// fewer than `limit` rows and still carry `meta.next_cursor`: follow it until there is none.
#[utoipa::path(
    get,
    path = "/api/v1/webhooks/{id}/deliveries",
    tag = "deliveries",
    operation_id = "list_deliveries",
    params(("id" = i64, Path, description = "The webhook's id", minimum = 1), DeliveriesQuery, WorkspaceHeader),
    responses(
        (status = 200, description = "A page of deliveries", body = Page<DeliveryOut>),
        (status = 404, description = "No such webhook in this workspace, or the workspace named by `Hookline-Workspace` does not exist", body = ErrorEnvelope),
        (status = 422, description = "A filter, `limit` or `cursor` is not valid (`validation_failed`, with `field`)", body = ErrorEnvelope),
        ScopeErrors,
    )
)]
pub async fn list(
    caller: Caller,
    state: web::Data<AppState>,
    id: web::Path<String>,
    q: web::Query<DeliveriesQuery>,
) -> ApiResult {
    let ws = caller.workspace(Scope::Webhooks)?.id;
    let webhook = path_id(&id, "webhook")?;
    let q = q.into_inner();
    let filter = filter_of(&q)?;
    if filter.webhook_id.is_some_and(|w| w != webhook) {
        return Err(ApiError::unprocessable(
            "webhook_id",
            format!("this is the list of webhook {webhook}; use GET /api/v1/deliveries?webhook_id=… for another"),
        ));
    }
    let limit = parse_limit(q.limit)?;
    let before = match &q.cursor {
        Some(c) => decode_cursor(c)?,
        None => i64::MAX,
    };
    let found =
        deliveries::search_page(&state, ws, Some(webhook), filter, before, limit + 1).await?;
    delivery_page(found, limit)
}

/// A search's answer: a full page continues after its last row; a short page whose search
/// stopped at its span continues below the span (it may hold fewer rows than asked, even none).
fn delivery_page(found: DeliveryPage, limit: usize) -> ApiResult {
    let mut rows = found.rows;
    let next = next_page(&mut rows, limit, |r| encode_cursor(r.id))
        .or_else(|| found.resume_before.map(encode_cursor));
    Ok(page(
        rows.into_iter().map(DeliveryOut::from).collect(),
        next,
    ))
}

fn filter_of(q: &DeliveriesQuery) -> Result<DeliveryFilter, ApiError> {
    Ok(DeliveryFilter::parse_all(DeliveryFilterInput {
        status: q.status.as_deref(),
        event_type: q.event_type.as_deref(),
        webhook_id: q.webhook_id.as_deref(),
        http_status: q.http_status.as_deref(),
        since: q.since.as_deref(),
        until: q.until.as_deref(),
        event_id: q.event_id.as_deref(),
    })?)
}

/// Lists the workspace's deliveries to all its webhooks, newest first. A filter the indexes
/// do not answer by themselves (`http_status`, or `status`/`event_type` across webhooks) looks
/// through at most 50,000 deliveries per call: a page may then hold fewer than `limit` rows,
/// even none, and still carry `meta.next_cursor` — follow it until there is none.
#[utoipa::path(
    get,
    path = "/api/v1/deliveries",
    tag = "deliveries",
    operation_id = "search_deliveries",
    params(DeliveriesQuery, WorkspaceHeader),
    responses(
        (status = 200, description = "A page of deliveries", body = Page<DeliveryOut>),
        (status = 404, description = "The workspace named by `Hookline-Workspace` does not exist", body = ErrorEnvelope),
        (status = 422, description = "A filter, `limit` or `cursor` is not valid (`validation_failed`, with `field`)", body = ErrorEnvelope),
        ScopeErrors,
    )
)]
pub async fn search(
    caller: Caller,
    state: web::Data<AppState>,
    q: web::Query<DeliveriesQuery>,
) -> ApiResult {
    let ws = caller.workspace(Scope::Webhooks)?.id;
    let q = q.into_inner();
    let filter = filter_of(&q)?;
    let limit = parse_limit(q.limit)?;
    let before = match &q.cursor {
        Some(c) => decode_cursor(c)?,
        None => i64::MAX,
    };
    let found = deliveries::search_page(&state, ws, None, filter, before, limit + 1).await?;
    delivery_page(found, limit)
}

/// One HTTP try of a delivery.
#[derive(Serialize, ToSchema)]
pub struct AttemptOut {
    /// 1 for the first attempt.
    pub attempt: i64,
    /// RFC 3339.
    #[schema(format = DateTime)]
    pub started_at: String,
    #[schema(required = true)]
    pub duration_ms: Option<i64>,
    pub request: RequestOut,
    /// The receiver's answer, when there was one.
    #[schema(required = true)]
    pub response: Option<ResponseOut>,
    /// Why the attempt failed (timeout, connection refused, TLS, DNS, blocked address, …).
    #[schema(required = true)]
    pub error: Option<String>,
}

/// The request of an attempt (its body is the delivery's `payload`).
#[derive(Serialize, ToSchema)]
pub struct RequestOut {
    pub headers: BTreeMap<String, String>,
}

/// The receiver's answer to an attempt.
#[derive(Serialize, ToSchema)]
pub struct ResponseOut {
    pub status: i64,
    pub headers: BTreeMap<String, String>,
    /// The start of the body (at most 64 KiB are read), as text.
    pub body: String,
}

impl From<AttemptRow> for AttemptOut {
    fn from(a: AttemptRow) -> Self {
        AttemptOut {
            attempt: a.attempt_number,
            started_at: rfc3339(a.started_at),
            duration_ms: a.duration_ms,
            request: RequestOut {
                headers: a.request_headers,
            },
            response: a.response_status.map(|status| ResponseOut {
                status,
                headers: a.response_headers.unwrap_or_default(),
                body: String::from_utf8_lossy(a.response_body.as_deref().unwrap_or_default())
                    .into_owned(),
            }),
            error: a.error,
        }
    }
}

/// A delivery with its payload and attempts: the fields of a delivery, except that
/// `attempts` is the list of attempts rather than their number.
#[derive(Serialize, ToSchema)]
pub struct DeliveryDetail {
    id: i64,
    webhook_id: i64,
    #[schema(example = "evt_2vN7bL1sWz3kTMd9xYpQ2vN7bL1")]
    event_id: String,
    #[schema(example = "project.created")]
    event_type: String,
    #[schema(
        example = "succeeded",
        pattern = "^(pending|retrying|succeeded|failed)$"
    )]
    status: String,
    /// The HTTP status of the last attempt's answer.
    #[schema(required = true)]
    response_status: Option<i64>,
    /// The duration of the last attempt.
    #[schema(required = true)]
    response_time_ms: Option<i64>,
    /// Why the last attempt failed, when it did.
    #[schema(required = true)]
    last_error: Option<String>,
    /// When the next attempt is due (RFC 3339), while one is.
    #[schema(required = true, format = DateTime)]
    next_attempt_at: Option<String>,
    /// RFC 3339.
    #[schema(format = DateTime)]
    created_at: String,
    /// RFC 3339.
    #[schema(format = DateTime)]
    updated_at: String,
    /// Made by a replay rather than by publishing.
    replay: bool,
    /// The replay job that made it, if one did.
    #[schema(required = true)]
    job_id: Option<i64>,
    /// The request body sent on every attempt (byte-identical to what was signed).
    payload: String,
    /// Every attempt, oldest first.
    attempts: Vec<AttemptOut>,
}

impl DeliveryDetail {
    fn new(d: DeliveryOut, payload: String, attempts: Vec<AttemptOut>) -> Self {
        // Exhaustive: a field added to `DeliveryOut` must be decided on here too.
        let DeliveryOut {
            id,
            webhook_id,
            event_id,
            event_type,
            status,
            attempts: _count,
            response_status,
            response_time_ms,
            last_error,
            next_attempt_at,
            created_at,
            updated_at,
            replay,
            job_id,
        } = d;
        DeliveryDetail {
            id,
            webhook_id,
            event_id,
            event_type,
            status,
            response_status,
            response_time_ms,
            last_error,
            next_attempt_at,
            created_at,
            updated_at,
            replay,
            job_id,
            payload,
            attempts,
        }
    }
}

/// Reads one delivery, with the payload and every attempt.
#[utoipa::path(
    get,
    path = "/api/v1/deliveries/{id}",
    tag = "deliveries",
    operation_id = "get_delivery",
    params(("id" = i64, Path, description = "The delivery's id", minimum = 1), WorkspaceHeader),
    responses(
        (status = 200, description = "The delivery", body = Envelope<DeliveryDetail>),
        (status = 404, description = "No such delivery in this workspace, or the workspace named by `Hookline-Workspace` does not exist", body = ErrorEnvelope),
        ScopeErrors,
    )
)]
pub async fn get(caller: Caller, state: web::Data<AppState>, id: web::Path<String>) -> ApiResult {
    let ws = caller.workspace(Scope::Webhooks)?.id;
    let id = path_id(&id, "delivery")?;
    let d = deliveries::get(&state, ws, id, None).await?;
    Ok(envelope(
        StatusCode::OK,
        DeliveryDetail::new(
            d.delivery.into(),
            d.payload,
            d.attempts.into_iter().map(AttemptOut::from).collect(),
        ),
    ))
}

/// Schedules another attempt of a delivery now (a finished one goes back to `retrying`).
/// Any request body is ignored.
#[utoipa::path(
    post,
    path = "/api/v1/deliveries/{id}/retry",
    tag = "deliveries",
    operation_id = "retry_delivery",
    params(("id" = i64, Path, description = "The delivery's id", minimum = 1), WorkspaceHeader),
    responses(
        (status = 202, description = "Scheduled; the delivery as it is now", body = Envelope<DeliveryOut>),
        (status = 404, description = "No such delivery in this workspace, or the workspace named by `Hookline-Workspace` does not exist", body = ErrorEnvelope),
        ScopeErrors,
    )
)]
pub async fn retry(caller: Caller, state: web::Data<AppState>, id: web::Path<String>) -> ApiResult {
    let ws = caller.workspace(Scope::Webhooks)?.id;
    let id = path_id(&id, "delivery")?;
    let row = deliveries::retry(&state, ws, id).await?;
    Ok(envelope(StatusCode::ACCEPTED, DeliveryOut::from(row)))
}
