//! `POST /api/v1/events`, `POST /api/v1/events/batch`, `GET /api/v1/events/{id}`.
//!
//! The edge of publishing: the request's shape, sizes and Idempotency-Key are checked here;
//! `service::events` stores (an event and its deliveries in one transaction, the 202 only
//! after it committed).

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use sha2::{Digest, Sha256};
use utoipa::ToSchema;

use super::deliveries::DeliveryOut;
use super::responses::{BodyErrors, IdempotencyHeader, ScopeErrors, WorkspaceHeader};
use super::{envelope, ApiError, ApiJson, ApiResult, Caller, Envelope, ErrorEnvelope, Meta};
use crate::clock::rfc3339;
use crate::domain::{EventTypeName, Scope};
use crate::service::events;
use crate::state::AppState;

/// Largest `data` of one event.
pub use crate::domain::event_type::MAX_DATA_BYTES;
pub const MAX_BATCH: usize = 1000;
/// Largest body of `POST /events` and of `POST /events/batch`.
pub const SINGLE_BODY_LIMIT: usize = MAX_DATA_BYTES + 16 * 1024;
pub const BATCH_BODY_LIMIT: usize = 32 * 1024 * 1024;

/// An event to publish.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EventIn {
    /// A defined event type (see `GET /api/v1/event-types`).
    #[serde(rename = "type")]
    #[schema(example = "project.created")]
    pub event_type: String,
    /// The payload: a JSON object of at most 256 KiB, delivered byte for byte.
    #[schema(value_type = Object, example = json!({"id": 42, "name": "Apollo"}))]
    pub data: Box<RawValue>,
}

/// Events to publish together (1–1000), stored in one transaction.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BatchIn {
    #[schema(min_items = 1, max_items = 1000)]
    pub events: Vec<EventIn>,
}

pub use crate::domain::event::{event_body, new_event_id};

/// Checks one event at the edge: a well-formed type name and a `data` object within the
/// size limit. Whether the type is defined is the service's to say.
fn prepare(e: &EventIn, field: &str) -> Result<events::Draft, ApiError> {
    let name = EventTypeName::parse(e.event_type.trim())
        .map_err(|v| ApiError::unprocessable(format!("{field}type"), v.message))?;
    let data = e.data.get();
    if !data.trim_start().starts_with('{') {
        return Err(ApiError::unprocessable(
            format!("{field}data"),
            "data must be a JSON object",
        ));
    }
    if data.len() > MAX_DATA_BYTES {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!(
                "{field}data is {} KiB; the limit is {} KiB",
                data.len() / 1024,
                MAX_DATA_BYTES / 1024
            ),
        )
        .with_field(format!("{field}data")));
    }
    Ok(events::Draft::new(&name, data, format!("{field}type")))
}

/// A stored event.
#[derive(Serialize, ToSchema)]
pub struct PublishedOut {
    #[schema(example = "evt_2vN7bL1sWz3kTMd9xYpQ2vN7bL1")]
    pub id: String,
    #[serde(rename = "type")]
    #[schema(example = "project.created")]
    pub event_type: String,
    /// RFC 3339.
    #[schema(format = DateTime)]
    pub timestamp: String,
    /// The number of deliveries created: one per subscribed active webhook.
    pub deliveries: usize,
}

/// Stored events of a batch.
#[derive(Serialize, ToSchema)]
pub struct BatchOut {
    /// In the order sent.
    pub events: Vec<PublishedOut>,
    /// The number of deliveries created for all of them.
    pub deliveries: usize,
}

fn idempotency_key(req: &HttpRequest) -> Result<Option<String>, ApiError> {
    match req.headers().get("idempotency-key") {
        None => Ok(None),
        Some(v) => {
            let k = v.to_str().unwrap_or("").trim();
            if k.is_empty() || k.len() > 255 {
                return Err(ApiError::unprocessable(
                    "Idempotency-Key",
                    "use a key of 1 to 255 visible characters",
                ));
            }
            Ok(Some(k.to_string()))
        }
    }
}

/// Runs the shared publish flow and answers: 202 with the stored events, or the first
/// answer again for a repeated Idempotency-Key.
async fn publish(
    state: &AppState,
    ws: i64,
    route: &'static str,
    key: Option<String>,
    raw: &[u8],
    drafts: Vec<events::Draft>,
    respond: fn(&[events::Stored]) -> serde_json::Value,
) -> ApiResult {
    let idempotency = key.map(|key| events::Idempotency {
        key,
        route,
        request_hash: Sha256::digest(raw).to_vec(),
    });
    let request_id = super::error::request_id();
    let answer = move |stored: &[events::Stored]| {
        serde_json::to_string(&Envelope {
            data: respond(stored),
            meta: Meta { request_id },
        })
        .unwrap_or_default()
    };
    match events::publish(state, ws, drafts, idempotency, answer).await? {
        events::Published::Fresh(_, body) => Ok(HttpResponse::Accepted()
            .content_type("application/json")
            .body(body)),
        events::Published::Replay { status, body } => Ok(HttpResponse::build(
            StatusCode::from_u16(status).unwrap_or(StatusCode::ACCEPTED),
        )
        .insert_header(("Idempotent-Replayed", "true"))
        .content_type("application/json")
        .body(body)),
    }
}

fn published(e: &events::Stored) -> PublishedOut {
    PublishedOut {
        id: e.public_id.clone(),
        event_type: e.event_type.clone(),
        timestamp: rfc3339(e.created_at),
        deliveries: e.deliveries,
    }
}

/// Publishes one event: stores it with one delivery per subscribed active webhook, then
/// answers 202.
#[utoipa::path(
    post,
    path = "/api/v1/events",
    tag = "events",
    operation_id = "publish_event",
    params(IdempotencyHeader, WorkspaceHeader),
    request_body = EventIn,
    responses(
        (status = 202, description = "Stored; deliveries are under way", body = Envelope<PublishedOut>,
            headers(("Idempotent-Replayed" = String, description = "`true` when this is the stored answer to an earlier request with the same Idempotency-Key"))),
        (status = 404, description = "The workspace named by `Hookline-Workspace` does not exist", body = ErrorEnvelope),
        (status = 422, description = "A field is missing, unknown or invalid, the event type is not defined, or the Idempotency-Key is invalid or was used with another body (`validation_failed`, with `field`)", body = ErrorEnvelope),
        ScopeErrors,
        BodyErrors,
    )
)]
pub async fn create(
    req: HttpRequest,
    caller: Caller,
    state: web::Data<AppState>,
    body: ApiJson<EventIn>,
) -> ApiResult {
    let ws = caller.workspace(Scope::Events)?.id;
    let key = idempotency_key(&req)?;
    let prepared = prepare(&body.value, "")?;
    publish(
        &state,
        ws,
        "events",
        key,
        &body.raw,
        vec![prepared],
        |stored| serde_json::to_value(published(&stored[0])).unwrap_or_default(),
    )
    .await
}

/// Publishes 1–1000 events in one transaction: all are stored or none.
#[utoipa::path(
    post,
    path = "/api/v1/events/batch",
    tag = "events",
    operation_id = "publish_events",
    params(IdempotencyHeader, WorkspaceHeader),
    request_body = BatchIn,
    responses(
        (status = 202, description = "All stored; deliveries are under way", body = Envelope<BatchOut>,
            headers(("Idempotent-Replayed" = String, description = "`true` when this is the stored answer to an earlier request with the same Idempotency-Key"))),
        (status = 404, description = "The workspace named by `Hookline-Workspace` does not exist", body = ErrorEnvelope),
        (status = 422, description = "A field is missing, unknown or invalid (the `field` names the event, e.g. `events[3].type`), there are no or too many events, or the Idempotency-Key is invalid or was used with another body (`validation_failed`)", body = ErrorEnvelope),
        ScopeErrors,
        BodyErrors,
    )
)]
pub async fn batch(
    req: HttpRequest,
    caller: Caller,
    state: web::Data<AppState>,
    body: ApiJson<BatchIn>,
) -> ApiResult {
    let ws = caller.workspace(Scope::Events)?.id;
    let key = idempotency_key(&req)?;
    let events = &body.value.events;
    if events.is_empty() || events.len() > MAX_BATCH {
        return Err(ApiError::unprocessable(
            "events",
            format!("send 1 to {MAX_BATCH} events"),
        ));
    }
    let prepared = events
        .iter()
        .enumerate()
        .map(|(i, e)| prepare(e, &format!("events[{i}].")))
        .collect::<Result<Vec<_>, _>>()?;
    publish(
        &state,
        ws,
        "events.batch",
        key,
        &body.raw,
        prepared,
        |stored| {
            serde_json::to_value(BatchOut {
                events: stored.iter().map(published).collect(),
                deliveries: stored.iter().map(|e| e.deliveries).sum(),
            })
            .unwrap_or_default()
        },
    )
    .await
}

/// A published event with its deliveries.
#[derive(Serialize, ToSchema)]
pub struct EventOut {
    #[schema(example = "evt_2vN7bL1sWz3kTMd9xYpQ2vN7bL1")]
    id: String,
    #[serde(rename = "type")]
    #[schema(example = "project.created")]
    event_type: String,
    /// RFC 3339.
    #[schema(format = DateTime)]
    timestamp: String,
    #[schema(value_type = Object)]
    data: serde_json::Value,
    deliveries: Vec<DeliveryOut>,
}

/// Reads a published event and its deliveries. Needs the `webhooks` or the `events` scope.
#[utoipa::path(
    get,
    path = "/api/v1/events/{id}",
    tag = "events",
    operation_id = "get_event",
    params(("id" = String, Path, description = "The event's id", example = "evt_2vN7bL1sWz3kTMd9xYpQ2vN7bL1"), WorkspaceHeader),
    responses(
        (status = 200, description = "The event", body = Envelope<EventOut>),
        (status = 404, description = "No such event in this workspace, or the workspace named by `Hookline-Workspace` does not exist", body = ErrorEnvelope),
        ScopeErrors,
    )
)]
pub async fn get(caller: Caller, state: web::Data<AppState>, id: web::Path<String>) -> ApiResult {
    // Reading events is part of reading deliveries: the `webhooks` scope; publishers may too.
    let ws = if caller.key.scopes.has(Scope::Webhooks) {
        caller.workspace(Scope::Webhooks)?
    } else {
        caller.workspace(Scope::Events)?
    }
    .id;
    let (e, deliveries) = events::get(&state, ws, id.into_inner()).await?;
    let body: serde_json::Value = serde_json::from_str(&e.body).unwrap_or_default();
    Ok(envelope(
        StatusCode::OK,
        EventOut {
            id: e.public_id,
            event_type: e.event_type,
            timestamp: rfc3339(e.created_at),
            data: body.get("data").cloned().unwrap_or_default(),
            deliveries: deliveries.into_iter().map(DeliveryOut::from).collect(),
        },
    ))
}
