//! Bulk retries and replays: counted and stored as jobs here (the answer says how many
//! deliveries or events match), then worked through in the background by
//! [`crate::delivery::bulk`].

use crate::clock::now_ms;
use crate::domain::{BulkRetryRequest, ReplayRequest};
use crate::state::AppState;
use crate::store::types::{JobKind, JobParams, JobRefused, JobRow, JobState};

use super::{Actor, ServiceError, ServiceResult};

impl From<JobRefused> for ServiceError {
    fn from(r: JobRefused) -> Self {
        match r {
            JobRefused::NoWebhook => ServiceError::NotFound("webhook"),
            JobRefused::WebhookOff => ServiceError::Conflict(
                "the webhook is switched off, so nothing would be sent; switch it on first".into(),
            ),
        }
    }
}

/// What a bulk retry works through, as the job stores it.
fn retry_params(req: &BulkRetryRequest) -> JobParams {
    JobParams {
        status: Some(req.status.as_str().to_string()),
        since: req.since,
        until: req.until,
        event_types: req.event_type.iter().map(|t| t.to_string()).collect(),
    }
}

/// What a replay works through, as the job stores it.
fn replay_params(req: &ReplayRequest) -> JobParams {
    JobParams {
        status: None,
        since: req.since,
        until: req.until,
        event_types: req.event_types.iter().map(|t| t.to_string()).collect(),
    }
}

/// Makes a bulk retry job: every matching delivery of the webhook gets one more attempt.
pub async fn bulk_retry(
    state: &AppState,
    ws: i64,
    webhook: i64,
    req: BulkRetryRequest,
    by: &Actor,
) -> ServiceResult<JobRow> {
    let params = retry_params(&req);
    let job = state
        .store
        .job_create(
            ws,
            webhook,
            JobKind::BulkRetry,
            params,
            by.0.clone(),
            now_ms(),
        )
        .await??;
    state.jobs.notify_one();
    Ok(job)
}

/// Makes a replay job: every event of the window the webhook subscribes to now is sent again
/// as a new delivery, also events it never had a delivery for.
pub async fn replay(
    state: &AppState,
    ws: i64,
    webhook: i64,
    req: ReplayRequest,
    by: &Actor,
) -> ServiceResult<JobRow> {
    let params = replay_params(&req);
    let job = state
        .store
        .job_create(ws, webhook, JobKind::Replay, params, by.0.clone(), now_ms())
        .await??;
    state.jobs.notify_one();
    Ok(job)
}

/// How many deliveries a bulk retry with `req` would touch now (the form's preview).
pub async fn preview_retry(
    state: &AppState,
    ws: i64,
    webhook: i64,
    req: &BulkRetryRequest,
) -> ServiceResult<i64> {
    state
        .store
        .job_preview(ws, webhook, JobKind::BulkRetry, retry_params(req))
        .await?
        .ok_or(ServiceError::NotFound("webhook"))
}

/// How many events a replay with `req` would send now (the form's preview).
pub async fn preview_replay(
    state: &AppState,
    ws: i64,
    webhook: i64,
    req: &ReplayRequest,
) -> ServiceResult<i64> {
    state
        .store
        .job_preview(ws, webhook, JobKind::Replay, replay_params(req))
        .await?
        .ok_or(ServiceError::NotFound("webhook"))
}

/// A job of the workspace.
pub async fn get(state: &AppState, ws: i64, id: i64) -> ServiceResult<JobRow> {
    state
        .store
        .job_get(ws, id)
        .await?
        .ok_or(ServiceError::NotFound("job"))
}

/// Stops a running job: what it did stays done. A finished job cannot be cancelled.
pub async fn cancel(state: &AppState, ws: i64, id: i64) -> ServiceResult<JobRow> {
    let job = state
        .store
        .job_cancel(ws, id, now_ms())
        .await?
        .ok_or(ServiceError::NotFound("job"))?;
    match job.state {
        JobState::Cancelled => Ok(job),
        s => Err(ServiceError::Conflict(format!(
            "the job is {} already; only a running job can be cancelled",
            s.as_str()
        ))),
    }
}
