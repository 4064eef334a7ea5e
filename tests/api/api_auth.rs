//! Bearer keys, scopes, the response envelope and the framework's own errors.

use crate::helpers::*;
use reqwest::Method;
use serde_json::json;

#[tokio::test]
async fn healthz_answers_ok_with_envelope() {
    let app = spawn_app().await;
    let (status, body) = app.api(Method::GET, "/healthz", None, None).await;
    assert_eq!(status, 200);
    assert_eq!(body["data"]["status"], "ok");
    assert!(body["meta"]["request_id"]
        .as_str()
        .unwrap()
        .starts_with("req_"));
}

#[tokio::test]
async fn healthz_is_503_when_the_database_is_gone() {
    let app = spawn_app().await;
    let db = app.db.clone();
    tokio::task::spawn_blocking(move || db.close())
        .await
        .unwrap();
    let (status, body) = app.api(Method::GET, "/healthz", None, None).await;
    assert_eq!(status, 503);
    assert_error(&body, "unhealthy");
}

#[tokio::test]
async fn missing_malformed_and_unknown_keys_are_401() {
    let app = spawn_app().await;
    let (s, b) = app
        .api(Method::GET, "/api/v1/event-types", None, None)
        .await;
    assert_eq!(s, 401);
    assert_error(&b, "unauthorized");
    let resp = app
        .http
        .get(app.url("/api/v1/event-types"))
        .header("authorization", "Basic abc")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    let (s, b) = app
        .api(
            Method::GET,
            "/api/v1/event-types",
            Some("hk_notarealkey"),
            None,
        )
        .await;
    assert_eq!(s, 401);
    assert_error(&b, "unauthorized");
}

/// Sends one raw HTTP/1.1 request with `authorization` as the header's exact bytes; returns
/// the status and the body.
async fn raw_get(base: &str, path: &str, authorization: &[u8]) -> (u16, Vec<u8>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = base.trim_start_matches("http://");
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut req =
        format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nAuthorization: ")
            .into_bytes();
    req.extend_from_slice(authorization);
    req.extend_from_slice(b"\r\n\r\n");
    s.write_all(&req).await.unwrap();
    let mut resp = Vec::new();
    s.read_to_end(&mut resp).await.unwrap();
    let end = resp
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a response head");
    let head = String::from_utf8_lossy(&resp[..end]).to_string();
    let status = head[9..12].parse().unwrap();
    (status, resp[end + 4..].to_vec())
}

/// Every `Authorization` value that is not `Bearer <key>` by RFC 6750 (tabs, missing or
/// extra parts, other schemes, non-ASCII bytes) is a 401 with the error envelope, never a
/// 400 or an empty body; what RFC 6750 allows (any case, several spaces) works.
#[tokio::test]
async fn malformed_authorization_headers_are_enveloped_401s() {
    let app = spawn_app().await;
    let ws = app.workspace("acme").await;
    let key = app.api_key(Some(ws), "webhooks").await;
    let k = key.as_bytes();
    let with = |pre: &[u8], post: &[u8]| [pre, k, post].concat();
    let refused: Vec<Vec<u8>> = vec![
        with(b"Bearer\t", b""),
        with(b"Bearer \t", b""),
        with(b"Bearer\t\t", b""),
        with(b"Bearer", b""),
        with(b"Bearer=", b""),
        with(b"Bearer,", b""),
        with(b"Bearer:", b""),
        with(b"Bearer ", b" extra"),
        with(b"Bearer ", b"\tmore"),
        with(b"Bearer ", b","),
        with(b"Bearer \"", b"\""),
        with(b"Bearer ", "é".as_bytes()),
        with(b"Bearer \xff", b""),
        with("Bearer\u{a0}".as_bytes(), b""),
        with(b"Bearer ", b"\x80\x81"),
        with(b"Basic ", b""),
        with(b"Token ", b""),
        with(b"Bearerr ", b""),
        b"Bearer".to_vec(),
        b"Bearer ".to_vec(),
        b"Bearer    ".to_vec(),
        b"".to_vec(),
        b"hk_only".to_vec(),
        vec![b'a'; 6000],
        [b"Bearer ".as_slice(), &[b'x'; 6000]].concat(),
    ];
    for auth in &refused {
        let (status, body) = raw_get(&app.base, "/api/v1/webhooks", auth).await;
        let shown = String::from_utf8_lossy(auth);
        assert_eq!(status, 401, "{shown:?}");
        let body: serde_json::Value = serde_json::from_slice(&body)
            .unwrap_or_else(|_| panic!("{shown:?}: not JSON: {}", String::from_utf8_lossy(&body)));
        assert_error(&body, "unauthorized");
    }
    for auth in [
        with(b"Bearer ", b""),
        with(b"bearer ", b""),
        with(b"BEARER ", b""),
        with(b"bEaReR ", b""),
        with(b"Bearer    ", b""),
        with(b" Bearer ", b" "),
        with(b"\tBearer ", b"\t"),
    ] {
        let (status, body) = raw_get(&app.base, "/api/v1/webhooks", &auth).await;
        assert_eq!(
            status,
            200,
            "{:?}: {}",
            String::from_utf8_lossy(&auth),
            String::from_utf8_lossy(&body)
        );
    }
    // Control characters other than tab are not allowed in an HTTP field value at all
    // (RFC 9110 §5.5): the HTTP parser refuses the message with 400 before it is routed, and
    // the server goes on serving.
    for ctl in [b"\x00", b"\x01", b"\x0b", b"\x1f", b"\x7f"] {
        let (status, _) = raw_get(&app.base, "/api/v1/webhooks", &with(b"Bearer ", ctl)).await;
        assert_eq!(status, 400);
    }
    let (status, _) = raw_get(&app.base, "/api/v1/webhooks", &with(b"Bearer ", b"")).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn revoked_key_is_401() {
    let app = spawn_app().await;
    let ws = app.workspace("acme").await;
    let key = app.api_key(Some(ws), "webhooks").await;
    let (s, _) = app
        .api(Method::GET, "/api/v1/event-types", Some(&key), None)
        .await;
    assert_eq!(s, 200);
    let id = app.store.api_keys_all(Some(ws)).await.unwrap()[0].id;
    let revoked = app.store.api_key_revoke(Some(ws), id).await.unwrap();
    assert!(revoked.is_some_and(|k| k.revoked_at.is_some()));
    let (s, b) = app
        .api(Method::GET, "/api/v1/event-types", Some(&key), None)
        .await;
    assert_eq!(s, 401);
    assert!(b["error"]["message"].as_str().unwrap().contains("revoked"));
}

#[tokio::test]
async fn a_key_revoked_by_another_process_stops_working_within_a_quarter_second() {
    let app = spawn_app().await;
    let ws = app.workspace("acme").await;
    let key = app.api_key(Some(ws), "webhooks").await;
    let get = || app.api(Method::GET, "/api/v1/event-types", Some(&key), None);
    assert_eq!(get().await.0, 200);
    // Revoked behind this server's back, as `hookline api-key revoke` beside it does.
    let id = app.store.api_keys_all(Some(ws)).await.unwrap()[0].id;
    app.sql_run(
        "UPDATE api_keys SET revoked_at = ?1 WHERE id = ?2",
        &[hookline::clock::now_ms().into(), id.into()],
    )
    .await;
    let revoked = std::time::Instant::now();
    loop {
        let (s, b) = get().await;
        if s == 401 {
            assert!(b["error"]["message"].as_str().unwrap().contains("revoked"));
            break;
        }
        assert_eq!(s, 200, "{b}");
        assert!(
            revoked.elapsed() < std::time::Duration::from_millis(1000),
            "the revoked key still works after {:?}",
            revoked.elapsed()
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(get().await.0, 401, "and stays refused");
}

#[tokio::test]
async fn a_deleted_workspace_is_gone_for_its_keys_at_once() {
    let app = spawn_app().await;
    let ws = app.workspace("acme").await;
    let own = app.api_key(Some(ws), "webhooks").await;
    let instance = app.api_key(None, "workspaces,webhooks").await;
    let list = |key: &str| {
        let req = app
            .http
            .get(format!("{}/api/v1/webhooks", app.base))
            .bearer_auth(key)
            .header("Hookline-Workspace", "acme");
        async move { req.send().await.unwrap().status().as_u16() }
    };
    assert_eq!(list(&own).await, 200);
    assert_eq!(list(&instance).await, 200);
    let (s, b) = app
        .api(
            Method::DELETE,
            "/api/v1/workspaces/acme",
            Some(&instance),
            None,
        )
        .await;
    assert!(s == 200 || s == 202 || s == 204, "{s} {b}");
    assert_ne!(list(&instance).await, 200, "the workspace is gone at once");
    assert_ne!(list(&own).await, 200, "and so is its own key");
}

#[tokio::test]
async fn workspace_key_cannot_create_event_types() {
    let app = spawn_app().await;
    let ws = app.workspace("acme").await;
    let key = app.api_key(Some(ws), "webhooks,events").await;
    let (s, b) = app
        .api(
            Method::POST,
            "/api/v1/event-types",
            Some(&key),
            Some(json!({"name": "a.b"})),
        )
        .await;
    assert_eq!(s, 403);
    assert_error(&b, "forbidden");
}

#[tokio::test]
async fn instance_key_creates_and_lists_event_types() {
    let app = spawn_app().await;
    let key = app.api_key(None, "webhooks,events").await;
    let body = json!({"name": "project.created", "description": "A project was created", "example": {"id": 7}});
    let (s, b) = app
        .api(
            Method::POST,
            "/api/v1/event-types",
            Some(&key),
            Some(body.clone()),
        )
        .await;
    assert_eq!(s, 201, "{b}");
    assert_eq!(b["data"]["name"], "project.created");
    assert_eq!(b["data"]["example"]["id"], 7);
    let (s, b) = app
        .api(Method::POST, "/api/v1/event-types", Some(&key), Some(body))
        .await;
    assert_eq!(s, 409);
    assert_error(&b, "conflict");
    for path in ["/api/v1/event-types", "/api/v1/webhooks/events"] {
        let (s, b) = app.api(Method::GET, path, Some(&key), None).await;
        assert_eq!(s, 200);
        assert_eq!(b["data"][0]["name"], "project.created", "{path}");
    }
}

/// Both event-type lists paginate like every list: `limit`, an opaque `cursor`, and
/// `meta.next_cursor` until the last page.
#[tokio::test]
async fn event_type_lists_paginate_like_every_list() {
    let app = spawn_app().await;
    let key = app.api_key(None, "webhooks").await;
    let mut names: Vec<String> = (0..25).map(|i| format!("t{i:02}.created")).collect();
    for n in &names {
        let (s, _) = app
            .api(
                Method::POST,
                "/api/v1/event-types",
                Some(&key),
                Some(json!({"name": n})),
            )
            .await;
        assert_eq!(s, 201);
    }
    names.sort();
    let ws = app.workspace("acme").await;
    let ws_key = app.api_key(Some(ws), "webhooks").await;
    for path in ["/api/v1/event-types", "/api/v1/webhooks/events"] {
        let (s, b) = app.api(Method::GET, path, Some(&ws_key), None).await;
        assert_eq!(s, 200);
        assert_eq!(b["data"].as_array().unwrap().len(), 20, "default limit 20");
        assert!(b["meta"]["next_cursor"].is_string());
        let mut seen = Vec::new();
        let mut cursor: Option<String> = None;
        let mut pages = 0;
        loop {
            let url = match &cursor {
                None => format!("{path}?limit=10"),
                Some(c) => format!("{path}?limit=10&cursor={c}"),
            };
            let (s, b) = app.api(Method::GET, &url, Some(&ws_key), None).await;
            assert_eq!(s, 200, "{b}");
            pages += 1;
            for t in b["data"].as_array().unwrap() {
                seen.push(t["name"].as_str().unwrap().to_string());
            }
            match b["meta"]["next_cursor"].as_str() {
                Some(c) => cursor = Some(c.to_string()),
                None => break,
            }
        }
        assert_eq!(pages, 3, "{path}");
        assert_eq!(seen, names, "{path}: every type once, by name");
        // Bad limits and cursors, including another list's cursor, are 422 naming the field.
        let foreign = hookline::api::pagination::encode_cursor(3);
        for (query, field) in [
            ("limit=0", "limit"),
            ("limit=101", "limit"),
            ("limit=-1", "limit"),
            ("cursor=nope", "cursor"),
            ("cursor=", "cursor"),
            (&*format!("cursor={foreign}"), "cursor"),
        ] {
            let (s, b) = app
                .api(Method::GET, &format!("{path}?{query}"), Some(&ws_key), None)
                .await;
            assert_eq!(s, 422, "{path}?{query}: {b}");
            assert_eq!(b["error"]["field"], field, "{path}?{query}");
        }
    }
}

#[tokio::test]
async fn unknown_workspace_header_is_404() {
    let app = spawn_app().await;
    let key = app.api_key(None, "webhooks").await;
    let resp = app
        .http
        .get(app.url("/api/v1/event-types"))
        .bearer_auth(&key)
        .header("Hookline-Workspace", "nope")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
    // A workspace key naming another workspace finds nothing either.
    let a = app.workspace("a").await;
    app.workspace("b").await;
    let key = app.api_key(Some(a), "webhooks").await;
    let resp = app
        .http
        .get(app.url("/api/v1/event-types"))
        .bearer_auth(&key)
        .header("Hookline-Workspace", "b")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
}

#[tokio::test]
async fn framework_errors_use_the_envelope() {
    let app = spawn_app().await;
    let key = app.api_key(None, "webhooks,events").await;
    let (s, b) = app
        .api(Method::GET, "/api/v1/no-such-route", Some(&key), None)
        .await;
    assert_eq!(s, 404);
    assert_error(&b, "not_found");
    let (s, b) = app
        .api(Method::DELETE, "/api/v1/event-types", Some(&key), None)
        .await;
    assert_eq!(s, 405);
    assert_error(&b, "method_not_allowed");
    // Malformed, truncated, empty and non-UTF-8 bodies: 400.
    for raw in [
        &b"{\"name\": "[..],
        b"not json",
        b"",
        b"{\"name\": \"\xff\xfe\"}",
        b"[1,2",
    ] {
        let (s, b) = app
            .api_raw(Method::POST, "/api/v1/event-types", &key, raw.to_vec())
            .await;
        assert_eq!(s, 400, "{raw:?} -> {b}");
        assert!(b["error"]["message"].is_string());
    }
    // Wrong types and unknown fields: 422 naming the field.
    let (s, b) = app
        .api(
            Method::POST,
            "/api/v1/event-types",
            Some(&key),
            Some(json!({"name": 5})),
        )
        .await;
    assert_eq!(s, 422);
    assert_eq!(b["error"]["field"], "name");
    let (s, b) = app
        .api(
            Method::POST,
            "/api/v1/event-types",
            Some(&key),
            Some(json!({"name": "a", "x": 1})),
        )
        .await;
    assert_eq!(s, 422);
    assert_eq!(b["error"]["field"], "x");
    let (s, b) = app
        .api(
            Method::POST,
            "/api/v1/event-types",
            Some(&key),
            Some(json!(["a"])),
        )
        .await;
    assert_eq!(s, 422, "{b}");
    let (s, b) = app
        .api(
            Method::POST,
            "/api/v1/event-types",
            Some(&key),
            Some(json!({"name": "bad name!"})),
        )
        .await;
    assert_eq!(s, 422);
    assert_eq!(b["error"]["field"], "name");
    // Oversized: 413.
    let huge = format!(
        "{{\"name\": \"a\", \"description\": \"{}\"}}",
        "x".repeat(2 * 1024 * 1024)
    );
    let (s, b) = app
        .api_raw(Method::POST, "/api/v1/event-types", &key, huge.into_bytes())
        .await;
    assert_eq!(s, 413);
    assert_error(&b, "payload_too_large");
}

#[tokio::test]
async fn every_response_carries_security_headers_and_request_id() {
    let app = spawn_app().await;
    let resp = app.http.get(app.url("/login")).send().await.unwrap();
    let h = resp.headers();
    assert_eq!(h["x-frame-options"], "DENY");
    assert_eq!(h["x-content-type-options"], "nosniff");
    assert!(h["content-security-policy"]
        .to_str()
        .unwrap()
        .contains("script-src 'self'"));
    assert!(h["x-request-id"].to_str().unwrap().starts_with("req_"));
}
