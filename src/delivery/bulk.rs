//! Bulk jobs in the background: a bulk retry gives every matching delivery one more attempt,
//! a replay sends every event of a window again as new deliveries. Each job moves one small
//! batch at a time ([`BATCH`] rows in one short write), jobs take turns, and the runner pauses
//! between batches, so live publishes and deliveries keep their place in the writer; the
//! deliveries a batch makes due go through the dispatcher's per-webhook limit like any other.
//! Progress is stored with each batch, so a restart resumes where the job stood.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;

use super::queue;
use crate::clock::now_ms;
use crate::db::jobs::{self, JobKind, JobState};
use crate::db::{hooks, Db, DbError};
use crate::domain::jobs::replay_takes;

/// Rows one batch handles.
pub const BATCH: i64 = 500;
/// The pause between two batches.
pub const PAUSE: Duration = Duration::from_millis(20);

/// Runs jobs until `stop` is notified; `wake` says a job was made.
pub fn spawn(
    db: Db,
    engine: Arc<Notify>,
    wake: Arc<Notify>,
    stop: Arc<Notify>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut failures = 0u32;
        loop {
            let running = match db.read(jobs::running_jobs).await {
                Ok(r) => r,
                Err(DbError::Closed) => return,
                Err(e) => {
                    tracing::warn!(error = %e, "bulk jobs: cannot read the jobs; trying again");
                    Vec::new()
                }
            };
            if running.is_empty() {
                tokio::select! {
                    _ = wake.notified() => continue,
                    _ = stop.notified() => return,
                    _ = tokio::time::sleep(Duration::from_secs(5)) => continue,
                }
            }
            for job in running {
                let id = job.id;
                match db.write_background(move |c| run_batch(c, id)).await {
                    Ok(()) => failures = 0,
                    Err(DbError::Closed) => return,
                    Err(e) => {
                        failures += 1;
                        tracing::warn!(job = id, error = %e, failures, "bulk job batch failed");
                        if failures >= 5 {
                            let msg = format!("stopped after repeated errors: {e}");
                            let _ = db
                                .write(move |c| jobs::fail_job(c, id, &msg, now_ms()))
                                .await;
                            failures = 0;
                        }
                    }
                }
                engine.notify_one();
                tokio::select! {
                    _ = stop.notified() => return,
                    _ = tokio::time::sleep(PAUSE) => {}
                }
            }
        }
    })
}

/// One batch of job `id`, in the caller's write: nothing if it was cancelled meanwhile.
pub fn run_batch(c: &rusqlite::Connection, id: i64) -> Result<(), DbError> {
    let Some(job) = jobs::job(c, id)? else {
        return Ok(());
    };
    if job.state != JobState::Running {
        return Ok(());
    }
    let now = now_ms();
    match job.kind {
        JobKind::BulkRetry => {
            let ids = jobs::next_for_retry(c, &job, BATCH)?;
            let status = job.params.status.as_deref().unwrap_or("failed");
            queue::retry_batch(c, job.webhook_id, status, &ids, now)?;
            let cursor = ids.last().copied().unwrap_or(job.cursor);
            jobs::advance(
                c,
                id,
                cursor,
                ids.len() as i64,
                (ids.len() as i64) < BATCH,
                now,
            )
        }
        JobKind::Replay => {
            let Some(webhook) = hooks::get_webhook(c, job.workspace_id, job.webhook_id)? else {
                return jobs::fail_job(c, id, "the webhook was deleted", now);
            };
            let events =
                jobs::events_in_window(c, job.workspace_id, &job.params, job.cursor, BATCH)?;
            let mut sent = 0;
            for e in &events {
                if replay_takes(&webhook.events, &job.params.event_types, &e.event_type) {
                    queue::enqueue_replay(
                        c,
                        job.workspace_id,
                        job.webhook_id,
                        e.id,
                        &e.event_type,
                        id,
                        now,
                    )?;
                    sent += 1;
                }
            }
            let cursor = events.last().map(|e| e.id).unwrap_or(job.cursor);
            jobs::advance(c, id, cursor, sent, (events.len() as i64) < BATCH, now)
        }
    }
}
