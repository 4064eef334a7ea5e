//! `GET /api/v1/openapi.json`: a valid OpenAPI 3.x document that documents every registered
//! route (walked from `hookline::api::ROUTES`, the table `configure` registers), and whose
//! schemas match what the server really answers.

use std::collections::BTreeSet;

use crate::helpers::*;
use crate::webhooks_api::fixture;
use hookline::api::{PREFIX, ROUTES};
use reqwest::Method;
use serde_json::{json, Value};

/// Routes registered outside the API scope, by `startup`.
const OUTSIDE_ROUTES: &[(&str, &str)] = &[
    ("GET", "/healthz"),
    ("GET", "/api/v1/healthz"),
    ("GET", "/readyz"),
    ("GET", "/api/v1/readyz"),
];

/// Routes that need no key.
const PUBLIC_ROUTES: &[(&str, &str)] = &[
    ("GET", "/healthz"),
    ("GET", "/api/v1/healthz"),
    ("GET", "/readyz"),
    ("GET", "/api/v1/readyz"),
    ("GET", "/api/v1/openapi.json"),
];

/// Every (METHOD, full path) that the application registers.
fn registered() -> Vec<(String, String)> {
    ROUTES
        .iter()
        .map(|r| (r.method.to_string(), format!("{PREFIX}{}", r.path)))
        .chain(
            OUTSIDE_ROUTES
                .iter()
                .map(|(m, p)| (m.to_string(), p.to_string())),
        )
        .collect()
}

async fn fetch_doc(app: &TestApp) -> Value {
    let resp = app
        .http
        .get(app.url("/api/v1/openapi.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let ct = resp.headers()["content-type"].to_str().unwrap().to_string();
    assert!(ct.starts_with("application/json"), "{ct}");
    let doc: Value = resp.json().await.unwrap();
    doc
}

fn operation<'a>(doc: &'a Value, method: &str, path: &str) -> Option<&'a Value> {
    doc["paths"].get(path)?.get(method.to_ascii_lowercase())
}

#[tokio::test]
async fn document_is_openapi_3_and_documents_every_registered_route() {
    let app = spawn_app().await;
    let doc = fetch_doc(&app).await;

    // A valid OpenAPI 3.x document, not wrapped in the data envelope.
    assert!(doc.get("data").is_none(), "not enveloped");
    let version = doc["openapi"].as_str().expect("openapi version");
    assert!(version.starts_with("3."), "{version}");
    assert!(doc["info"]["title"].as_str().is_some_and(|t| !t.is_empty()));
    assert!(doc["info"]["version"]
        .as_str()
        .is_some_and(|t| !t.is_empty()));
    assert!(doc["paths"].as_object().is_some_and(|p| !p.is_empty()));
    let schemas = doc["components"]["schemas"].as_object().expect("schemas");
    for name in [
        "ErrorEnvelope",
        "ErrorBody",
        "Meta",
        "PageMeta",
        "WebhookIn",
        "WebhookOut",
        "EventIn",
        "BatchIn",
        "PublishedOut",
        "DeliveryOut",
        "AttemptOut",
        "EventTypeOut",
    ] {
        assert!(schemas.contains_key(name), "schema {name} missing");
    }
    let bearer = &doc["components"]["securitySchemes"]["bearer"];
    assert_eq!(bearer["type"], "http", "{bearer}");
    assert_eq!(bearer["scheme"], "bearer", "{bearer}");
    assert_refs_resolve(&doc, &doc, "$");

    // Every registered route is documented …
    let routes = registered();
    assert!(routes.len() >= 19, "the route table is suspiciously short");
    let mut missing = Vec::new();
    for (method, path) in &routes {
        if operation(&doc, method, path).is_none() {
            missing.push(format!("{method} {path}"));
        }
    }
    assert!(missing.is_empty(), "undocumented routes: {missing:?}");

    // … and nothing else is.
    let registered: BTreeSet<_> = routes.iter().cloned().collect();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            let m = method.to_ascii_uppercase();
            if ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"].contains(&m.as_str()) {
                assert!(
                    registered.contains(&(m.clone(), path.clone())),
                    "{m} {path} is documented but not registered"
                );
            }
        }
    }

    // Each operation says what it needs and what it answers.
    for (method, path) in &routes {
        let op = operation(&doc, method, path).unwrap();
        let what = format!("{method} {path}");
        assert!(op["operationId"].as_str().is_some(), "{what}: operationId");
        let public = PUBLIC_ROUTES.iter().any(|(m, p)| m == method && p == path);
        let security = op.get("security").unwrap_or(&doc["security"]);
        let params = op["parameters"].as_array().cloned().unwrap_or_default();
        let has_param =
            |name: &str, place: &str| params.iter().any(|p| p["name"] == name && p["in"] == place);
        // Path templates are declared parameters.
        for seg in path.split('/') {
            if let Some(name) = seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                assert!(has_param(name, "path"), "{what}: path parameter {name}");
            }
        }
        let responses = op["responses"].as_object().expect("responses");
        assert!(
            responses.keys().any(|s| s.starts_with('2')),
            "{what}: a 2xx response"
        );
        if public {
            assert!(
                security.as_array().is_some_and(|s| s
                    .iter()
                    .any(|r| r.as_object().is_some_and(|o| o.is_empty()))),
                "{what}: should need no key: {security}"
            );
        } else {
            assert!(
                security
                    .as_array()
                    .is_some_and(|s| s.iter().any(|r| r.get("bearer").is_some())),
                "{what}: bearer security"
            );
            // Provisioning of workspaces acts on the instance, in no workspace.
            assert!(
                path.starts_with("/api/v1/workspaces") || has_param("Hookline-Workspace", "header"),
                "{what}: Hookline-Workspace header"
            );
            for status in ["401", "503"] {
                assert!(responses.contains_key(status), "{what}: {status} response");
            }
        }
        if path.starts_with("/api/v1/events") && method == "POST" {
            assert!(
                has_param("Idempotency-Key", "header"),
                "{what}: Idempotency-Key header"
            );
        }
        // Actions that ignore any body: a retry, a cancel.
        let takes_body = method == "PATCH"
            || (method == "POST" && !path.ends_with("/retry") && !path.ends_with("/cancel"));
        if takes_body {
            let body = &op["requestBody"]["content"]["application/json"]["schema"];
            assert!(body.is_object(), "{what}: request body schema");
            for status in ["413", "422"] {
                assert!(responses.contains_key(status), "{what}: {status} response");
            }
        }
        // Errors are the error envelope; successes (but the document itself) the data one.
        for (status, response) in responses {
            let schema = response_schema(&doc, response)
                .unwrap_or_else(|| panic!("{what} {status}: a JSON schema"));
            let props = object_properties(&doc, schema);
            if status.starts_with('4') || status.starts_with('5') {
                assert!(
                    props.contains("error") && props.contains("meta"),
                    "{what} {status}: error envelope, has {props:?}"
                );
            } else if path != "/api/v1/openapi.json" {
                assert!(
                    props.contains("data") && props.contains("meta"),
                    "{what} {status}: data envelope, has {props:?}"
                );
            }
        }
    }
}

/// Calls every route (and a few failures) and checks each answer against the schema the
/// document gives for that operation and status.
/// The job cancel route, as documented.
const CANCEL: &str = "/api/v1/jobs/{id}/cancel";

/// Cancels job `job`: 200 while it runs, 409 once it is done (any other answer fails).
async fn cancel_job(f: &crate::webhooks_api::Fixture, job: i64) -> (u16, Value) {
    let (s, b) = f
        .call(Method::POST, &format!("/api/v1/jobs/{job}/cancel"), None)
        .await;
    assert!(s == 200 || s == 409, "{b}");
    (s, b)
}

#[tokio::test]
async fn answers_match_the_documented_schemas() {
    let f = fixture().await;
    let doc = fetch_doc(&f.app).await;
    let instance = f.app.api_key(None, "webhooks,events").await;
    let publisher = f.app.api_key(Some(f.ws), "events").await;
    let mut covered: BTreeSet<(String, String)> = BTreeSet::new();

    let check = |method: &Method,
                 template: &str,
                 status: u16,
                 body: &Value,
                 covered: &mut BTreeSet<(String, String)>| {
        let what = format!("{method} {template} → {status}");
        let op = operation(&doc, method.as_str(), template)
            .unwrap_or_else(|| panic!("{what}: undocumented operation"));
        let response = op["responses"]
            .get(status.to_string())
            .unwrap_or_else(|| panic!("{what}: undocumented status; body {body}"));
        let schema = response_schema(&doc, response).expect("a JSON schema");
        let mut errors = Vec::new();
        validate(&doc, schema, body, "$", true, &mut errors);
        assert!(errors.is_empty(), "{what}: {errors:#?}\nbody: {body}");
        if (200..300).contains(&status) {
            covered.insert((method.to_string(), template.to_string()));
        }
    };

    // No key needed.
    for path in ["/healthz", "/api/v1/healthz", "/readyz", "/api/v1/readyz"] {
        let (s, b) = f.app.api(Method::GET, path, None, None).await;
        check(&Method::GET, path, s, &b, &mut covered);
    }
    covered.insert(("GET".into(), "/api/v1/openapi.json".into()));

    // Event types.
    for path in ["/api/v1/event-types", "/api/v1/webhooks/events"] {
        let (s, b) = f.call(Method::GET, path, None).await;
        assert_eq!(s, 200);
        check(&Method::GET, path, s, &b, &mut covered);
    }
    let new_type = json!({"name": "invoice.paid", "description": "Paid", "example": {"n": 1}});
    for expect in [201, 409] {
        let (s, b) = f
            .app
            .api(
                Method::POST,
                "/api/v1/event-types",
                Some(&instance),
                Some(new_type.clone()),
            )
            .await;
        assert_eq!(s, expect, "{b}");
        check(&Method::POST, "/api/v1/event-types", s, &b, &mut covered);
    }
    let (s, b) = f
        .call(Method::POST, "/api/v1/event-types", Some(new_type.clone()))
        .await;
    assert_eq!(s, 403, "a workspace key may not define event types");
    check(&Method::POST, "/api/v1/event-types", s, &b, &mut covered);

    // Webhooks. The URL is refused at connect time (loopback), so attempts end at once.
    let (s, w) = f
        .call(
            Method::POST,
            "/api/v1/webhooks",
            Some(json!({"url": "https://127.0.0.1:9/hook", "events": ["*"], "headers": {"X-A": "b"}})),
        )
        .await;
    assert_eq!(s, 201, "{w}");
    check(&Method::POST, "/api/v1/webhooks", s, &w, &mut covered);
    let id = w["data"]["id"].as_i64().unwrap();
    let one = format!("/api/v1/webhooks/{id}");
    let (s, b) = f
        .call(
            Method::POST,
            "/api/v1/webhooks",
            Some(json!({"url": "http://example.com", "events": ["*"]})),
        )
        .await;
    assert_eq!(s, 422);
    check(&Method::POST, "/api/v1/webhooks", s, &b, &mut covered);
    let (s, b) = f
        .app
        .api_raw(
            Method::POST,
            "/api/v1/webhooks",
            &f.key,
            b"{\"url\":".to_vec(),
        )
        .await;
    assert_eq!(s, 400);
    check(&Method::POST, "/api/v1/webhooks", s, &b, &mut covered);

    let (s, b) = f.call(Method::GET, "/api/v1/webhooks?limit=1", None).await;
    check(&Method::GET, "/api/v1/webhooks", s, &b, &mut covered);
    let (s, b) = f.call(Method::GET, "/api/v1/webhooks?limit=0", None).await;
    assert_eq!(s, 422);
    check(&Method::GET, "/api/v1/webhooks", s, &b, &mut covered);
    let (s, b) = f.call(Method::GET, "/api/v1/webhooks?limit=x", None).await;
    assert_eq!(s, 400);
    check(&Method::GET, "/api/v1/webhooks", s, &b, &mut covered);
    let (s, b) = f.app.api(Method::GET, "/api/v1/webhooks", None, None).await;
    assert_eq!(s, 401);
    check(&Method::GET, "/api/v1/webhooks", s, &b, &mut covered);
    let (s, b) = f
        .app
        .api(Method::GET, "/api/v1/webhooks", Some(&publisher), None)
        .await;
    assert_eq!(s, 403);
    check(&Method::GET, "/api/v1/webhooks", s, &b, &mut covered);
    let (s, b) = f
        .app
        .api(Method::GET, "/api/v1/webhooks", Some(&instance), None)
        .await;
    assert_eq!(s, 400, "an instance key without Hookline-Workspace");
    check(&Method::GET, "/api/v1/webhooks", s, &b, &mut covered);

    let (s, b) = f.call(Method::GET, &one, None).await;
    check(&Method::GET, "/api/v1/webhooks/{id}", s, &b, &mut covered);
    let (s, b) = f.call(Method::GET, "/api/v1/webhooks/999999", None).await;
    assert_eq!(s, 404);
    check(&Method::GET, "/api/v1/webhooks/{id}", s, &b, &mut covered);
    let (s, b) = f
        .call(
            Method::PATCH,
            &one,
            Some(json!({"name": "renamed", "notification_email": "ops@example.com"})),
        )
        .await;
    check(&Method::PATCH, "/api/v1/webhooks/{id}", s, &b, &mut covered);
    let (s, b) = f
        .call(Method::PATCH, &one, Some(json!({"timeout_seconds": 0})))
        .await;
    assert_eq!(s, 422);
    check(&Method::PATCH, "/api/v1/webhooks/{id}", s, &b, &mut covered);
    let (s, b) = f
        .call(Method::POST, &format!("{one}/rotate-secret"), None)
        .await;
    check(
        &Method::POST,
        "/api/v1/webhooks/{id}/rotate-secret",
        s,
        &b,
        &mut covered,
    );
    let (s, b) = f
        .call(
            Method::POST,
            &format!("{one}/test"),
            Some(json!({"event_type": "project.created"})),
        )
        .await;
    assert_eq!(s, 200, "{b}");
    check(
        &Method::POST,
        "/api/v1/webhooks/{id}/test",
        s,
        &b,
        &mut covered,
    );

    // Events.
    let (s, e) = f
        .call(
            Method::POST,
            "/api/v1/events",
            Some(json!({"type": "project.created", "data": {"id": 1}})),
        )
        .await;
    assert_eq!(s, 202, "{e}");
    check(&Method::POST, "/api/v1/events", s, &e, &mut covered);
    let event_id = e["data"]["id"].as_str().unwrap().to_string();
    let (s, b) = f
        .call(
            Method::POST,
            "/api/v1/events",
            Some(json!({"type": "nope.nope", "data": {}})),
        )
        .await;
    assert_eq!(s, 422);
    check(&Method::POST, "/api/v1/events", s, &b, &mut covered);
    let big = json!({"type": "project.created", "data": {"x": "y".repeat(300 * 1024)}});
    let (s, b) = f.call(Method::POST, "/api/v1/events", Some(big)).await;
    assert_eq!(s, 413);
    check(&Method::POST, "/api/v1/events", s, &b, &mut covered);
    let (s, b) = f
        .call(
            Method::POST,
            "/api/v1/events/batch",
            Some(json!({"events": [
                {"type": "project.created", "data": {"id": 2}},
                {"type": "project.deleted", "data": {"id": 3}}
            ]})),
        )
        .await;
    assert_eq!(s, 202, "{b}");
    check(&Method::POST, "/api/v1/events/batch", s, &b, &mut covered);
    let (s, b) = f
        .call(Method::GET, &format!("/api/v1/events/{event_id}"), None)
        .await;
    check(&Method::GET, "/api/v1/events/{id}", s, &b, &mut covered);

    // Deliveries.
    let (s, list) = f
        .call(Method::GET, &format!("{one}/deliveries?limit=100"), None)
        .await;
    check(
        &Method::GET,
        "/api/v1/webhooks/{id}/deliveries",
        s,
        &list,
        &mut covered,
    );
    let (s, b) = f
        .call(Method::GET, &format!("{one}/deliveries?status=lost"), None)
        .await;
    assert_eq!(s, 422);
    check(
        &Method::GET,
        "/api/v1/webhooks/{id}/deliveries",
        s,
        &b,
        &mut covered,
    );
    let (s, b) = f
        .call(
            Method::GET,
            &format!(
                "/api/v1/deliveries?webhook_id={id}&http_status=5xx&since=2020-01-01T00:00:00Z"
            ),
            None,
        )
        .await;
    assert_eq!(s, 200, "{b}");
    check(&Method::GET, "/api/v1/deliveries", s, &b, &mut covered);
    let (s, b) = f
        .call(Method::GET, "/api/v1/deliveries?since=soon", None)
        .await;
    assert_eq!(s, 422);
    check(&Method::GET, "/api/v1/deliveries", s, &b, &mut covered);
    let delivery = list["data"][0]["id"].as_i64().expect("a delivery");
    let (s, b) = f
        .call(Method::GET, &format!("/api/v1/deliveries/{delivery}"), None)
        .await;
    check(&Method::GET, "/api/v1/deliveries/{id}", s, &b, &mut covered);
    let (s, b) = f
        .call(
            Method::POST,
            &format!("/api/v1/deliveries/{delivery}/retry"),
            None,
        )
        .await;
    check(
        &Method::POST,
        "/api/v1/deliveries/{id}/retry",
        s,
        &b,
        &mut covered,
    );

    // Health.
    let (s, b) = f
        .call(Method::GET, &format!("{one}/stats?window=7d"), None)
        .await;
    assert_eq!(s, 200, "{b}");
    check(
        &Method::GET,
        "/api/v1/webhooks/{id}/stats",
        s,
        &b,
        &mut covered,
    );
    let (s, b) = f
        .call(Method::GET, &format!("{one}/stats?window=1y"), None)
        .await;
    assert_eq!(s, 422);
    check(
        &Method::GET,
        "/api/v1/webhooks/{id}/stats",
        s,
        &b,
        &mut covered,
    );

    // Bulk jobs.
    for (template, body) in [
        (
            "/api/v1/webhooks/{id}/bulk-retry",
            json!({"since": "2020-01-01T00:00:00Z"}),
        ),
        (
            "/api/v1/webhooks/{id}/replay",
            json!({"since": "2020-01-01T00:00:00Z", "event_types": ["project.created"]}),
        ),
    ] {
        let path = template.replace("{id}", &id.to_string());
        let (s, b) = f.call(Method::POST, &path, Some(body)).await;
        assert_eq!(s, 202, "{b}");
        check(&Method::POST, template, s, &b, &mut covered);
        let job = b["data"]["job_id"].as_i64().unwrap();
        let (s, b) = f
            .call(Method::GET, &format!("/api/v1/jobs/{job}"), None)
            .await;
        check(&Method::GET, "/api/v1/jobs/{id}", s, &b, &mut covered);
        let (s, b) = cancel_job(&f, job).await;
        check(&Method::POST, CANCEL, s, &b, &mut covered);
        let (s, b) = f.call(Method::POST, &path, Some(json!({}))).await;
        assert_eq!(s, 422);
        check(&Method::POST, template, s, &b, &mut covered);
    }
    // A job cancelled while it runs: the documented 200. The jobs above may have finished
    // before their cancel (409); a replay of 2,000 events runs in several batches, and is
    // made again in the rare case it still finished first.
    let events: Vec<Value> = (0..1000)
        .map(|n| json!({"type": "project.created", "data": {"n": n}}))
        .collect();
    for _ in 0..2 {
        let (s, b) = f
            .call(
                Method::POST,
                "/api/v1/events/batch",
                Some(json!({"events": events})),
            )
            .await;
        assert_eq!(s, 202, "{b}");
    }
    let mut cancelled = false;
    for _ in 0..5 {
        let (s, b) = f
            .call(
                Method::POST,
                &format!("{one}/replay"),
                Some(json!({"since": "2020-01-01T00:00:00Z", "event_types": ["project.created"]})),
            )
            .await;
        assert_eq!(s, 202, "{b}");
        let job = b["data"]["job_id"].as_i64().unwrap();
        let (s, b) = cancel_job(&f, job).await;
        check(&Method::POST, CANCEL, s, &b, &mut covered);
        if s == 200 {
            cancelled = true;
            break;
        }
    }
    assert!(
        cancelled,
        "five replays of 2,000 events each finished before their cancel"
    );
    let (s, b) = f.call(Method::GET, "/api/v1/jobs/999999", None).await;
    assert_eq!(s, 404);
    check(&Method::GET, "/api/v1/jobs/{id}", s, &b, &mut covered);
    // A job that is done cannot be cancelled: the documented 409.
    let (_, b) = f
        .call(
            Method::POST,
            &format!("{one}/bulk-retry"),
            Some(json!({"since": "2999-01-01T00:00:00Z", "until": "2999-01-02T00:00:00Z"})),
        )
        .await;
    let empty = b["data"]["job_id"].as_i64().unwrap();
    let (s, b) = cancel_job(&f, empty).await;
    assert_eq!(s, 409, "{b}");
    check(&Method::POST, CANCEL, s, &b, &mut covered);

    // Deleted while the replays' deliveries are still being attempted and recorded.
    let (s, b) = f.call(Method::DELETE, &one, None).await;
    assert!((200..300).contains(&s), "{s} {b}");
    check(
        &Method::DELETE,
        "/api/v1/webhooks/{id}",
        s,
        &b,
        &mut covered,
    );

    // Provisioning: workspaces, their keys, portal links.
    let provisioner = f.app.api_key(None, "workspaces,portal").await;
    let prov = |method: Method, path: String, body: Option<Value>, ws: Option<&'static str>| {
        let mut req = f
            .app
            .http
            .request(method, f.app.url(&path))
            .bearer_auth(&provisioner);
        if let Some(ws) = ws {
            req = req.header("Hookline-Workspace", ws);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        async move {
            let r = req.send().await.unwrap();
            let s = r.status().as_u16();
            (s, r.json::<Value>().await.unwrap())
        }
    };
    for (method, template, path, body, ws, expect) in [
        (
            Method::POST,
            "/api/v1/workspaces",
            "/api/v1/workspaces".to_string(),
            Some(json!({"slug": "prov", "max_webhooks": 5})),
            None,
            201,
        ),
        (
            Method::POST,
            "/api/v1/workspaces",
            "/api/v1/workspaces".to_string(),
            Some(json!({"slug": "prov"})),
            None,
            409,
        ),
        (
            Method::POST,
            "/api/v1/workspaces",
            "/api/v1/workspaces".to_string(),
            Some(json!({"slug": "Bad"})),
            None,
            422,
        ),
        (
            Method::GET,
            "/api/v1/workspaces",
            "/api/v1/workspaces?limit=1".to_string(),
            None,
            None,
            200,
        ),
        (
            Method::GET,
            "/api/v1/workspaces/{slug}",
            "/api/v1/workspaces/prov".to_string(),
            None,
            None,
            200,
        ),
        (
            Method::GET,
            "/api/v1/workspaces/{slug}",
            "/api/v1/workspaces/nope".to_string(),
            None,
            None,
            404,
        ),
        (
            Method::PATCH,
            "/api/v1/workspaces/{slug}",
            "/api/v1/workspaces/prov".to_string(),
            Some(json!({"max_webhooks": null})),
            None,
            200,
        ),
        (
            Method::POST,
            "/api/v1/api-keys",
            "/api/v1/api-keys".to_string(),
            Some(json!({"scopes": ["webhooks"], "name": "k"})),
            Some("prov"),
            201,
        ),
        (
            Method::POST,
            "/api/v1/api-keys",
            "/api/v1/api-keys".to_string(),
            Some(json!({"scopes": []})),
            Some("prov"),
            422,
        ),
        (
            Method::GET,
            "/api/v1/api-keys",
            "/api/v1/api-keys".to_string(),
            None,
            Some("prov"),
            200,
        ),
        (
            Method::POST,
            "/api/v1/portal-links",
            "/api/v1/portal-links".to_string(),
            Some(json!({"role": "admin", "email": "ann@example.com"})),
            Some("prov"),
            201,
        ),
        (
            Method::POST,
            "/api/v1/portal-links",
            "/api/v1/portal-links".to_string(),
            Some(json!({"role": "owner"})),
            Some("prov"),
            422,
        ),
    ] {
        let (s, b) = prov(method.clone(), path, body, ws).await;
        assert_eq!(s, expect, "{method} {template}: {b}");
        check(&method, template, s, &b, &mut covered);
    }
    let (_, keys) = prov(Method::GET, "/api/v1/api-keys".into(), None, Some("prov")).await;
    let key_id = keys["data"][0]["id"].as_i64().unwrap();
    let (s, b) = prov(
        Method::DELETE,
        format!("/api/v1/api-keys/{key_id}"),
        None,
        Some("prov"),
    )
    .await;
    check(
        &Method::DELETE,
        "/api/v1/api-keys/{id}",
        s,
        &b,
        &mut covered,
    );
    let (s, b) = prov(Method::DELETE, "/api/v1/workspaces/prov".into(), None, None).await;
    check(
        &Method::DELETE,
        "/api/v1/workspaces/{slug}",
        s,
        &b,
        &mut covered,
    );
    let (s, b) = prov(Method::DELETE, "/api/v1/workspaces/prov".into(), None, None).await;
    assert_eq!(s, 404);
    check(
        &Method::DELETE,
        "/api/v1/workspaces/{slug}",
        s,
        &b,
        &mut covered,
    );
    let (s, b) = f.call(Method::GET, "/api/v1/workspaces", None).await;
    assert_eq!(s, 403, "a workspace key does not provision");
    check(&Method::GET, "/api/v1/workspaces", s, &b, &mut covered);

    // A method a path does not have: the documented 405 response.
    let (s, b) = f.call(Method::PUT, "/api/v1/webhooks", None).await;
    assert_eq!(s, 405);
    let schema = response_schema(&doc, &doc["components"]["responses"]["MethodNotAllowed"])
        .expect("405 response component");
    let mut errors = Vec::new();
    validate(&doc, schema, &b, "$", true, &mut errors);
    assert!(errors.is_empty(), "405: {errors:?}");

    // Every registered route was seen answering 2xx in its documented shape.
    let all: BTreeSet<(String, String)> = registered().into_iter().collect();
    let unseen: Vec<_> = all.difference(&covered).collect();
    assert!(unseen.is_empty(), "not exercised: {unseen:?}");
}

/// Follows `$ref`s (to components) until a non-reference.
fn resolve<'a>(doc: &'a Value, mut v: &'a Value) -> &'a Value {
    for _ in 0..32 {
        match v.get("$ref").and_then(Value::as_str) {
            Some(r) => {
                let ptr = r.strip_prefix('#').expect("local $ref");
                v = doc
                    .pointer(ptr)
                    .unwrap_or_else(|| panic!("dangling $ref {r}"));
            }
            None => return v,
        }
    }
    panic!("$ref loop");
}

fn assert_refs_resolve(doc: &Value, v: &Value, at: &str) {
    match v {
        Value::Object(m) => {
            if let Some(r) = m.get("$ref").and_then(Value::as_str) {
                let ptr = r
                    .strip_prefix('#')
                    .unwrap_or_else(|| panic!("{at}: non-local $ref {r}"));
                assert!(doc.pointer(ptr).is_some(), "{at}: dangling $ref {r}");
            }
            for (k, x) in m {
                assert_refs_resolve(doc, x, &format!("{at}.{k}"));
            }
        }
        Value::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                assert_refs_resolve(doc, x, &format!("{at}[{i}]"));
            }
        }
        _ => {}
    }
}

/// The `application/json` schema of a response object (or a `$ref` to one).
fn response_schema<'a>(doc: &'a Value, response: &'a Value) -> Option<&'a Value> {
    let response = resolve(doc, response);
    response["content"]
        .get("application/json")
        .and_then(|c| c.get("schema"))
}

/// The property names an object schema allows (through `$ref` and `allOf`).
fn object_properties(doc: &Value, schema: &Value) -> BTreeSet<String> {
    let schema = resolve(doc, schema);
    let mut out: BTreeSet<String> = schema["properties"]
        .as_object()
        .map(|p| p.keys().cloned().collect())
        .unwrap_or_default();
    for part in schema["allOf"].as_array().into_iter().flatten() {
        out.extend(object_properties(doc, part));
    }
    out
}

/// The schema of property `k` in one of the `allOf` parts of `schema`.
fn all_of_property<'a>(doc: &'a Value, schema: &'a Value, k: &str) -> Option<&'a Value> {
    schema["allOf"].as_array()?.iter().find_map(|part| {
        let part = resolve(doc, part);
        part["properties"]
            .get(k)
            .or_else(|| all_of_property(doc, part, k))
    })
}

fn type_matches(t: &str, v: &Value) -> bool {
    match t {
        "null" => v.is_null(),
        "boolean" => v.is_boolean(),
        "object" => v.is_object(),
        "array" => v.is_array(),
        "string" => v.is_string(),
        "integer" => v.is_i64() || v.is_u64(),
        "number" => v.is_number(),
        _ => false,
    }
}

/// A small JSON Schema check, enough for the document's schemas: `$ref`, `type`, `required`,
/// `properties`, `additionalProperties`, `items`, `allOf`, `oneOf`, `minimum`, `pattern`-free.
/// With `strict`, an object may not carry properties its schema does not name (the server
/// must not send undocumented fields).
fn validate(
    doc: &Value,
    schema: &Value,
    v: &Value,
    at: &str,
    strict: bool,
    errors: &mut Vec<String>,
) {
    let schema = resolve(doc, schema);
    if let Some(t) = schema.get("type") {
        let ok = match t {
            Value::String(t) => type_matches(t, v),
            Value::Array(ts) => ts
                .iter()
                .filter_map(Value::as_str)
                .any(|t| type_matches(t, v)),
            _ => true,
        };
        if !ok {
            errors.push(format!("{at}: {v} is not of type {t}"));
            return;
        }
    }
    if let Some(min) = schema.get("minimum").and_then(Value::as_f64) {
        if v.as_f64().is_some_and(|n| n < min) {
            errors.push(format!("{at}: {v} < minimum {min}"));
        }
    }
    for part in schema["allOf"].as_array().into_iter().flatten() {
        validate(doc, part, v, at, false, errors);
    }
    if let Some(one_of) = schema["oneOf"].as_array() {
        let matching = one_of
            .iter()
            .filter(|s| {
                let mut e = Vec::new();
                validate(doc, s, v, at, strict, &mut e);
                e.is_empty()
            })
            .count();
        if matching != 1 {
            errors.push(format!("{at}: {v} matches {matching} of oneOf"));
        }
    }
    match v {
        Value::Object(m) => {
            for r in schema["required"].as_array().into_iter().flatten() {
                let r = r.as_str().unwrap();
                if !m.contains_key(r) {
                    errors.push(format!("{at}: required property {r} missing"));
                }
            }
            let props = &schema["properties"];
            for (k, x) in m {
                if let Some(p) = props.get(k).or_else(|| all_of_property(doc, schema, k)) {
                    validate(doc, p, x, &format!("{at}.{k}"), strict, errors);
                } else if let Some(extra) = schema.get("additionalProperties") {
                    match extra {
                        Value::Bool(false) => {
                            errors.push(format!("{at}: property {k} not allowed"))
                        }
                        Value::Object(_) => {
                            validate(doc, extra, x, &format!("{at}.{k}"), strict, errors)
                        }
                        _ => {}
                    }
                } else if strict
                    && (props.is_object() || schema.get("allOf").is_some())
                    && !object_properties(doc, schema).contains(k)
                {
                    errors.push(format!("{at}: undocumented property {k}"));
                }
            }
        }
        Value::Array(a) => {
            if let Some(items) = schema.get("items") {
                for (i, x) in a.iter().enumerate() {
                    validate(doc, items, x, &format!("{at}[{i}]"), strict, errors);
                }
            }
        }
        _ => {}
    }
}
