//! One attempt: sign a claimed delivery at send time and POST it, then say what it came to
//! (for the queue to record, and for Send Test to show). Nothing here touches the database.

use std::time::Duration;

use bytes::Bytes;
use http::header::{HeaderMap, HeaderName, HeaderValue, CONTENT_TYPE, USER_AGENT};

use super::http::{AttemptError, Outcome, Sender, Target};
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
    /// Where its attempts go (the URL checked and parsed for HTTP, the client), made by the
    /// first attempt's sender (there is one per process).
    target: std::sync::OnceLock<Result<Target, AttemptError>>,
    /// Its custom headers as sent, parsed once per version (or why they cannot be sent).
    extra: Result<Vec<(HeaderName, HeaderValue)>, String>,
    /// The secret's signing keys, set up once per version.
    current: sign::Signer,
    /// The rotated-out secret's, and until when it still signs.
    previous: Option<(sign::Signer, i64)>,
}

impl ActiveWebhook {
    /// Opens the row's secrets (and parses its URL) once per version of the webhook.
    pub fn open(secrets: &SecretBox, row: WebhookRow) -> Result<ActiveWebhook, CryptoError> {
        let unusable = CryptoError::Unusable;
        let current = sign::Signer::new(
            &WebhookSecret::parse_any_length(&secrets.open(&row.secret_enc)?).map_err(unusable)?,
        );
        let previous = match (&row.previous_secret_enc, row.previous_secret_expires_at) {
            (Some(enc), Some(exp)) if exp > now_ms() => Some((
                sign::Signer::new(
                    &WebhookSecret::parse_any_length(&secrets.open(enc)?).map_err(unusable)?,
                ),
                exp,
            )),
            _ => None,
        };
        Ok(ActiveWebhook {
            url: url::Url::parse(&row.url),
            target: std::sync::OnceLock::new(),
            extra: row
                .headers
                .iter()
                .map(|(k, v)| {
                    Ok((
                        header_name(k)?,
                        header_value(k, Bytes::copy_from_slice(v.as_bytes()))?,
                    ))
                })
                .collect(),
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
    /// The name of the hex signature header (`HOOKLINE_SIGNATURE_HEADER`) as configured (what
    /// an attempt's stored headers show), and as sent.
    signature_header: String,
    signature_name: Result<HeaderName, String>,
    /// `Hookline/<version>`, made once.
    user_agent: String,
    user_agent_value: HeaderValue,
}

impl Attempter {
    pub fn new(sender: Sender, signature_header: String) -> Attempter {
        let user_agent = format!("Hookline/{}", crate::VERSION);
        Attempter {
            sender,
            signature_name: header_name(&signature_header),
            signature_header,
            user_agent_value: HeaderValue::from_str(&user_agent)
                .unwrap_or_else(|_| HeaderValue::from_static("Hookline")),
            user_agent,
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
        // The stored headers are serialised here, off the writer thread.
        let (headers, request_headers_json) = self.headers(hook, &job, started_at / 1000);
        let failed = |message: String| Outcome {
            error: Some(AttemptError {
                kind: super::http::ErrorKind::Other,
                message,
            }),
            ..Outcome::default()
        };
        let outcome = match (&hook.url, headers) {
            (Ok(url), Ok(headers)) => {
                let target = hook.target.get_or_init(|| {
                    let timeout = Duration::from_secs(hook.row.timeout_seconds as u64);
                    self.sender.target(url, timeout)
                });
                match target {
                    Ok(target) => self.sender.send_to(target, headers, job.body.clone()).await,
                    Err(e) => Outcome {
                        error: Some(e.clone()),
                        ..Outcome::default()
                    },
                }
            }
            (Err(e), _) => failed(format!("bad URL: {e}")),
            (_, Err(message)) => failed(message),
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
    /// while a rotation overlaps) at timestamp `ts`: as sent, built straight into the
    /// request's map (the names parsed once, each value moved in, not copied), and as stored
    /// (JSON, names as written). Sent in this order; a custom header comes last.
    fn headers(
        &self,
        hook: &ActiveWebhook,
        job: &Claimed,
        ts: i64,
    ) -> (Result<HeaderMap, String>, String) {
        let body = &job.body[..];
        let mut signers = vec![&hook.current];
        if let Some((prev, until)) = &hook.previous {
            if *until > now_ms() {
                signers.push(prev);
            }
        }
        let signature = sign::signed_header(&signers, &job.event_public_id, ts, body);
        let ts = ts.to_string();
        let hex = hook.current.hex(body);
        let delivery = job.delivery_id.to_string();
        let mut shown: Vec<(&str, &str)> = Vec::with_capacity(8 + hook.row.headers.len());
        shown.extend([
            ("content-type", "application/json"),
            ("user-agent", self.user_agent.as_str()),
            ("webhook-id", job.event_public_id.as_str()),
            ("webhook-timestamp", ts.as_str()),
            ("webhook-signature", signature.as_str()),
            (self.signature_header.as_str(), hex.as_str()),
            ("X-Hookline-Event", job.event_type.as_str()),
            ("X-Hookline-Delivery", delivery.as_str()),
        ]);
        shown.extend(
            hook.row
                .headers
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str())),
        );
        let json = json_map(&shown);
        let sent = (|| {
            let mut map = HeaderMap::with_capacity(8 + hook.row.headers.len());
            map.append(CONTENT_TYPE, HeaderValue::from_static("application/json"));
            map.append(USER_AGENT, self.user_agent_value.clone());
            // (name as sent, as shown, value): what was computed here moves in, the event's
            // strings are copied.
            let computed = [
                (
                    Ok(HeaderName::from_static("webhook-id")),
                    "webhook-id",
                    Bytes::copy_from_slice(job.event_public_id.as_bytes()),
                ),
                (
                    Ok(HeaderName::from_static("webhook-timestamp")),
                    "webhook-timestamp",
                    Bytes::from(ts),
                ),
                (
                    Ok(HeaderName::from_static("webhook-signature")),
                    "webhook-signature",
                    Bytes::from(signature),
                ),
                (
                    self.signature_name.clone(),
                    self.signature_header.as_str(),
                    Bytes::from(hex),
                ),
                (
                    Ok(HeaderName::from_static("x-hookline-event")),
                    "X-Hookline-Event",
                    Bytes::copy_from_slice(job.event_type.as_bytes()),
                ),
                (
                    Ok(HeaderName::from_static("x-hookline-delivery")),
                    "X-Hookline-Delivery",
                    Bytes::from(delivery),
                ),
            ];
            for (name, shown, value) in computed {
                map.append(name?, header_value(shown, value)?);
            }
            for (k, v) in hook.extra.as_ref().map_err(Clone::clone)? {
                map.append(k.clone(), v.clone());
            }
            Ok(map)
        })();
        (sent, json)
    }
}

/// A header name as sent, or why it cannot be.
fn header_name(name: &str) -> Result<HeaderName, String> {
    HeaderName::from_bytes(name.as_bytes()).map_err(|_| format!("invalid header name {name:?}"))
}

/// A header value as sent (taking `value` as it is, without a copy), or why it cannot be.
fn header_value(name: &str, value: Bytes) -> Result<HeaderValue, String> {
    HeaderValue::from_maybe_shared(value).map_err(|_| format!("invalid value for header {name}"))
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
fn json_map<K: AsRef<str>, V: AsRef<str>>(headers: &[(K, V)]) -> String {
    let name = |i: usize| headers[i].0.as_ref();
    let mut order: Vec<usize> = (0..headers.len()).collect();
    // Equal names: the later one first, so it is the one kept.
    order.sort_unstable_by(|&a, &b| name(a).cmp(name(b)).then(b.cmp(&a)));
    let mut out = Vec::with_capacity(
        2 + headers
            .iter()
            .map(|(k, v)| k.as_ref().len() + v.as_ref().len() + 6)
            .sum::<usize>(),
    );
    out.push(b'{');
    let mut last: Option<&str> = None;
    for i in order {
        let (k, v) = (name(i), headers[i].1.as_ref());
        if last == Some(k) {
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
    use std::collections::BTreeMap;

    /// What the stored header JSON was before: a map of the list, serialised.
    fn as_a_map(headers: &[(String, String)]) -> String {
        let m: std::collections::BTreeMap<&str, &str> = headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        serde_json::to_string(&m).unwrap()
    }

    /// A webhook to a receiver on `port`, signing with a fresh secret, with `headers`.
    fn hook(port: u16, headers: &[(&str, &str)]) -> ActiveWebhook {
        let dir = tempfile::tempdir().unwrap();
        let secrets = SecretBox::load_or_create(dir.path()).unwrap();
        let secret = WebhookSecret::generate();
        let row = WebhookRow {
            id: 7,
            workspace_id: 1,
            name: String::new(),
            description: String::new(),
            url: format!("http://127.0.0.1:{port}/hook"),
            events: vec!["*".into()],
            is_active: true,
            headers: headers
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            retry_schedule: vec![],
            timeout_seconds: 5,
            notification_email: None,
            secret_enc: secrets.seal(secret.as_str()),
            previous_secret_enc: None,
            previous_secret_expires_at: None,
            disabled_at: None,
            disabled_reason: None,
            last_triggered_at: None,
            last_success_at: None,
            last_failure_at: None,
            failure_count: 0,
            created_at: 0,
            updated_at: 0,
            changed_by: None,
        };
        ActiveWebhook::open(&secrets, row).unwrap()
    }

    fn job() -> Claimed {
        Claimed {
            delivery_id: 42,
            webhook_id: 7,
            event_public_id: "evt_1".into(),
            event_type: "order.paid".into(),
            body: Bytes::from_static(br#"{"ok":true}"#),
            attempt_count: 0,
            created_at: 0,
        }
    }

    fn attempter() -> Attempter {
        let sender = Sender::new(super::super::http::SenderConfig {
            allowed_networks: vec!["127.0.0.0/8".parse().unwrap()],
            ..Default::default()
        })
        .unwrap();
        Attempter::new(sender, "X-Hookline-Signature".into())
    }

    /// A custom header stored before validation caught it (or edited into the database):
    /// the attempt fails saying which header, nothing is sent, and the stored headers still
    /// show what would have gone.
    #[tokio::test]
    async fn a_header_that_cannot_be_sent_fails_the_attempt_without_connecting() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let attempter = attempter();
        for (name, value, says) in [
            ("X-Bad", "line\r\nbreak", "invalid value for header X-Bad"),
            ("X-Nul", "a\0b", "invalid value for header X-Nul"),
            ("Bad Name", "x", "invalid header name \"Bad Name\""),
            ("Bäd", "x", "invalid header name \"Bäd\""),
        ] {
            let (result, summary) = attempter
                .attempt(&hook(port, &[(name, value)]), job(), true, None)
                .await;
            assert!(!result.success);
            assert_eq!(result.status, None);
            assert_eq!(result.error.as_deref(), Some(says), "{name}");
            assert_eq!(summary.error.as_deref(), Some(says));
            let stored: BTreeMap<String, String> =
                serde_json::from_str(&result.request_headers_json).unwrap();
            assert_eq!(stored.get(name).map(String::as_str), Some(value));
            assert_eq!(stored["X-Hookline-Delivery"], "42");
        }
        let accepted =
            tokio::time::timeout(std::time::Duration::from_millis(50), listener.accept()).await;
        assert!(accepted.is_err(), "nothing may connect");
    }

    /// What goes on the wire and what is stored: the same headers, in the same order on the
    /// wire as before (ours, then the webhook's own), names as written in the stored JSON.
    #[tokio::test]
    async fn the_sent_and_the_stored_headers_agree() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let hook = hook(port, &[("X-Api-Key", "k_1"), ("Authorization", "Bearer t")]);
        let (map, json) = attempter().headers(&hook, &job(), 1_700_000_000);
        let map = map.unwrap();
        let names: Vec<&str> = map.keys().map(|k| k.as_str()).collect();
        assert_eq!(
            names,
            [
                "content-type",
                "user-agent",
                "webhook-id",
                "webhook-timestamp",
                "webhook-signature",
                "x-hookline-signature",
                "x-hookline-event",
                "x-hookline-delivery",
                "authorization",
                "x-api-key",
            ]
        );
        let stored: BTreeMap<String, String> = serde_json::from_str(&json).unwrap();
        assert_eq!(stored.len(), map.len());
        for (k, v) in &stored {
            let sent = map
                .get(k.as_str())
                .unwrap_or_else(|| panic!("{k} is not sent"));
            assert_eq!(sent.to_str().unwrap(), v, "{k}");
        }
        assert_eq!(stored["webhook-timestamp"], "1700000000");
        assert_eq!(stored["webhook-id"], "evt_1");
        assert_eq!(stored["X-Hookline-Event"], "order.paid");
        assert!(stored["webhook-signature"].starts_with("v1,"));
        assert_eq!(stored["X-Hookline-Signature"].len(), 64);
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
