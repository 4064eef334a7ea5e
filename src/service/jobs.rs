//! Bulk retries and replays: counted and stored as jobs here (the answer says how many
//! deliveries or events match), then worked through in the background by
//! [`crate::delivery::bulk`].

use crate::clock::now_ms;
use crate::db::hooks;
use crate::db::jobs::{self, JobKind, JobParams, JobRow, JobState, NewJob};
use crate::delivery::bulk::takes;
use crate::domain::{BulkRetryRequest, ReplayRequest};
use crate::state::AppState;

use super::{Actor, ServiceError, ServiceResult};

fn active_webhook(
    c: &rusqlite::Connection,
    ws: i64,
    id: i64,
) -> Result<Result<hooks::WebhookRow, ServiceError>, crate::db::DbError> {
    Ok(match hooks::get_webhook(c, ws, id)? {
        None => Err(ServiceError::NotFound("webhook")),
        Some(w) if !w.is_active => Err(ServiceError::Conflict(
            "the webhook is switched off, so nothing would be sent; switch it on first".into(),
        )),
        Some(w) => Ok(w),
    })
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
    let by = by.0.clone();
    let job = state
        .db
        .write(move |c| {
            if let Err(e) = active_webhook(c, ws, webhook)? {
                return Ok(Err(e));
            }
            let total = jobs::count_for_retry(c, ws, webhook, &params)?;
            Ok(Ok(jobs::create_job(
                c,
                &NewJob {
                    workspace_id: ws,
                    webhook_id: webhook,
                    kind: JobKind::BulkRetry,
                    params: &params,
                    total,
                    created_by: &by,
                    now: now_ms(),
                },
            )?))
        })
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
    let by = by.0.clone();
    let job = state
        .db
        .write(move |c| {
            let w = match active_webhook(c, ws, webhook)? {
                Ok(w) => w,
                Err(e) => return Ok(Err(e)),
            };
            let total = jobs::count_for_replay(c, ws, &params, |t| {
                takes(&w.events, &params.event_types, t)
            })?;
            Ok(Ok(jobs::create_job(
                c,
                &NewJob {
                    workspace_id: ws,
                    webhook_id: webhook,
                    kind: JobKind::Replay,
                    params: &params,
                    total,
                    created_by: &by,
                    now: now_ms(),
                },
            )?))
        })
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
    let params = retry_params(req);
    state
        .db
        .read(move |c| {
            if hooks::get_webhook(c, ws, webhook)?.is_none() {
                return Ok(None);
            }
            Ok(Some(jobs::count_for_retry(c, ws, webhook, &params)?))
        })
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
    let params = replay_params(req);
    state
        .db
        .read(move |c| {
            let Some(w) = hooks::get_webhook(c, ws, webhook)? else {
                return Ok(None);
            };
            Ok(Some(jobs::count_for_replay(c, ws, &params, |t| {
                takes(&w.events, &params.event_types, t)
            })?))
        })
        .await?
        .ok_or(ServiceError::NotFound("webhook"))
}

/// A job of the workspace.
pub async fn get(state: &AppState, ws: i64, id: i64) -> ServiceResult<JobRow> {
    state
        .db
        .read(move |c| jobs::get_job(c, ws, id))
        .await?
        .ok_or(ServiceError::NotFound("job"))
}

/// Stops a running job: what it did stays done. A finished job cannot be cancelled.
pub async fn cancel(state: &AppState, ws: i64, id: i64) -> ServiceResult<JobRow> {
    let job = state
        .db
        .write(move |c| jobs::cancel_job(c, ws, id, now_ms()))
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
