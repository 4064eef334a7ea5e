//! The delivery engine end to end, against real receivers on 127.0.0.1.

use std::time::Duration;

use crate::receiver::*;
use crate::webhooks_api::{fixture_with, Fixture};
use reqwest::Method;
use serde_json::{json, Value};

/// Loopback receivers need these: plain http and the loopback range allowed.
async fn local_fixture() -> Fixture {
    fixture_with(|r| {
        r.allow_http = Some("true".into());
        r.allowed_networks = Some("127.0.0.0/8".into());
    })
    .await
}

impl Fixture {
    pub async fn publish(&self, event_type: &str, data: Value) -> String {
        let (s, b) = self
            .call(
                Method::POST,
                "/api/v1/events",
                Some(json!({"type": event_type, "data": data})),
            )
            .await;
        assert_eq!(s, 202, "{b}");
        b["data"]["id"].as_str().unwrap().to_string()
    }

    /// The webhook's deliveries now, newest first.
    pub async fn deliveries(&self, webhook: i64) -> Vec<Value> {
        let (_, b) = self
            .call(
                Method::GET,
                &format!("/api/v1/webhooks/{webhook}/deliveries?limit=100"),
                None,
            )
            .await;
        b["data"].as_array().cloned().unwrap_or_default()
    }

    /// Polls the webhook's deliveries until `done` holds for the list (at most 20 s).
    pub async fn wait_deliveries(
        &self,
        webhook: i64,
        done: impl Fn(&[Value]) -> bool,
    ) -> Vec<Value> {
        crate::helpers::wait_deliveries(&self.app, &self.key, webhook, done).await
    }
}

use crate::helpers::all_status;

#[tokio::test]
async fn standardwebhooks_receiver_verifies_every_delivery() {
    let Some(py) = python_with_standardwebhooks() else {
        return;
    };
    let f = local_fixture().await;
    let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSwMfKQ9r8G";
    let rx = PyReceiver::start(&py, secret);
    let w = f
        .create_webhook(json!({"url": rx.url, "events": ["*"], "secret": secret}))
        .await;
    let id = w["id"].as_i64().unwrap();
    for i in 0..20 {
        f.publish(
            "project.created",
            json!({"i": i, "text": "Grüße, 世界 \"quoted\""}),
        )
        .await;
    }
    f.wait_deliveries(id, |l| all_status(l, 20, "succeeded"))
        .await;
    // The receiver logs before it answers; give its log reader a moment to catch up.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while rx.lines.lock().unwrap().len() < 20 && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let lines = rx.lines.lock().unwrap().clone();
    assert_eq!(lines.len(), 20);
    assert!(
        lines.iter().all(|l| l["ok"] == true && l["hex_ok"] == true),
        "{lines:?}"
    );

    // The same receiver refuses a tampered body with genuine headers.
    let (_, d) = f
        .call(
            Method::GET,
            &format!("/api/v1/webhooks/{id}/deliveries?limit=1"),
            None,
        )
        .await;
    let did = d["data"][0]["id"].as_i64().unwrap();
    let (_, detail) = f
        .call(Method::GET, &format!("/api/v1/deliveries/{did}"), None)
        .await;
    let headers = detail["data"]["attempts"][0]["request"]["headers"]
        .as_object()
        .unwrap()
        .clone();
    let payload = detail["data"]["payload"]
        .as_str()
        .unwrap()
        .replace("\"i\":", "\"i\": 1000 + ");
    let mut req = reqwest::Client::new().post(&rx.url).body(payload);
    for (k, v) in headers {
        req = req.header(k, v.as_str().unwrap());
    }
    assert_eq!(req.send().await.unwrap().status(), 400);

    // During a rotation both secrets sign: the receiver with the old secret still verifies.
    let (_, _r) = f
        .call(
            Method::POST,
            &format!("/api/v1/webhooks/{id}/rotate-secret"),
            None,
        )
        .await;
    f.publish("project.created", json!({"after": "rotation"}))
        .await;
    f.wait_deliveries(id, |l| all_status(l, 21, "succeeded"))
        .await;
}

#[tokio::test]
async fn deliveries_that_start_after_a_secret_rotation_are_signed_with_the_new_secret() {
    // A backlog drains to one webhook through a serial receiver (5 ms a request), and its
    // secret is rotated midway. Every request that arrives a moment after the rotation was
    // answered carries a signature by the new secret: the engine takes the webhook's new
    // version at once, not at its next full look at the queue (up to a second later).
    let f = local_fixture().await;
    let arrived = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let log = arrived.clone();
    let rx = Receiver::start(move |_| {
        log.lock().unwrap().push(std::time::Instant::now());
        std::thread::sleep(Duration::from_millis(5));
        (200, vec![])
    })
    .await;
    let w = f
        .create_webhook(json!({"url": rx.url, "events": ["*"]}))
        .await;
    let id = w["id"].as_i64().unwrap();
    let old = w["secret"].as_str().unwrap().to_string();
    let n = 800;
    let events: Vec<Value> = (0..n)
        .map(|i| json!({"type": "project.created", "data": {"i": i}}))
        .collect();
    let (s, b) = f
        .call(
            Method::POST,
            "/api/v1/events/batch",
            Some(json!({"events": events})),
        )
        .await;
    assert_eq!(s, 202, "{b}");
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while rx.count() < 100 && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let (s, r) = f
        .call(
            Method::POST,
            &format!("/api/v1/webhooks/{id}/rotate-secret"),
            None,
        )
        .await;
    assert_eq!(s, 200, "{r}");
    let rotated = std::time::Instant::now();
    let new =
        hookline::delivery::sign::Secret::parse(r["data"]["secret"].as_str().unwrap()).unwrap();
    let old = hookline::delivery::sign::Secret::parse(&old).unwrap();
    while rx.count() < n && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(rx.count(), n, "every event arrived");
    let times = arrived.lock().unwrap().clone();
    let signed_by = |got: &Received, s: &hookline::delivery::sign::Secret| {
        let h = &got.headers;
        let ts: i64 = h["webhook-timestamp"].parse().unwrap();
        let sig = hookline::delivery::sign::standard_signature(
            s,
            &h["webhook-id"],
            ts,
            got.body.as_bytes(),
        );
        h["webhook-signature"].split(' ').any(|v| v == sig)
    };
    // Left out after the rotation: what was in flight then (at most the in-flight limit of
    // 16, queued at the serial receiver) or started before the engine's next claim round,
    // within both 250 ms and 48 arrivals, so a slow machine does not fail the test.
    let (mut before, mut since, mut after) = (0, 0, 0);
    for (got, at) in rx.all().iter().zip(times) {
        if at < rotated {
            before += 1;
            assert!(
                signed_by(got, &old),
                "before the rotation: {:?}",
                got.headers
            );
            continue;
        }
        since += 1;
        if at > rotated + Duration::from_millis(250) && since > 48 {
            after += 1;
            assert!(
                signed_by(got, &new) && signed_by(got, &old),
                "{:?} after the rotation: both secrets sign during the overlap",
                at - rotated
            );
        }
    }
    assert!(
        before >= 100 && after >= 200,
        "{before} before, {after} after"
    );
}

#[tokio::test]
async fn headers_body_and_signatures_are_as_documented() {
    let f = local_fixture().await;
    let rx = Receiver::start(Receiver::always(200)).await;
    let w = f.create_webhook(json!({"url": rx.url, "events": ["project.created"], "headers": {"X-Api-Key": "k-123"}})).await;
    let secret = w["secret"].as_str().unwrap().to_string();
    let id = w["id"].as_i64().unwrap();
    let evt = f
        .publish("project.created", json!({"project_id": 42}))
        .await;
    let list = f
        .wait_deliveries(id, |l| all_status(l, 1, "succeeded"))
        .await;
    let got = &rx.all()[0];
    let h = &got.headers;
    assert_eq!(h["webhook-id"], evt);
    assert_eq!(h["content-type"], "application/json");
    assert_eq!(h["user-agent"], format!("Hookline/{}", hookline::VERSION));
    assert_eq!(h["x-hookline-event"], "project.created");
    assert_eq!(
        h["x-hookline-delivery"],
        list[0]["id"].as_i64().unwrap().to_string()
    );
    assert_eq!(h["x-api-key"], "k-123");
    let ts: i64 = h["webhook-timestamp"].parse().unwrap();
    assert!((ts - hookline::clock::now_ms() / 1000).abs() < 60);
    let s = hookline::delivery::sign::Secret::parse(&secret).unwrap();
    assert_eq!(
        h["webhook-signature"],
        hookline::delivery::sign::standard_signature(&s, &evt, ts, got.body.as_bytes())
    );
    assert_eq!(
        h["x-hookline-signature"],
        hookline::delivery::sign::hex_signature(&secret, got.body.as_bytes())
    );
    let body: Value = serde_json::from_str(&got.body).unwrap();
    assert_eq!(body["id"], evt);
    assert_eq!(body["type"], "project.created");
    assert_eq!(body["data"], json!({"project_id": 42}));
    // Stats are kept.
    let (_, w) = f
        .call(Method::GET, &format!("/api/v1/webhooks/{id}"), None)
        .await;
    assert!(w["data"]["last_success_at"].is_string());
    assert_eq!(w["data"]["failure_count"], 0);
}

#[tokio::test]
async fn failures_are_retried_on_the_schedule_with_the_same_id() {
    let f = local_fixture().await;
    let rx = Receiver::start(|n| if n < 2 { (500, vec![]) } else { (204, vec![]) }).await;
    let w = f
        .create_webhook(json!({"url": rx.url, "events": ["*"], "retry_schedule": [1, 1]}))
        .await;
    let id = w["id"].as_i64().unwrap();
    f.publish("project.created", json!({})).await;
    let list = f
        .wait_deliveries(id, |l| all_status(l, 1, "succeeded"))
        .await;
    assert_eq!(list[0]["attempts"], 3);
    let got = rx.all();
    assert_eq!(got.len(), 3);
    assert!(got
        .iter()
        .all(|r| r.headers["webhook-id"] == got[0].headers["webhook-id"]));
    let did = list[0]["id"].as_i64().unwrap();
    let (_, d) = f
        .call(Method::GET, &format!("/api/v1/deliveries/{did}"), None)
        .await;
    let statuses: Vec<i64> = d["data"]["attempts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["response"]["status"].as_i64().unwrap())
        .collect();
    assert_eq!(statuses, vec![500, 500, 204]);
    assert_eq!(d["data"]["attempts"][0]["error"], "HTTP 500");
    assert_eq!(
        d["data"]["attempts"][0]["response"]["body"],
        "receiver says hi"
    );
}

#[tokio::test]
async fn exhausted_deliveries_fail_and_a_manual_retry_sends_once_more() {
    let f = local_fixture().await;
    let rx = Receiver::start(|n| if n < 2 { (503, vec![]) } else { (200, vec![]) }).await;
    let w = f
        .create_webhook(json!({"url": rx.url, "events": ["*"], "retry_schedule": [1]}))
        .await;
    let id = w["id"].as_i64().unwrap();
    f.publish("project.created", json!({})).await;
    let list = f.wait_deliveries(id, |l| all_status(l, 1, "failed")).await;
    assert_eq!(list[0]["attempts"], 2);
    assert_eq!(list[0]["next_attempt_at"], Value::Null);
    let (_, wh) = f
        .call(Method::GET, &format!("/api/v1/webhooks/{id}"), None)
        .await;
    assert_eq!(wh["data"]["failure_count"], 2);
    assert!(wh["data"]["last_failure_at"].is_string());
    let did = list[0]["id"].as_i64().unwrap();
    let (s, _) = f
        .call(
            Method::POST,
            &format!("/api/v1/deliveries/{did}/retry"),
            None,
        )
        .await;
    assert_eq!(s, 202);
    let list = f
        .wait_deliveries(id, |l| all_status(l, 1, "succeeded"))
        .await;
    assert_eq!(list[0]["attempts"], 3);
    assert_eq!(rx.count(), 3);
}

#[tokio::test]
async fn redirects_are_failures_and_410_disables_the_webhook() {
    let f = local_fixture().await;
    let target = Receiver::start(Receiver::always(200)).await;
    let redirect = Receiver::start({
        let to = target.url.clone();
        move |_| (301, vec![("location".into(), to.clone())])
    })
    .await;
    let w = f
        .create_webhook(json!({"url": redirect.url, "events": ["*"], "retry_count": 0}))
        .await;
    f.publish("project.created", json!({})).await;
    f.app.settle().await;
    let list = f.deliveries(w["id"].as_i64().unwrap()).await;
    assert!(all_status(&list, 1, "failed"), "{list:?}");
    assert_eq!(list[0]["response_status"], 301);
    assert!(list[0]["last_error"].as_str().unwrap().contains("redirect"));
    assert_eq!(target.count(), 0, "redirects are never followed");

    let gone = Receiver::start(Receiver::always(410)).await;
    let w = f
        .create_webhook(json!({"url": gone.url, "events": ["*"]}))
        .await;
    let id = w["id"].as_i64().unwrap();
    f.publish("project.created", json!({})).await;
    f.app.settle().await;
    assert!(all_status(&f.deliveries(id).await, 1, "failed"));
    let (_, wh) = f
        .call(Method::GET, &format!("/api/v1/webhooks/{id}"), None)
        .await;
    assert_eq!(wh["data"]["is_active"], false);
    assert!(wh["data"]["disabled_reason"]
        .as_str()
        .unwrap()
        .contains("410"));
    // Re-enabling clears the reason.
    let (_, wh) = f
        .call(
            Method::PATCH,
            &format!("/api/v1/webhooks/{id}"),
            Some(json!({"is_active": true})),
        )
        .await;
    assert_eq!(wh["data"]["disabled_reason"], Value::Null);
}

#[tokio::test]
async fn retry_after_is_honoured_within_the_schedule() {
    let f = local_fixture().await;
    let rx = Receiver::start(|n| {
        if n == 0 {
            (429, vec![("retry-after".into(), "3".into())])
        } else {
            (200, vec![])
        }
    })
    .await;
    let w = f
        .create_webhook(json!({"url": rx.url, "events": ["*"], "retry_schedule": [1, 5]}))
        .await;
    f.publish("project.created", json!({})).await;
    f.app.settle().await;
    let list = f.deliveries(w["id"].as_i64().unwrap()).await;
    assert!(all_status(&list, 1, "retrying"), "{list:?}");
    let next = time::OffsetDateTime::parse(
        list[0]["next_attempt_at"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    let wait = (next - time::OffsetDateTime::now_utc()).as_seconds_f64();
    assert!(
        wait > 1.5 && wait <= 3.5,
        "Retry-After 3 s beats the 1 s step: {wait}"
    );
}

#[tokio::test]
async fn private_addresses_are_blocked_without_an_allow_list() {
    let f = fixture_with(|r| r.allow_http = Some("true".into())).await;
    let rx = Receiver::start(Receiver::always(200)).await;
    let port = rx
        .url
        .split(':')
        .nth(2)
        .unwrap()
        .split('/')
        .next()
        .unwrap()
        .to_string();
    let urls = [
        rx.url.clone(),
        format!("http://localhost:{port}/hook"),
        format!("http://[::ffff:127.0.0.1]:{port}/hook"),
        "http://169.254.169.254/latest/meta-data".to_string(),
        "http://10.0.0.1/hook".to_string(),
    ];
    for url in urls {
        let w = f
            .create_webhook(json!({"url": url, "events": ["*"], "retry_count": 0}))
            .await;
        let (s, t) = f
            .call(
                Method::POST,
                &format!("/api/v1/webhooks/{}/test", w["id"]),
                None,
            )
            .await;
        assert_eq!(s, 200, "{t}");
        assert_eq!(t["data"]["success"], false);
        assert!(
            t["data"]["error"].as_str().unwrap().contains("blocked"),
            "{url}: {t}"
        );
    }
    assert_eq!(rx.count(), 0, "no connection reached the receiver");
}

#[tokio::test]
async fn send_test_reports_the_outcome_and_is_not_retried() {
    let f = local_fixture().await;
    let rx = Receiver::start(|n| if n == 0 { (200, vec![]) } else { (500, vec![]) }).await;
    let w = f
        .create_webhook(json!({"url": rx.url, "events": ["project.created"]}))
        .await;
    let id = w["id"].as_i64().unwrap();
    let (s, t) = f
        .call(Method::POST, &format!("/api/v1/webhooks/{id}/test"), None)
        .await;
    assert_eq!(s, 200, "{t}");
    assert_eq!(t["data"]["success"], true);
    assert_eq!(t["data"]["response_status"], 200);
    assert_eq!(t["data"]["event_type"], "webhook.test");
    let (_, t) = f
        .call(
            Method::POST,
            &format!("/api/v1/webhooks/{id}/test"),
            Some(json!({"event_type": "project.created"})),
        )
        .await;
    assert_eq!(t["data"]["success"], false);
    assert_eq!(t["data"]["response_status"], 500);
    let body: Value = serde_json::from_str(&rx.all()[1].body).unwrap();
    assert_eq!(body["data"], json!({"id": 1}), "the example payload");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(rx.count(), 2, "a failed test is not retried");
    let (s, _) = f
        .call(
            Method::POST,
            &format!("/api/v1/webhooks/{id}/test"),
            Some(json!({"event_type": "nope"})),
        )
        .await;
    assert_eq!(s, 422);
}

/// The engine's claim rounds once they have come to rest (unchanged for half a second).
async fn rounds_at_rest(engine: &hookline::delivery::engine::Engine) -> u64 {
    let mut last = engine.claim_rounds();
    for _ in 0..20 {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let now = engine.claim_rounds();
        if now == last {
            return now;
        }
        last = now;
    }
    panic!("the dispatcher kept claiming: {last} rounds");
}

#[tokio::test]
async fn on_sqlite_published_deliveries_go_straight_to_the_dispatcher() {
    let f = local_fixture().await;
    let rx = Receiver::start(Receiver::always(200)).await;
    let w = f
        .create_webhook(json!({"url": rx.url, "events": ["*"]}))
        .await;
    let id = w["id"].as_i64().unwrap();
    // The first delivery is claimed, which opens the webhook at the dispatcher.
    f.publish("project.created", json!({"i": 0})).await;
    f.wait_deliveries(id, |l| all_status(l, 1, "succeeded"))
        .await;
    let before = rounds_at_rest(&f.app.engine).await;
    for i in 1..=20 {
        f.publish("project.created", json!({"i": i})).await;
    }
    f.wait_deliveries(id, |l| all_status(l, 21, "succeeded"))
        .await;
    assert_eq!(rx.all().len(), 21, "each event arrived once");
    let after = f.app.engine.claim_rounds();
    if f.app.store.handoff().is_some() {
        // SQLite: each publish leased its delivery to this process in its own write.
        assert_eq!(after, before, "no claim round was needed");
    } else {
        // PostgreSQL: every node claims from the shared queue.
        assert!(after > before);
    }
}

#[tokio::test]
async fn a_hanging_receiver_does_not_hold_up_the_others() {
    let f = local_fixture().await;
    let hang = Receiver::start(|_| {
        std::thread::sleep(Duration::from_secs(3));
        (200, vec![])
    })
    .await;
    let fast = Receiver::start(Receiver::always(200)).await;
    f.create_webhook(json!({"url": hang.url, "events": ["*"], "timeout_seconds": 2}))
        .await;
    let w = f
        .create_webhook(json!({"url": fast.url, "events": ["*"]}))
        .await;
    let started = std::time::Instant::now();
    for i in 0..30 {
        f.publish("project.created", json!({"i": i})).await;
    }
    f.wait_deliveries(w["id"].as_i64().unwrap(), |l| {
        all_status(l, 30, "succeeded")
    })
    .await;
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "took {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn a_burst_of_events_is_all_attempted_promptly() {
    let f = local_fixture().await;
    let rx = Receiver::start(Receiver::always(500)).await;
    let w = f
        .create_webhook(json!({"url": rx.url, "events": ["*"], "retry_schedule": [600]}))
        .await;
    for i in 0..5 {
        f.publish("project.created", json!({"i": i})).await;
    }
    f.app.settle().await;
    assert!(all_status(
        &f.deliveries(w["id"].as_i64().unwrap()).await,
        5,
        "retrying"
    ));
    assert_eq!(rx.count(), 5);
}

#[tokio::test]
async fn a_delivery_failing_for_good_emails_the_owner_once_an_hour() {
    let smtp = crate::smtp::SmtpSink::start().await;
    let f = fixture_with(|r| {
        r.allow_http = Some("true".into());
        r.allowed_networks = Some("127.0.0.0/8".into());
        r.smtp_url = Some(smtp.url.clone());
        r.smtp_from = Some("alerts@hookline.test".into());
    })
    .await;
    let rx = Receiver::start(Receiver::always(500)).await;
    let w = f
        .create_webhook(json!({"url": rx.url, "events": ["*"], "retry_count": 0, "name": "CRM sync", "notification_email": "ops@example.com"}))
        .await;
    let id = w["id"].as_i64().unwrap();
    let evt = f.publish("project.created", json!({})).await;
    let list = f.wait_deliveries(id, |l| all_status(l, 1, "failed")).await;
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while smtp.mails.lock().unwrap().is_empty() && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mails = smtp.mails.lock().unwrap().clone();
    assert_eq!(mails.len(), 1);
    let m = &mails[0];
    assert!(m.from.contains("alerts@hookline.test"), "{m:?}");
    assert!(m.to[0].contains("ops@example.com"));
    assert!(
        m.data
            .contains("Subject: [Hookline] Delivery to CRM sync failed"),
        "{}",
        m.data
    );
    assert!(
        m.data.contains(&evt) && m.data.contains("HTTP 500"),
        "{}",
        m.data
    );
    assert!(
        m.data
            .contains(&format!("/w/acme/deliveries/{}", list[0]["id"])),
        "{}",
        m.data
    );
    // A second failure within the hour sends nothing more.
    f.publish("project.created", json!({})).await;
    f.wait_deliveries(id, |l| all_status(l, 2, "failed")).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(smtp.mails.lock().unwrap().len(), 1);
}

/// Makes it look as if every delivery of the webhook has failed for `days` days.
async fn failing_for_days(f: &crate::webhooks_api::Fixture, id: i64, days: i64) {
    let since = hookline::clock::now_ms() - days * 24 * 3600 * 1000;
    f.app
        .sql_run(
            "UPDATE webhooks SET failing_since = ?1 WHERE id = ?2",
            &[since.into(), id.into()],
        )
        .await;
}

/// The mails a sink has received so far, once `n` have arrived (at most 10 s).
async fn mails(smtp: &crate::smtp::SmtpSink, n: usize) -> Vec<crate::smtp::Mail> {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while smtp.mails.lock().unwrap().len() < n {
        assert!(
            std::time::Instant::now() < deadline,
            "{} of {n} mails arrived",
            smtp.mails.lock().unwrap().len()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    smtp.mails.lock().unwrap().clone()
}

/// (kind, sent, waiting, repeats) of every stored notice, oldest first.
async fn notices(f: &crate::webhooks_api::Fixture) -> Vec<(String, bool, bool, i64)> {
    f.app
        .sql(
            "SELECT kind, sent_at IS NOT NULL, due_at IS NOT NULL, repeats FROM notifications ORDER BY id",
            &[],
        )
        .await
        .into_iter()
        .map(|r| {
            (
                r[0].as_str().unwrap().to_string(),
                r[1] == 1,
                r[2] == 1,
                r[3].as_i64().unwrap(),
            )
        })
        .collect()
}

/// A smtp-backed fixture whose "hour" between two emails about one webhook is `interval`.
async fn mailing_fixture(
    smtp: &crate::smtp::SmtpSink,
    interval: Duration,
) -> crate::webhooks_api::Fixture {
    let url = smtp.url.clone();
    crate::webhooks_api::fixture_configured(
        |r| {
            r.allow_http = Some("true".into());
            r.allowed_networks = Some("127.0.0.0/8".into());
            r.smtp_url = Some(url);
        },
        |c| c.notice_interval = interval,
    )
    .await
}

/// The most important mail is never lost to the once-an-hour limit: a webhook disabled
/// within the hour of a "failed for good" mail has its notice kept waiting and sent when
/// the hour is over.
#[tokio::test]
async fn a_disable_notice_within_the_hour_waits_and_is_sent_after_it() {
    let smtp = crate::smtp::SmtpSink::start().await;
    let hour = Duration::from_secs(2);
    let f = mailing_fixture(&smtp, hour).await;
    let rx = Receiver::start(Receiver::always(500)).await;
    let w = f.create_webhook(json!({"url": rx.url, "events": ["*"], "retry_count": 0, "name": "CRM sync", "notification_email": "ops@example.com"})).await;
    let id = w["id"].as_i64().unwrap();
    f.publish("project.created", json!({})).await;
    f.wait_deliveries(id, |l| all_status(l, 1, "failed")).await;
    let first = mails(&smtp, 1).await;
    let sent_at = std::time::Instant::now();
    assert!(first[0]
        .data
        .contains("Subject: [Hookline] Delivery to CRM sync failed"));
    // Within the hour: every delivery failed for five days, and this one disables it.
    failing_for_days(&f, id, 6).await;
    f.publish("project.created", json!({})).await;
    f.wait_deliveries(id, |l| all_status(l, 2, "failed")).await;
    let (_, wh) = f
        .call(Method::GET, &format!("/api/v1/webhooks/{id}"), None)
        .await;
    assert_eq!(wh["data"]["is_active"], false);
    let stored = notices(&f).await;
    assert_eq!(
        stored,
        vec![
            ("delivery_failed".to_string(), true, false, 0),
            ("webhook_disabled".to_string(), false, true, 0)
        ],
        "the disable notice is stored and waits"
    );
    if sent_at.elapsed() < hour - Duration::from_millis(300) {
        assert_eq!(smtp.mails.lock().unwrap().len(), 1, "not within the hour");
    }
    let all = mails(&smtp, 2).await;
    assert!(
        sent_at.elapsed() >= hour - Duration::from_millis(100),
        "sent after the hour"
    );
    assert!(
        all[1]
            .data
            .contains("Subject: [Hookline] Webhook CRM sync was disabled"),
        "{}",
        all[1].data
    );
    assert!(all[1].data.contains("every delivery failed for 5 days"));
    // The notifier marks the notice sent in a write after the SMTP answer: the sink can
    // have the mail a moment before the row says so.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    let stored = loop {
        let stored = notices(&f).await;
        if stored.iter().all(|n| n.1 && !n.2) || tokio::time::Instant::now() > deadline {
            break stored;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(stored.iter().all(|n| n.1 && !n.2), "{stored:?}");
    tokio::time::sleep(hour).await;
    assert_eq!(smtp.mails.lock().unwrap().len(), 2, "nothing is sent twice");
}

/// Failures within the hour are not lost either: they fold into one waiting notice, and mail
/// resumes once the hour is over with one email that counts them.
#[tokio::test]
async fn notices_within_the_hour_fold_into_the_next_mail() {
    let smtp = crate::smtp::SmtpSink::start().await;
    let hour = Duration::from_secs(4);
    let f = mailing_fixture(&smtp, hour).await;
    let rx = Receiver::start(Receiver::always(500)).await;
    let w = f.create_webhook(json!({"url": rx.url, "events": ["*"], "retry_count": 0, "name": "CRM sync", "notification_email": "ops@example.com"})).await;
    let id = w["id"].as_i64().unwrap();
    f.publish("project.created", json!({"n": 1})).await;
    f.wait_deliveries(id, |l| all_status(l, 1, "failed")).await;
    let first = mails(&smtp, 1).await;
    let sent_at = std::time::Instant::now();
    // Three more within the hour.
    for n in 2..=4 {
        f.publish("project.created", json!({"n": n})).await;
        f.wait_deliveries(id, |l| all_status(l, n, "failed")).await;
    }
    assert!(
        sent_at.elapsed() < hour,
        "the machine was too slow for this test's hour"
    );
    assert_eq!(first.len(), 1);
    assert_eq!(smtp.mails.lock().unwrap().len(), 1, "not within the hour");
    assert_eq!(
        notices(&f).await,
        vec![
            ("delivery_failed".to_string(), true, false, 0),
            ("delivery_failed".to_string(), false, true, 2)
        ],
        "one sent; three folded into one waiting notice"
    );
    let all = mails(&smtp, 2).await;
    assert!(all[1]
        .data
        .contains("Subject: [Hookline] Delivery to CRM sync failed"));
    assert!(
        all[1].data.contains("2 more notices like this one"),
        "{}",
        all[1].data
    );
    // After another hour, a new failure is mailed at once again.
    tokio::time::sleep(hour).await;
    f.publish("project.created", json!({"n": 5})).await;
    f.wait_deliveries(id, |l| all_status(l, 5, "failed")).await;
    let all = mails(&smtp, 3).await;
    assert_eq!(all.len(), 3);
}

#[tokio::test]
async fn five_days_of_failures_disable_the_webhook_and_record_a_notice() {
    let f = local_fixture().await;
    let rx = Receiver::start(Receiver::always(503)).await;
    let w = f.create_webhook(json!({"url": rx.url, "events": ["*"], "retry_count": 0, "notification_email": "ops@example.com"})).await;
    let id = w["id"].as_i64().unwrap();
    failing_for_days(&f, id, 6).await;
    f.publish("project.created", json!({})).await;
    f.wait_deliveries(id, |l| all_status(l, 1, "failed")).await;
    let (_, wh) = f
        .call(Method::GET, &format!("/api/v1/webhooks/{id}"), None)
        .await;
    assert_eq!(wh["data"]["is_active"], false);
    assert_eq!(
        wh["data"]["disabled_reason"],
        "every delivery failed for 5 days"
    );
    // Without SMTP the notice is kept (and logged) rather than lost.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        let n: Vec<(String, Option<String>)> = f
            .app
            .sql("SELECT kind, error FROM notifications", &[])
            .await
            .into_iter()
            .map(|r| {
                (
                    r[0].as_str().unwrap().to_string(),
                    r[1].as_str().map(str::to_string),
                )
            })
            .collect();
        if let Some((kind, error)) = n.first() {
            assert_eq!(kind, "webhook_disabled");
            assert!(error.as_deref().unwrap().contains("HOOKLINE_SMTP_URL"));
            break;
        }
        assert!(std::time::Instant::now() < deadline, "no notice recorded");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Disabled: new events create no deliveries for it.
    let (_, b) = f
        .call(
            Method::POST,
            "/api/v1/events",
            Some(json!({"type": "project.created", "data": {}})),
        )
        .await;
    assert_eq!(b["data"]["deliveries"], 0);
}
