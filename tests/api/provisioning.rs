//! The provisioning API a vendor's backend drives: workspaces (with their plan), a
//! workspace's API keys, and portal links. Real app, real HTTP, real SQLite.

use std::time::Duration;

use crate::helpers::*;
use crate::receiver::Receiver;
use reqwest::Method;
use serde_json::{json, Value};

/// An app with an instance key for provisioning (and publishing, for the delete test).
struct Vendor {
    app: TestApp,
    key: String,
}

async fn vendor() -> Vendor {
    vendor_with(|_| {}).await
}

async fn vendor_with(adjust: impl FnOnce(&mut hookline::config::RawConfig)) -> Vendor {
    let app = spawn_app_with(|c| {
        c.allowed_networks = Some("127.0.0.0/8".into());
        c.allow_http = Some("true".into());
        adjust(c);
    })
    .await;
    let key = app.api_key(None, "workspaces,portal,webhooks,events").await;
    Vendor { app, key }
}

impl Vendor {
    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> (u16, Value) {
        self.app.api(method, path, Some(&self.key), body).await
    }
    /// A call acting in workspace `ws` (the `Hookline-Workspace` header).
    async fn call_in(
        &self,
        ws: &str,
        method: Method,
        path: &str,
        key: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut req = self
            .app
            .http
            .request(method, self.app.url(path))
            .bearer_auth(key)
            .header("Hookline-Workspace", ws);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or_else(|_| panic!("{status}: {text}")),
        )
    }
    async fn create(&self, slug: &str) -> Value {
        let (s, b) = self
            .call(
                Method::POST,
                "/api/v1/workspaces",
                Some(json!({"slug": slug, "name": format!("{slug} Inc.")})),
            )
            .await;
        assert_eq!(s, 201, "{b}");
        b["data"].clone()
    }
}

#[tokio::test]
async fn workspaces_are_created_read_listed_changed_and_deleted() {
    let v = vendor().await;
    let (s, b) = v
        .call(
            Method::POST,
            "/api/v1/workspaces",
            Some(json!({"slug": "acme", "name": "Acme Corp"})),
        )
        .await;
    assert_eq!(s, 201, "{b}");
    let ws = &b["data"];
    assert_eq!(ws["slug"], "acme");
    assert_eq!(ws["name"], "Acme Corp");
    assert_eq!(ws["webhooks_enabled"], true);
    assert_eq!(ws["max_webhooks"], Value::Null);
    assert!(ws["created_at"].as_str().unwrap().ends_with('Z'));

    // A name is optional: the slug stands in.
    let (s, b) = v
        .call(
            Method::POST,
            "/api/v1/workspaces",
            Some(json!({"slug": "bare"})),
        )
        .await;
    assert_eq!((s, b["data"]["name"].as_str()), (201, Some("bare")), "{b}");

    // A duplicate slug is a conflict, whatever the name.
    let (s, b) = v
        .call(
            Method::POST,
            "/api/v1/workspaces",
            Some(json!({"slug": "acme", "name": "Other"})),
        )
        .await;
    assert_eq!(s, 409, "{b}");
    assert_error(&b, "conflict");

    let (s, b) = v.call(Method::GET, "/api/v1/workspaces/acme", None).await;
    assert_eq!(
        (s, b["data"]["name"].as_str()),
        (200, Some("Acme Corp")),
        "{b}"
    );
    let (s, b) = v.call(Method::GET, "/api/v1/workspaces/nope", None).await;
    assert_eq!(s, 404, "{b}");
    assert_error(&b, "not_found");

    // PATCH: the name and the plan; null removes the cap; the slug cannot change.
    let (s, b) = v
        .call(
            Method::PATCH,
            "/api/v1/workspaces/acme",
            Some(json!({"name": "Acme Inc.", "webhooks_enabled": false, "max_webhooks": 3})),
        )
        .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["data"]["name"], "Acme Inc.");
    assert_eq!(b["data"]["webhooks_enabled"], false);
    assert_eq!(b["data"]["max_webhooks"], 3);
    let (s, b) = v
        .call(
            Method::PATCH,
            "/api/v1/workspaces/acme",
            Some(json!({"max_webhooks": null})),
        )
        .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["data"]["max_webhooks"], Value::Null);
    assert_eq!(
        b["data"]["webhooks_enabled"], false,
        "absent fields are kept"
    );
    assert_eq!(b["data"]["name"], "Acme Inc.");
    for (body, field) in [
        (json!({"slug": "acme2"}), "slug"),
        (json!({"name": ""}), "name"),
        (json!({"name": "a\nb"}), "name"),
        (json!({"name": "n".repeat(101)}), "name"),
        (json!({"max_webhooks": -1}), "max_webhooks"),
        (json!({"max_webhooks": 100_001}), "max_webhooks"),
        (json!({"max_webhooks": "10"}), "max_webhooks"),
        (json!({"webhooks_enabled": "yes"}), "webhooks_enabled"),
        (json!({"plan": "gold"}), "plan"),
    ] {
        let (s, b) = v
            .call(Method::PATCH, "/api/v1/workspaces/acme", Some(body.clone()))
            .await;
        assert_eq!(s, 422, "{body}: {b}");
        assert_eq!(b["error"]["field"], field, "{body}: {b}");
    }
    let (s, _) = v
        .call(
            Method::PATCH,
            "/api/v1/workspaces/nope",
            Some(json!({"name": "x"})),
        )
        .await;
    assert_eq!(s, 404);

    // DELETE: gone at once, and the slug is free again.
    let (s, b) = v
        .call(Method::DELETE, "/api/v1/workspaces/acme", None)
        .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["data"], json!({"slug": "acme", "deleted": true}));
    let (s, _) = v.call(Method::GET, "/api/v1/workspaces/acme", None).await;
    assert_eq!(s, 404);
    let (s, _) = v
        .call(Method::DELETE, "/api/v1/workspaces/acme", None)
        .await;
    assert_eq!(s, 404, "a second delete finds nothing");
    let (s, b) = v
        .call(
            Method::POST,
            "/api/v1/workspaces",
            Some(json!({"slug": "acme"})),
        )
        .await;
    assert_eq!(s, 201, "{b}");
}

#[tokio::test]
async fn bad_workspaces_are_refused_with_the_field_named() {
    let v = vendor().await;
    let long = "a".repeat(64);
    for (body, field) in [
        (json!({}), "slug"),
        (json!({"name": "No slug"}), "slug"),
        (json!({"slug": ""}), "slug"),
        (json!({"slug": "Acme"}), "slug"),
        (json!({"slug": "-acme"}), "slug"),
        (json!({"slug": "acme-"}), "slug"),
        (json!({"slug": "ac me"}), "slug"),
        (json!({"slug": "acme~1"}), "slug"),
        (json!({"slug": "ünï"}), "slug"),
        (json!({"slug": long}), "slug"),
        (json!({"slug": 42}), "slug"),
        (json!({"slug": null}), "slug"),
        (json!({"slug": ["acme"]}), "slug"),
        (json!({"slug": "acme", "name": "x".repeat(101)}), "name"),
        (json!({"slug": "acme", "name": "tab\there"}), "name"),
        (json!({"slug": "acme", "max_webhooks": -5}), "max_webhooks"),
        (json!({"slug": "acme", "max_webhooks": 1.5}), "max_webhooks"),
        (
            json!({"slug": "acme", "webhooks_enabled": 1}),
            "webhooks_enabled",
        ),
        (json!({"slug": "acme", "owner": "me"}), "owner"),
    ] {
        let (s, b) = v
            .call(Method::POST, "/api/v1/workspaces", Some(body.clone()))
            .await;
        assert_eq!(s, 422, "{body}: {b}");
        assert_eq!(b["error"]["field"], field, "{body}: {b}");
    }
    for raw in [&b""[..], b"{", b"[]", b"\"acme\"", b"null"] {
        let (s, b) = v
            .app
            .api_raw(Method::POST, "/api/v1/workspaces", &v.key, raw.to_vec())
            .await;
        assert!((400..500).contains(&s), "{raw:?}: {s} {b}");
    }
    let (s, b) = v.call(Method::GET, "/api/v1/workspaces", None).await;
    assert_eq!((s, b["data"].as_array().unwrap().len()), (200, 0), "{b}");
}

#[tokio::test]
async fn workspace_lists_are_paginated_by_slug() {
    let v = vendor().await;
    for slug in ["echo", "alpha", "delta", "bravo", "charlie"] {
        v.create(slug).await;
    }
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..5 {
        let path = match &cursor {
            None => "/api/v1/workspaces?limit=2".to_string(),
            Some(c) => format!("/api/v1/workspaces?limit=2&cursor={c}"),
        };
        let (s, b) = v.call(Method::GET, &path, None).await;
        assert_eq!(s, 200, "{b}");
        for w in b["data"].as_array().unwrap() {
            seen.push(w["slug"].as_str().unwrap().to_string());
        }
        cursor = b["meta"]["next_cursor"].as_str().map(str::to_string);
        if cursor.is_none() {
            break;
        }
    }
    assert_eq!(seen, ["alpha", "bravo", "charlie", "delta", "echo"]);
    for bad in ["limit=0", "limit=101", "cursor=garbage", "limit=x"] {
        let (s, b) = v
            .call(Method::GET, &format!("/api/v1/workspaces?{bad}"), None)
            .await;
        assert!((400..500).contains(&s), "{bad}: {s} {b}");
    }
}

#[tokio::test]
async fn only_instance_keys_with_the_workspaces_scope_provision() {
    let v = vendor().await;
    let ws = v.app.workspace("acme").await;
    let no_scope = v.app.api_key(None, "webhooks,events,portal").await;
    let workspace_key = v.app.api_key(Some(ws), "webhooks,events,portal").await;
    for (method, path, body) in [
        (Method::GET, "/api/v1/workspaces", None),
        (
            Method::POST,
            "/api/v1/workspaces",
            Some(json!({"slug": "new"})),
        ),
        (Method::GET, "/api/v1/workspaces/acme", None),
        (
            Method::PATCH,
            "/api/v1/workspaces/acme",
            Some(json!({"name": "x"})),
        ),
        (Method::DELETE, "/api/v1/workspaces/acme", None),
        (Method::GET, "/api/v1/api-keys", None),
        (
            Method::POST,
            "/api/v1/api-keys",
            Some(json!({"scopes": ["events"]})),
        ),
        (Method::DELETE, "/api/v1/api-keys/1", None),
    ] {
        for key in [&no_scope, &workspace_key] {
            let (s, b) = v
                .call_in("acme", method.clone(), path, key, body.clone())
                .await;
            assert_eq!(s, 403, "{method} {path}: {b}");
            assert_error(&b, "forbidden");
        }
        let (s, _) = v.app.api(method.clone(), path, None, body.clone()).await;
        assert_eq!(s, 401, "{method} {path} without a key");
    }
    // The workspaces scope belongs to instance keys only.
    let out = run_cli(
        &v.app.data_path(),
        &[
            "api-key",
            "create",
            "--workspace",
            "acme",
            "--scopes",
            "workspaces",
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("instance"));
    let (s, _) = v.call(Method::GET, "/api/v1/workspaces/acme", None).await;
    assert_eq!(s, 200, "the workspace was not touched");
}

#[tokio::test]
async fn workspace_keys_are_made_listed_and_revoked_over_the_api() {
    let v = vendor().await;
    v.create("acme").await;
    v.create("globex").await;
    let (s, b) = v
        .call_in(
            "acme",
            Method::POST,
            "/api/v1/api-keys",
            &v.key,
            Some(json!({"scopes": ["webhooks", "events"], "name": "Acme backend"})),
        )
        .await;
    assert_eq!(s, 201, "{b}");
    let made = b["data"].clone();
    let key = made["key"].as_str().unwrap().to_string();
    assert!(key.starts_with("hk_") && key.starts_with(made["prefix"].as_str().unwrap()));
    assert_eq!(made["scopes"], json!(["webhooks", "events"]));
    assert_eq!(made["name"], "Acme backend");
    let id = made["id"].as_i64().unwrap();

    // The key works in its workspace, and only there.
    let (s, b) = v
        .app
        .api(Method::GET, "/api/v1/webhooks", Some(&key), None)
        .await;
    assert_eq!(s, 200, "{b}");
    let (s, _) = v
        .call_in("globex", Method::GET, "/api/v1/webhooks", &key, None)
        .await;
    assert_eq!(s, 404);

    // Listed without the key itself; paginated.
    for n in 0..3 {
        let (s, _) = v
            .call_in(
                "acme",
                Method::POST,
                "/api/v1/api-keys",
                &v.key,
                Some(json!({"scopes": ["portal"], "name": format!("k{n}")})),
            )
            .await;
        assert_eq!(s, 201);
    }
    let (s, b) = v
        .call_in(
            "acme",
            Method::GET,
            "/api/v1/api-keys?limit=3",
            &v.key,
            None,
        )
        .await;
    assert_eq!(s, 200, "{b}");
    let page = b["data"].as_array().unwrap();
    assert_eq!(page.len(), 3);
    assert!(page.iter().all(|k| k.get("key").is_none()), "{b}");
    assert_eq!(page[0]["id"], id);
    let cursor = b["meta"]["next_cursor"].as_str().unwrap();
    let (_, b) = v
        .call_in(
            "acme",
            Method::GET,
            &format!("/api/v1/api-keys?limit=3&cursor={cursor}"),
            &v.key,
            None,
        )
        .await;
    assert_eq!(b["data"].as_array().unwrap().len(), 1, "{b}");
    let (_, b) = v
        .call_in("globex", Method::GET, "/api/v1/api-keys", &v.key, None)
        .await;
    assert_eq!(
        b["data"],
        json!([]),
        "another workspace's keys are not listed"
    );

    // Tenancy: acme's key is not found from globex.
    let (s, _) = v
        .call_in(
            "globex",
            Method::DELETE,
            &format!("/api/v1/api-keys/{id}"),
            &v.key,
            None,
        )
        .await;
    assert_eq!(s, 404);
    let (s, b) = v
        .call_in(
            "acme",
            Method::DELETE,
            &format!("/api/v1/api-keys/{id}"),
            &v.key,
            None,
        )
        .await;
    assert_eq!(s, 200, "{b}");
    assert!(b["data"]["revoked_at"].is_string(), "{b}");
    let (s, _) = v
        .app
        .api(Method::GET, "/api/v1/webhooks", Some(&key), None)
        .await;
    assert_eq!(s, 401, "a revoked key stops working at once");
    let (s, _) = v
        .call_in(
            "acme",
            Method::DELETE,
            &format!("/api/v1/api-keys/{id}"),
            &v.key,
            None,
        )
        .await;
    assert_eq!(s, 200, "revoking twice is harmless");
    for bad in ["0", "-1", "abc", "999999", "1.5"] {
        let (s, _) = v
            .call_in(
                "acme",
                Method::DELETE,
                &format!("/api/v1/api-keys/{bad}"),
                &v.key,
                None,
            )
            .await;
        assert_eq!(s, 404, "{bad}");
    }

    // Bad input, each with its field.
    for (body, field) in [
        (json!({}), "scopes"),
        (json!({"scopes": []}), "scopes"),
        (json!({"scopes": ["admin"]}), "scopes"),
        (json!({"scopes": ["workspaces"]}), "scopes"),
        (json!({"scopes": "webhooks"}), "scopes"),
        (json!({"scopes": [1]}), "scopes[0]"),
        (
            json!({"scopes": ["events"], "name": "n".repeat(101)}),
            "name",
        ),
        (json!({"scopes": ["events"], "name": "a\u{0}b"}), "name"),
        (
            json!({"scopes": ["events"], "workspace": "globex"}),
            "workspace",
        ),
    ] {
        let (s, b) = v
            .call_in(
                "acme",
                Method::POST,
                "/api/v1/api-keys",
                &v.key,
                Some(body.clone()),
            )
            .await;
        assert_eq!(s, 422, "{body}: {b}");
        assert_eq!(b["error"]["field"], field, "{body}: {b}");
    }
    // An instance key must say which workspace.
    let (s, b) = v
        .call(
            Method::POST,
            "/api/v1/api-keys",
            Some(json!({"scopes": ["events"]})),
        )
        .await;
    assert_eq!(s, 400, "{b}");
    assert_eq!(b["error"]["field"], "Hookline-Workspace");
    let (s, _) = v
        .call_in("nope", Method::GET, "/api/v1/api-keys", &v.key, None)
        .await;
    assert_eq!(s, 404);
}

#[tokio::test]
async fn plans_gate_webhook_writes_and_cap_their_number() {
    let v = vendor().await;
    let receiver = Receiver::start(Receiver::always(200)).await;
    v.create("acme").await;
    let (s, _) = v
        .call(
            Method::POST,
            "/api/v1/event-types",
            Some(json!({"name": "project.created"})),
        )
        .await;
    assert_eq!(s, 201);
    let hook = json!({"url": receiver.url.clone(), "events": ["*"]});
    let (s, b) = v
        .call_in(
            "acme",
            Method::POST,
            "/api/v1/webhooks",
            &v.key,
            Some(hook.clone()),
        )
        .await;
    assert_eq!(s, 201, "{b}");
    let id = b["data"]["id"].as_i64().unwrap();
    // Seed 004's sample names the id webhook_id: both are there, equal.
    assert_eq!(b["data"]["webhook_id"], id);
    assert!(
        b["data"]["changed_by"]
            .as_str()
            .unwrap()
            .starts_with("API key"),
        "{b}"
    );
    let (_, b) = v
        .call_in(
            "acme",
            Method::GET,
            &format!("/api/v1/webhooks/{id}"),
            &v.key,
            None,
        )
        .await;
    assert_eq!(b["data"]["webhook_id"], id);
    let (_, b) = v
        .call_in("acme", Method::GET, "/api/v1/webhooks", &v.key, None)
        .await;
    assert_eq!(b["data"][0]["webhook_id"], id);

    // The cap: one webhook.
    let (s, _) = v
        .call(
            Method::PATCH,
            "/api/v1/workspaces/acme",
            Some(json!({"max_webhooks": 1})),
        )
        .await;
    assert_eq!(s, 200);
    let (s, b) = v
        .call_in(
            "acme",
            Method::POST,
            "/api/v1/webhooks",
            &v.key,
            Some(hook.clone()),
        )
        .await;
    assert_eq!(s, 422, "{b}");
    assert_error(&b, "limit_reached");
    assert_eq!(b["error"]["field"], "max_webhooks");
    assert!(
        b["error"]["message"]
            .as_str()
            .unwrap()
            .contains("at most 1 webhook"),
        "{b}"
    );
    let (s, _) = v
        .call(
            Method::PATCH,
            "/api/v1/workspaces/acme",
            Some(json!({"max_webhooks": 2})),
        )
        .await;
    assert_eq!(s, 200);
    let (s, b) = v
        .call_in(
            "acme",
            Method::POST,
            "/api/v1/webhooks",
            &v.key,
            Some(hook.clone()),
        )
        .await;
    assert_eq!(s, 201, "{b}");
    let second = b["data"]["id"].as_i64().unwrap();

    // The feature flag off: writes are 403 feature_disabled; reads and deliveries go on.
    let (s, _) = v
        .call(
            Method::PATCH,
            "/api/v1/workspaces/acme",
            Some(json!({"webhooks_enabled": false})),
        )
        .await;
    assert_eq!(s, 200);
    let writes = [
        (
            Method::POST,
            "/api/v1/webhooks".to_string(),
            Some(hook.clone()),
        ),
        (
            Method::PATCH,
            format!("/api/v1/webhooks/{id}"),
            Some(json!({"name": "x"})),
        ),
        (Method::DELETE, format!("/api/v1/webhooks/{second}"), None),
        (
            Method::POST,
            format!("/api/v1/webhooks/{id}/rotate-secret"),
            None,
        ),
        (Method::POST, format!("/api/v1/webhooks/{id}/test"), None),
    ];
    for (method, path, body) in writes {
        let (s, b) = v.call_in("acme", method.clone(), &path, &v.key, body).await;
        assert_eq!(s, 403, "{method} {path}: {b}");
        assert_error(&b, "feature_disabled");
        assert!(
            b["error"]["message"].as_str().unwrap().contains("plan"),
            "{b}"
        );
    }
    let (s, b) = v
        .call_in(
            "acme",
            Method::GET,
            &format!("/api/v1/webhooks/{id}"),
            &v.key,
            None,
        )
        .await;
    assert_eq!(s, 200, "{b}");
    let (s, b) = v
        .call_in(
            "acme",
            Method::POST,
            "/api/v1/events",
            &v.key,
            Some(json!({"type": "project.created", "data": {"n": 1}})),
        )
        .await;
    assert_eq!(s, 202, "{b}");
    assert_eq!(b["data"]["deliveries"], 2, "{b}");
    wait_count(&receiver, 2).await;

    // Switched back on, writes work again.
    let (s, _) = v
        .call(
            Method::PATCH,
            "/api/v1/workspaces/acme",
            Some(json!({"webhooks_enabled": true})),
        )
        .await;
    assert_eq!(s, 200);
    let (s, b) = v
        .call_in(
            "acme",
            Method::DELETE,
            &format!("/api/v1/webhooks/{second}"),
            &v.key,
            None,
        )
        .await;
    assert_eq!(s, 200, "{b}");
}

/// Waits (at most 20 s) until the receiver has had `n` requests.
async fn wait_count(receiver: &Receiver, n: usize) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while receiver.count() < n {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the receiver got {} of {n}",
            receiver.count()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Counts a workspace's rows in every table that holds them.
async fn rows_of(app: &TestApp, ws: i64) -> Vec<(&'static str, i64)> {
    let mut out = Vec::new();
    for (table, sql) in [
                ("workspaces", "SELECT COUNT(*) FROM workspaces WHERE id = ?1"),
                ("webhooks", "SELECT COUNT(*) FROM webhooks WHERE workspace_id = ?1"),
                ("events", "SELECT COUNT(*) FROM events WHERE workspace_id = ?1"),
                ("deliveries", "SELECT COUNT(*) FROM deliveries WHERE workspace_id = ?1"),
                (
                    "attempts",
                    "SELECT COUNT(*) FROM attempts a JOIN deliveries d ON d.id = a.delivery_id WHERE d.workspace_id = ?1",
                ),
                ("api_keys", "SELECT COUNT(*) FROM api_keys WHERE workspace_id = ?1"),
                ("memberships", "SELECT COUNT(*) FROM memberships WHERE workspace_id = ?1"),
                ("portal_links", "SELECT COUNT(*) FROM portal_links WHERE workspace_id = ?1"),
                ("idempotency_keys", "SELECT COUNT(*) FROM idempotency_keys WHERE workspace_id = ?1"),
            ] {
        out.push((table, app.sql_i64(sql, &[ws.into()]).await));
    }
    out
}

#[tokio::test]
async fn deleting_a_workspace_removes_all_of_it_while_others_keep_delivering() {
    let v = vendor().await;
    let receiver = Receiver::start(Receiver::always(200)).await;
    v.create("doomed").await;
    v.create("healthy").await;
    let (s, _) = v
        .call(
            Method::POST,
            "/api/v1/event-types",
            Some(json!({"name": "tick"})),
        )
        .await;
    assert_eq!(s, 201);
    let hook = json!({"url": receiver.url.clone(), "events": ["*"]});
    for ws in ["doomed", "doomed", "healthy"] {
        let (s, b) = v
            .call_in(
                ws,
                Method::POST,
                "/api/v1/webhooks",
                &v.key,
                Some(hook.clone()),
            )
            .await;
        assert_eq!(s, 201, "{b}");
    }
    let doomed = v
        .app
        .store
        .workspace_by_slug("doomed")
        .await
        .unwrap()
        .unwrap()
        .id;
    // 2 × 800 deliveries (more than a few purge batches), their attempts, a key, a member,
    // a portal link and an idempotency key.
    let events: Vec<Value> = (0..800)
        .map(|n| json!({"type": "tick", "data": {"n": n}}))
        .collect();
    let resp = v
        .app
        .http
        .post(v.app.url("/api/v1/events/batch"))
        .bearer_auth(&v.key)
        .header("Hookline-Workspace", "doomed")
        .header("Idempotency-Key", "batch-1")
        .json(&json!({"events": events}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 202);
    let doomed_key = v.app.api_key(Some(doomed), "webhooks").await;
    v.app
        .user(
            "ann@doomed.example",
            "correct horse battery",
            false,
            Some((doomed, hookline::domain::Role::Admin)),
        )
        .await;
    let (s, _) = v
        .call_in(
            "doomed",
            Method::POST,
            "/api/v1/portal-links",
            &v.key,
            Some(json!({"role": "admin"})),
        )
        .await;
    assert_eq!(s, 201);
    v.app.settle().await;
    let before = rows_of(&v.app, doomed).await;
    assert!(before.iter().all(|(_, n)| *n > 0), "{before:?}");

    let (s, b) = v
        .call(Method::DELETE, "/api/v1/workspaces/doomed", None)
        .await;
    assert_eq!(s, 200, "{b}");
    // Gone at once for everyone: its key, its pages, its slug.
    let (s, _) = v
        .app
        .api(Method::GET, "/api/v1/webhooks", Some(&doomed_key), None)
        .await;
    assert_eq!(s, 401);
    let (s, _) = v
        .call_in("doomed", Method::GET, "/api/v1/webhooks", &v.key, None)
        .await;
    assert_eq!(s, 404);
    let (s, b) = v.call(Method::GET, "/api/v1/workspaces", None).await;
    assert_eq!(s, 200);
    assert_eq!(
        b["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|w| w["slug"].as_str().unwrap())
            .collect::<Vec<_>>(),
        ["healthy"]
    );

    // The other workspace keeps publishing and delivering meanwhile.
    let delivered_before = receiver.count();
    for n in 0..20 {
        let (s, b) = v
            .call_in(
                "healthy",
                Method::POST,
                "/api/v1/events",
                &v.key,
                Some(json!({"type": "tick", "data": {"n": n}})),
            )
            .await;
        assert_eq!(s, 202, "{b}");
    }
    wait_count(&receiver, delivered_before + 20).await;

    // Everything of it is removed, in batches, soon.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let rows = rows_of(&v.app, doomed).await;
        if rows.iter().all(|(_, n)| *n == 0) {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "still there: {rows:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The member's account stays (it may belong elsewhere); only the membership went.
    let users = v.app.sql_i64("SELECT COUNT(*) FROM users", &[]).await;
    assert_eq!(users, 1);
}

/// Counts, straight from the database file, the rows a deleted workspace still has.
fn rows_in_file(dir: &std::path::Path, ws: i64) -> i64 {
    let c = rusqlite::Connection::open(dir.join("hookline.db")).unwrap();
    c.query_row(
        "SELECT (SELECT COUNT(*) FROM workspaces WHERE id = ?1) + (SELECT COUNT(*) FROM events WHERE workspace_id = ?1)
              + (SELECT COUNT(*) FROM webhooks WHERE workspace_id = ?1)",
        [ws],
        |r| r.get(0),
    )
    .unwrap()
}

#[tokio::test]
async fn a_deletion_cut_short_resumes_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let out = run_cli(dir.path(), &["workspace", "create", "doomed"], None);
    assert!(out.status.success());
    // What a crash right after the DELETE's answer leaves: the workspace marked deleted,
    // its rows still there.
    let ws = {
        let c = hookline::db::open_and_migrate(dir.path()).unwrap();
        let ws: i64 = c
            .query_row("SELECT id FROM workspaces WHERE slug = 'doomed'", [], |r| {
                r.get(0)
            })
            .unwrap();
        for n in 0..1200 {
            c.execute(
                "INSERT INTO events (public_id, workspace_id, type, body, created_at) VALUES (?1, ?2, 't', '{}', 0)",
                rusqlite::params![format!("evt_{n}"), ws],
            )
            .unwrap();
        }
        assert!(hookline::db::workspaces::mark_deleted(&c, ws).unwrap());
        ws
    };
    assert!(rows_in_file(dir.path(), ws) > 1000);
    let _server = start_server(dir.path(), &[]);
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while rows_in_file(dir.path(), ws) > 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "the removal did not resume"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn portal_links_need_the_portal_scope_and_good_input() {
    let v = vendor().await;
    let ws = v.app.workspace("acme").await;
    let portal_key = v.app.api_key(Some(ws), "portal").await;
    let webhooks_key = v.app.api_key(Some(ws), "webhooks,events").await;
    let (s, b) = v
        .app
        .api(
            Method::POST,
            "/api/v1/portal-links",
            Some(&portal_key),
            Some(json!({"role": "viewer", "email": "Ann@Acme.example", "ttl_seconds": 60})),
        )
        .await;
    assert_eq!(s, 201, "{b}");
    let url = b["data"]["url"].as_str().unwrap();
    assert!(url.starts_with(&format!("{}/portal/", v.app.base)), "{url}");
    let token = url.rsplit('/').next().unwrap();
    assert!(token.len() >= 40, "{token}");
    let expires = time::OffsetDateTime::parse(
        b["data"]["expires_at"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    let left = expires - time::OffsetDateTime::now_utc();
    assert!(
        left.whole_seconds() > 50 && left.whole_seconds() <= 60,
        "{left}"
    );
    // Stored hashed: the token is nowhere in the database.
    let row = v
        .app
        .sql("SELECT token_hash, email, role FROM portal_links", &[])
        .await
        .remove(0);
    let stored = (
        row[0].as_str().unwrap().to_string(),
        row[1].as_str().map(str::to_string),
        row[2].as_str().unwrap().to_string(),
    );
    assert!(!stored.0.contains(token) && stored.0.len() == 64);
    assert_eq!(
        (stored.1.as_deref(), stored.2.as_str()),
        (Some("ann@acme.example"), "viewer")
    );

    // The instance key names the workspace; a key without the scope is refused.
    let (s, b) = v
        .call_in(
            "acme",
            Method::POST,
            "/api/v1/portal-links",
            &v.key,
            Some(json!({"role": "admin"})),
        )
        .await;
    assert_eq!(s, 201, "{b}");
    let (s, b) = v
        .app
        .api(
            Method::POST,
            "/api/v1/portal-links",
            Some(&webhooks_key),
            Some(json!({"role": "admin"})),
        )
        .await;
    assert_eq!(s, 403, "{b}");
    let (s, b) = v
        .call(
            Method::POST,
            "/api/v1/portal-links",
            Some(json!({"role": "admin"})),
        )
        .await;
    assert_eq!(s, 400, "{b}");
    let (s, _) = v
        .call_in(
            "nope",
            Method::POST,
            "/api/v1/portal-links",
            &v.key,
            Some(json!({"role": "admin"})),
        )
        .await;
    assert_eq!(s, 404);

    for (body, field) in [
        (json!({}), "role"),
        (json!({"role": "owner"}), "role"),
        (json!({"role": "Admin"}), "role"),
        (json!({"role": ""}), "role"),
        (json!({"role": 1}), "role"),
        (json!({"role": "admin", "email": "not-an-email"}), "email"),
        (json!({"role": "admin", "email": 5}), "email"),
        (json!({"role": "admin", "ttl_seconds": 29}), "ttl_seconds"),
        (json!({"role": "admin", "ttl_seconds": 3601}), "ttl_seconds"),
        (json!({"role": "admin", "ttl_seconds": -1}), "ttl_seconds"),
        (
            json!({"role": "admin", "ttl_seconds": "300"}),
            "ttl_seconds",
        ),
        (json!({"role": "admin", "ttl_seconds": 1e30}), "ttl_seconds"),
        (json!({"role": "admin", "workspace": "other"}), "workspace"),
    ] {
        let (s, b) = v
            .app
            .api(
                Method::POST,
                "/api/v1/portal-links",
                Some(&portal_key),
                Some(body.clone()),
            )
            .await;
        assert_eq!(s, 422, "{body}: {b}");
        assert_eq!(b["error"]["field"], field, "{body}: {b}");
    }
}

#[tokio::test]
async fn the_cli_prints_a_portal_link_alone() {
    let v = vendor().await;
    v.app.workspace("acme").await;
    let out = v.app.cli(
        &[
            "portal-link",
            "--workspace",
            "acme",
            "--role",
            "admin",
            "--email",
            "ann@acme.example",
            "--ttl",
            "120",
            "--public-url",
            &v.app.base,
        ],
        None,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 1, "{stdout}");
    assert!(
        lines[0].starts_with(&format!("{}/portal/", v.app.base)),
        "{stdout}"
    );
    // It opens the workspace once.
    let b = v.app.browser();
    let r = b.get(lines[0]).send().await.unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()["location"], "/w/acme/webhooks");
    for args in [
        &["portal-link", "--workspace", "nope", "--role", "admin"][..],
        &["portal-link", "--workspace", "acme", "--role", "owner"],
        &[
            "portal-link",
            "--workspace",
            "acme",
            "--role",
            "admin",
            "--ttl",
            "5",
        ],
        &[
            "portal-link",
            "--workspace",
            "acme",
            "--role",
            "admin",
            "--email",
            "x",
        ],
        &[
            "portal-link",
            "--workspace",
            "acme",
            "--role",
            "admin",
            "--public-url",
            "not a url",
        ],
        &["portal-link", "--workspace", "acme"],
    ] {
        let out = v.app.cli(args, None);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(out.stdout.is_empty(), "{args:?}");
        assert!(!out.stderr.is_empty(), "{args:?}");
    }
}
