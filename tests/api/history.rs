//! The delivery history at scale: workspace-wide search with every filter, the same filters
//! on a webhook's list.

use crate::helpers::*;
use crate::receiver::Receiver;
use reqwest::Method;
use serde_json::{json, Value};

/// acme with webhooks `ok` (answers 200) and `bad` (answers 500, no retries, so its
/// deliveries fail at once), 12 events of two types, and creation times one minute apart.
struct History {
    app: TestApp,
    key: String,
    ok: i64,
    bad: i64,
    _receivers: (Receiver, Receiver),
    /// Every delivery, as the unfiltered list shows it.
    all: Vec<Value>,
}

const T0: i64 = 1_780_000_000_000;

async fn history() -> History {
    let app = spawn_app_with(|c| {
        c.allow_http = Some("true".into());
        c.allowed_networks = Some("127.0.0.0/8".into());
    })
    .await;
    let ws = app.workspace("acme").await;
    let instance = app.api_key(None, "webhooks,events").await;
    for name in ["order.paid", "order.refunded"] {
        let (s, _) = app
            .api(
                Method::POST,
                "/api/v1/event-types",
                Some(&instance),
                Some(json!({"name": name})),
            )
            .await;
        assert_eq!(s, 201);
    }
    let key = app.api_key(Some(ws), "webhooks,events").await;
    let good = Receiver::start(Receiver::always(200)).await;
    let failing = Receiver::start(Receiver::always(500)).await;
    let mut ids = Vec::new();
    for (url, schedule) in [(&good.url, json!([60])), (&failing.url, json!([]))] {
        let (s, b) = app
            .api(
                Method::POST,
                "/api/v1/webhooks",
                Some(&key),
                Some(json!({"url": url, "events": ["*"], "retry_schedule": schedule})),
            )
            .await;
        assert_eq!(s, 201, "{b}");
        ids.push(b["data"]["id"].as_i64().unwrap());
    }
    for n in 0..12 {
        let t = if n % 3 == 0 {
            "order.refunded"
        } else {
            "order.paid"
        };
        let (s, b) = app
            .api(
                Method::POST,
                "/api/v1/events",
                Some(&key),
                Some(json!({"type": t, "data": {"n": n}})),
            )
            .await;
        assert_eq!(s, 202, "{b}");
    }
    app.settle().await;
    app.sql_run(
        "UPDATE deliveries SET created_at = ?1 + id * 60000",
        &[T0.into()],
    )
    .await;
    let (s, b) = app
        .api(
            Method::GET,
            "/api/v1/deliveries?limit=100",
            Some(&key),
            None,
        )
        .await;
    assert_eq!(s, 200, "{b}");
    let all = b["data"].as_array().unwrap().clone();
    assert_eq!(all.len(), 24);
    History {
        app,
        key,
        ok: ids[0],
        bad: ids[1],
        _receivers: (good, failing),
        all,
    }
}

fn ms(rfc: &str) -> i64 {
    (time::OffsetDateTime::parse(rfc, &time::format_description::well_known::Rfc3339)
        .unwrap()
        .unix_timestamp_nanos()
        / 1_000_000) as i64
}

fn rfc(ms: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(ms as i128 * 1_000_000)
        .unwrap()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap()
}

impl History {
    /// Every page of `path` (with `limit`), walked by cursor; the ids in order.
    async fn walk(&self, path: &str, limit: usize) -> Vec<i64> {
        let mut out = Vec::new();
        let mut cursor: Option<String> = None;
        let sep = if path.contains('?') { '&' } else { '?' };
        for _ in 0..100 {
            let url = match &cursor {
                None => format!("{path}{sep}limit={limit}"),
                Some(c) => format!("{path}{sep}limit={limit}&cursor={c}"),
            };
            let (s, b) = self.app.api(Method::GET, &url, Some(&self.key), None).await;
            assert_eq!(s, 200, "{url}: {b}");
            let page = b["data"].as_array().unwrap();
            assert!(page.len() <= limit);
            out.extend(page.iter().map(|d| d["id"].as_i64().unwrap()));
            cursor = b["meta"]["next_cursor"].as_str().map(str::to_string);
            if cursor.is_none() {
                return out;
            }
        }
        panic!("{path}: the cursor never ended");
    }

    fn expected(&self, keep: impl Fn(&Value) -> bool) -> Vec<i64> {
        self.all
            .iter()
            .filter(|d| keep(d))
            .map(|d| d["id"].as_i64().unwrap())
            .collect()
    }
}

#[tokio::test]
async fn every_filter_and_combination_finds_exactly_its_deliveries() {
    let h = history().await;
    // Newest first, and whole.
    let ids: Vec<i64> = h.all.iter().map(|d| d["id"].as_i64().unwrap()).collect();
    let mut sorted = ids.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    assert_eq!(ids, sorted, "newest first");
    assert_eq!(
        h.walk("/api/v1/deliveries", 5).await,
        ids,
        "pages add up to the list"
    );
    assert!(h
        .all
        .iter()
        .filter(|d| d["webhook_id"] == h.bad)
        .all(|d| d["status"] == "failed" && d["response_status"] == 500));

    let mid = h.all[12]["created_at"].as_str().unwrap().to_string();
    let late = h.all[4]["created_at"].as_str().unwrap().to_string();
    let event = h.all[7]["event_id"].as_str().unwrap().to_string();
    let webhooks = [None, Some(h.ok), Some(h.bad)];
    let statuses = [None, Some("failed"), Some("succeeded"), Some("pending")];
    let types = [None, Some("order.paid"), Some("order.refunded")];
    let codes = [None, Some("5xx"), Some("500"), Some("2xx"), Some("404")];
    let windows = [
        (None, None),
        (Some(mid.clone()), None),
        (None, Some(mid.clone())),
        (Some(mid.clone()), Some(late.clone())),
    ];
    let events = [None, Some(event.clone())];
    let mut checked = 0;
    for w in webhooks {
        for st in statuses {
            for t in types {
                for code in codes {
                    for (since, until) in &windows {
                        for e in &events {
                            let mut q = Vec::new();
                            if let Some(w) = w {
                                q.push(format!("webhook_id={w}"));
                            }
                            if let Some(st) = st {
                                q.push(format!("status={st}"));
                            }
                            if let Some(t) = t {
                                q.push(format!("event_type={t}"));
                            }
                            if let Some(c) = code {
                                q.push(format!("http_status={c}"));
                            }
                            if let Some(s) = since {
                                q.push(format!("since={}", url_encode(s)));
                            }
                            if let Some(u) = until {
                                q.push(format!("until={}", url_encode(u)));
                            }
                            if let Some(e) = e {
                                q.push(format!("event_id={e}"));
                            }
                            // Most combinations in one page; every 7th walked in pages of 2.
                            checked += 1;
                            let path = format!("/api/v1/deliveries?{}", q.join("&"));
                            let got = if checked % 7 == 0 {
                                h.walk(&path, 2).await
                            } else {
                                h.walk(&path, 100).await
                            };
                            let want = h.expected(|d| {
                                let created = ms(d["created_at"].as_str().unwrap());
                                let code_ok = match code {
                                    None => true,
                                    Some(c) => {
                                        let s = d["response_status"].as_i64();
                                        match c.strip_suffix("xx") {
                                            Some(class) => s.is_some_and(|s| {
                                                s / 100 == class.parse::<i64>().unwrap()
                                            }),
                                            None => s == Some(c.parse().unwrap()),
                                        }
                                    }
                                };
                                w.is_none_or(|w| d["webhook_id"] == w)
                                    && st.is_none_or(|st| d["status"] == st)
                                    && t.is_none_or(|t| d["event_type"] == t)
                                    && code_ok
                                    && since.as_ref().is_none_or(|s| created >= ms(s))
                                    && until.as_ref().is_none_or(|u| created < ms(u))
                                    && e.as_ref().is_none_or(|e| d["event_id"] == e.as_str())
                            });
                            assert_eq!(got, want, "{path}");
                            // The same filters on the webhook's own list.
                            if let Some(w) = w {
                                let own: Vec<String> = q
                                    .iter()
                                    .filter(|p| !p.starts_with("webhook_id="))
                                    .cloned()
                                    .collect();
                                let path =
                                    format!("/api/v1/webhooks/{w}/deliveries?{}", own.join("&"));
                                assert_eq!(h.walk(&path, 100).await, want, "{path}");
                            }
                        }
                    }
                }
            }
        }
    }
    assert!(checked > 700, "{checked}");
}

fn url_encode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

#[tokio::test]
async fn bad_filters_name_their_field_and_other_workspaces_find_nothing() {
    let h = history().await;
    for (query, field) in [
        ("status=lost", "status"),
        ("status=FAILED", "status"),
        ("event_type=not%20a%20type", "event_type"),
        ("webhook_id=0", "webhook_id"),
        ("webhook_id=abc", "webhook_id"),
        ("webhook_id=-3", "webhook_id"),
        ("http_status=6xx", "http_status"),
        ("http_status=5x", "http_status"),
        ("http_status=99", "http_status"),
        ("http_status=1000", "http_status"),
        ("since=yesterday", "since"),
        ("since=2026-12-03", "since"),
        ("since=1764720000", "since"),
        ("until=2026-12-03T25:00:00Z", "until"),
        (
            "since=2026-12-03T06:00:00Z&until=2026-12-03T05:00:00Z",
            "until",
        ),
        (
            "since=2026-12-03T06:00:00Z&until=2026-12-03T06:00:00Z",
            "until",
        ),
        ("event_id=123", "event_id"),
        ("event_id=evt_a.b", "event_id"),
        ("limit=0", "limit"),
        ("cursor=zzz", "cursor"),
    ] {
        let (s, b) = h
            .app
            .api(
                Method::GET,
                &format!("/api/v1/deliveries?{query}"),
                Some(&h.key),
                None,
            )
            .await;
        assert_eq!(s, 422, "{query}: {b}");
        assert_eq!(b["error"]["field"], field, "{query}: {b}");
    }
    // A webhook's own list takes only its own id.
    let (s, b) = h
        .app
        .api(
            Method::GET,
            &format!("/api/v1/webhooks/{}/deliveries?webhook_id={}", h.ok, h.bad),
            Some(&h.key),
            None,
        )
        .await;
    assert_eq!(s, 422, "{b}");
    // A time window with nothing in it.
    let (s, b) = h
        .app
        .api(
            Method::GET,
            &format!(
                "/api/v1/deliveries?since={}",
                url_encode(&rfc(T0 + 10 * 365 * 86_400_000))
            ),
            Some(&h.key),
            None,
        )
        .await;
    assert_eq!((s, b["data"].as_array().unwrap().len()), (200, 0), "{b}");

    // Another workspace: its key finds none of acme's, whatever the filter names.
    let other_ws = h.app.workspace("globex").await;
    let other = h.app.api_key(Some(other_ws), "webhooks").await;
    let event = h.all[0]["event_id"].as_str().unwrap();
    for query in [
        String::new(),
        format!("webhook_id={}", h.ok),
        format!("event_id={event}"),
        "status=failed".to_string(),
    ] {
        let (s, b) = h
            .app
            .api(
                Method::GET,
                &format!("/api/v1/deliveries?{query}"),
                Some(&other),
                None,
            )
            .await;
        assert_eq!(s, 200, "{query}: {b}");
        assert_eq!(b["data"], json!([]), "{query}");
    }
    let (s, b) = h
        .app
        .api(Method::GET, "/api/v1/deliveries", None, None)
        .await;
    assert_eq!(s, 401, "{b}");
    let publisher = h
        .app
        .api_key(
            Some(
                h.app
                    .store
                    .workspace_by_slug("acme")
                    .await
                    .unwrap()
                    .unwrap()
                    .id,
            ),
            "events",
        )
        .await;
    let (s, _) = h
        .app
        .api(Method::GET, "/api/v1/deliveries", Some(&publisher), None)
        .await;
    assert_eq!(s, 403, "reading deliveries needs the webhooks scope");
}

// ---- bulk retry, replay and their jobs ----

/// Polls the job until it is no longer running (at most 30 s); returns it.
async fn finished_job(app: &TestApp, key: &str, id: i64) -> Value {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let (s, b) = app
            .api(Method::GET, &format!("/api/v1/jobs/{id}"), Some(key), None)
            .await;
        assert_eq!(s, 200, "{b}");
        let job = b["data"].clone();
        assert!(
            job["done"].as_i64().unwrap() <= job["total"].as_i64().unwrap(),
            "{job}"
        );
        if job["state"] != "running" {
            return job;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the job never finished: {job}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// A failing window: 10 of 16 failed deliveries fall inside it.
#[tokio::test]
async fn a_bulk_retry_sends_the_failed_window_again_and_nothing_else() {
    let app = spawn_app_with(|c| {
        c.allow_http = Some("true".into());
        c.allowed_networks = Some("127.0.0.0/8".into());
    })
    .await;
    let ws = app.workspace("acme").await;
    let instance = app.api_key(None, "webhooks,events").await;
    app.api(
        Method::POST,
        "/api/v1/event-types",
        Some(&instance),
        Some(json!({"name": "order.paid"})),
    )
    .await;
    let key = app.api_key(Some(ws), "webhooks,events").await;
    // Down for the first 16 requests, then up again.
    let receiver = Receiver::start(|n| if n < 16 { (503, vec![]) } else { (200, vec![]) }).await;
    let (_, w) = app
        .api(
            Method::POST,
            "/api/v1/webhooks",
            Some(&key),
            Some(json!({"url": receiver.url, "events": ["*"], "retry_schedule": []})),
        )
        .await;
    let webhook = w["data"]["id"].as_i64().unwrap();
    for n in 0..16 {
        app.api(
            Method::POST,
            "/api/v1/events",
            Some(&key),
            Some(json!({"type": "order.paid", "data": {"n": n}})),
        )
        .await;
    }
    app.settle().await;
    // Creation times: a minute apart; the window holds the 4th to the 13th.
    app.sql_run(
        "UPDATE deliveries SET created_at = ?1 + (id - (SELECT MIN(id) FROM deliveries)) * 60000",
        &[T0.into()],
    )
    .await;
    let (since, until) = (rfc(T0 + 3 * 60_000), rfc(T0 + 13 * 60_000));
    let path = format!(
        "/api/v1/deliveries?status=failed&since={}&until={}",
        url_encode(&since),
        url_encode(&until)
    );
    let (_, before) = app.api(Method::GET, &path, Some(&key), None).await;
    let window: Vec<i64> = before["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["id"].as_i64().unwrap())
        .collect();
    assert_eq!(window.len(), 10);

    let (s, b) = app
        .api(
            Method::POST,
            &format!("/api/v1/webhooks/{webhook}/bulk-retry"),
            Some(&key),
            Some(json!({"status": "failed", "since": since, "until": until})),
        )
        .await;
    assert_eq!(s, 202, "{b}");
    assert_eq!(b["data"]["matched"], 10);
    let job_id = b["data"]["job_id"].as_i64().unwrap();
    let job = finished_job(&app, &key, job_id).await;
    assert_eq!(
        (
            job["state"].as_str(),
            job["done"].as_i64(),
            job["total"].as_i64()
        ),
        (Some("done"), Some(10), Some(10)),
        "{job}"
    );
    assert_eq!(job["kind"], "bulk_retry");
    assert!(job["created_by"].as_str().unwrap().starts_with("API key"));
    app.settle().await;
    let (_, all) = app
        .api(
            Method::GET,
            "/api/v1/deliveries?limit=100",
            Some(&key),
            None,
        )
        .await;
    for d in all["data"].as_array().unwrap() {
        let id = d["id"].as_i64().unwrap();
        if window.contains(&id) {
            assert_eq!(
                (d["status"].as_str(), d["attempts"].as_i64()),
                (Some("succeeded"), Some(2)),
                "{d}"
            );
        } else {
            assert_eq!(
                (d["status"].as_str(), d["attempts"].as_i64()),
                (Some("failed"), Some(1)),
                "{d}"
            );
        }
    }
    assert_eq!(receiver.count(), 26);
    // Done jobs cannot be cancelled.
    let (s, b) = app
        .api(
            Method::POST,
            &format!("/api/v1/jobs/{job_id}/cancel"),
            Some(&key),
            None,
        )
        .await;
    assert_eq!(s, 409, "{b}");
}

#[tokio::test]
async fn a_replay_sends_the_window_again_even_to_a_webhook_that_never_had_it() {
    let app = spawn_app_with(|c| {
        c.allow_http = Some("true".into());
        c.allowed_networks = Some("127.0.0.0/8".into());
    })
    .await;
    let ws = app.workspace("acme").await;
    let instance = app.api_key(None, "webhooks,events").await;
    for name in ["order.paid", "order.refunded", "user.created"] {
        app.api(
            Method::POST,
            "/api/v1/event-types",
            Some(&instance),
            Some(json!({"name": name})),
        )
        .await;
    }
    let key = app.api_key(Some(ws), "webhooks,events").await;
    // 30 events before the webhook exists: 10 of each type.
    for n in 0..30 {
        let t = ["order.paid", "order.refunded", "user.created"][n % 3];
        app.api(
            Method::POST,
            "/api/v1/events",
            Some(&key),
            Some(json!({"type": t, "data": {"n": n}})),
        )
        .await;
    }
    let receiver = Receiver::start(Receiver::always(200)).await;
    let (_, w) = app
        .api(
            Method::POST,
            "/api/v1/webhooks",
            Some(&key),
            Some(json!({"url": receiver.url, "events": ["order.paid", "order.refunded"]})),
        )
        .await;
    let webhook = w["data"]["id"].as_i64().unwrap();
    let since = rfc(hookline::clock::now_ms() - 3_600_000);
    // Only order.paid of the two it takes; user.created it does not take at all.
    let (s, b) = app
        .api(
            Method::POST,
            &format!("/api/v1/webhooks/{webhook}/replay"),
            Some(&key),
            Some(json!({"since": since, "event_types": ["order.paid", "user.created"]})),
        )
        .await;
    assert_eq!(s, 202, "{b}");
    assert_eq!(b["data"]["matched"], 10, "{b}");
    let job_id = b["data"]["job_id"].as_i64().unwrap();
    let job = finished_job(&app, &key, job_id).await;
    assert_eq!(
        (job["state"].as_str(), job["done"].as_i64()),
        (Some("done"), Some(10)),
        "{job}"
    );
    app.settle().await;
    let (_, list) = app
        .api(
            Method::GET,
            &format!("/api/v1/webhooks/{webhook}/deliveries?limit=100"),
            Some(&key),
            None,
        )
        .await;
    let list = list["data"].as_array().unwrap();
    assert_eq!(list.len(), 10);
    assert!(
        list.iter().all(|d| d["replay"] == true
            && d["job_id"] == job_id
            && d["event_type"] == "order.paid"
            && d["status"] == "succeeded"),
        "{list:?}"
    );
    assert_eq!(receiver.count(), 10);
    // The receiver gets the original events: same ids and bodies as published.
    let got = receiver.all();
    for r in &got {
        let body: Value = serde_json::from_str(&r.body).unwrap();
        assert_eq!(body["type"], "order.paid");
        assert_eq!(r.headers["webhook-id"], body["id"].as_str().unwrap());
    }

    // Idempotent per (event, webhook, job): the same job run again from the start adds nothing.
    app.sql_run(
        "UPDATE jobs SET state = 'running', cursor = 0, done = 0, finished_at = NULL WHERE id = ?1",
        &[job_id.into()],
    )
    .await;
    // Another (empty) job wakes the runner.
    let (s, _) = app
        .api(
            Method::POST,
            &format!("/api/v1/webhooks/{webhook}/replay"),
            Some(&key),
            Some(json!({"since": rfc(hookline::clock::now_ms() + 60_000), "until": rfc(hookline::clock::now_ms() + 120_000)})),
        )
        .await;
    assert_eq!(s, 202);
    let job = finished_job(&app, &key, job_id).await;
    assert_eq!(job["state"], "done");
    let n = app
        .sql_i64(
            "SELECT COUNT(*) FROM deliveries WHERE job_id = ?1",
            &[job_id.into()],
        )
        .await;
    assert_eq!(n, 10, "no event was replayed twice");
}

#[tokio::test]
async fn a_job_can_be_cancelled_midway_and_bad_requests_are_refused() {
    let app = spawn_app_with(|c| {
        c.allow_http = Some("true".into());
        c.allowed_networks = Some("127.0.0.0/8".into());
    })
    .await;
    let ws = app.workspace("acme").await;
    let instance = app.api_key(None, "webhooks,events").await;
    app.api(
        Method::POST,
        "/api/v1/event-types",
        Some(&instance),
        Some(json!({"name": "tick"})),
    )
    .await;
    let key = app.api_key(Some(ws), "webhooks,events").await;
    // A webhook created after 3,000 events: a replay has six batches to go.
    let events: Vec<Value> = (0..1000)
        .map(|n| json!({"type": "tick", "data": {"n": n}}))
        .collect();
    for _ in 0..3 {
        let (s, b) = app
            .api(
                Method::POST,
                "/api/v1/events/batch",
                Some(&key),
                Some(json!({"events": events})),
            )
            .await;
        assert_eq!(s, 202, "{b}");
    }
    // Nothing listens there: connection refused, at once.
    let (_, w) = app
        .api(
            Method::POST,
            "/api/v1/webhooks",
            Some(&key),
            Some(json!({"url": "http://127.0.0.1:9/hook", "events": ["*"], "retry_schedule": []})),
        )
        .await;
    let webhook = w["data"]["id"].as_i64().unwrap();
    let since = rfc(hookline::clock::now_ms() - 3_600_000);
    let (s, b) = app
        .api(
            Method::POST,
            &format!("/api/v1/webhooks/{webhook}/replay"),
            Some(&key),
            Some(json!({"since": since})),
        )
        .await;
    assert_eq!(s, 202, "{b}");
    assert_eq!(b["data"]["matched"], 3000);
    let job_id = b["data"]["job_id"].as_i64().unwrap();
    let (s, b) = app
        .api(
            Method::POST,
            &format!("/api/v1/jobs/{job_id}/cancel"),
            Some(&key),
            None,
        )
        .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["data"]["state"], "cancelled");
    let done = b["data"]["done"].as_i64().unwrap();
    assert!(done < 3000, "{b}");
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let (_, b) = app
        .api(
            Method::GET,
            &format!("/api/v1/jobs/{job_id}"),
            Some(&key),
            None,
        )
        .await;
    assert_eq!(
        (b["data"]["state"].as_str(), b["data"]["done"].as_i64()),
        (Some("cancelled"), Some(done)),
        "it stopped"
    );
    let (s, _) = app
        .api(
            Method::POST,
            &format!("/api/v1/jobs/{job_id}/cancel"),
            Some(&key),
            None,
        )
        .await;
    assert_eq!(s, 200, "cancelling twice is harmless");

    // Bad input, each with its field.
    let retry = format!("/api/v1/webhooks/{webhook}/bulk-retry");
    let replay = format!("/api/v1/webhooks/{webhook}/replay");
    for (path, body, field) in [
        (&retry, json!({}), "since"),
        (&retry, json!({"since": "yesterday"}), "since"),
        (
            &retry,
            json!({"since": since, "until": "2000-01-01T00:00:00Z"}),
            "until",
        ),
        (
            &retry,
            json!({"since": since, "status": "succeeded"}),
            "status",
        ),
        (
            &retry,
            json!({"since": since, "status": "pending"}),
            "status",
        ),
        (
            &retry,
            json!({"since": since, "event_type": "a b"}),
            "event_type",
        ),
        (&retry, json!({"since": since, "limit": 5}), "limit"),
        (&retry, json!({"since": 1764720000}), "since"),
        (&replay, json!({}), "since"),
        (
            &replay,
            json!({"since": since, "event_types": "tick"}),
            "event_types",
        ),
        (
            &replay,
            json!({"since": since, "event_types": ["not a type"]}),
            "event_types",
        ),
        (
            &replay,
            json!({"since": since, "event_types": [1]}),
            "event_types[0]",
        ),
        (
            &replay,
            json!({"since": since, "status": "failed"}),
            "status",
        ),
    ] {
        let (s, b) = app
            .api(Method::POST, path, Some(&key), Some(body.clone()))
            .await;
        assert_eq!(s, 422, "{path} {body}: {b}");
        assert_eq!(b["error"]["field"], field, "{path} {body}: {b}");
    }
    // Tenancy and missing things.
    let other_ws = app.workspace("globex").await;
    let other = app.api_key(Some(other_ws), "webhooks,events").await;
    for (m, path, body) in [
        (Method::POST, retry.clone(), Some(json!({"since": since}))),
        (Method::POST, replay.clone(), Some(json!({"since": since}))),
        (Method::GET, format!("/api/v1/jobs/{job_id}"), None),
        (Method::POST, format!("/api/v1/jobs/{job_id}/cancel"), None),
    ] {
        let (s, b) = app.api(m.clone(), &path, Some(&other), body).await;
        assert_eq!(s, 404, "{m} {path}: {b}");
    }
    for path in ["/api/v1/jobs/999999", "/api/v1/jobs/abc", "/api/v1/jobs/0"] {
        let (s, _) = app.api(Method::GET, path, Some(&key), None).await;
        assert_eq!(s, 404, "{path}");
    }
    let (s, _) = app
        .api(
            Method::POST,
            "/api/v1/webhooks/999999/replay",
            Some(&key),
            Some(json!({"since": since})),
        )
        .await;
    assert_eq!(s, 404);
    // A switched-off webhook would send nothing: refused.
    app.api(
        Method::PATCH,
        &format!("/api/v1/webhooks/{webhook}"),
        Some(&key),
        Some(json!({"is_active": false})),
    )
    .await;
    let (s, b) = app
        .api(
            Method::POST,
            &retry,
            Some(&key),
            Some(json!({"since": since})),
        )
        .await;
    assert_eq!(s, 409, "{b}");
}

#[tokio::test]
async fn a_job_cut_short_by_a_restart_resumes() {
    let dir = tempfile::tempdir().unwrap();
    let key = cli_workspace(dir.path(), &["tick"], "webhooks,events");
    let receiver = Receiver::start(Receiver::always(200)).await;
    // The state a crash leaves: failed deliveries and a running job that did one batch.
    {
        let c = hookline::db::open_and_migrate(dir.path()).unwrap();
        let sealed = hookline::crypto::SecretBox::load_or_create(dir.path())
            .unwrap()
            .seal("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSwMfKQ9r8G");
        c.execute(
            "INSERT INTO webhooks (workspace_id, url, events, retry_schedule, retry_count, secret_enc, created_at, updated_at)
             VALUES (1, ?1, '[\"*\"]', '[]', 0, ?2, 0, 0)",
            rusqlite::params![receiver.url, sealed],
        )
        .unwrap();
        for n in 0..1200 {
            c.execute(
                "INSERT INTO events (public_id, workspace_id, type, body, created_at) VALUES (?1, 1, 'tick', ?2, ?3)",
                rusqlite::params![format!("evt_{n}"), format!("{{\"id\":\"evt_{n}\",\"type\":\"tick\",\"timestamp\":\"2026-01-01T00:00:00Z\",\"data\":{{}}}}"), T0 + n],
            )
            .unwrap();
            c.execute(
                "INSERT INTO deliveries (workspace_id, webhook_id, event_id, event_type, status, attempt_count, created_at, updated_at)
                 VALUES (1, 1, last_insert_rowid(), 'tick', 'failed', 1, ?1, ?1)",
                [T0 + n],
            )
            .unwrap();
        }
        c.execute(
            "INSERT INTO jobs (workspace_id, webhook_id, kind, params, state, total, done, cursor, created_at, updated_at)
             VALUES (1, 1, 'bulk_retry', ?1, 'running', 1200, 500, 500, 0, 0)",
            [json!({"status": "failed", "since": T0, "until": T0 + 10_000}).to_string()],
        )
        .unwrap();
    }
    let server = start_server(dir.path(), &[("HOOKLINE_DEV", "true")]);
    let http = crate::helpers::client().build().unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let job: Value = http
            .get(format!("{}/api/v1/jobs/1", server.base))
            .bearer_auth(&key)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if job["data"]["state"] == "done" {
            assert_eq!(job["data"]["done"], 1200);
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{job}");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    // It went on from its cursor: the first batch is not sent again.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while receiver.count() < 700 {
        assert!(
            std::time::Instant::now() < deadline,
            "{} sent",
            receiver.count()
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(receiver.count(), 700);
}

#[tokio::test]
async fn stats_count_a_webhooks_attempts_by_hour_and_day() {
    let h = history().await;
    let check = |b: &Value, window: &str, n: usize| {
        let d = &b["data"];
        assert_eq!(d["window"], window);
        assert_eq!(d["buckets"].as_array().unwrap().len(), n, "{b}");
        let sum = |k: &str| {
            d["buckets"]
                .as_array()
                .unwrap()
                .iter()
                .map(|x| x[k].as_i64().unwrap())
                .sum::<i64>()
        };
        assert_eq!(sum("attempts"), d["totals"]["attempts"].as_i64().unwrap());
        assert_eq!(sum("succeeded") + sum("failed"), sum("attempts"));
        let starts: Vec<i64> = d["buckets"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| ms(x["start"].as_str().unwrap()))
            .collect();
        assert!(starts.windows(2).all(|w| w[1] > w[0]), "oldest first");
        let now = hookline::clock::now_ms();
        assert!(
            *starts.last().unwrap() <= now,
            "the last bucket is the current one"
        );
    };
    for (webhook, succeeded, failed) in [(h.ok, 12, 0), (h.bad, 0, 12)] {
        for (window, n, bucket) in [("24h", 24, "hour"), ("7d", 7, "day")] {
            let (s, b) = h
                .app
                .api(
                    Method::GET,
                    &format!("/api/v1/webhooks/{webhook}/stats?window={window}"),
                    Some(&h.key),
                    None,
                )
                .await;
            assert_eq!(s, 200, "{b}");
            check(&b, window, n);
            assert_eq!(b["data"]["bucket"], bucket);
            let t = &b["data"]["totals"];
            assert_eq!(
                (t["succeeded"].as_i64(), t["failed"].as_i64()),
                (Some(succeeded), Some(failed)),
                "{b}"
            );
            let rate = b["data"]["success_rate"].as_f64().unwrap();
            assert!((rate - succeeded as f64 / 12.0).abs() < 1e-9, "{b}");
            let p50 = t["p50_ms"].as_i64().unwrap();
            assert!(p50 <= t["p95_ms"].as_i64().unwrap() && p50 < 1000, "{b}");
        }
    }
    // Default window, empty webhook, bad windows, tenancy.
    let (_, b) = h
        .app
        .api(
            Method::GET,
            &format!("/api/v1/webhooks/{}/stats", h.ok),
            Some(&h.key),
            None,
        )
        .await;
    assert_eq!(b["data"]["window"], "24h");
    let (_, w) = h
        .app
        .api(
            Method::POST,
            "/api/v1/webhooks",
            Some(&h.key),
            Some(json!({"url": "https://example.com/h", "events": ["*"], "is_active": false})),
        )
        .await;
    let idle = w["data"]["id"].as_i64().unwrap();
    let (s, b) = h
        .app
        .api(
            Method::GET,
            &format!("/api/v1/webhooks/{idle}/stats"),
            Some(&h.key),
            None,
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(b["data"]["success_rate"], Value::Null);
    assert_eq!(b["data"]["totals"]["p95_ms"], Value::Null);
    for bad in ["1h", "24H", "30d", "week"] {
        let (s, b) = h
            .app
            .api(
                Method::GET,
                &format!("/api/v1/webhooks/{}/stats?window={bad}", h.ok),
                Some(&h.key),
                None,
            )
            .await;
        assert_eq!(s, 422, "{bad}: {b}");
        assert_eq!(b["error"]["field"], "window");
    }
    let other_ws = h.app.workspace("globex").await;
    let other = h.app.api_key(Some(other_ws), "webhooks").await;
    let (s, _) = h
        .app
        .api(
            Method::GET,
            &format!("/api/v1/webhooks/{}/stats", h.ok),
            Some(&other),
            None,
        )
        .await;
    assert_eq!(s, 404);
}

/// A filter the indexes do not answer looks through a bounded span per call: a needle in
/// 120,000 rows comes back over a few short pages, each continuing where the last stopped.
#[tokio::test]
async fn a_needle_in_a_big_history_is_found_over_bounded_pages() {
    let h = history().await;
    let (ws, webhook) = (
        h.app
            .store
            .workspace_by_slug("acme")
            .await
            .unwrap()
            .unwrap()
            .id,
        h.ok,
    );
    h.app
        .sql_run(
            &format!(
                "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 120000)
                 INSERT INTO events (public_id, workspace_id, type, body, created_at)
                   SELECT 'evt_n' || i, {ws}, 'order.paid', '{{}}', {T0} + 10000000 + i FROM n"
            ),
            &[],
        )
        .await;
    h.app
        .sql_run(
            &format!(
                "INSERT INTO deliveries (workspace_id, webhook_id, event_id, event_type, status, attempt_count, last_status_code, created_at, updated_at)
                   SELECT {ws}, {webhook}, id, type, 'succeeded', 1, 200, created_at, created_at FROM events WHERE public_id LIKE 'evt_n%'"
            ),
            &[],
        )
        .await;
    let max = h.app.sql_i64("SELECT MAX(id) FROM deliveries", &[]).await;
    let needles = vec![max - 5, max - 70_000, max - 115_000];
    for id in &needles {
        h.app
            .sql_run(
                "UPDATE deliveries SET last_status_code = 418 WHERE id = ?1",
                &[(*id).into()],
            )
            .await;
    }
    for path in [
        "/api/v1/deliveries?http_status=418".to_string(),
        format!("/api/v1/webhooks/{webhook}/deliveries?http_status=418"),
        "/api/v1/deliveries?http_status=418&event_type=order.paid".to_string(),
    ] {
        // Every page is short here, and there are several: the search went on in spans.
        let mut pages = 0;
        let mut got = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let url = match &cursor {
                None => format!("{path}&limit=10"),
                Some(c) => format!("{path}&limit=10&cursor={c}"),
            };
            let (s, b) = h.app.api(Method::GET, &url, Some(&h.key), None).await;
            assert_eq!(s, 200, "{b}");
            pages += 1;
            got.extend(
                b["data"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|d| d["id"].as_i64().unwrap()),
            );
            cursor = b["meta"]["next_cursor"].as_str().map(str::to_string);
            if cursor.is_none() {
                break;
            }
            assert!(pages < 20, "{path}: no end");
        }
        assert_eq!(got, needles, "{path}");
        assert!(pages >= 3, "{path}: {pages} pages");
    }
    // Indexed filters are not cut into spans: one page holds what matches.
    let (_, b) = h
        .app
        .api(
            Method::GET,
            &format!("/api/v1/webhooks/{webhook}/deliveries?status=succeeded&limit=100"),
            Some(&h.key),
            None,
        )
        .await;
    assert_eq!(b["data"].as_array().unwrap().len(), 100);
}
