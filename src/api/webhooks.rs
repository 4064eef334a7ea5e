//! `/api/v1/webhooks`: create, list, read, update, delete, rotate the secret.

use std::collections::BTreeMap;

use actix_web::http::StatusCode;
use actix_web::web;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::extract::{path_id, OptionalJson};
use super::pagination::{decode_cursor, encode_cursor, next_page, parse_limit, ListQuery};
use super::responses::{BodyErrors, ScopeErrors, WorkspaceHeader};
use super::{envelope, page, ApiError, ApiJson, ApiResult, Caller, Envelope, ErrorEnvelope, Page};
use crate::clock::rfc3339;
use crate::domain::{Scope, WebhookDraft};
use crate::service::webhooks;
use crate::state::AppState;
use crate::store::types::WebhookRow;

/// A webhook (endpoint): where events are sent and how.
#[derive(Serialize, ToSchema)]
pub struct WebhookOut {
    #[schema(example = 1)]
    pub id: i64,
    /// The same as `id`: seed 004's sample response names the id `webhook_id`, and clients
    /// written against it read that.
    #[schema(example = 1)]
    pub webhook_id: i64,
    pub name: String,
    pub description: String,
    #[schema(example = "https://example.com/webhooks")]
    pub url: String,
    /// Subscribed event type names, or `["*"]` for all.
    #[schema(example = json!(["project.created"]))]
    pub events: Vec<String>,
    pub is_active: bool,
    /// Custom request headers sent with every attempt.
    pub headers: BTreeMap<String, String>,
    /// The number of retries after the first attempt (the length of `retry_schedule`).
    pub retry_count: usize,
    /// Seconds to wait before each retry.
    #[schema(example = json!([60, 300, 1800, 7200]))]
    pub retry_schedule: Vec<u32>,
    pub timeout_seconds: u32,
    #[schema(required = true, format = Email)]
    pub notification_email: Option<String>,
    /// The signing secret (`whsec_…`). Present on create and on a single-webhook read, never
    /// in lists.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")]
    pub secret: Option<String>,
    /// Why Hookline disabled the webhook, when it did.
    #[schema(required = true)]
    pub disabled_reason: Option<String>,
    /// RFC 3339.
    #[schema(required = true, format = DateTime)]
    pub last_triggered_at: Option<String>,
    /// RFC 3339.
    #[schema(required = true, format = DateTime)]
    pub last_success_at: Option<String>,
    /// RFC 3339.
    #[schema(required = true, format = DateTime)]
    pub last_failure_at: Option<String>,
    /// Failed deliveries since the last success.
    pub failure_count: i64,
    /// RFC 3339.
    #[schema(format = DateTime)]
    pub created_at: String,
    /// RFC 3339.
    #[schema(format = DateTime)]
    pub updated_at: String,
    /// Who made the last change: an account's or portal visitor's email, `via <brand>` for
    /// a portal link without one, or `API key …`; `null` before anyone was recorded.
    #[schema(required = true)]
    pub changed_by: Option<String>,
}

impl WebhookOut {
    pub fn from_row(r: WebhookRow, secret: Option<String>) -> WebhookOut {
        WebhookOut {
            id: r.id,
            webhook_id: r.id,
            name: r.name,
            description: r.description,
            url: r.url,
            events: r.events,
            is_active: r.is_active,
            headers: r.headers,
            retry_count: r.retry_schedule.len(),
            retry_schedule: r.retry_schedule,
            timeout_seconds: r.timeout_seconds,
            notification_email: r.notification_email,
            secret,
            disabled_reason: r.disabled_reason,
            last_triggered_at: r.last_triggered_at.map(rfc3339),
            last_success_at: r.last_success_at.map(rfc3339),
            last_failure_at: r.last_failure_at.map(rfc3339),
            failure_count: r.failure_count,
            created_at: rfc3339(r.created_at),
            updated_at: rfc3339(r.updated_at),
            changed_by: r.changed_by,
        }
    }
}

/// The body of `POST /webhooks` (create: `url` and `events` are required) and of
/// `PATCH /webhooks/{id}` (partial update: absent or `null` fields keep their value, except
/// `notification_email`, which `null` clears).
#[derive(Deserialize, Default, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WebhookIn {
    /// `https://` URL (`http://` only when the operator allows it), at most 2048 characters,
    /// without credentials or fragment. Required on create.
    #[schema(example = "https://example.com/webhooks", max_length = 2048)]
    pub url: Option<String>,
    /// Event type names, or `["*"]` for all. Required on create.
    #[schema(example = json!(["project.created"]))]
    pub events: Option<Vec<String>>,
    /// At most 100 characters.
    #[schema(max_length = 100)]
    pub name: Option<String>,
    /// At most 1000 characters.
    #[schema(max_length = 1000)]
    pub description: Option<String>,
    /// Default `true`.
    pub is_active: Option<bool>,
    /// Up to 20 custom headers; Hookline's own headers cannot be overridden.
    pub headers: Option<BTreeMap<String, String>>,
    /// 0–20 retries on the default schedule (cut, or extended by its last step). If sent
    /// with `retry_schedule`, it must equal its length.
    #[schema(minimum = 0, maximum = 20)]
    pub retry_count: Option<i64>,
    /// Seconds before each retry (1–604800 each, at most 20 steps).
    #[schema(max_items = 20, example = json!([360, 360, 360]))]
    pub retry_schedule: Option<Vec<i64>>,
    /// 1–60, default 30.
    #[schema(minimum = 1, maximum = 60)]
    pub timeout_seconds: Option<i64>,
    /// Told when a delivery fails for good and when the webhook is disabled; `null` or empty
    /// clears it.
    #[serde(default, deserialize_with = "super::extract::double_option")]
    #[schema(value_type = Option<String>, format = Email)]
    pub notification_email: Option<Option<String>>,
    /// Create only: your own `whsec_` + base64 of 24–64 bytes; generated when absent.
    /// `PATCH` refuses it (use rotate-secret).
    pub secret: Option<String>,
}

impl From<&WebhookIn> for WebhookDraft {
    fn from(i: &WebhookIn) -> WebhookDraft {
        WebhookDraft {
            url: i.url.clone(),
            events: i.events.clone(),
            name: i.name.clone(),
            description: i.description.clone(),
            is_active: i.is_active,
            headers: i.headers.clone(),
            retry_count: i.retry_count,
            retry_schedule: i.retry_schedule.clone(),
            timeout_seconds: i.timeout_seconds,
            notification_email: i.notification_email.clone(),
            unreadable: Default::default(),
        }
    }
}

/// Creates a webhook. The answer includes its signing secret.
#[utoipa::path(
    post,
    path = "/api/v1/webhooks",
    tag = "webhooks",
    operation_id = "create_webhook",
    params(WorkspaceHeader),
    request_body(content = WebhookIn, description = "`url` and `events` are required"),
    responses(
        (status = 201, description = "Created; `secret` is included", body = Envelope<WebhookOut>),
        (status = 404, description = "The workspace named by `Hookline-Workspace` does not exist", body = ErrorEnvelope),
        (status = 422, description = "A field is missing, of the wrong type, unknown or invalid (`validation_failed`, with `field`)", body = ErrorEnvelope),
        ScopeErrors,
        BodyErrors,
    )
)]
pub async fn create(
    caller: Caller,
    state: web::Data<AppState>,
    body: ApiJson<WebhookIn>,
) -> ApiResult {
    let ws = caller.workspace(Scope::Webhooks)?.id;
    let input = body.value;
    let own = input.secret.as_deref().filter(|s| !s.trim().is_empty());
    let (row, secret) = webhooks::create(
        &state,
        ws,
        &WebhookDraft::from(&input),
        own,
        &caller.actor(),
    )
    .await?;
    Ok(envelope(
        StatusCode::CREATED,
        WebhookOut::from_row(row, Some(secret.as_str().to_string())),
    ))
}

/// Lists the workspace's webhooks, oldest first, without their secrets.
#[utoipa::path(
    get,
    path = "/api/v1/webhooks",
    tag = "webhooks",
    operation_id = "list_webhooks",
    params(ListQuery, WorkspaceHeader),
    responses(
        (status = 200, description = "A page of webhooks", body = Page<WebhookOut>),
        (status = 404, description = "The workspace named by `Hookline-Workspace` does not exist", body = ErrorEnvelope),
        (status = 422, description = "`limit` out of range or `cursor` not valid (`validation_failed`, with `field`)", body = ErrorEnvelope),
        ScopeErrors,
    )
)]
pub async fn list(
    caller: Caller,
    state: web::Data<AppState>,
    q: web::Query<ListQuery>,
) -> ApiResult {
    let ws = caller.workspace(Scope::Webhooks)?.id;
    let limit = parse_limit(q.limit)?;
    let after = match &q.cursor {
        Some(c) => decode_cursor(c)?,
        None => 0,
    };
    let mut rows = webhooks::list(&state, ws, after, limit + 1).await?;
    let next = next_page(&mut rows, limit, |r| encode_cursor(r.id));
    Ok(page(
        rows.into_iter()
            .map(|r| WebhookOut::from_row(r, None))
            .collect(),
        next,
    ))
}

/// Reads one webhook, with its signing secret.
#[utoipa::path(
    get,
    path = "/api/v1/webhooks/{id}",
    tag = "webhooks",
    operation_id = "get_webhook",
    params(("id" = i64, Path, description = "The webhook's id", minimum = 1), WorkspaceHeader),
    responses(
        (status = 200, description = "The webhook; `secret` is included", body = Envelope<WebhookOut>),
        (status = 404, description = "No such webhook in this workspace, or the workspace named by `Hookline-Workspace` does not exist", body = ErrorEnvelope),
        ScopeErrors,
    )
)]
pub async fn get(caller: Caller, state: web::Data<AppState>, id: web::Path<String>) -> ApiResult {
    let ws = caller.workspace(Scope::Webhooks)?.id;
    let (row, secret) = webhooks::get_with_secret(&state, ws, path_id(&id, "webhook")?).await?;
    Ok(envelope(
        StatusCode::OK,
        WebhookOut::from_row(row, Some(secret)),
    ))
}

/// Changes some of a webhook's settings; absent fields keep their value.
#[utoipa::path(
    patch,
    path = "/api/v1/webhooks/{id}",
    tag = "webhooks",
    operation_id = "update_webhook",
    params(("id" = i64, Path, description = "The webhook's id", minimum = 1), WorkspaceHeader),
    request_body(content = WebhookIn, description = "Only the fields to change; `secret` is refused"),
    responses(
        (status = 200, description = "The updated webhook (without `secret`)", body = Envelope<WebhookOut>),
        (status = 404, description = "No such webhook in this workspace, or the workspace named by `Hookline-Workspace` does not exist", body = ErrorEnvelope),
        (status = 422, description = "A field is of the wrong type, unknown or invalid, or `secret` was sent (`validation_failed`, with `field`)", body = ErrorEnvelope),
        ScopeErrors,
        BodyErrors,
    )
)]
pub async fn update(
    caller: Caller,
    state: web::Data<AppState>,
    id: web::Path<String>,
    body: ApiJson<WebhookIn>,
) -> ApiResult {
    let ws = caller.workspace(Scope::Webhooks)?.id;
    let id = path_id(&id, "webhook")?;
    let input = body.value;
    if input.secret.is_some() {
        return Err(ApiError::unprocessable(
            "secret",
            "the secret cannot be changed with PATCH; use POST /api/v1/webhooks/{id}/rotate-secret",
        ));
    }
    let row =
        webhooks::update(&state, ws, id, &WebhookDraft::from(&input), &caller.actor()).await?;
    Ok(envelope(StatusCode::OK, WebhookOut::from_row(row, None)))
}

/// Deletes a webhook and its delivery history.
#[utoipa::path(
    delete,
    path = "/api/v1/webhooks/{id}",
    tag = "webhooks",
    operation_id = "delete_webhook",
    params(("id" = i64, Path, description = "The webhook's id", minimum = 1), WorkspaceHeader),
    responses(
        (status = 200, description = "Deleted", body = Envelope<DeletedOut>),
        (status = 404, description = "No such webhook in this workspace, or the workspace named by `Hookline-Workspace` does not exist", body = ErrorEnvelope),
        ScopeErrors,
    )
)]
pub async fn delete(
    caller: Caller,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> ApiResult {
    let ws = caller.workspace(Scope::Webhooks)?.id;
    let id = path_id(&id, "webhook")?;
    webhooks::delete(&state, ws, id).await?;
    Ok(envelope(StatusCode::OK, DeletedOut { id, deleted: true }))
}

/// The answer to a delete.
#[derive(Serialize, ToSchema)]
pub struct DeletedOut {
    pub id: i64,
    /// Always `true`.
    pub deleted: bool,
}

/// The answer to a secret rotation.
#[derive(Serialize, ToSchema)]
pub struct RotatedOut {
    pub id: i64,
    /// The new signing secret.
    #[schema(example = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")]
    pub secret: String,
    /// Until then (RFC 3339, 24 hours from now) the previous secret signs too.
    #[schema(format = DateTime)]
    pub previous_secret_expires_at: String,
}

/// The optional body of `POST /webhooks/{id}/rotate-secret`.
#[derive(Deserialize, Default, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RotateIn {
    /// Your own new secret (`whsec_` + base64 of 24–64 bytes); generated when absent.
    pub secret: Option<String>,
}

/// Replaces the signing secret. The previous one keeps signing alongside for 24 hours.
#[utoipa::path(
    post,
    path = "/api/v1/webhooks/{id}/rotate-secret",
    tag = "webhooks",
    operation_id = "rotate_webhook_secret",
    params(("id" = i64, Path, description = "The webhook's id", minimum = 1), WorkspaceHeader),
    request_body(content = Option<RotateIn>, description = "Optional; an empty body generates a new secret"),
    responses(
        (status = 200, description = "The new secret", body = Envelope<RotatedOut>),
        (status = 404, description = "No such webhook in this workspace, or the workspace named by `Hookline-Workspace` does not exist", body = ErrorEnvelope),
        (status = 422, description = "The body is not a `RotateIn` or the secret is not valid (`validation_failed`, with `field`)", body = ErrorEnvelope),
        ScopeErrors,
        BodyErrors,
    )
)]
pub async fn rotate_secret(
    caller: Caller,
    state: web::Data<AppState>,
    id: web::Path<String>,
    body: OptionalJson<RotateIn>,
) -> ApiResult {
    let ws = caller.workspace(Scope::Webhooks)?.id;
    let id = path_id(&id, "webhook")?;
    let OptionalJson(input) = body;
    let rotated =
        webhooks::rotate_secret(&state, ws, id, input.secret.as_deref(), &caller.actor()).await?;
    Ok(envelope(
        StatusCode::OK,
        RotatedOut {
            id,
            secret: rotated.secret.as_str().to_string(),
            previous_secret_expires_at: rfc3339(rotated.previous_expires_at),
        },
    ))
}

/// The optional body of `POST /webhooks/{id}/test`.
#[derive(Deserialize, Default, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TestIn {
    /// Send this event type's example payload instead of a `webhook.test` event.
    pub event_type: Option<String>,
}

/// Sends one event to this webhook now and answers with the attempt's outcome. Recorded like
/// any delivery, never retried.
#[utoipa::path(
    post,
    path = "/api/v1/webhooks/{id}/test",
    tag = "webhooks",
    operation_id = "send_test",
    params(("id" = i64, Path, description = "The webhook's id", minimum = 1), WorkspaceHeader),
    request_body(content = Option<TestIn>, description = "Optional; an empty body sends a `webhook.test` event"),
    responses(
        (status = 200, description = "The attempt was made (see `success`: the receiver may have failed it)", body = Envelope<TestOutcome>),
        (status = 404, description = "No such webhook in this workspace, or the workspace named by `Hookline-Workspace` does not exist", body = ErrorEnvelope),
        (status = 422, description = "The body is not a `TestIn` or the event type is unknown (`validation_failed`, with `field`)", body = ErrorEnvelope),
        ScopeErrors,
        BodyErrors,
    )
)]
pub async fn send_test(
    caller: Caller,
    state: web::Data<AppState>,
    id: web::Path<String>,
    body: OptionalJson<TestIn>,
) -> ApiResult {
    let ws = caller.workspace(Scope::Webhooks)?.id;
    let id = path_id(&id, "webhook")?;
    let OptionalJson(input) = body;
    let sent = webhooks::send_test(&state, ws, id, input.event_type.as_deref()).await?;
    Ok(envelope(
        StatusCode::OK,
        TestOutcome {
            event_id: sent.event_id,
            event_type: sent.event_type,
            attempt: sent.attempt,
        },
    ))
}

/// The outcome of a test send.
#[derive(Serialize, ToSchema)]
pub struct TestOutcome {
    #[schema(example = "evt_2vN7bL1sWz3kTMd9xYpQ2vN7bL1")]
    pub event_id: String,
    #[schema(example = "webhook.test")]
    pub event_type: String,
    #[serde(flatten)]
    #[schema(value_type = AttemptSummaryDoc)]
    pub attempt: crate::delivery::engine::AttemptSummary,
}

/// What one attempt came to (the schema of the delivery engine's `AttemptSummary`).
#[derive(ToSchema)]
#[schema(as = AttemptSummary)]
pub struct AttemptSummaryDoc {
    pub delivery_id: i64,
    /// Whether the receiver answered 2xx.
    pub success: bool,
    /// The receiver's HTTP status, when it answered.
    #[schema(required = true)]
    pub response_status: Option<u16>,
    pub duration_ms: i64,
    /// Why the attempt failed without an answer (timeout, connection refused, TLS, DNS,
    /// blocked address).
    #[schema(required = true)]
    pub error: Option<String>,
    /// The start of the receiver's answer.
    pub response_body: String,
}

/// Ties [`AttemptSummaryDoc`] to the real type: a field added to, removed from or retyped in
/// `AttemptSummary` stops this from compiling until the schema follows.
impl From<crate::delivery::engine::AttemptSummary> for AttemptSummaryDoc {
    fn from(a: crate::delivery::engine::AttemptSummary) -> Self {
        let crate::delivery::engine::AttemptSummary {
            delivery_id,
            success,
            response_status,
            duration_ms,
            error,
            response_body,
        } = a;
        AttemptSummaryDoc {
            delivery_id,
            success,
            response_status,
            duration_ms,
            error,
            response_body,
        }
    }
}
