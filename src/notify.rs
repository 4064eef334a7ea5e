//! Notification email (seed 001): the webhook's `notification_email` is told when a delivery
//! fails for good and when the webhook is disabled, at most once an hour per webhook. Every
//! notice is also stored (table `notifications`) and logged, so it is visible without SMTP.
//!
//! Notices are deferred, never dropped. The recorder stores each one in the same transaction
//! as the attempt that caused it (`db::notices::enqueue`), due at once or when the webhook's hour is over
//! (more of the same kind meanwhile are counted in the waiting one);
//! the [`Notifier`] task emails what is due, one email per webhook (several waiting notices
//! become one digest, the disable notice first), and retries a failed send a few times.

use std::sync::Arc;
use std::time::Duration;

use lettre::message::Mailbox;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use crate::config::Config;
use crate::domain::notice::NoticeKind;
use crate::store::types::Waiting;
use crate::store::{Store, StoreError};

/// One email for the waiting notices of one webhook: the notice itself when there is one,
/// else a digest with the disable notice first. `repeats` notices folded into a waiting one
/// are counted in it.
pub fn compose(waiting: &[Waiting]) -> (String, String) {
    let mut items: Vec<&Waiting> = waiting.iter().collect();
    items.sort_by_key(|n| (n.kind != NoticeKind::WebhookDisabled.as_str(), n.id));
    let more = |n: &Waiting| match n.repeats {
        0 => String::new(),
        1 => "\n(1 more notice like this one came in while this email waited.)\n".to_string(),
        r => format!("\n({r} more notices like this one came in while this email waited.)\n"),
    };
    if let [one] = items.as_slice() {
        return (one.subject.clone(), format!("{}{}", one.body, more(one)));
    }
    let subject = format!(
        "[Hookline] {} notices: {}",
        items.len(),
        items
            .iter()
            .map(|n| n.subject.trim_start_matches("[Hookline] "))
            .collect::<Vec<_>>()
            .join("; ")
    );
    let body = items
        .iter()
        .map(|n| format!("{}\n\n{}{}", n.subject, n.body, more(n)))
        .collect::<Vec<_>>()
        .join("\n----------------------------------------\n\n");
    (subject, body)
}

/// Sends failed at most this often before the notice keeps its error and stops waiting.
const SEND_ATTEMPTS: i64 = 5;

/// The background task that emails due notices.
pub struct Notifier {
    wake: Arc<tokio::sync::Notify>,
    stop: Arc<tokio::sync::Notify>,
    task: tokio::task::JoinHandle<()>,
}

impl Notifier {
    pub fn spawn(store: Store, mailer: Mailer, interval_ms: i64) -> Notifier {
        let wake = Arc::new(tokio::sync::Notify::new());
        let stop = Arc::new(tokio::sync::Notify::new());
        let (w, s) = (wake.clone(), stop.clone());
        let mut lead = store.lead(crate::store::lead::Role::Notifier);
        let task = tokio::spawn(async move {
            loop {
                // One node of a cluster emails (always this one on SQLite).
                if !lead.holds() {
                    tokio::select! {
                        _ = lead.acquired() => {}
                        _ = s.notified() => break,
                    }
                }
                let now = crate::clock::now_ms();
                let wait = match send_due(&store, &mailer, interval_ms, now).await {
                    Ok(Some(next)) => Duration::from_millis(
                        (next - crate::clock::now_ms()).clamp(10, 60_000) as u64,
                    ),
                    Ok(None) => Duration::from_secs(60),
                    Err(e) => {
                        tracing::warn!(error = %e, "sending notifications failed; retrying shortly");
                        Duration::from_secs(5)
                    }
                };
                tokio::select! {
                    _ = w.notified() => {}
                    _ = s.notified() => break,
                    _ = tokio::time::sleep(wait) => {}
                }
            }
        });
        Notifier { wake, stop, task }
    }

    /// What to notify when a notice was stored.
    pub fn waker(&self) -> Arc<tokio::sync::Notify> {
        self.wake.clone()
    }

    /// Stops after the email being sent, if any. Waiting notices stay stored for the next start.
    pub async fn shutdown(self) {
        self.stop.notify_one();
        let _ = self.task.await;
    }
}

/// Emails every due notice, one email per webhook; returns when the next one falls due.
async fn send_due(
    store: &Store,
    mailer: &Mailer,
    interval_ms: i64,
    now: i64,
) -> Result<Option<i64>, StoreError> {
    let due = store.notices_due(now).await?;
    let mut start = 0;
    while start < due.len() {
        let wid = due[start].webhook_id;
        let end = start
            + due[start..]
                .iter()
                .take_while(|n| n.webhook_id == wid)
                .count();
        let group = due[start..end].to_vec();
        start = end;
        let ids: Vec<i64> = group.iter().map(|n| n.id).collect();
        let sent: Vec<(i64, i64)> = group.iter().map(|n| (n.id, n.repeats)).collect();
        if let Some(last) = group[0].last_notified_at.filter(|t| t + interval_ms > now) {
            let at = last + interval_ms;
            store.notices_postpone(ids, at).await?;
            continue;
        }
        let Some(to) = group.iter().find_map(|n| n.recipient.clone()) else {
            store
                .notices_mark_failed(ids, "not sent: no recipient".into(), None)
                .await?;
            continue;
        };
        let (subject, body) = compose(&group);
        let result = mailer.send(&to, &subject, body).await;
        let now = crate::clock::now_ms();
        match result {
            Ok(()) => {
                tracing::info!(
                    webhook_id = wid,
                    notices = group.len(),
                    "notification email sent"
                );
                store.notices_mark_sent(wid, sent, now).await?;
            }
            Err(e) => {
                let tries = group.iter().map(|n| n.send_attempts).max().unwrap_or(0) + 1;
                let retry_at = (tries < SEND_ATTEMPTS).then(|| now + 60_000 * tries * tries);
                tracing::warn!(webhook_id = wid, error = %e, tries, "notification email failed{}", if retry_at.is_some() { "; will retry" } else { "; giving up" });
                store.notices_mark_failed(ids, e, retry_at).await?;
            }
        }
    }
    store.notices_next_due().await
}

/// Sends notices over SMTP when `HOOKLINE_SMTP_URL` is set.
#[derive(Clone)]
pub struct Mailer {
    transport: Option<AsyncSmtpTransport<Tokio1Executor>>,
    from: Mailbox,
    pub public_url: String,
    /// `HOOKLINE_BRAND_NAME`: the sender's name and the subject's tag.
    pub brand: String,
}

impl Mailer {
    pub fn new(config: &Config, public_url: &str) -> anyhow::Result<Mailer> {
        let transport = match &config.smtp_url {
            None => None,
            Some(u) => Some(
                AsyncSmtpTransport::<Tokio1Executor>::from_url(u.as_str())
                    .map_err(|e| anyhow::anyhow!("HOOKLINE_SMTP_URL: {e}"))?
                    .timeout(Some(std::time::Duration::from_secs(20)))
                    .build(),
            ),
        };
        let from = match &config.smtp_from {
            Some(f) => f.clone(),
            None => {
                let host = url::Url::parse(public_url)
                    .ok()
                    .and_then(|u| u.host_str().map(str::to_string))
                    .unwrap_or_default();
                let host = if host.contains('.') {
                    host
                } else {
                    "localhost.localdomain".into()
                };
                format!("hookline@{host}")
            }
        };
        let brand = config.brand.name.clone();
        let from = Mailbox::new(
            Some(brand.clone()),
            from.parse()
                .map_err(|e| anyhow::anyhow!("HOOKLINE_SMTP_FROM: {e}"))?,
        );
        Ok(Mailer {
            transport,
            from,
            public_url: public_url.to_string(),
            brand,
        })
    }

    pub fn configured(&self) -> bool {
        self.transport.is_some()
    }

    /// Sends one email. `Err` carries a message for the notification record. Subjects are
    /// written with the product's tag `[Hookline]`; the brand's name replaces it here.
    pub async fn send(&self, to: &str, subject: &str, body: String) -> Result<(), String> {
        let Some(t) = &self.transport else {
            return Err("not sent: HOOKLINE_SMTP_URL is not configured".into());
        };
        let branded;
        let subject = match subject.strip_prefix("[Hookline]") {
            Some(rest) if self.brand != crate::brand::DEFAULT_NAME => {
                branded = format!("[{}]{rest}", self.brand);
                branded.as_str()
            }
            _ => subject,
        };
        let to: Mailbox = to.parse().map_err(|e| format!("bad recipient {to}: {e}"))?;
        let msg = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(subject)
            .body(body)
            .map_err(|e| format!("building the email: {e}"))?;
        t.send(msg)
            .await
            .map(|_| ())
            .map_err(|e| format!("SMTP: {e}"))
    }
}
