//! The recorder: attempt results go to the queue in batches. While one batch commits, the
//! results that arrive meanwhile gather into the next, so under load each write job carries
//! many results (one savepoint, prepared statements reused across its rows) and when idle,
//! one. A failed job fails every result in it; their deliveries keep their leases and are
//! attempted again after a restart.

use std::sync::Arc;

use tokio::sync::{mpsc, oneshot, Notify, Semaphore};

use crate::store::types::{AttemptResult, RecordRules};
use crate::store::{Store, StoreError as DbError};

/// Most attempt results written in one job.
const RECORD_BATCH: usize = 512;
/// Record jobs queued at the writer at once. While they commit, new results gather into the
/// next job.
const RECORD_JOBS_IN_FLIGHT: usize = 2;

type Waiter = oneshot::Sender<Result<(), DbError>>;

/// Hands attempt results to the recorder task. Cheap to clone.
#[derive(Clone)]
pub struct Recorder {
    tx: mpsc::UnboundedSender<(AttemptResult, Waiter)>,
}

impl Recorder {
    /// Starts the recorder. `dispatcher` hears when a batch scheduled retries (its claim
    /// round may have run before the batch was written, and so not know when they fall
    /// due); `notifier` when a batch stored a notice.
    pub fn spawn(
        store: Store,
        rules: RecordRules,
        dispatcher: Arc<Notify>,
        notifier: Arc<Notify>,
    ) -> Recorder {
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(record_in_batches(store, rules, rx, dispatcher, notifier));
        Recorder { tx }
    }

    /// Records one attempt; resolves once its batch has committed.
    pub async fn record(&self, result: AttemptResult) -> Result<(), DbError> {
        let (tx, rx) = oneshot::channel();
        self.tx.send((result, tx)).map_err(|_| DbError::Closed)?;
        rx.await.map_err(|_| DbError::Closed)?
    }
}

async fn record_in_batches(
    store: Store,
    rules: RecordRules,
    mut rx: mpsc::UnboundedReceiver<(AttemptResult, Waiter)>,
    dispatcher: Arc<Notify>,
    notifier: Arc<Notify>,
) {
    let rules = Arc::new(rules);
    let permits = Arc::new(Semaphore::new(RECORD_JOBS_IN_FLIGHT));
    while let Some(first) = rx.recv().await {
        let Ok(permit) = permits.clone().acquire_owned().await else {
            break;
        };
        let mut batch = vec![first];
        while batch.len() < RECORD_BATCH {
            match rx.try_recv() {
                Ok(more) => batch.push(more),
                Err(_) => break,
            }
        }
        let (store, dispatcher, notifier, rules) = (
            store.clone(),
            dispatcher.clone(),
            notifier.clone(),
            rules.clone(),
        );
        tokio::spawn(async move {
            let (results, waiters): (Vec<AttemptResult>, Vec<Waiter>) = batch.into_iter().unzip();
            let retries = results.iter().any(|r| !r.success);
            let written = store.record(results, rules).await;
            drop(permit);
            if retries {
                dispatcher.notify_one();
            }
            match written {
                Ok(noticed) => {
                    if noticed {
                        notifier.notify_one();
                    }
                    for tx in waiters {
                        let _ = tx.send(Ok(()));
                    }
                }
                Err(e) => {
                    for tx in waiters {
                        let _ = tx.send(Err(e.clone()));
                    }
                }
            }
        });
    }
}
