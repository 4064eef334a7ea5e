//! The delivery engine: turns committed deliveries into signed POSTs until they succeed or
//! their schedule runs out, and records every attempt. It is a pipeline whose parts each
//! own one step:
//!
//! ```text
//!  store.claim ──▶ dispatcher ──▶ attempt (sign + send) ──▶ recorder ──▶ store.record
//!     (due work,     (limits,         (one POST, no             (batches      (status, retry
//!      leases)        ready queues)     database)                 results)      time, health,
//!                                                                               notices)
//! ```
//!
//! The queue itself is the store's (`db/queue.rs` on SQLite). The retry rule is `retry`,
//! notices go out through `notify`. This module starts the parts,
//! stops them, and offers Send Test's one attempt outside the queue's order.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{watch, Notify};

use super::attempt::{ActiveWebhook, Attempter};
use super::dispatcher::{Dispatcher, Limits, Progress};
use super::http::Sender;
use super::recorder::Recorder;
use crate::crypto::{CryptoError, SecretBox};
use crate::store::types::RecordRules;
use crate::store::{Store, StoreError as DbError};

pub use super::attempt::AttemptSummary;

/// Tunables of the engine.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    pub max_in_flight: usize,
    pub max_in_flight_per_webhook: usize,
    pub signature_header: String,
    /// A webhook whose deliveries all failed for this long is disabled.
    pub auto_disable_after_ms: i64,
    /// How long shutdown waits for attempts in flight.
    pub shutdown_grace: Duration,
    /// Least time between two notification emails about one webhook.
    pub notice_interval: Duration,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            max_in_flight: 256,
            max_in_flight_per_webhook: 16,
            signature_header: "X-Hookline-Signature".into(),
            auto_disable_after_ms: 5 * 24 * 3600 * 1000,
            shutdown_grace: Duration::from_secs(30),
            notice_interval: Duration::from_secs(3600),
        }
    }
}

/// Handle to the running engine. Cheap to clone.
#[derive(Clone)]
pub struct Engine {
    store: Store,
    secrets: SecretBox,
    attempter: Arc<Attempter>,
    recorder: Recorder,
    wake: Arc<Notify>,
    stopping: Arc<AtomicBool>,
    shutdown_grace: Duration,
    progress: watch::Receiver<Progress>,
    done: Arc<Notify>,
    finished: Arc<AtomicBool>,
    notifier: Arc<std::sync::Mutex<Option<crate::notify::Notifier>>>,
}

impl Engine {
    /// Drops stale leases (a crash left them), then starts the notifier, the recorder and
    /// the dispatcher.
    pub async fn start(
        store: Store,
        sender: Sender,
        mailer: crate::notify::Mailer,
        secrets: SecretBox,
        config: EngineConfig,
        wake: Arc<Notify>,
    ) -> Result<Engine, DbError> {
        let released = store.queue_start(wake.clone()).await?;
        if released > 0 {
            tracing::info!(
                released,
                "re-queued deliveries that were in flight when Hookline last stopped"
            );
        }
        let interval_ms = config.notice_interval.as_millis() as i64;
        let notices = crate::domain::notice::NoticeSettings {
            public_url: mailer.public_url.clone(),
            smtp_configured: mailer.configured(),
            interval_ms,
        };
        let notifier = crate::notify::Notifier::spawn(store.clone(), mailer, interval_ms);
        let recorder = Recorder::spawn(
            store.clone(),
            RecordRules {
                auto_disable_after_ms: config.auto_disable_after_ms,
                notices,
            },
            wake.clone(),
            notifier.waker(),
        );
        let attempter = Arc::new(Attempter::new(sender, config.signature_header.clone()));
        let stopping = Arc::new(AtomicBool::new(false));
        let (progress_tx, progress) = watch::channel(Progress::default());
        let engine = Engine {
            store: store.clone(),
            secrets: secrets.clone(),
            attempter: attempter.clone(),
            recorder: recorder.clone(),
            wake: wake.clone(),
            stopping: stopping.clone(),
            shutdown_grace: config.shutdown_grace,
            progress,
            done: Arc::new(Notify::new()),
            finished: Arc::new(AtomicBool::new(false)),
            notifier: Arc::new(std::sync::Mutex::new(Some(notifier))),
        };
        let dispatcher = Dispatcher {
            store,
            secrets,
            attempter,
            recorder,
            limits: Limits {
                max_in_flight: config.max_in_flight,
                max_in_flight_per_webhook: config.max_in_flight_per_webhook,
            },
            wake,
            stopping,
            shutdown_grace: config.shutdown_grace,
            progress: progress_tx,
        };
        let (done, finished) = (engine.done.clone(), engine.finished.clone());
        tokio::spawn(async move {
            dispatcher.run().await;
            finished.store(true, Ordering::SeqCst);
            done.notify_waiters();
        });
        Ok(engine)
    }

    /// Stops claiming, waits (bounded) for attempts in flight to finish and be recorded,
    /// then stops the notifier and gives back what the node still leases.
    pub async fn shutdown(&self) {
        self.stopping.store(true, Ordering::SeqCst);
        self.wake.notify_one();
        let waiting = self.done.notified();
        if !self.finished.load(Ordering::SeqCst) {
            let _ =
                tokio::time::timeout(self.shutdown_grace + Duration::from_secs(1), waiting).await;
        }
        let notifier = self
            .notifier
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some(n) = notifier {
            n.shutdown().await;
        }
        if let Err(e) = self.store.queue_stop().await {
            tracing::warn!(error = %e, "could not give back this node's leases; they are freed when its heartbeat stops");
        }
    }

    /// Whether shutdown has begun.
    pub fn is_stopping(&self) -> bool {
        self.stopping.load(Ordering::SeqCst)
    }

    /// Resolves once the engine has claimed everything due, and every attempt it started is
    /// recorded: nothing is in flight and nothing is due now (retries scheduled for later may
    /// wait). For tests about what the engine did, rather than polling for its effects.
    pub async fn settle(&self) {
        let mut progress = self.progress.clone();
        let seen = progress.borrow_and_update().rounds;
        self.wake.notify_one();
        let _ = progress.wait_for(|p| p.rounds > seen && p.idle).await;
    }

    /// Claim rounds the dispatcher has finished so far (on SQLite a publish whose deliveries
    /// were handed straight to the dispatcher needs none).
    pub fn claim_rounds(&self) -> u64 {
        self.progress.borrow().rounds
    }

    /// Sends one attempt of `delivery_id` now, outside the queue (Send Test), and records it.
    /// It is never retried.
    pub async fn attempt_now(
        &self,
        delivery_id: i64,
        webhook_id: i64,
        event_id: i64,
    ) -> Result<AttemptSummary, EngineError> {
        let (row, job) = self
            .store
            .claim_test(delivery_id, webhook_id, event_id)
            .await?
            .ok_or(EngineError::Vanished)?;
        let hook = ActiveWebhook::open(&self.secrets, row)?;
        let (result, summary) = self.attempter.attempt(&hook, job, true, None).await;
        self.recorder.record(result).await?;
        Ok(summary)
    }
}

/// Why the engine could not make an attempt it was asked for.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Db(#[from] DbError),
    #[error(transparent)]
    Crypto(#[from] CryptoError),
    /// The delivery (or its webhook) was deleted before the attempt.
    #[error("the delivery was deleted before it could be attempted")]
    Vanished,
}
