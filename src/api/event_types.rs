//! `GET /api/v1/event-types`, `GET /api/v1/webhooks/events`, `POST /api/v1/event-types`.

use actix_web::http::StatusCode;
use actix_web::web;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::pagination::{
    decode_name_cursor, encode_name_cursor, next_page, parse_limit, ListQuery,
};
use super::responses::{BodyErrors, KeyErrors, WorkspaceHeader};
use super::{envelope, page, ApiError, ApiJson, ApiResult, Caller, Envelope, ErrorEnvelope, Page};
use crate::clock::rfc3339;
use crate::domain::NewEventType;
use crate::state::AppState;
use crate::store::types::EventTypeRow;

/// An event type that events can be published as and webhooks can subscribe to.
#[derive(Serialize, ToSchema)]
pub struct EventTypeOut {
    /// `[a-zA-Z0-9_]` segments joined by dots.
    #[schema(example = "project.created")]
    pub name: String,
    pub description: String,
    /// An example `data` object (sent by Send Test with this type), or `null`.
    #[schema(value_type = Option<Object>, required = true)]
    pub example: Option<serde_json::Value>,
    /// RFC 3339.
    #[schema(format = DateTime)]
    pub created_at: String,
}

impl From<EventTypeRow> for EventTypeOut {
    fn from(r: EventTypeRow) -> Self {
        EventTypeOut {
            name: r.name,
            description: r.description,
            example: r.example.and_then(|e| serde_json::from_str(&e).ok()),
            created_at: rfc3339(r.created_at),
        }
    }
}

/// Lists the instance's event types by name. Any valid key may.
#[utoipa::path(
    get,
    path = "/api/v1/event-types",
    tag = "event-types",
    operation_id = "list_event_types",
    params(ListQuery, WorkspaceHeader),
    responses(
        (status = 200, description = "A page of event types, by name", body = Page<EventTypeOut>),
        (status = 404, description = "The workspace named by `Hookline-Workspace` does not exist", body = ErrorEnvelope),
        (status = 422, description = "`limit` out of range or `cursor` not valid (`validation_failed`, with `field`)", body = ErrorEnvelope),
        KeyErrors,
    )
)]
pub async fn list(
    _caller: Caller,
    state: web::Data<AppState>,
    q: web::Query<ListQuery>,
) -> ApiResult {
    let limit = parse_limit(q.limit)?;
    let after = q.cursor.as_deref().map(decode_name_cursor).transpose()?;
    let mut rows = state.store.event_types_page(after, limit + 1).await?;
    let next = next_page(&mut rows, limit, |r| encode_name_cursor(r.name.as_str()));
    Ok(page(
        rows.into_iter().map(EventTypeOut::from).collect(),
        next,
    ))
}

/// The same list, where webhook subscribers look for it (seed 004).
#[utoipa::path(
    get,
    path = "/api/v1/webhooks/events",
    tag = "webhooks",
    operation_id = "list_webhook_event_types",
    params(ListQuery, WorkspaceHeader),
    responses(
        (status = 200, description = "A page of event types, by name", body = Page<EventTypeOut>),
        (status = 404, description = "The workspace named by `Hookline-Workspace` does not exist", body = ErrorEnvelope),
        (status = 422, description = "`limit` out of range or `cursor` not valid (`validation_failed`, with `field`)", body = ErrorEnvelope),
        KeyErrors,
    )
)]
pub async fn list_for_webhooks(
    caller: Caller,
    state: web::Data<AppState>,
    q: web::Query<ListQuery>,
) -> ApiResult {
    list(caller, state, q).await
}

/// The body of `POST /event-types`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateEventType {
    /// `[a-zA-Z0-9_]` segments joined by dots, at most 128 characters.
    #[schema(example = "project.created", max_length = 128)]
    pub name: String,
    /// At most 1000 characters.
    #[serde(default)]
    #[schema(max_length = 1000)]
    pub description: String,
    /// An example `data` object (at most 256 KiB), or `null`.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub example: Option<serde_json::Value>,
}

/// Defines a new event type. Needs an instance key.
#[utoipa::path(
    post,
    path = "/api/v1/event-types",
    tag = "event-types",
    operation_id = "create_event_type",
    params(WorkspaceHeader),
    request_body = CreateEventType,
    responses(
        (status = 201, description = "Created", body = Envelope<EventTypeOut>),
        (status = 403, description = "Not an instance key", body = ErrorEnvelope),
        (status = 404, description = "The workspace named by `Hookline-Workspace` does not exist", body = ErrorEnvelope),
        (status = 409, description = "An event type of this name already exists (`conflict`)", body = ErrorEnvelope),
        (status = 422, description = "A field is missing, of the wrong type or invalid (`validation_failed`, with `field`)", body = ErrorEnvelope),
        KeyErrors,
        BodyErrors,
    )
)]
pub async fn create(
    caller: Caller,
    state: web::Data<AppState>,
    body: ApiJson<CreateEventType>,
) -> ApiResult {
    caller.require_instance()?;
    let b = body.value;
    let new = NewEventType::parse(&b.name, &b.description, b.example.as_ref())?;
    let name = new.name.to_string();
    let row = state.store.event_type_create(new).await?.ok_or_else(|| {
        ApiError::conflict(format!("event type '{name}' already exists")).with_field("name")
    })?;
    Ok(envelope(StatusCode::CREATED, EventTypeOut::from(row)))
}
