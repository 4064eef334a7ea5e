//! Bulk jobs in the background: a bulk retry gives every matching delivery one more attempt,
//! a replay sends every event of a window again as new deliveries. Each job moves one small
//! batch at a time ([`BATCH`] rows in one short write), jobs take turns, and the runner pauses
//! between batches, so live publishes and deliveries keep their place in the writer; the
//! deliveries a batch makes due go through the dispatcher's per-webhook limit like any other.
//! Progress is stored with each batch, so a restart resumes where the job stood.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;

use crate::clock::now_ms;
use crate::store::{Store, StoreError};

/// Rows one batch handles.
pub const BATCH: i64 = 500;
/// The pause between two batches.
pub const PAUSE: Duration = Duration::from_millis(20);

/// Runs jobs until `stop` is notified; `wake` says a job was made.
pub fn spawn(
    store: Store,
    engine: Arc<Notify>,
    wake: Arc<Notify>,
    stop: Arc<Notify>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut failures = 0u32;
        loop {
            let running = match store.jobs_running().await {
                Ok(r) => r,
                Err(StoreError::Closed) => return,
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
                match store.job_run_batch(id, BATCH).await {
                    Ok(()) => failures = 0,
                    Err(StoreError::Closed) => return,
                    Err(e) => {
                        failures += 1;
                        tracing::warn!(job = id, error = %e, failures, "bulk job batch failed");
                        if failures >= 5 {
                            let msg = format!("stopped after repeated errors: {e}");
                            let _ = store.job_fail(id, msg, now_ms()).await;
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
