//! `/api/v1/events`: fan-out, validation, idempotency, batches; deliveries listing.

use crate::webhooks_api::fixture;
use reqwest::Method;
use serde_json::{json, Value};

#[tokio::test]
async fn publish_fans_out_to_matching_active_webhooks() {
    let f = fixture().await;
    let all = f
        .create_webhook(json!({"url": "https://a.example.com/", "events": ["*"]}))
        .await;
    let created = f
        .create_webhook(json!({"url": "https://b.example.com/", "events": ["project.created"]}))
        .await;
    f.create_webhook(json!({"url": "https://c.example.com/", "events": ["project.deleted"]}))
        .await;
    f.create_webhook(json!({"url": "https://d.example.com/", "events": ["*"], "is_active": false}))
        .await;
    let (s, b) = f
        .call(
            Method::POST,
            "/api/v1/events",
            Some(
                json!({"type": "project.created", "data": {"project_id": 42, "name": "Ünïcode ✓"}}),
            ),
        )
        .await;
    assert_eq!(s, 202, "{b}");
    assert_eq!(b["data"]["deliveries"], 2);
    let id = b["data"]["id"].as_str().unwrap();
    assert!(id.starts_with("evt_") && !id.contains('.'));
    let (s, e) = f
        .call(Method::GET, &format!("/api/v1/events/{id}"), None)
        .await;
    assert_eq!(s, 200);
    assert_eq!(e["data"]["data"]["name"], "Ünïcode ✓");
    let hooks: Vec<i64> = e["data"]["deliveries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["webhook_id"].as_i64().unwrap())
        .collect();
    assert_eq!(
        hooks,
        vec![all["id"].as_i64().unwrap(), created["id"].as_i64().unwrap()]
    );
    // The stored payload is the documented body.
    let did = e["data"]["deliveries"][0]["id"].as_i64().unwrap();
    let (_, d) = f
        .call(Method::GET, &format!("/api/v1/deliveries/{did}"), None)
        .await;
    let payload: Value = serde_json::from_str(d["data"]["payload"].as_str().unwrap()).unwrap();
    assert_eq!(payload["id"], id);
    assert_eq!(payload["type"], "project.created");
    assert_eq!(payload["data"]["project_id"], 42);
    assert!(payload["timestamp"].as_str().unwrap().ends_with('Z'));
    // last_triggered_at is kept.
    let (_, w) = f
        .call(
            Method::GET,
            &format!("/api/v1/webhooks/{}", all["id"]),
            None,
        )
        .await;
    assert!(w["data"]["last_triggered_at"].is_string());
}

#[tokio::test]
async fn bad_events_are_refused_and_nothing_is_stored() {
    let f = fixture().await;
    f.create_webhook(json!({"url": "https://a.example.com/", "events": ["*"]}))
        .await;
    let cases = vec![
        (json!({"type": "nope.unknown", "data": {}}), 422, "type"),
        (json!({"type": "bad type", "data": {}}), 422, "type"),
        (
            json!({"type": "project.created", "data": [1, 2]}),
            422,
            "data",
        ),
        (json!({"type": "project.created", "data": "x"}), 422, "data"),
        (json!({"type": "project.created"}), 422, "body"),
        (json!({"data": {}}), 422, "body"),
        (
            json!({"type": "project.created", "data": {}, "extra": 1}),
            422,
            "extra",
        ),
        (
            json!({"type": "project.created", "data": {"big": "x".repeat(300 * 1024)}}),
            413,
            "",
        ),
    ];
    for (body, status, field) in cases {
        let (s, b) = f
            .call(Method::POST, "/api/v1/events", Some(body.clone()))
            .await;
        assert_eq!(s, status, "{b}");
        if !field.is_empty() {
            assert_eq!(b["error"]["field"], field, "{b}");
        }
    }
    let n: i64 = f.app.sql_i64("SELECT count(*) FROM events", &[]).await;
    assert_eq!(n, 0);
}

#[tokio::test]
async fn idempotency_key_returns_the_first_answer() {
    let f = fixture().await;
    f.create_webhook(json!({"url": "https://a.example.com/", "events": ["*"]}))
        .await;
    let send = |body: Value, key: &'static str| {
        let req = f
            .app
            .http
            .post(f.app.url("/api/v1/events"))
            .bearer_auth(&f.key)
            .header("Idempotency-Key", key)
            .json(&body);
        async move {
            let r = req.send().await.unwrap();
            let replayed = r.headers().contains_key("idempotent-replayed");
            (
                r.status().as_u16(),
                replayed,
                r.json::<Value>().await.unwrap(),
            )
        }
    };
    let body = json!({"type": "project.created", "data": {"n": 1}});
    let (s1, r1, b1) = send(body.clone(), "k-1").await;
    let (s2, r2, b2) = send(body.clone(), "k-1").await;
    assert_eq!((s1, r1, s2, r2), (202, false, 202, true));
    assert_eq!(b1["data"]["id"], b2["data"]["id"]);
    let (s3, _, b3) = send(json!({"type": "project.created", "data": {"n": 2}}), "k-1").await;
    assert_eq!(s3, 422);
    assert_eq!(b3["error"]["field"], "Idempotency-Key");
    let (s4, _, b4) = send(body, "k-2").await;
    assert_eq!(s4, 202);
    assert_ne!(b4["data"]["id"], b1["data"]["id"]);
    let n: i64 = f.app.sql_i64("SELECT count(*) FROM events", &[]).await;
    assert_eq!(n, 2);
}

#[tokio::test]
async fn batches_are_all_or_nothing() {
    let f = fixture().await;
    f.create_webhook(json!({"url": "https://a.example.com/", "events": ["*"]}))
        .await;
    let events: Vec<Value> = (0..1000)
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
    assert_eq!(b["data"]["deliveries"], 1000);
    assert_eq!(b["data"]["events"].as_array().unwrap().len(), 1000);
    let mut bad: Vec<Value> = (0..5)
        .map(|i| json!({"type": "project.created", "data": {"i": i}}))
        .collect();
    bad[3] = json!({"type": "nope.unknown", "data": {}});
    let (s, b) = f
        .call(
            Method::POST,
            "/api/v1/events/batch",
            Some(json!({"events": bad})),
        )
        .await;
    assert_eq!(s, 422);
    assert_eq!(b["error"]["field"], "events[3].type");
    let mut bad: Vec<Value> = (0..5)
        .map(|i| json!({"type": "project.created", "data": {"i": i}}))
        .collect();
    bad[2] = json!({"type": "project.created", "data": 7});
    let (s, b) = f
        .call(
            Method::POST,
            "/api/v1/events/batch",
            Some(json!({"events": bad})),
        )
        .await;
    assert_eq!(s, 422);
    assert_eq!(b["error"]["field"], "events[2].data");
    let (s, _) = f
        .call(
            Method::POST,
            "/api/v1/events/batch",
            Some(json!({"events": []})),
        )
        .await;
    assert_eq!(s, 422);
    let too_many: Vec<Value> = (0..1001)
        .map(|_| json!({"type": "project.created", "data": {}}))
        .collect();
    let (s, _) = f
        .call(
            Method::POST,
            "/api/v1/events/batch",
            Some(json!({"events": too_many})),
        )
        .await;
    assert_eq!(s, 422);
    let n: i64 = f.app.sql_i64("SELECT count(*) FROM events", &[]).await;
    assert_eq!(n, 1000);
}

#[tokio::test]
async fn deliveries_filter_paginate_and_retry() {
    let f = crate::webhooks_api::fixture_with(|r| {
        r.allow_http = Some("true".into());
        r.allowed_networks = Some("127.0.0.0/8".into());
    })
    .await;
    let rx = crate::receiver::Receiver::start(crate::receiver::Receiver::always(500)).await;
    let w = f
        .create_webhook(json!({"url": rx.url, "events": ["*"], "retry_schedule": [600]}))
        .await;
    let id = w["id"].as_i64().unwrap();
    for i in 0..5 {
        let t = if i % 2 == 0 {
            "project.created"
        } else {
            "project.deleted"
        };
        f.call(
            Method::POST,
            "/api/v1/events",
            Some(json!({"type": t, "data": {"i": i}})),
        )
        .await;
    }
    // Each gets one failed attempt, then waits ten minutes: deterministic statuses.
    f.wait_deliveries(id, |l| {
        l.len() == 5 && l.iter().all(|d| d["status"] == "retrying")
    })
    .await;
    let (s, all) = f
        .call(
            Method::GET,
            &format!("/api/v1/webhooks/{id}/deliveries"),
            None,
        )
        .await;
    assert_eq!(s, 200);
    let ids: Vec<i64> = all["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids.len(), 5);
    assert!(ids.windows(2).all(|w| w[0] > w[1]), "newest first");
    let (_, created) = f
        .call(
            Method::GET,
            &format!("/api/v1/webhooks/{id}/deliveries?event_type=project.created"),
            None,
        )
        .await;
    assert_eq!(created["data"].as_array().unwrap().len(), 3);
    let (_, pending) = f
        .call(
            Method::GET,
            &format!("/api/v1/webhooks/{id}/deliveries?status=retrying&limit=2"),
            None,
        )
        .await;
    assert_eq!(pending["data"].as_array().unwrap().len(), 2);
    let cursor = pending["meta"]["next_cursor"].as_str().unwrap();
    let (_, next) = f
        .call(
            Method::GET,
            &format!("/api/v1/webhooks/{id}/deliveries?status=retrying&limit=2&cursor={cursor}"),
            None,
        )
        .await;
    assert_eq!(next["data"][0]["id"].as_i64().unwrap(), ids[2]);
    let (s, b) = f
        .call(
            Method::GET,
            &format!("/api/v1/webhooks/{id}/deliveries?status=weird"),
            None,
        )
        .await;
    assert_eq!(s, 422);
    assert_eq!(b["error"]["field"], "status");
    let (s, _) = f
        .call(
            Method::GET,
            &format!("/api/v1/webhooks/{id}/deliveries?limit=101"),
            None,
        )
        .await;
    assert_eq!(s, 422);
    let (s, r) = f
        .call(
            Method::POST,
            &format!("/api/v1/deliveries/{}/retry", ids[0]),
            None,
        )
        .await;
    assert_eq!(s, 202, "{r}");
    assert!(r["data"]["next_attempt_at"].is_string());
    let (s, _) = f
        .call(Method::GET, "/api/v1/webhooks/999/deliveries", None)
        .await;
    assert_eq!(s, 404);
}
