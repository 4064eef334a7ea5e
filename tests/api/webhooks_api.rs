//! `/api/v1/webhooks`: validation, secrets, partial updates, pagination, tenancy.

use crate::helpers::*;
use reqwest::Method;
use serde_json::{json, Value};

pub struct Fixture {
    pub app: TestApp,
    pub ws: i64,
    pub key: String,
}

/// An app with workspace `acme`, event types `project.created` and `project.deleted`, and a
/// workspace key with both scopes.
pub async fn fixture() -> Fixture {
    fixture_with(|_| {}).await
}

pub async fn fixture_with(adjust: impl FnOnce(&mut hookline::config::RawConfig)) -> Fixture {
    fixture_configured(adjust, |_| {}).await
}

/// [`fixture_with`], with a last say on the parsed configuration.
pub async fn fixture_configured(
    adjust: impl FnOnce(&mut hookline::config::RawConfig),
    adjust_config: impl FnOnce(&mut hookline::config::Config),
) -> Fixture {
    let app = spawn_app_configured(tempfile::tempdir().unwrap(), adjust, adjust_config).await;
    let ws = app.workspace("acme").await;
    let admin = app.api_key(None, "webhooks,events").await;
    for name in ["project.created", "project.deleted"] {
        let (s, _) = app
            .api(
                Method::POST,
                "/api/v1/event-types",
                Some(&admin),
                Some(json!({"name": name, "example": {"id": 1}})),
            )
            .await;
        assert_eq!(s, 201);
    }
    let key = app.api_key(Some(ws), "webhooks,events").await;
    Fixture { app, ws, key }
}

impl Fixture {
    pub async fn call(&self, method: Method, path: &str, body: Option<Value>) -> (u16, Value) {
        self.app.api(method, path, Some(&self.key), body).await
    }
    pub async fn create_webhook(&self, body: Value) -> Value {
        let (s, b) = self
            .call(Method::POST, "/api/v1/webhooks", Some(body))
            .await;
        assert_eq!(s, 201, "{b}");
        b["data"].clone()
    }
}

#[tokio::test]
async fn create_read_list_update_delete() {
    let f = fixture().await;
    let w = f
        .create_webhook(json!({
            "url": "https://example.com/hooks?api_key=abc",
            "events": ["project.created"],
            "name": "CRM sync",
            "headers": {"X-Team": "crm"},
            "notification_email": "ops@example.com"
        }))
        .await;
    let id = w["id"].as_i64().unwrap();
    assert!(w["secret"].as_str().unwrap().starts_with("whsec_"));
    assert_eq!(w["is_active"], true);
    assert_eq!(w["timeout_seconds"], 30);
    assert_eq!(w["retry_schedule"], json!([60, 300, 1800, 7200]));
    assert_eq!(w["retry_count"], 4);
    assert_eq!(w["failure_count"], 0);
    assert_eq!(w["last_triggered_at"], Value::Null);

    // The single read shows the secret; the list never does.
    let (s, one) = f
        .call(Method::GET, &format!("/api/v1/webhooks/{id}"), None)
        .await;
    assert_eq!(s, 200);
    assert_eq!(one["data"]["secret"], w["secret"]);
    let (_, list) = f.call(Method::GET, "/api/v1/webhooks", None).await;
    assert_eq!(list["data"][0]["id"], id);
    assert!(list["data"][0].get("secret").is_none());

    // PATCH is partial; seed 001's "10 tries every 6 minutes" is nine 360s.
    let (s, up) = f
        .call(Method::PATCH, &format!("/api/v1/webhooks/{id}"), Some(json!({"retry_schedule": [360,360,360,360,360,360,360,360,360], "is_active": false})))
        .await;
    assert_eq!(s, 200, "{up}");
    assert_eq!(up["data"]["retry_count"], 9);
    assert_eq!(up["data"]["is_active"], false);
    assert_eq!(up["data"]["name"], "CRM sync");
    assert_eq!(up["data"]["url"], "https://example.com/hooks?api_key=abc");
    let (_, up) = f
        .call(
            Method::PATCH,
            &format!("/api/v1/webhooks/{id}"),
            Some(json!({"notification_email": null})),
        )
        .await;
    assert_eq!(up["data"]["notification_email"], Value::Null);
    let (_, up) = f
        .call(
            Method::PATCH,
            &format!("/api/v1/webhooks/{id}"),
            Some(json!({"retry_count": 2})),
        )
        .await;
    assert_eq!(up["data"]["retry_schedule"], json!([60, 300]));

    let (s, _) = f
        .call(Method::DELETE, &format!("/api/v1/webhooks/{id}"), None)
        .await;
    assert_eq!(s, 200);
    let (s, b) = f
        .call(Method::GET, &format!("/api/v1/webhooks/{id}"), None)
        .await;
    assert_eq!(s, 404);
    assert_error(&b, "not_found");
}

#[tokio::test]
async fn each_bad_field_is_a_422_naming_it() {
    let f = fixture().await;
    let ok = json!({"url": "https://example.com/h", "events": ["*"]});
    let with = |k: &str, v: Value| {
        let mut b = ok.clone();
        b[k] = v;
        b
    };
    let cases = vec![
        (json!({"events": ["*"]}), "url"),
        (json!({"url": "https://example.com/h"}), "events"),
        (with("url", json!("http://example.com/h")), "url"),
        (with("url", json!("not a url")), "url"),
        (with("url", json!("https://user:pw@example.com/")), "url"),
        (with("url", json!("https://")), "url"),
        (with("events", json!([])), "events"),
        (with("events", json!(["nope.unknown"])), "events"),
        (with("events", json!("*")), "events"),
        (with("headers", json!({"Host": "x"})), "headers.Host"),
        (
            with("headers", json!({"X-Hookline-Signature": "x"})),
            "headers.X-Hookline-Signature",
        ),
        (
            with("headers", json!({"Bad Name": "x"})),
            "headers.Bad Name",
        ),
        (
            with("headers", json!({"X-A": "line\nbreak"})),
            "headers.X-A",
        ),
        (with("timeout_seconds", json!(0)), "timeout_seconds"),
        (with("timeout_seconds", json!(61)), "timeout_seconds"),
        (with("timeout_seconds", json!("30")), "timeout_seconds"),
        (with("retry_count", json!(21)), "retry_count"),
        (with("retry_count", json!(-1)), "retry_count"),
        (
            with("retry_schedule", json!(vec![60; 21])),
            "retry_schedule",
        ),
        (with("retry_schedule", json!([60, 0])), "retry_schedule[1]"),
        (with("retry_schedule", json!([700000])), "retry_schedule[0]"),
        (with("secret", json!("plain-secret")), "secret"),
        (with("secret", json!("whsec_c2hvcnQ=")), "secret"),
        (
            with("notification_email", json!("nope")),
            "notification_email",
        ),
        (with("name", json!("x".repeat(101))), "name"),
        (with("is_active", json!("yes")), "is_active"),
        (with("unknown_field", json!(1)), "unknown_field"),
    ];
    for (body, field) in cases {
        let (s, b) = f
            .call(Method::POST, "/api/v1/webhooks", Some(body.clone()))
            .await;
        assert_eq!(s, 422, "{body} -> {b}");
        assert_eq!(b["error"]["field"], field, "{body} -> {b}");
        assert!(b["error"]["message"].as_str().unwrap().len() > 10);
    }
    // Nothing was stored.
    let (_, list) = f.call(Method::GET, "/api/v1/webhooks", None).await;
    assert_eq!(list["data"], json!([]));
}

#[tokio::test]
async fn http_urls_are_allowed_only_when_configured() {
    let f = fixture_with(|r| r.allow_http = Some("true".into())).await;
    f.create_webhook(json!({"url": "http://example.com/h", "events": ["*"]}))
        .await;
}

#[tokio::test]
async fn own_secret_and_rotation() {
    let f = fixture().await;
    let own = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSwMfKQ9r8G";
    let w = f
        .create_webhook(json!({"url": "https://example.com/h", "events": ["*"], "secret": own}))
        .await;
    assert_eq!(w["secret"], own);
    let id = w["id"].as_i64().unwrap();
    let (s, b) = f
        .call(
            Method::PATCH,
            &format!("/api/v1/webhooks/{id}"),
            Some(json!({"secret": own})),
        )
        .await;
    assert_eq!(s, 422);
    assert_eq!(b["error"]["field"], "secret");
    let (s, r) = f
        .call(
            Method::POST,
            &format!("/api/v1/webhooks/{id}/rotate-secret"),
            None,
        )
        .await;
    assert_eq!(s, 200, "{r}");
    let new = r["data"]["secret"].as_str().unwrap().to_string();
    assert!(new.starts_with("whsec_") && new != own);
    assert!(r["data"]["previous_secret_expires_at"].is_string());
    let (_, one) = f
        .call(Method::GET, &format!("/api/v1/webhooks/{id}"), None)
        .await;
    assert_eq!(one["data"]["secret"], new.as_str());
    // The secrets are not stored in clear text: no column holds them, as text or as bytes.
    let row = f
        .app
        .sql("SELECT * FROM webhooks WHERE id = ?1", &[id.into()])
        .await
        .remove(0);
    for secret in [new.as_str(), own] {
        let hexed = hex::encode(secret.as_bytes());
        for v in &row {
            let v = v.to_string();
            assert!(!v.contains(secret) && !v.contains(&hexed), "{v}");
        }
    }
    // Nor anywhere in SQLite's files (the database and its write-ahead log).
    if f.app.pg_url.is_none() {
        let path = hookline::db::db_path(&f.app.data_path());
        let mut raw = std::fs::read(&path).unwrap();
        raw.extend(std::fs::read(path.with_extension("db-wal")).unwrap_or_default());
        for secret in [new.as_str(), own] {
            assert!(!raw.windows(secret.len()).any(|w| w == secret.as_bytes()));
        }
    }
}

#[tokio::test]
async fn list_paginates_with_an_opaque_cursor() {
    let f = fixture().await;
    for i in 0..5 {
        f.create_webhook(json!({"url": format!("https://example.com/{i}"), "events": ["*"]}))
            .await;
    }
    let (_, p1) = f.call(Method::GET, "/api/v1/webhooks?limit=2", None).await;
    assert_eq!(p1["data"].as_array().unwrap().len(), 2);
    let cursor = p1["meta"]["next_cursor"].as_str().unwrap().to_string();
    let (_, p2) = f
        .call(
            Method::GET,
            &format!("/api/v1/webhooks?limit=2&cursor={cursor}"),
            None,
        )
        .await;
    assert_eq!(p2["data"][0]["url"], "https://example.com/2");
    let c2 = p2["meta"]["next_cursor"].as_str().unwrap().to_string();
    let (_, p3) = f
        .call(
            Method::GET,
            &format!("/api/v1/webhooks?limit=2&cursor={c2}"),
            None,
        )
        .await;
    assert_eq!(p3["data"].as_array().unwrap().len(), 1);
    assert_eq!(p3["meta"]["next_cursor"], Value::Null);
    let (s, b) = f
        .call(Method::GET, "/api/v1/webhooks?cursor=garbage!", None)
        .await;
    assert_eq!(s, 422);
    assert_eq!(b["error"]["field"], "cursor");
    let (s, _) = f.call(Method::GET, "/api/v1/webhooks?limit=0", None).await;
    assert_eq!(s, 422);
    let (s, _) = f
        .call(Method::GET, "/api/v1/webhooks?limit=abc", None)
        .await;
    assert_eq!(s, 400);
}

#[tokio::test]
async fn scopes_are_enforced() {
    let f = fixture().await;
    let publisher = f.app.api_key(Some(f.ws), "events").await;
    let (s, b) = f
        .app
        .api(Method::GET, "/api/v1/webhooks", Some(&publisher), None)
        .await;
    assert_eq!(s, 403);
    assert!(b["error"]["message"].as_str().unwrap().contains("webhooks"));
    let manager = f.app.api_key(Some(f.ws), "webhooks").await;
    let (s, _) = f
        .app
        .api(
            Method::POST,
            "/api/v1/events",
            Some(&manager),
            Some(json!({"type": "project.created", "data": {}})),
        )
        .await;
    assert_eq!(s, 403);
}

#[tokio::test]
async fn instance_keys_need_the_workspace_header() {
    let f = fixture().await;
    let inst = f.app.api_key(None, "webhooks,events").await;
    let (s, b) = f
        .app
        .api(Method::GET, "/api/v1/webhooks", Some(&inst), None)
        .await;
    assert_eq!(s, 400);
    assert_eq!(b["error"]["field"], "Hookline-Workspace");
    let r = f
        .app
        .http
        .post(f.app.url("/api/v1/webhooks"))
        .bearer_auth(&inst)
        .header("Hookline-Workspace", "acme")
        .json(&json!({"url": "https://example.com/h", "events": ["*"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let (_, list) = f.call(Method::GET, "/api/v1/webhooks", None).await;
    assert_eq!(list["data"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn another_workspaces_ids_answer_404_on_every_route() {
    let f = fixture().await;
    let w = f
        .create_webhook(json!({"url": "https://example.com/h", "events": ["*"]}))
        .await;
    let id = w["id"].as_i64().unwrap();
    let (_, ev) = f
        .call(
            Method::POST,
            "/api/v1/events",
            Some(json!({"type": "project.created", "data": {"a": 1}})),
        )
        .await;
    let event_id = ev["data"]["id"].as_str().unwrap().to_string();
    let (_, dl) = f
        .call(
            Method::GET,
            &format!("/api/v1/webhooks/{id}/deliveries"),
            None,
        )
        .await;
    let delivery_id = dl["data"][0]["id"].as_i64().unwrap();

    let other_ws = f.app.workspace("other").await;
    let other = f.app.api_key(Some(other_ws), "webhooks,events").await;
    let routes: Vec<(Method, String, Option<Value>)> = vec![
        (Method::GET, format!("/api/v1/webhooks/{id}"), None),
        (
            Method::PATCH,
            format!("/api/v1/webhooks/{id}"),
            Some(json!({"name": "x"})),
        ),
        (Method::DELETE, format!("/api/v1/webhooks/{id}"), None),
        (
            Method::POST,
            format!("/api/v1/webhooks/{id}/rotate-secret"),
            None,
        ),
        (Method::POST, format!("/api/v1/webhooks/{id}/test"), None),
        (
            Method::GET,
            format!("/api/v1/webhooks/{id}/deliveries"),
            None,
        ),
        (
            Method::GET,
            format!("/api/v1/deliveries/{delivery_id}"),
            None,
        ),
        (
            Method::POST,
            format!("/api/v1/deliveries/{delivery_id}/retry"),
            None,
        ),
        (Method::GET, format!("/api/v1/events/{event_id}"), None),
    ];
    for (m, path, body) in routes {
        let (s, b) = f.app.api(m.clone(), &path, Some(&other), body).await;
        assert_eq!(s, 404, "{m} {path} -> {b}");
        assert_error(&b, "not_found");
    }
    // And the other workspace's list is empty.
    let (_, list) = f
        .app
        .api(Method::GET, "/api/v1/webhooks", Some(&other), None)
        .await;
    assert_eq!(list["data"], json!([]));
    // The owner still sees everything intact.
    let (s, _) = f
        .call(Method::GET, &format!("/api/v1/webhooks/{id}"), None)
        .await;
    assert_eq!(s, 200);
}

#[tokio::test]
async fn non_numeric_ids_are_404() {
    let f = fixture().await;
    // Webhook 1 exists: other spellings of its id must not find it.
    let w = f
        .create_webhook(json!({"url": "https://example.com/h", "events": ["*"]}))
        .await;
    assert_eq!(w["id"], 1);
    for path in [
        "/api/v1/webhooks/abc",
        "/api/v1/webhooks/-1",
        "/api/v1/deliveries/xyz",
        "/api/v1/webhooks/99999999999999999999",
        "/api/v1/webhooks/+1",
        "/api/v1/webhooks/%2B1",
        "/api/v1/webhooks/01",
        "/api/v1/webhooks/001",
        "/api/v1/webhooks/1.0",
        "/api/v1/webhooks/0x1",
    ] {
        let (s, b) = f.call(Method::GET, path, None).await;
        assert_eq!(s, 404, "{path}");
        assert_error(&b, "not_found");
    }
}
