//! One attempt: sign a claimed delivery at send time and POST it, then say what it came to
//! (for the queue to record, and for Send Test to show). Nothing here touches the database.

use std::time::Duration;

use super::http::{Outcome, OutgoingRequest, Sender};
use super::retry;
use super::sign;
use crate::clock::now_ms;
use crate::crypto::{CryptoError, SecretBox};
use crate::domain::WebhookSecret;
use crate::store::types::{AttemptResult, Claimed, WebhookRow};

/// A webhook as the engine uses it: its row and its opened secrets, cached by `updated_at`.
pub struct ActiveWebhook {
    pub row: WebhookRow,
    /// The row's URL, parsed once per version rather than once per attempt.
    url: Result<url::Url, url::ParseError>,
    current: WebhookSecret,
    /// The rotated-out secret and until when it still signs.
    previous: Option<(WebhookSecret, i64)>,
}

impl ActiveWebhook {
    /// Opens the row's secrets (and parses its URL) once per version of the webhook.
    pub fn open(secrets: &SecretBox, row: WebhookRow) -> Result<ActiveWebhook, CryptoError> {
        let unusable = CryptoError::Unusable;
        let current =
            WebhookSecret::parse_any_length(&secrets.open(&row.secret_enc)?).map_err(unusable)?;
        let previous = match (&row.previous_secret_enc, row.previous_secret_expires_at) {
            (Some(enc), Some(exp)) if exp > now_ms() => Some((
                WebhookSecret::parse_any_length(&secrets.open(enc)?).map_err(unusable)?,
                exp,
            )),
            _ => None,
        };
        Ok(ActiveWebhook {
            url: url::Url::parse(&row.url),
            row,
            current,
            previous,
        })
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

/// Makes attempts: the sender and how to sign.
pub struct Attempter {
    sender: Sender,
    /// The name of the hex signature header (`HOOKLINE_SIGNATURE_HEADER`).
    signature_header: String,
    /// `Hookline/<version>`, made once.
    user_agent: String,
}

impl Attempter {
    pub fn new(sender: Sender, signature_header: String) -> Attempter {
        Attempter {
            sender,
            signature_header,
            user_agent: format!("Hookline/{}", crate::VERSION),
        }
    }

    /// Signs `job` now and sends it to `hook`. `slot` hears (with the webhook's id) as soon
    /// as the HTTP exchange is over, before anything is recorded.
    pub async fn attempt(
        &self,
        hook: &ActiveWebhook,
        job: Claimed,
        final_attempt: bool,
        slot: Option<tokio::sync::mpsc::UnboundedSender<i64>>,
    ) -> (AttemptResult, AttemptSummary) {
        let started_at = now_ms();
        let headers = self.headers(hook, &job, started_at / 1000);
        // Serialised here, off the writer thread, so the headers can move into the request.
        let request_headers_json = json_map(&headers);
        let outcome = match &hook.url {
            Ok(url) => {
                self.sender
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
        observe(&job, &outcome);
        let summary = AttemptSummary {
            delivery_id: job.delivery_id,
            success: outcome.is_success(),
            response_status: outcome.status,
            duration_ms: outcome.duration_ms,
            error: outcome.error.as_ref().map(|e| e.message.clone()),
            response_body: String::from_utf8_lossy(&outcome.response_body).into_owned(),
        };
        let attempt_number = job.attempt_count + 1;
        let success = outcome.is_success();
        // After a failure, the next attempt from the webhook's schedule and the receiver's
        // Retry-After; none after 410 Gone or Send Test.
        let next_attempt_at = (!success && !final_attempt && outcome.status != Some(410))
            .then(|| {
                retry::next_delay(
                    &hook.row.retry_schedule,
                    attempt_number,
                    outcome.retry_after,
                    &mut rand::thread_rng(),
                )
            })
            .flatten()
            .map(|d| now_ms() + d.as_millis() as i64);
        let result = AttemptResult {
            delivery_id: job.delivery_id,
            webhook_id: hook.row.id,
            attempt_number,
            started_at,
            request_headers_json,
            response_headers_json: outcome.status.map(|_| json_map(&outcome.response_headers)),
            error: attempt_error(&outcome),
            status: outcome.status,
            duration_ms: outcome.duration_ms,
            success,
            next_attempt_at,
            response_body: outcome.response_body,
            final_attempt,
        };
        (result, summary)
    }

    /// The headers of one attempt, signed with the current secret (and the previous one
    /// while a rotation overlaps) at timestamp `ts`.
    fn headers(&self, hook: &ActiveWebhook, job: &Claimed, ts: i64) -> Vec<(String, String)> {
        let body = &job.body[..];
        let mut secrets = vec![&hook.current];
        if let Some((prev, until)) = &hook.previous {
            if *until > now_ms() {
                secrets.push(prev);
            }
        }
        let mut h = Vec::with_capacity(8 + hook.row.headers.len());
        h.push(("content-type".to_string(), "application/json".to_string()));
        h.push(("user-agent".to_string(), self.user_agent.clone()));
        h.push(("webhook-id".to_string(), job.event_public_id.clone()));
        h.push(("webhook-timestamp".to_string(), ts.to_string()));
        h.push((
            "webhook-signature".to_string(),
            sign::signature_header(&secrets, &job.event_public_id, ts, body),
        ));
        h.push((
            self.signature_header.clone(),
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
}

/// One log line per attempt at debug, per failure at info (never the payload, headers or
/// secret), and the attempt's metrics.
fn observe(job: &Claimed, outcome: &Outcome) {
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
}

/// A header list as a JSON object, sorted by name, the last of equal names kept: what a
/// `BTreeMap` of it serialises to, written straight into one buffer of the right size (the
/// map and serde's growing buffer were 4% of the delivery workers' time in fan-out 10).
fn json_map(headers: &[(String, String)]) -> String {
    let mut order: Vec<usize> = (0..headers.len()).collect();
    // Equal names: the later one first, so it is the one kept.
    order.sort_unstable_by(|&a, &b| headers[a].0.cmp(&headers[b].0).then(b.cmp(&a)));
    let mut out = Vec::with_capacity(
        2 + headers
            .iter()
            .map(|(k, v)| k.len() + v.len() + 6)
            .sum::<usize>(),
    );
    out.push(b'{');
    let mut last: Option<&str> = None;
    for i in order {
        let (k, v) = &headers[i];
        if last == Some(k.as_str()) {
            continue;
        }
        if last.is_some() {
            out.push(b',');
        }
        // Writing a string into a Vec cannot fail.
        let _ = serde_json::to_writer(&mut out, k);
        out.push(b':');
        let _ = serde_json::to_writer(&mut out, v);
        last = Some(k);
    }
    out.push(b'}');
    String::from_utf8(out).unwrap_or_default()
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

#[cfg(test)]
mod tests {
    use super::*;

    /// What the stored header JSON was before: a map of the list, serialised.
    fn as_a_map(headers: &[(String, String)]) -> String {
        let m: std::collections::BTreeMap<&str, &str> = headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        serde_json::to_string(&m).unwrap()
    }

    #[test]
    fn header_json_is_sorted_by_name_keeps_the_last_of_equal_names_and_escapes() {
        let h = |pairs: &[(&str, &str)]| -> Vec<(String, String)> {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        let cases = [
            h(&[]),
            h(&[("content-type", "application/json")]),
            h(&[
                ("webhook-id", "evt_1"),
                ("content-type", "application/json"),
                ("X-Hookline-Event", "order.paid"),
                ("X-Custom", "a \"quoted\" \\ value\twith\ncontrols \u{1}"),
                ("user-agent", "Hookline/1"),
                ("webhook-signature", "v1,abc= v1,def="),
            ]),
            // Equal names: the last one stands, wherever it is.
            h(&[
                ("set-cookie", "a=1"),
                ("date", "x"),
                ("set-cookie", "b=2"),
                ("set-cookie", "c=3"),
            ]),
            h(&[("b", "1"), ("a", "2"), ("b", "3"), ("a", "4"), ("B", "5")]),
            h(&[("ünïcode", "välue ✓"), ("é", "")]),
        ];
        for c in &cases {
            assert_eq!(json_map(c), as_a_map(c), "{c:?}");
        }
        assert_eq!(json_map(&cases[3]), r#"{"date":"x","set-cookie":"c=3"}"#);
    }
}
