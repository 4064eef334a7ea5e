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
    app.db
        .write(|c| {
            c.execute("UPDATE deliveries SET created_at = ?1 + id * 60000", [T0])?;
            Ok(())
        })
        .await
        .unwrap();
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
                    .db
                    .read(|c| {
                        Ok(hookline::db::repo::workspace_by_slug(c, "acme")?
                            .unwrap()
                            .id)
                    })
                    .await
                    .unwrap(),
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
