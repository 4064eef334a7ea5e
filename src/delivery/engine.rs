//! The delivery engine: turns committed deliveries into signed POSTs until they succeed or
//! their schedule runs out, and records every attempt.
//!
//! SQLite is the queue. A dispatcher claims due deliveries per active webhook (index
//! `deliveries_due (webhook_id, next_attempt_at)`), never more than the global and the
//! per-webhook limits, so one slow or dead receiver only ever holds its own slots. A claimed
//! delivery carries a lease; at start every lease is dropped, so work in flight at a crash is
//! attempted again (at-least-once). Results are written through the group-commit writer.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand::Rng;
use rusqlite::{params, Connection, OptionalExtension};
use tokio::sync::{mpsc, Notify};

use super::http::{Outcome, OutgoingRequest, Sender};
use super::sign;
use crate::clock::now_ms;
use crate::crypto::SecretBox;
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
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            max_in_flight: 256,
            max_in_flight_per_webhook: 16,
            signature_header: "X-Hookline-Signature".into(),
            auto_disable_after_ms: 5 * 24 * 3600 * 1000,
            shutdown_grace: Duration::from_secs(30),
        }
    }
}

struct Shared {
    db: Db,
    sender: Sender,
    mailer: crate::notify::Mailer,
    secrets: SecretBox,
    config: EngineConfig,
    wake: Arc<Notify>,
    stopping: AtomicBool,
    /// Attempts in flight per webhook.
    in_flight: Mutex<HashMap<i64, usize>>,
}

/// Handle to the running engine.
#[derive(Clone)]
pub struct Engine {
    shared: Arc<Shared>,
    done: Arc<Notify>,
    finished: Arc<AtomicBool>,
}

/// A claimed delivery.
#[derive(Debug, Clone)]
struct Claim {
    delivery_id: i64,
    webhook_id: i64,
    event_id: i64,
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
        let shared = Arc::new(Shared {
            db,
            sender,
            mailer,
            secrets,
            config,
            wake,
            stopping: AtomicBool::new(false),
            in_flight: Mutex::new(HashMap::new()),
        });
        let engine = Engine {
            shared: shared.clone(),
            done: Arc::new(Notify::new()),
            finished: Arc::new(AtomicBool::new(false)),
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
    }

    /// Sends one attempt of `delivery_id` now, outside the queue (Send Test), and records it.
    pub async fn attempt_now(
        &self,
        delivery_id: i64,
        webhook_id: i64,
        event_id: i64,
    ) -> Result<AttemptSummary, DbError> {
        attempt(
            &self.shared,
            Claim {
                delivery_id,
                webhook_id,
                event_id,
            },
            true,
        )
        .await
    }
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

async fn dispatch(shared: Arc<Shared>) {
    let (done_tx, mut done_rx) = mpsc::unbounded_channel::<i64>();
    let mut total_in_flight = 0usize;
    let mut round = 0usize;
    loop {
        if shared.stopping.load(Ordering::SeqCst) {
            break;
        }
        // Room per webhook, given what is in flight.
        let free_total = shared.config.max_in_flight.saturating_sub(total_in_flight);
        let mut next_due: Option<i64> = None;
        if free_total > 0 {
            let busy: HashMap<i64, usize> = shared.in_flight.lock().unwrap().clone();
            let per = shared.config.max_in_flight_per_webhook;
            // Start each round at another webhook, so a saturated global limit is shared
            // fairly instead of always going to the lowest ids.
            round = round.wrapping_add(1);
            let start = round;
            let result = shared
                .db
                .write(move |c| claim(c, now_ms(), free_total, per, &busy, start))
                .await;
            match result {
                Ok((claims, due)) => {
                    next_due = due;
                    for cl in claims {
                        total_in_flight += 1;
                        *shared
                            .in_flight
                            .lock()
                            .unwrap()
                            .entry(cl.webhook_id)
                            .or_default() += 1;
                        let s = shared.clone();
                        let tx = done_tx.clone();
                        tokio::spawn(async move {
                            let wid = cl.webhook_id;
                            if let Err(e) = attempt(&s, cl, false).await {
                                tracing::error!(error = %e, "recording an attempt failed; it will be retried after restart");
                            }
                            let _ = tx.send(wid);
                        });
                    }
                }
                Err(e) => {
                    tracing::error!(error = %e, "claiming deliveries failed; retrying shortly");
                    next_due = Some(now_ms() + 1000);
                }
            }
        }
        // Sleep until something is due, new work arrives, or a slot frees up.
        let sleep_ms = match next_due {
            Some(t) => (t - now_ms()).clamp(0, 60_000),
            None => 60_000,
        };
        tokio::select! {
            _ = shared.wake.notified() => {}
            Some(wid) = done_rx.recv() => {
                total_in_flight -= 1;
                release(&shared, wid);
            }
            _ = tokio::time::sleep(Duration::from_millis(sleep_ms.max(1) as u64)) => {}
        }
        while let Ok(wid) = done_rx.try_recv() {
            total_in_flight -= 1;
            release(&shared, wid);
        }
    }
    // Shutdown: let attempts in flight finish, bounded.
    let deadline = tokio::time::Instant::now() + shared.config.shutdown_grace;
    while total_in_flight > 0 {
        match tokio::time::timeout_at(deadline, done_rx.recv()).await {
            Ok(Some(_)) => total_in_flight -= 1,
            _ => break,
        }
    }
    if total_in_flight > 0 {
        tracing::warn!(
            total_in_flight,
            "stopped with attempts still in flight; they will be sent again after restart"
        );
    }
}

fn release(shared: &Shared, webhook_id: i64) {
    let mut m = shared.in_flight.lock().unwrap();
    if let Some(n) = m.get_mut(&webhook_id) {
        *n -= 1;
        if *n == 0 {
            m.remove(&webhook_id);
        }
    }
}

/// Claims due deliveries, at most `free_total` in all and `per` per webhook (minus what is
/// in flight). Returns the claims and the earliest future due time of unclaimed work.
fn claim(
    c: &Connection,
    now: i64,
    free_total: usize,
    per: usize,
    busy: &HashMap<i64, usize>,
    start: usize,
) -> Result<(Vec<Claim>, Option<i64>), DbError> {
    let mut claims = Vec::new();
    let mut next_due: Option<i64> = None;
    let webhooks: Vec<i64> = c
        .prepare_cached("SELECT id FROM webhooks WHERE is_active = 1")?
        .query_map([], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    let lease_until = now + 10 * 60 * 1000;
    let mut pick = c.prepare_cached(
        "UPDATE deliveries SET lease_until = ?3 WHERE id IN (
            SELECT id FROM deliveries WHERE webhook_id = ?1 AND next_attempt_at <= ?2 AND lease_until IS NULL
            ORDER BY next_attempt_at LIMIT ?4)
         RETURNING id, webhook_id, event_id",
    )?;
    let mut earliest = c.prepare_cached(
        "SELECT min(next_attempt_at) FROM deliveries WHERE webhook_id = ?1 AND next_attempt_at IS NOT NULL AND lease_until IS NULL",
    )?;
    let n = webhooks.len();
    for i in 0..n {
        let wid = webhooks[(start + i) % n];
        let room = per
            .saturating_sub(busy.get(&wid).copied().unwrap_or(0))
            .min(free_total - claims.len());
        if room > 0 {
            let got = pick
                .query_map(params![wid, now, lease_until, room as i64], |r| {
                    Ok(Claim {
                        delivery_id: r.get(0)?,
                        webhook_id: r.get(1)?,
                        event_id: r.get(2)?,
                    })
                })?
                .collect::<Result<Vec<_>, _>>()?;
            claims.extend(got);
        }
        let due: Option<i64> = earliest
            .query_row([wid], |r| r.get(0))
            .optional()?
            .flatten();
        if let Some(d) = due {
            // Due-now work left behind (webhook at its limit) waits for a slot to free up,
            // which wakes the dispatcher; only future work sets the timer.
            let d = if d <= now { now + 1000 } else { d };
            next_due = Some(next_due.map_or(d, |n: i64| n.min(d)));
        }
        if claims.len() >= free_total {
            break;
        }
    }
    Ok((claims, next_due))
}

/// Everything needed to send one attempt, read in one go.
struct Prepared {
    webhook: WebhookRow,
    event_public_id: String,
    event_type: String,
    body: String,
    attempt_count: i64,
}

async fn attempt(
    shared: &Shared,
    cl: Claim,
    final_attempt: bool,
) -> Result<AttemptSummary, DbError> {
    let (did, wid, eid) = (cl.delivery_id, cl.webhook_id, cl.event_id);
    let prepared = shared
        .db
        .read(move |c| {
            let Some(webhook) = hooks::get_webhook_any(c, wid)? else {
                return Ok(None);
            };
            let ev: Option<(String, String, String)> = c
                .query_row(
                    "SELECT public_id, type, body FROM events WHERE id = ?1",
                    [eid],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
                )
                .optional()?;
            let Some((event_public_id, event_type, body)) = ev else {
                return Ok(None);
            };
            let attempt_count: i64 = c.query_row(
                "SELECT attempt_count FROM deliveries WHERE id = ?1",
                [did],
                |r| r.get(0),
            )?;
            Ok(Some(Prepared {
                webhook,
                event_public_id,
                event_type,
                body,
                attempt_count,
            }))
        })
        .await?;
    let Some(p) = prepared else {
        // The webhook or event was deleted meanwhile: nothing to send.
        shared.db.write(move |c| Ok(c.execute("UPDATE deliveries SET lease_until = NULL, next_attempt_at = NULL WHERE id = ?1", [did])?)).await?;
        return Ok(AttemptSummary {
            delivery_id: did,
            success: false,
            response_status: None,
            duration_ms: 0,
            error: Some("webhook or event deleted".into()),
            response_body: String::new(),
        });
    };

    let started_at = now_ms();
    let headers = build_headers(shared, &p, did, started_at / 1000)?;
    let outcome = match url::Url::parse(&p.webhook.url) {
        Ok(url) => {
            shared
                .sender
                .send(OutgoingRequest {
                    url,
                    headers: headers.clone(),
                    body: bytes::Bytes::from(p.body.clone()),
                    timeout: Duration::from_secs(p.webhook.timeout_seconds as u64),
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
    let summary = AttemptSummary {
        delivery_id: did,
        success: outcome.is_success(),
        response_status: outcome.status,
        duration_ms: outcome.duration_ms,
        error: outcome.error.as_ref().map(|e| e.message.clone()),
        response_body: String::from_utf8_lossy(&outcome.response_body).into_owned(),
    };
    let cfg = shared.config.auto_disable_after_ms;
    let (webhook_id, webhook_name, webhook_url, email) = (
        p.webhook.id,
        p.webhook.name.clone(),
        p.webhook.url.clone(),
        p.webhook.notification_email.clone(),
    );
    let rec = Record {
        delivery_id: did,
        webhook: p.webhook,
        attempt_number: p.attempt_count + 1,
        started_at,
        headers,
        outcome,
        final_attempt,
    };
    let notice = shared.db.write(move |c| record(c, rec, cfg)).await?;
    if let Some((kind, disabled_reason)) = notice {
        let notice = crate::notify::Notice {
            kind,
            webhook_id,
            webhook_name,
            webhook_url,
            workspace_slug: String::new(),
            event_id: p.event_public_id,
            event_type: p.event_type,
            delivery_id: did,
            last_error: summary
                .error
                .clone()
                .unwrap_or_else(|| format!("HTTP {}", summary.response_status.unwrap_or(0))),
            disabled_reason,
        };
        notify(shared, notice, email).await?;
    }
    Ok(summary)
}

fn build_headers(
    shared: &Shared,
    p: &Prepared,
    delivery_id: i64,
    ts: i64,
) -> Result<Vec<(String, String)>, DbError> {
    let current = sign::Secret::parse_any_length(&shared.secrets.open(&p.webhook.secret_enc)?)
        .map_err(|e| DbError::Sqlite(format!("stored secret unusable: {e}")))?;
    let previous = match (
        &p.webhook.previous_secret_enc,
        p.webhook.previous_secret_expires_at,
    ) {
        (Some(enc), Some(exp)) if exp > now_ms() => {
            sign::Secret::parse_any_length(&shared.secrets.open(enc)?).ok()
        }
        _ => None,
    };
    let body = p.body.as_bytes();
    let mut secrets = vec![&current];
    if let Some(prev) = &previous {
        secrets.push(prev);
    }
    let mut h = vec![
        ("content-type".to_string(), "application/json".to_string()),
        (
            "user-agent".to_string(),
            format!("Hookline/{}", crate::VERSION),
        ),
        ("webhook-id".to_string(), p.event_public_id.clone()),
        ("webhook-timestamp".to_string(), ts.to_string()),
        (
            "webhook-signature".to_string(),
            sign::signature_header(&secrets, &p.event_public_id, ts, body),
        ),
        (
            shared.config.signature_header.clone(),
            sign::hex_signature(current.as_str(), body),
        ),
        ("X-Hookline-Event".to_string(), p.event_type.clone()),
        ("X-Hookline-Delivery".to_string(), delivery_id.to_string()),
    ];
    for (k, v) in &p.webhook.headers {
        h.push((k.clone(), v.clone()));
    }
    Ok(h)
}

struct Record {
    delivery_id: i64,
    webhook: WebhookRow,
    attempt_number: i64,
    started_at: i64,
    headers: Vec<(String, String)>,
    outcome: Outcome,
    /// Send Test: one attempt, never retried.
    final_attempt: bool,
}

/// How often a webhook's owner may be emailed.
pub const NOTICE_INTERVAL_MS: i64 = 3600 * 1000;

/// Stores a notice, emails it when possible, and records how that went.
async fn notify(
    shared: &Shared,
    mut notice: crate::notify::Notice,
    email: Option<String>,
) -> Result<(), DbError> {
    let wid = notice.webhook_id;
    notice.workspace_slug = shared
        .db
        .read(move |c| {
            Ok(c.query_row("SELECT s.slug FROM webhooks w JOIN workspaces s ON s.id = w.workspace_id WHERE w.id = ?1", [wid], |r| r.get(0))
                .optional()?
                .unwrap_or_default())
        })
        .await?;
    let subject = notice.subject();
    let body = notice.body(&shared.mailer.public_url);
    let result = match &email {
        Some(to) => shared.mailer.send(to, &subject, body.clone()).await,
        None => Err("not sent: the webhook has no notification email".into()),
    };
    match &result {
        Ok(()) => tracing::info!(
            webhook_id = wid,
            kind = notice.kind.as_str(),
            "notification email sent"
        ),
        Err(e) => {
            tracing::warn!(webhook_id = wid, kind = notice.kind.as_str(), error = %e, subject = %subject, "notification not emailed")
        }
    }
    let (kind, now) = (notice.kind.as_str(), now_ms());
    shared
        .db
        .write(move |c| {
            c.execute(
                "INSERT INTO notifications (webhook_id, kind, recipient, subject, body, created_at, sent_at, error)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                params![wid, kind, email, subject, body, now, result.is_ok().then_some(now), result.err()],
            )?;
            Ok(())
        })
        .await
}

/// Writes an attempt and moves its delivery and webhook on. Returns the notice to send, if
/// one is due (a delivery failed for good, or the webhook was disabled) and the webhook's
/// owner was not told within the last hour.
fn record(
    c: &Connection,
    r: Record,
    auto_disable_after_ms: i64,
) -> Result<Option<(crate::notify::NoticeKind, Option<String>)>, DbError> {
    let now = now_ms();
    let o = &r.outcome;
    let req_headers: BTreeMap<&str, &str> = r
        .headers
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let resp_headers: Option<String> = o.status.map(|_| {
        let m: BTreeMap<&str, &str> = o
            .response_headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        serde_json::to_string(&m).unwrap_or_default()
    });
    let error = o
        .error
        .as_ref()
        .map(|e| e.message.clone())
        .or_else(|| match o.status {
            Some(s) if !(200..300).contains(&s) => Some(if (300..400).contains(&s) {
                format!("HTTP {s}: redirects are not followed; point the webhook at the final URL")
            } else {
                format!("HTTP {s}")
            }),
            _ => None,
        });
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
        serde_json::to_string(&req_headers)?,
        o.status,
        resp_headers,
        o.status.map(|_| o.response_body.as_slice()),
        error
    ])?;
    let w = &r.webhook;
    if o.is_success() {
        c.prepare_cached(
            "UPDATE deliveries SET status = 'succeeded', attempt_count = ?2, next_attempt_at = NULL, lease_until = NULL,
                 last_status_code = ?3, last_duration_ms = ?4, last_error = NULL, updated_at = ?5 WHERE id = ?1",
        )?
        .execute(params![r.delivery_id, r.attempt_number, o.status, o.duration_ms, now])?;
        c.prepare_cached("UPDATE webhooks SET last_success_at = ?2, failure_count = 0, failing_since = NULL WHERE id = ?1")?
            .execute(params![w.id, now])?;
        return Ok(None);
    }
    // A failure: schedule the next attempt, or give up.
    let schedule = &w.retry_schedule;
    let gone = o.status == Some(410);
    let retries_used = r.attempt_number - 1;
    let next = if gone || r.final_attempt {
        None
    } else {
        schedule.get(retries_used as usize).map(|&step| {
            let mut delay_ms = step as i64 * 1000;
            if let Some(ra) = o.retry_after {
                let max_step = *schedule.iter().max().unwrap_or(&step) as i64 * 1000;
                delay_ms = delay_ms.max((ra.as_millis() as i64).min(max_step));
            }
            let jitter = rand::thread_rng().gen_range(0..=delay_ms / 10);
            now + delay_ms + jitter
        })
    };
    let status = if next.is_some() { "retrying" } else { "failed" };
    c.prepare_cached(
        "UPDATE deliveries SET status = ?2, attempt_count = ?3, next_attempt_at = ?4, lease_until = NULL,
             last_status_code = ?5, last_duration_ms = ?6, last_error = ?7, updated_at = ?8 WHERE id = ?1",
    )?
    .execute(params![r.delivery_id, status, r.attempt_number, next, o.status, o.duration_ms, error, now])?;
    c.prepare_cached(
        "UPDATE webhooks SET last_failure_at = ?2, failure_count = failure_count + 1, failing_since = coalesce(failing_since, ?2)
         WHERE id = ?1",
    )?
    .execute(params![w.id, now])?;
    let failing_since: Option<i64> = c
        .query_row(
            "SELECT failing_since FROM webhooks WHERE id = ?1",
            [w.id],
            |r| r.get(0),
        )
        .optional()?
        .flatten();
    let reason = if gone {
        Some("the receiver answered 410 Gone".to_string())
    } else if failing_since.is_some_and(|t| now - t >= auto_disable_after_ms) {
        Some(format!(
            "every delivery failed for {} days",
            auto_disable_after_ms / (24 * 3600 * 1000)
        ))
    } else {
        None
    };
    let mut kind = None;
    if let Some(reason) = &reason {
        let n = c.execute(
            "UPDATE webhooks SET is_active = 0, disabled_at = ?2, disabled_reason = ?3, updated_at = ?2 WHERE id = ?1 AND is_active = 1",
            params![w.id, now, reason],
        )?;
        if n == 1 {
            tracing::warn!(webhook_id = w.id, %reason, "webhook disabled");
            kind = Some(crate::notify::NoticeKind::WebhookDisabled);
        }
    }
    if kind.is_none() && next.is_none() && !r.final_attempt {
        kind = Some(crate::notify::NoticeKind::DeliveryFailed);
    }
    let Some(kind) = kind else { return Ok(None) };
    // At most one notice an hour per webhook: claim the slot atomically with this record.
    let due = c.execute(
        "UPDATE webhooks SET last_notified_at = ?2 WHERE id = ?1 AND (last_notified_at IS NULL OR last_notified_at <= ?3)",
        params![w.id, now, now - NOTICE_INTERVAL_MS],
    )? == 1;
    Ok(due.then_some((
        kind,
        if kind == crate::notify::NoticeKind::WebhookDisabled {
            reason
        } else {
            None
        },
    )))
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

    #[test]
    fn claims_respect_limits_and_rotate_between_webhooks() {
        let dir = tempfile::tempdir().unwrap();
        let c = crate::db::open_and_migrate(dir.path()).unwrap();
        seed(&c, 3, 10, 1000);
        let owners = |claims: &[Claim]| claims.iter().map(|c| c.webhook_id).collect::<Vec<_>>();
        // Per-webhook limit 2, global 4: two webhooks get two each, starting where told.
        let (claims, next) = claim(&c, 5000, 4, 2, &HashMap::new(), 0).unwrap();
        assert_eq!(owners(&claims), vec![1, 1, 2, 2]);
        assert_eq!(
            next,
            Some(6000),
            "due work left behind is looked at again soon"
        );
        let (claims, _) = claim(&c, 5000, 4, 2, &HashMap::new(), 2).unwrap();
        assert_eq!(owners(&claims), vec![3, 3, 1, 1]);
        // What is in flight counts against the per-webhook limit; leased rows are not reclaimed.
        let busy = HashMap::from([(2, 2usize)]);
        let (claims, _) = claim(&c, 5000, 10, 2, &busy, 1).unwrap();
        assert_eq!(owners(&claims), vec![3, 3, 1, 1]);
        // Nothing due yet: no claims, and the timer is set for the earliest due time.
        let dir2 = tempfile::tempdir().unwrap();
        let c2 = crate::db::open_and_migrate(dir2.path()).unwrap();
        seed(&c2, 1, 1, 9000);
        let (claims, next) = claim(&c2, 5000, 4, 2, &HashMap::new(), 0).unwrap();
        assert!(claims.is_empty());
        assert_eq!(next, Some(9000));
    }
}
