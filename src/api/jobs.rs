//! Bulk work on a webhook's history: `POST /api/v1/webhooks/{id}/bulk-retry`,
//! `POST /api/v1/webhooks/{id}/replay`, and the jobs they start: `GET /api/v1/jobs/{id}`,
//! `POST /api/v1/jobs/{id}/cancel`.

use actix_web::http::StatusCode;
use actix_web::web;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::extract::path_id;
use super::responses::{BodyErrors, ScopeErrors, WorkspaceHeader};
use super::{envelope, ApiJson, ApiResult, Caller, Envelope, ErrorEnvelope};
use crate::clock::{now_ms, rfc3339};
use crate::domain::{BulkRetryRequest, ReplayRequest, Scope};
use crate::service::jobs;
use crate::state::AppState;
use crate::store::types::JobRow;

/// The body of `POST /webhooks/{id}/bulk-retry`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BulkRetryIn {
    /// `failed` (default: deliveries that gave up) or `retrying` (their next attempt now).
    #[schema(example = "failed")]
    pub status: Option<String>,
    /// Deliveries created at or after this time (RFC 3339). Required.
    #[schema(example = "2026-12-03T00:00:00Z", format = DateTime)]
    pub since: Option<String>,
    /// Deliveries created before this time (RFC 3339); default now.
    #[schema(example = "2026-12-03T06:00:00Z", format = DateTime)]
    pub until: Option<String>,
    /// Only deliveries of this event type.
    #[schema(example = "project.created")]
    pub event_type: Option<String>,
}

/// The body of `POST /webhooks/{id}/replay`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReplayIn {
    /// Events published at or after this time (RFC 3339). Required.
    #[schema(example = "2026-12-03T00:00:00Z", format = DateTime)]
    pub since: Option<String>,
    /// Events published before this time (RFC 3339); default now.
    #[schema(format = DateTime)]
    pub until: Option<String>,
    /// Only these event types (of those the webhook subscribes to); all of them when left out.
    #[schema(example = json!(["project.created"]))]
    pub event_types: Option<Vec<String>>,
}

/// The answer to a bulk retry or replay: the job, and how many deliveries or events it
/// matched.
#[derive(Serialize, ToSchema)]
pub struct JobStarted {
    #[schema(example = 12)]
    pub job_id: i64,
    /// Deliveries (bulk retry) or events (replay) the job will handle.
    pub matched: i64,
    pub job: JobOut,
}

/// A bulk job.
#[derive(Serialize, ToSchema)]
pub struct JobOut {
    pub id: i64,
    #[schema(pattern = "^(bulk_retry|replay)$")]
    pub kind: String,
    pub webhook_id: i64,
    #[schema(pattern = "^(running|done|cancelled|failed)$")]
    pub state: String,
    /// Handled so far.
    pub done: i64,
    /// Matched when the job was made.
    pub total: i64,
    /// The window and filters it was made with.
    #[schema(value_type = Object)]
    pub params: serde_json::Value,
    /// Why it failed, when it did.
    #[schema(required = true)]
    pub error: Option<String>,
    /// Who made it (an API key, or an account's or portal visitor's email).
    #[schema(required = true)]
    pub created_by: Option<String>,
    /// RFC 3339.
    #[schema(format = DateTime)]
    pub created_at: String,
    /// RFC 3339.
    #[schema(format = DateTime)]
    pub updated_at: String,
    /// RFC 3339, once it is done, cancelled or failed.
    #[schema(required = true, format = DateTime)]
    pub finished_at: Option<String>,
}

impl From<JobRow> for JobOut {
    fn from(j: JobRow) -> Self {
        let mut params = serde_json::json!({
            "since": rfc3339(j.params.since),
            "until": rfc3339(j.params.until),
        });
        if let Some(s) = &j.params.status {
            params["status"] = s.clone().into();
        }
        if !j.params.event_types.is_empty() {
            params["event_types"] = j.params.event_types.clone().into();
        }
        JobOut {
            id: j.id,
            kind: j.kind.as_str().to_string(),
            webhook_id: j.webhook_id,
            state: j.state.as_str().to_string(),
            done: j.done,
            total: j.total,
            params,
            error: j.error,
            created_by: j.created_by,
            created_at: rfc3339(j.created_at),
            updated_at: rfc3339(j.updated_at),
            finished_at: j.finished_at.map(rfc3339),
        }
    }
}

fn started(job: JobRow) -> ApiResult {
    Ok(envelope(
        StatusCode::ACCEPTED,
        JobStarted {
            job_id: job.id,
            matched: job.total,
            job: job.into(),
        },
    ))
}

/// Gives every matching delivery of the webhook one more attempt, in the background.
#[utoipa::path(
    post,
    path = "/api/v1/webhooks/{id}/bulk-retry",
    tag = "deliveries",
    operation_id = "bulk_retry",
    params(("id" = i64, Path, description = "The webhook's id", minimum = 1), WorkspaceHeader),
    request_body = BulkRetryIn,
    responses(
        (status = 202, description = "The job, started", body = Envelope<JobStarted>),
        (status = 404, description = "No such webhook in this workspace", body = ErrorEnvelope),
        (status = 409, description = "The webhook is switched off (`conflict`)", body = ErrorEnvelope),
        (status = 422, description = "`since` missing, a time or filter not valid (`validation_failed`, with `field`)", body = ErrorEnvelope),
        ScopeErrors,
        BodyErrors,
    )
)]
pub async fn bulk_retry(
    caller: Caller,
    state: web::Data<AppState>,
    id: web::Path<String>,
    body: ApiJson<BulkRetryIn>,
) -> ApiResult {
    let ws = caller.workspace(Scope::Webhooks)?.id;
    let webhook = path_id(&id, "webhook")?;
    let b = body.value;
    let req = BulkRetryRequest::parse(
        b.status.as_deref(),
        b.since.as_deref(),
        b.until.as_deref(),
        b.event_type.as_deref(),
        now_ms(),
    )?;
    started(jobs::bulk_retry(&state, ws, webhook, req, &caller.actor()).await?)
}

/// Sends every event of the window that the webhook subscribes to now again, as new
/// deliveries (also events it never had one for), in the background.
#[utoipa::path(
    post,
    path = "/api/v1/webhooks/{id}/replay",
    tag = "deliveries",
    operation_id = "replay",
    params(("id" = i64, Path, description = "The webhook's id", minimum = 1), WorkspaceHeader),
    request_body = ReplayIn,
    responses(
        (status = 202, description = "The job, started", body = Envelope<JobStarted>),
        (status = 404, description = "No such webhook in this workspace", body = ErrorEnvelope),
        (status = 409, description = "The webhook is switched off (`conflict`)", body = ErrorEnvelope),
        (status = 422, description = "`since` missing, a time or type not valid (`validation_failed`, with `field`)", body = ErrorEnvelope),
        ScopeErrors,
        BodyErrors,
    )
)]
pub async fn replay(
    caller: Caller,
    state: web::Data<AppState>,
    id: web::Path<String>,
    body: ApiJson<ReplayIn>,
) -> ApiResult {
    let ws = caller.workspace(Scope::Webhooks)?.id;
    let webhook = path_id(&id, "webhook")?;
    let b = body.value;
    let req = ReplayRequest::parse(
        b.since.as_deref(),
        b.until.as_deref(),
        b.event_types.as_deref().unwrap_or(&[]),
        now_ms(),
    )?;
    started(jobs::replay(&state, ws, webhook, req, &caller.actor()).await?)
}

/// Reads a job: its state and progress.
#[utoipa::path(
    get,
    path = "/api/v1/jobs/{id}",
    tag = "deliveries",
    operation_id = "get_job",
    params(("id" = i64, Path, description = "The job's id", minimum = 1), WorkspaceHeader),
    responses(
        (status = 200, description = "The job", body = Envelope<JobOut>),
        (status = 404, description = "No such job in this workspace", body = ErrorEnvelope),
        ScopeErrors,
    )
)]
pub async fn get(caller: Caller, state: web::Data<AppState>, id: web::Path<String>) -> ApiResult {
    let ws = caller.workspace(Scope::Webhooks)?.id;
    let job = jobs::get(&state, ws, path_id(&id, "job")?).await?;
    Ok(envelope(StatusCode::OK, JobOut::from(job)))
}

/// Cancels a running job; what it already did stays done. Any request body is ignored.
#[utoipa::path(
    post,
    path = "/api/v1/jobs/{id}/cancel",
    tag = "deliveries",
    operation_id = "cancel_job",
    params(("id" = i64, Path, description = "The job's id", minimum = 1), WorkspaceHeader),
    responses(
        (status = 200, description = "Cancelled (also when it was already)", body = Envelope<JobOut>),
        (status = 404, description = "No such job in this workspace", body = ErrorEnvelope),
        (status = 409, description = "The job is done or failed already (`conflict`)", body = ErrorEnvelope),
        ScopeErrors,
    )
)]
pub async fn cancel(
    caller: Caller,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> ApiResult {
    let ws = caller.workspace(Scope::Webhooks)?.id;
    let job = jobs::cancel(&state, ws, path_id(&id, "job")?).await?;
    Ok(envelope(StatusCode::OK, JobOut::from(job)))
}
