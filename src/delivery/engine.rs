//! The delivery engine: turns committed deliveries into signed POSTs until they succeed or
//! their schedule runs out, and records every attempt.
//!
//! SQLite is the queue. A dispatcher claims due deliveries per active webhook (partial index
//! `deliveries_due (webhook_id, next_attempt_at)` of the unleased rows waiting for an attempt;
//! leased rows sit in `deliveries_leased`) into small per-webhook ready queues, and
//! starts them within the global and the per-webhook limits, so one slow or dead receiver only
//! ever holds its own slots. Claim rounds run beside the attempts (never blocking them), fetch
//! the event bodies and any changed webhook settings in the same job, and start at a different
//! webhook each round. A claimed delivery carries a lease; at start every lease is dropped, so
//! work in flight at a crash is attempted again (at-least-once). A slot frees as soon as its
//! HTTP exchange ends; the result then goes to the recorder, which writes the results that
//! arrived meanwhile as one job of the group-commit writer (one savepoint for many attempts
//! instead of one each).

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rusqlite::{params, Connection, OptionalExtension};
use tokio::sync::{mpsc, oneshot, Notify, Semaphore};

use super::http::{Outcome, OutgoingRequest, Sender};
use super::{retry, sign};
use crate::clock::now_ms;
use crate::crypto::{CryptoError, SecretBox};
use crate::db::hooks::{self, WebhookRow};
use crate::db::{Db, DbError};

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

struct Shared {
    db: Db,
    recorder: mpsc::UnboundedSender<(Record, oneshot::Sender<RecordResult>)>,
    sender: Sender,
    secrets: SecretBox,
    config: EngineConfig,
    wake: Arc<Notify>,
    stopping: AtomicBool,
}

/// Handle to the running engine.
#[derive(Clone)]
pub struct Engine {
    shared: Arc<Shared>,
    done: Arc<Notify>,
    finished: Arc<AtomicBool>,
    notifier: Arc<std::sync::Mutex<Option<crate::notify::Notifier>>>,
}

/// A webhook as the engine uses it: its row and its opened secrets, cached by `updated_at`.
struct CachedWebhook {
    row: WebhookRow,
    /// The row's URL, parsed once per version rather than once per attempt.
    url: Result<url::Url, url::ParseError>,
    current: sign::Secret,
    /// The rotated-out secret and until when it still signs.
    previous: Option<(sign::Secret, i64)>,
}

impl CachedWebhook {
    fn open(secrets: &SecretBox, row: WebhookRow) -> Result<CachedWebhook, CryptoError> {
        let unusable = CryptoError::Unusable;
        let current =
            sign::Secret::parse_any_length(&secrets.open(&row.secret_enc)?).map_err(unusable)?;
        let previous = match (&row.previous_secret_enc, row.previous_secret_expires_at) {
            (Some(enc), Some(exp)) if exp > now_ms() => Some((
                sign::Secret::parse_any_length(&secrets.open(enc)?).map_err(unusable)?,
                exp,
            )),
            _ => None,
        };
        Ok(CachedWebhook {
            url: url::Url::parse(&row.url),
            row,
            current,
            previous,
        })
    }
}

/// A claimed delivery with what is needed to send it.
#[derive(Debug, Clone)]
struct Job {
    delivery_id: i64,
    webhook_id: i64,
    event_public_id: String,
    event_type: String,
    body: bytes::Bytes,
    attempt_count: i64,
    /// When the event was published (unix ms), for the publish-to-delivery metric.
    created_at: i64,
}

/// What one claim round found.
struct ClaimResult {
    jobs: Vec<Job>,
    /// Earliest time unclaimed work falls due.
    next_due: Option<i64>,
    /// Active webhooks and their `updated_at`.
    active: Vec<(i64, i64)>,
    /// Full rows of active webhooks the dispatcher does not know in this version.
    changed: Vec<WebhookRow>,
}

impl Engine {
    /// Drops stale leases (a crash left them) and starts the dispatcher.
    pub async fn start(
        db: Db,
        sender: Sender,
        mailer: crate::notify::Mailer,
        secrets: SecretBox,
        config: EngineConfig,
        wake: Arc<Notify>,
    ) -> Result<Engine, DbError> {
        let released = db
            .write(|c| {
                Ok(c.execute(
                    "UPDATE deliveries SET lease_until = NULL WHERE lease_until IS NOT NULL",
                    [],
                )?)
            })
            .await?;
        if released > 0 {
            tracing::info!(
                released,
                "re-queued deliveries that were in flight when Hookline last stopped"
            );
        }
        let interval_ms = config.notice_interval.as_millis() as i64;
        let notices = crate::notify::NoticeSettings {
            public_url: mailer.public_url.clone(),
            smtp_configured: mailer.configured(),
            interval_ms,
        };
        let notifier = crate::notify::Notifier::spawn(db.clone(), mailer, interval_ms);
        let (recorder, records) = mpsc::unbounded_channel();
        tokio::spawn(record_in_batches(
            db.clone(),
            RecordRules {
                auto_disable_after_ms: config.auto_disable_after_ms,
                notices,
            },
            records,
            wake.clone(),
            notifier.waker(),
        ));
        let shared = Arc::new(Shared {
            db,
            recorder,
            sender,
            secrets,
            config,
            wake,
            stopping: AtomicBool::new(false),
        });
        let engine = Engine {
            shared: shared.clone(),
            done: Arc::new(Notify::new()),
            finished: Arc::new(AtomicBool::new(false)),
            notifier: Arc::new(std::sync::Mutex::new(Some(notifier))),
        };
        let e = engine.clone();
        tokio::spawn(async move {
            dispatch(e.shared.clone()).await;
            e.finished.store(true, Ordering::SeqCst);
            e.done.notify_waiters();
        });
        Ok(engine)
    }

    /// Stops claiming, waits (bounded) for attempts in flight to finish and be recorded.
    pub async fn shutdown(&self) {
        self.shared.stopping.store(true, Ordering::SeqCst);
        self.shared.wake.notify_one();
        let waiting = self.done.notified();
        if !self.finished.load(Ordering::SeqCst) {
            let _ = tokio::time::timeout(
                self.shared.config.shutdown_grace + Duration::from_secs(1),
                waiting,
            )
            .await;
        }
        let notifier = self
            .notifier
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some(n) = notifier {
            n.shutdown().await;
        }
    }

    /// Sends one attempt of `delivery_id` now, outside the queue (Send Test), and records it.
    /// It is never retried.
    pub async fn attempt_now(
        &self,
        delivery_id: i64,
        webhook_id: i64,
        event_id: i64,
    ) -> Result<AttemptSummary, EngineError> {
        let loaded = self
            .shared
            .db
            .read(move |c| {
                let Some(row) = hooks::get_webhook_any(c, webhook_id)? else { return Ok(None) };
                let job = c
                    .query_row(
                        "SELECT e.public_id, e.type, e.body, d.attempt_count, e.created_at FROM deliveries d JOIN events e ON e.id = d.event_id
                         WHERE d.id = ?1 AND e.id = ?2",
                        params![delivery_id, event_id],
                        |r| {
                            Ok(Job {
                                delivery_id,
                                webhook_id,
                                event_public_id: r.get(0)?,
                                event_type: r.get(1)?,
                                body: bytes::Bytes::from(r.get::<_, String>(2)?),
                                attempt_count: r.get(3)?,
                                created_at: r.get(4)?,
                            })
                        },
                    )
                    .optional()?;
                Ok(job.map(|j| (row, j)))
            })
            .await?;
        let (row, job) = loaded.ok_or(EngineError::Vanished)?;
        let hook = Arc::new(CachedWebhook::open(&self.shared.secrets, row)?);
        Ok(run_job(&self.shared, hook, job, true, None).await?)
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

/// What one attempt came to, for Send Test.
#[derive(Debug, Clone, serde::Serialize)]
pub struct AttemptSummary {
    pub delivery_id: i64,
    pub success: bool,
    pub response_status: Option<u16>,
    pub duration_ms: i64,
    pub error: Option<String>,
    pub response_body: String,
}

type ClaimTask = tokio::task::JoinHandle<Result<ClaimResult, DbError>>;

async fn dispatch(shared: Arc<Shared>) {
    let per = shared.config.max_in_flight_per_webhook;
    let max = shared.config.max_in_flight;
    let (slot_tx, mut slot_rx) = mpsc::unbounded_channel::<i64>();
    let mut tasks = tokio::task::JoinSet::new();
    let mut ready: HashMap<i64, VecDeque<Job>> = HashMap::new();
    let mut in_flight: HashMap<i64, usize> = HashMap::new();
    let mut cache: HashMap<i64, Arc<CachedWebhook>> = HashMap::new();
    let (mut total_in_flight, mut total_ready) = (0usize, 0usize);
    let mut claiming: Option<ClaimTask> = None;
    let mut want_claim = true;
    let mut next_due: Option<i64> = None;
    let mut round = 0usize;
    loop {
        if shared.stopping.load(Ordering::SeqCst) {
            break;
        }
        // Start what is ready and has a free slot.
        if total_ready > 0 && total_in_flight < max {
            let mut orphans = Vec::new();
            for (wid, queue) in ready.iter_mut() {
                while total_in_flight < max && in_flight.get(wid).copied().unwrap_or(0) < per {
                    let Some(job) = queue.pop_front() else { break };
                    total_ready -= 1;
                    let Some(hook) = cache.get(wid).cloned() else {
                        // Disabled or deleted since it was claimed.
                        orphans.push(job.delivery_id);
                        continue;
                    };
                    total_in_flight += 1;
                    *in_flight.entry(*wid).or_default() += 1;
                    let (s, tx) = (shared.clone(), slot_tx.clone());
                    tasks.spawn(async move {
                        if let Err(e) = run_job(&s, hook, job, false, Some(tx)).await {
                            tracing::error!(error = %e, "recording an attempt failed; it will be sent again after restart");
                        }
                    });
                }
            }
            ready.retain(|_, q| !q.is_empty());
            if !orphans.is_empty() {
                let db = shared.db.clone();
                tasks.spawn(async move {
                    let _ = db
                        .write(move |c| {
                            let mut st = c.prepare_cached(
                                "UPDATE deliveries SET lease_until = NULL WHERE id = ?1",
                            )?;
                            for id in orphans {
                                st.execute([id])?;
                            }
                            Ok(())
                        })
                        .await;
                });
            }
        }
        // Claim more when there is reason and room.
        let now = now_ms();
        if claiming.is_none() && (want_claim || next_due.is_some_and(|t| t <= now)) {
            let budget = (2 * max).saturating_sub(total_in_flight + total_ready);
            if budget > 0 {
                want_claim = false;
                next_due = None;
                round = round.wrapping_add(1);
                let mut busy = in_flight.clone();
                for (w, q) in &ready {
                    *busy.entry(*w).or_default() += q.len();
                }
                let known: HashMap<i64, i64> =
                    cache.iter().map(|(k, v)| (*k, v.row.updated_at)).collect();
                let (db, start, room) = (shared.db.clone(), round, 2 * per);
                claiming = Some(tokio::spawn(async move {
                    db.write(move |c| claim(c, now_ms(), budget, room, &busy, start, &known))
                        .await
                }));
            }
        }
        let sleep_ms = next_due
            .map(|t| (t - now_ms()).clamp(1, 60_000))
            .unwrap_or(60_000);
        tokio::select! {
            _ = shared.wake.notified() => want_claim = true,
            Some(wid) = slot_rx.recv() => {
                free_slot(&mut in_flight, &mut total_in_flight, wid);
                if ready.get(&wid).map_or(0, VecDeque::len) < per {
                    want_claim = true;
                }
            }
            res = async { claiming.as_mut().expect("guarded").await }, if claiming.is_some() => {
                claiming = None;
                match res {
                    Ok(Ok(r)) => {
                        let active: HashMap<i64, i64> = r.active.into_iter().collect();
                        cache.retain(|id, _| active.contains_key(id));
                        for row in r.changed {
                            let id = row.id;
                            match CachedWebhook::open(&shared.secrets, row) {
                                Ok(h) => {
                                    cache.insert(id, Arc::new(h));
                                }
                                Err(e) => {
                                    tracing::error!(webhook_id = id, error = %e, "cannot open the webhook's secret; its deliveries wait");
                                    cache.remove(&id);
                                }
                            }
                        }
                        total_ready += r.jobs.len();
                        for job in r.jobs {
                            ready.entry(job.webhook_id).or_default().push_back(job);
                        }
                        next_due = r.next_due;
                    }
                    Ok(Err(e)) => {
                        tracing::error!(error = %e, "claiming deliveries failed; retrying shortly");
                        next_due = Some(now_ms() + 1000);
                    }
                    Err(e) => {
                        tracing::error!(error = %e, "the claim task failed; retrying shortly");
                        next_due = Some(now_ms() + 1000);
                    }
                }
            }
            Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
            _ = tokio::time::sleep(Duration::from_millis(sleep_ms as u64)) => want_claim = true,
        }
        while let Ok(wid) = slot_rx.try_recv() {
            free_slot(&mut in_flight, &mut total_in_flight, wid);
            want_claim = true;
        }
    }
    // Shutdown: jobs never started keep their lease, which the next start drops. Attempts in
    // flight finish and are recorded, within the grace period.
    if let Some(c) = claiming {
        let _ = c.await;
    }
    let deadline = tokio::time::Instant::now() + shared.config.shutdown_grace;
    while !tasks.is_empty() {
        match tokio::time::timeout_at(deadline, tasks.join_next()).await {
            Ok(Some(_)) => {}
            _ => break,
        }
    }
    if !tasks.is_empty() {
        tracing::warn!(
            remaining = tasks.len(),
            "stopped with attempts still in flight; they will be sent again after restart"
        );
    }
}

fn free_slot(in_flight: &mut HashMap<i64, usize>, total: &mut usize, webhook_id: i64) {
    *total -= 1;
    if let Some(n) = in_flight.get_mut(&webhook_id) {
        *n -= 1;
        if *n == 0 {
            in_flight.remove(&webhook_id);
        }
    }
}

/// Leases up to ?4 of webhook ?1's deliveries due by ?2, until ?3. Reads only the partial
/// index `deliveries_due`, which holds unleased rows: leased ones leave it as they are picked.
const CLAIM_PICK: &str = "UPDATE deliveries SET lease_until = ?3 WHERE id IN (
        SELECT id FROM deliveries WHERE webhook_id = ?1 AND next_attempt_at <= ?2 AND lease_until IS NULL
        ORDER BY next_attempt_at LIMIT ?4)
     RETURNING id, event_id, attempt_count";

/// When webhook ?1's next unleased delivery is due.
const CLAIM_EARLIEST: &str = "SELECT min(next_attempt_at) FROM deliveries
     WHERE webhook_id = ?1 AND next_attempt_at IS NOT NULL AND lease_until IS NULL";

/// Claims due deliveries: at most `budget` in all and `room` per webhook (minus `busy`),
/// starting at a different webhook each round. Fetches the claimed events' bodies and the
/// rows of active webhooks whose version differs from `known`.
fn claim(
    c: &Connection,
    now: i64,
    budget: usize,
    room: usize,
    busy: &HashMap<i64, usize>,
    start: usize,
    known: &HashMap<i64, i64>,
) -> Result<ClaimResult, DbError> {
    let active: Vec<(i64, i64)> = c
        .prepare_cached("SELECT id, updated_at FROM webhooks WHERE is_active = 1 ORDER BY id")?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<_, _>>()?;
    let mut changed = Vec::new();
    for (id, version) in &active {
        if known.get(id) != Some(version) {
            if let Some(row) = hooks::get_webhook_any(c, *id)? {
                changed.push(row);
            }
        }
    }
    let lease_until = now + 10 * 60 * 1000;
    let mut pick = c.prepare_cached(CLAIM_PICK)?;
    let mut earliest = c.prepare_cached(CLAIM_EARLIEST)?;
    let mut event =
        c.prepare_cached("SELECT public_id, type, body, created_at FROM events WHERE id = ?1")?;
    let mut jobs = Vec::new();
    // With fan-out, one event is claimed for several webhooks in the same round: read it
    // (and copy its body) once.
    let mut events: HashMap<i64, (String, String, bytes::Bytes, i64)> = HashMap::new();
    let mut next_due: Option<i64> = None;
    let n = active.len();
    for i in 0..n {
        let wid = active[(start + i) % n].0;
        let free = room
            .saturating_sub(busy.get(&wid).copied().unwrap_or(0))
            .min(budget - jobs.len());
        if free > 0 {
            let picked: Vec<(i64, i64, i64)> = pick
                .query_map(params![wid, now, lease_until, free as i64], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?))
                })?
                .collect::<Result<_, _>>()?;
            for (delivery_id, event_id, attempt_count) in picked {
                let (event_public_id, event_type, body, created_at) = match events.get(&event_id) {
                    Some(e) => e.clone(),
                    None => {
                        let e = event.query_row([event_id], |r| {
                            Ok((
                                r.get::<_, String>(0)?,
                                r.get::<_, String>(1)?,
                                bytes::Bytes::from(r.get::<_, String>(2)?),
                                r.get::<_, i64>(3)?,
                            ))
                        })?;
                        events.insert(event_id, e.clone());
                        e
                    }
                };
                jobs.push(Job {
                    delivery_id,
                    webhook_id: wid,
                    event_public_id,
                    event_type,
                    body,
                    attempt_count,
                    created_at,
                });
            }
        }
        let due: Option<i64> = earliest
            .query_row([wid], |r| r.get(0))
            .optional()?
            .flatten();
        if let Some(d) = due {
            // Due work left behind (its webhook is at its limit) is claimed when a slot frees;
            // only future work sets the timer.
            let d = if d <= now { now + 1000 } else { d };
            next_due = Some(next_due.map_or(d, |x: i64| x.min(d)));
        }
        if jobs.len() >= budget {
            break;
        }
    }
    Ok(ClaimResult {
        jobs,
        next_due,
        active,
        changed,
    })
}

/// Sends one attempt and records it. `slot` hears as soon as the HTTP exchange is over.
async fn run_job(
    shared: &Shared,
    hook: Arc<CachedWebhook>,
    job: Job,
    final_attempt: bool,
    slot: Option<mpsc::UnboundedSender<i64>>,
) -> Result<AttemptSummary, DbError> {
    let started_at = now_ms();
    let headers = build_headers(shared, &hook, &job, started_at / 1000);
    // Serialised here, off the writer thread, so the headers can move into the request.
    let request_headers_json = json_map(&headers);
    let outcome = match &hook.url {
        Ok(url) => {
            shared
                .sender
                .send(OutgoingRequest {
                    url: url.clone(),
                    headers,
                    body: job.body.clone(),
                    timeout: Duration::from_secs(hook.row.timeout_seconds as u64),
                })
                .await
        }
        Err(e) => Outcome {
            error: Some(super::http::AttemptError {
                kind: super::http::ErrorKind::Other,
                message: format!("bad URL: {e}"),
            }),
            ..Outcome::default()
        },
    };
    if let Some(tx) = slot {
        let _ = tx.send(job.webhook_id);
    }
    // One line per attempt at debug, per failure at info. Never the payload, headers or secret.
    match &outcome.error {
        None if outcome.is_success() => tracing::debug!(
            delivery_id = job.delivery_id,
            webhook_id = job.webhook_id,
            status = outcome.status,
            duration_ms = outcome.duration_ms,
            "attempt succeeded"
        ),
        error => tracing::info!(
            delivery_id = job.delivery_id,
            webhook_id = job.webhook_id,
            status = outcome.status,
            duration_ms = outcome.duration_ms,
            error = error
                .as_ref()
                .map(|e| e.message.as_str())
                .unwrap_or("non-2xx status"),
            "attempt failed"
        ),
    }
    let metrics = crate::metrics::global();
    metrics.attempt(
        outcome.status,
        outcome.error.as_ref().map(|e| e.kind.as_str()),
        outcome.duration_ms as f64 / 1000.0,
    );
    if outcome.is_success() {
        metrics
            .deliveries
            .get_or_create(&crate::metrics::OutcomeLabel {
                outcome: "succeeded",
            })
            .inc();
        metrics
            .publish_to_delivery_seconds
            .observe((now_ms() - job.created_at).max(0) as f64 / 1000.0);
    }
    let summary = AttemptSummary {
        delivery_id: job.delivery_id,
        success: outcome.is_success(),
        response_status: outcome.status,
        duration_ms: outcome.duration_ms,
        error: outcome.error.as_ref().map(|e| e.message.clone()),
        response_body: String::from_utf8_lossy(&outcome.response_body).into_owned(),
    };
    let rec = Record {
        delivery_id: job.delivery_id,
        webhook_id: hook.row.id,
        retry_schedule: hook.row.retry_schedule.clone(),
        attempt_number: job.attempt_count + 1,
        started_at,
        request_headers_json,
        response_headers_json: outcome.status.map(|_| json_map(&outcome.response_headers)),
        error: attempt_error(&outcome),
        outcome,
        final_attempt,
    };
    let (tx, rx) = oneshot::channel();
    shared
        .recorder
        .send((rec, tx))
        .map_err(|_| DbError::Closed)?;
    rx.await.map_err(|_| DbError::Closed)??;
    Ok(summary)
}

fn build_headers(
    shared: &Shared,
    hook: &CachedWebhook,
    job: &Job,
    ts: i64,
) -> Vec<(String, String)> {
    let body = &job.body[..];
    let mut secrets = vec![&hook.current];
    if let Some((prev, until)) = &hook.previous {
        if *until > now_ms() {
            secrets.push(prev);
        }
    }
    let mut h = Vec::with_capacity(8 + hook.row.headers.len());
    h.push(("content-type".to_string(), "application/json".to_string()));
    h.push((
        "user-agent".to_string(),
        format!("Hookline/{}", crate::VERSION),
    ));
    h.push(("webhook-id".to_string(), job.event_public_id.clone()));
    h.push(("webhook-timestamp".to_string(), ts.to_string()));
    h.push((
        "webhook-signature".to_string(),
        sign::signature_header(&secrets, &job.event_public_id, ts, body),
    ));
    h.push((
        shared.config.signature_header.clone(),
        sign::hex_signature(hook.current.as_str(), body),
    ));
    h.push(("X-Hookline-Event".to_string(), job.event_type.clone()));
    h.push((
        "X-Hookline-Delivery".to_string(),
        job.delivery_id.to_string(),
    ));
    for (k, v) in &hook.row.headers {
        h.push((k.clone(), v.clone()));
    }
    h
}

struct Record {
    delivery_id: i64,
    webhook_id: i64,
    retry_schedule: Vec<u32>,
    attempt_number: i64,
    started_at: i64,
    /// Serialised off the writer thread.
    request_headers_json: String,
    response_headers_json: Option<String>,
    error: Option<String>,
    outcome: Outcome,
    /// Send Test: one attempt, never retried.
    final_attempt: bool,
}

/// What recording one attempt came to: whether it stored a notice for the notifier.
type RecordResult = Result<bool, DbError>;

/// The rules the recorder applies besides the retry schedule.
#[derive(Debug, Clone)]
struct RecordRules {
    auto_disable_after_ms: i64,
    notices: crate::notify::NoticeSettings,
}

/// Most attempt results written in one job.
const RECORD_BATCH: usize = 512;
/// Record jobs queued at the writer at once. While they commit, new results gather into the
/// next job, so under load each job carries many results; when idle, one.
const RECORD_JOBS_IN_FLIGHT: usize = 2;

/// The recorder: writes attempt results in batches, each batch one write job (one savepoint,
/// prepared statements reused across its rows). A failed job fails every result in it, and
/// their deliveries keep their leases, so they are attempted again after a restart. A batch
/// that scheduled retries wakes the dispatcher, whose claim round may have run before the
/// batch was written and so not know when they fall due.
async fn record_in_batches(
    db: Db,
    rules: RecordRules,
    mut rx: mpsc::UnboundedReceiver<(Record, oneshot::Sender<RecordResult>)>,
    wake: Arc<Notify>,
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
        let (db, wake, notifier, rules) =
            (db.clone(), wake.clone(), notifier.clone(), rules.clone());
        tokio::spawn(async move {
            let (records, waiters): (Vec<Record>, Vec<_>) = batch.into_iter().unzip();
            let retries = records.iter().any(|r| !r.outcome.is_success());
            let written = db
                .write(move |c| {
                    let mut touched = Vec::new();
                    records
                        .into_iter()
                        .map(|r| record(c, r, &rules, &mut touched))
                        .collect::<Result<Vec<_>, _>>()
                })
                .await;
            drop(permit);
            if retries {
                wake.notify_one();
            }
            match written {
                Ok(notices) => {
                    if notices.iter().any(|&n| n) {
                        notifier.notify_one();
                    }
                    for (tx, notice) in waiters.into_iter().zip(notices) {
                        let _ = tx.send(Ok(notice));
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

/// A header list as a JSON object (sorted by name).
fn json_map(headers: &[(String, String)]) -> String {
    let m: BTreeMap<&str, &str> = headers
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    serde_json::to_string(&m).unwrap_or_default()
}

/// The error text of an attempt: the transport error, or what a non-2xx status means.
fn attempt_error(o: &Outcome) -> Option<String> {
    o.error
        .as_ref()
        .map(|e| e.message.clone())
        .or_else(|| match o.status {
            Some(s) if !(200..300).contains(&s) => Some(if (300..400).contains(&s) {
                format!("HTTP {s}: redirects are not followed; point the webhook at the final URL")
            } else {
                format!("HTTP {s}")
            }),
            _ => None,
        })
}

fn insert_attempt(
    c: &Connection,
    r: &Record,
    resp_headers: Option<String>,
    error: Option<String>,
) -> Result<(), DbError> {
    let o = &r.outcome;
    c.prepare_cached(
        "INSERT INTO attempts (delivery_id, attempt_number, started_at, duration_ms, request_headers, response_status,
             response_headers, response_body, error)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    )?
    .execute(params![
        r.delivery_id,
        r.attempt_number,
        r.started_at,
        o.duration_ms,
        r.request_headers_json,
        o.status,
        resp_headers,
        o.status.map(|_| o.response_body.as_slice()),
        error
    ])?;
    Ok(())
}

/// Writes an attempt and moves its delivery and webhook on. A healthy webhook's
/// `last_success_at` is rewritten at most once a second, so a busy webhook does not dirty
/// its row on every delivery (nor more than once per batch: `touched` lists the webhooks this
/// batch already marked healthy). A delivery that failed for good, or a webhook disabled,
/// stores its notice in the same write (see [`crate::notify::enqueue`]); returns whether one
/// now waits for the notifier.
fn record(c: &Connection, r: Record, rules: &RecordRules, touched: &mut Vec<i64>) -> RecordResult {
    let now = now_ms();
    let o = &r.outcome;
    let resp_headers = r.response_headers_json.clone();
    let error = r.error.clone();
    if o.is_success() {
        let updated = c.prepare_cached(
            "UPDATE deliveries SET status = 'succeeded', attempt_count = ?2, next_attempt_at = NULL, lease_until = NULL,
                 last_status_code = ?3, last_duration_ms = ?4, last_error = NULL, updated_at = ?5 WHERE id = ?1",
        )?
        .execute(params![r.delivery_id, r.attempt_number, o.status, o.duration_ms, now])?;
        if updated == 0 {
            return Ok(false); // deleted with its webhook meanwhile
        }
        insert_attempt(c, &r, resp_headers, error)?;
        if touched.contains(&r.webhook_id) {
            return Ok(false);
        }
        touched.push(r.webhook_id);
        c.prepare_cached("UPDATE webhooks SET last_success_at = ?2, failure_count = 0, failing_since = NULL WHERE id = ?1
               AND (failure_count != 0 OR failing_since IS NOT NULL OR last_success_at IS NULL OR last_success_at < ?2 - 1000)")?
            .execute(params![r.webhook_id, now])?;
        return Ok(false);
    }
    // A failure: schedule the next attempt, or give up.
    let gone = o.status == Some(410);
    let next = if gone || r.final_attempt {
        None
    } else {
        retry::next_delay(
            &r.retry_schedule,
            r.attempt_number,
            o.retry_after,
            &mut rand::thread_rng(),
        )
        .map(|d| now + d.as_millis() as i64)
    };
    let status = if next.is_some() { "retrying" } else { "failed" };
    if next.is_none() {
        crate::metrics::global()
            .deliveries
            .get_or_create(&crate::metrics::OutcomeLabel { outcome: "failed" })
            .inc();
    }
    let updated = c.prepare_cached(
        "UPDATE deliveries SET status = ?2, attempt_count = ?3, next_attempt_at = ?4, lease_until = NULL,
             last_status_code = ?5, last_duration_ms = ?6, last_error = ?7, updated_at = ?8 WHERE id = ?1",
    )?
    .execute(params![r.delivery_id, status, r.attempt_number, next, o.status, o.duration_ms, error, now])?;
    if updated == 0 {
        return Ok(false); // deleted with its webhook meanwhile
    }
    insert_attempt(c, &r, resp_headers, error)?;
    // A failure after a success in the same batch: the success's mark must not stand alone.
    touched.retain(|&w| w != r.webhook_id);
    c.prepare_cached(
        "UPDATE webhooks SET last_failure_at = ?2, failure_count = failure_count + 1, failing_since = coalesce(failing_since, ?2)
         WHERE id = ?1",
    )?
    .execute(params![r.webhook_id, now])?;
    let failing_since: Option<i64> = c
        .query_row(
            "SELECT failing_since FROM webhooks WHERE id = ?1",
            [r.webhook_id],
            |r| r.get(0),
        )
        .optional()?
        .flatten();
    let reason = retry::disable_reason(gone, failing_since, now, rules.auto_disable_after_ms);
    let mut kind = None;
    if let Some(reason) = &reason {
        let n = c.execute(
            "UPDATE webhooks SET is_active = 0, disabled_at = ?2, disabled_reason = ?3, updated_at = ?2 WHERE id = ?1 AND is_active = 1",
            params![r.webhook_id, now, reason],
        )?;
        if n == 1 {
            tracing::warn!(webhook_id = r.webhook_id, %reason, "webhook disabled");
            kind = Some(crate::notify::NoticeKind::WebhookDisabled);
            crate::metrics::global().webhooks_disabled.inc();
        }
    }
    if kind.is_none() && next.is_none() && !r.final_attempt {
        kind = Some(crate::notify::NoticeKind::DeliveryFailed);
    }
    let Some(kind) = kind else { return Ok(false) };
    let last_error = r
        .error
        .clone()
        .unwrap_or_else(|| format!("HTTP {}", o.status.unwrap_or(0)));
    let disabled_reason = reason.filter(|_| kind == crate::notify::NoticeKind::WebhookDisabled);
    crate::notify::enqueue(
        c,
        &rules.notices,
        kind,
        r.webhook_id,
        r.delivery_id,
        &last_error,
        disabled_reason,
        now,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seed(c: &Connection, webhooks: i64, per_webhook: i64, due: i64) {
        c.execute_batch(
            "INSERT INTO workspaces (id, slug, name, created_at) VALUES (1, 'a', 'a', 0)",
        )
        .unwrap();
        for w in 1..=webhooks {
            c.execute(
                "INSERT INTO webhooks (id, workspace_id, url, events, retry_schedule, retry_count, secret_enc, created_at, updated_at)
                 VALUES (?1, 1, 'https://x.io', '[\"*\"]', '[]', 0, x'00', 0, 0)",
                [w],
            )
            .unwrap();
            for _ in 0..per_webhook {
                c.execute("INSERT INTO events (public_id, workspace_id, type, body, created_at) VALUES (hex(randomblob(8)), 1, 't', '{}', 0)", [])
                    .unwrap();
                c.execute(
                    "INSERT INTO deliveries (workspace_id, webhook_id, event_id, event_type, status, next_attempt_at, created_at, updated_at)
                     VALUES (1, ?1, last_insert_rowid(), 't', 'pending', ?2, 0, 0)",
                    params![w, due],
                )
                .unwrap();
            }
        }
    }

    fn rules(auto_disable_after_ms: i64) -> RecordRules {
        RecordRules {
            auto_disable_after_ms,
            notices: crate::notify::NoticeSettings {
                public_url: "http://127.0.0.1".into(),
                smtp_configured: false,
                interval_ms: 3600 * 1000,
            },
        }
    }

    fn result(delivery_id: i64, status: u16) -> Record {
        Record {
            delivery_id,
            webhook_id: 1,
            retry_schedule: vec![60],
            attempt_number: 1,
            started_at: 0,
            request_headers_json: "{}".into(),
            response_headers_json: Some("{}".into()),
            error: (status >= 300).then(|| format!("HTTP {status}")),
            outcome: Outcome {
                status: Some(status),
                ..Outcome::default()
            },
            final_attempt: false,
        }
    }

    #[test]
    fn a_batch_marks_webhook_health_in_arrival_order() {
        let dir = tempfile::tempdir().unwrap();
        let c = crate::db::open_and_migrate(dir.path()).unwrap();
        seed(&c, 1, 4, 1000);
        let health = |c: &Connection| -> (i64, Option<i64>, Option<i64>) {
            c.query_row(
                "SELECT failure_count, failing_since, last_success_at FROM webhooks WHERE id = 1",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .unwrap()
        };
        let day = 24 * 3600 * 1000;
        // Success, failure, success in one batch: the last success clears the failure,
        // although the first one already marked the webhook healthy in this batch.
        let mut touched = Vec::new();
        for r in [result(1, 200), result(2, 500), result(3, 204)] {
            record(&c, r, &rules(day), &mut touched).unwrap();
        }
        let (failures, since, success) = health(&c);
        assert_eq!((failures, since), (0, None));
        assert!(success.is_some());
        // Success then failure: the failure stands.
        let mut touched = Vec::new();
        record(&c, result(4, 200), &rules(day), &mut touched).unwrap();
        record(&c, result(1, 503), &rules(day), &mut touched).unwrap();
        let (failures, since, _) = health(&c);
        assert_eq!(failures, 1);
        assert!(since.is_some());
    }

    #[test]
    fn the_queue_reads_its_partial_indexes_and_leases_move_rows_between_them() {
        let dir = tempfile::tempdir().unwrap();
        let c = crate::db::open_and_migrate(dir.path()).unwrap();
        seed(&c, 1, 3, 1000);
        let plan = |sql: &str, n: usize| -> String {
            let params: Vec<i64> = vec![1; n];
            c.prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
                .unwrap()
                .query_map(rusqlite::params_from_iter(params), |r| {
                    r.get::<_, String>(3)
                })
                .unwrap()
                .map(Result::unwrap)
                .collect::<Vec<_>>()
                .join("; ")
        };
        for (sql, n) in [(CLAIM_PICK, 4), (CLAIM_EARLIEST, 1)] {
            let p = plan(sql, n);
            assert!(
                p.contains("USING INDEX deliveries_due") && !p.contains("SCAN deliveries"),
                "{p}"
            );
        }
        let p = plan(
            "UPDATE deliveries SET lease_until = NULL WHERE lease_until IS NOT NULL",
            0,
        );
        assert!(p.contains("deliveries_leased"), "{p}");
        // (rows in deliveries_due, rows in deliveries_leased)
        let in_indexes = || -> (i64, i64) {
            let count = |index: &str, condition: &str| -> i64 {
                c.query_row(
                    &format!(
                        "SELECT count(*) FROM deliveries INDEXED BY {index} WHERE {condition}"
                    ),
                    [],
                    |r| r.get(0),
                )
                .unwrap()
            };
            (
                count(
                    "deliveries_due",
                    "next_attempt_at IS NOT NULL AND lease_until IS NULL",
                ),
                count("deliveries_leased", "lease_until IS NOT NULL"),
            )
        };
        // Two claimed: they leave the due index for the leased one, and count as in flight.
        let jobs = claim(&c, 5000, 2, 2, &HashMap::new(), 0, &HashMap::new())
            .unwrap()
            .jobs;
        assert_eq!(jobs.len(), 2);
        assert_eq!(in_indexes(), (1, 2));
        crate::metrics::refresh_queue(&c, 5000).unwrap();
        let m = crate::metrics::global();
        assert_eq!((m.queue_in_flight.get(), m.queue_due.get()), (2, 1));
        // One succeeds (gone from both), one fails with a retry left (due again later).
        let mut touched = Vec::new();
        record(
            &c,
            result(jobs[0].delivery_id, 200),
            &rules(1 << 40),
            &mut touched,
        )
        .unwrap();
        record(
            &c,
            result(jobs[1].delivery_id, 500),
            &rules(1 << 40),
            &mut touched,
        )
        .unwrap();
        assert_eq!(in_indexes(), (2, 0));
        let later = now_ms() + 2 * 3600 * 1000; // past the retry, whatever its jitter
        let again = claim(&c, later, 10, 10, &HashMap::new(), 0, &HashMap::new())
            .unwrap()
            .jobs;
        assert_eq!(again.len(), 2, "the retry and the unclaimed one");
    }

    #[test]
    fn claims_respect_limits_and_rotate_between_webhooks() {
        let dir = tempfile::tempdir().unwrap();
        let c = crate::db::open_and_migrate(dir.path()).unwrap();
        seed(&c, 3, 10, 1000);
        let owners = |claims: &[Job]| claims.iter().map(|c| c.webhook_id).collect::<Vec<_>>();
        // Per-webhook limit 2, global 4: two webhooks get two each, starting where told.
        let r = claim(&c, 5000, 4, 2, &HashMap::new(), 0, &HashMap::new()).unwrap();
        assert_eq!(r.changed.len(), 3, "unknown webhooks come with their rows");
        assert_eq!(
            &r.jobs[0].body[..],
            b"{}",
            "the event body comes with the claim"
        );
        let known: HashMap<i64, i64> = r.active.iter().copied().collect();
        let (claims, next) = (r.jobs, r.next_due);
        assert_eq!(owners(&claims), vec![1, 1, 2, 2]);
        let again = claim(&c, 5000, 1, 1, &HashMap::new(), 0, &known).unwrap();
        assert!(
            again.changed.is_empty(),
            "known versions are not sent again"
        );
        assert_eq!(
            next,
            Some(6000),
            "due work left behind is looked at again soon"
        );
        let claims = claim(&c, 5000, 4, 2, &HashMap::new(), 2, &HashMap::new())
            .unwrap()
            .jobs;
        assert_eq!(owners(&claims), vec![3, 3, 1, 1]);
        // What is in flight counts against the per-webhook limit; leased rows are not reclaimed.
        let busy = HashMap::from([(2, 2usize)]);
        let claims = claim(&c, 5000, 10, 2, &busy, 1, &HashMap::new())
            .unwrap()
            .jobs;
        assert_eq!(owners(&claims), vec![3, 3, 1, 1]);
        // Nothing due yet: no claims, and the timer is set for the earliest due time.
        let dir2 = tempfile::tempdir().unwrap();
        let c2 = crate::db::open_and_migrate(dir2.path()).unwrap();
        seed(&c2, 1, 1, 9000);
        let r = claim(&c2, 5000, 4, 2, &HashMap::new(), 0, &HashMap::new()).unwrap();
        let (claims, next) = (r.jobs, r.next_due);
        assert!(claims.is_empty());
        assert_eq!(next, Some(9000));
    }
}
