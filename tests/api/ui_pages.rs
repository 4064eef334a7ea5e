//! The settings UI's pages and forms, through HTTP like a browser without JavaScript:
//! validation errors (with the input kept), roles (viewers see no forms and get 403),
//! tenancy (another workspace's ids and non-members get 404), CSRF, and the one-time secrets.

use std::time::Duration;

use crate::helpers::*;
use crate::receiver::Receiver;
use hookline::domain::Role;
use reqwest::Method;
use serde_json::{json, Value};

const PW: &str = "correct horse battery";

/// A logged-in browser and its session's CSRF token.
pub struct Session {
    pub b: reqwest::Client,
    pub csrf: String,
    base: String,
}

impl Session {
    pub async fn get(&self, path: &str) -> (u16, String) {
        let r = self
            .b
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .unwrap();
        let s = r.status().as_u16();
        (s, unescape(&r.text().await.unwrap()))
    }
    /// POSTs a form with this session's CSRF token added.
    pub async fn post(&self, path: &str, fields: &[(&str, &str)]) -> reqwest::Response {
        let mut all: Vec<(&str, &str)> = vec![("csrf", self.csrf.as_str())];
        all.extend_from_slice(fields);
        self.post_raw(path, &all).await
    }
    /// POSTs exactly these fields (no CSRF token unless given).
    pub async fn post_raw(&self, path: &str, fields: &[(&str, &str)]) -> reqwest::Response {
        self.b
            .post(format!("{}{path}", self.base))
            .form(fields)
            .send()
            .await
            .unwrap()
    }
    /// POSTs, expects a redirect, follows it and returns the page.
    pub async fn post_follow(&self, path: &str, fields: &[(&str, &str)]) -> (String, String) {
        let r = self.post(path, fields).await;
        let status = r.status().as_u16();
        let loc = r
            .headers()
            .get("location")
            .map(|l| l.to_str().unwrap().to_string());
        let Some(loc) = loc else {
            panic!(
                "POST {path}: expected a redirect, got {status}: {}",
                r.text().await.unwrap()
            );
        };
        assert_eq!(status, 303, "POST {path}");
        let (s, html) = self.get(&loc).await;
        assert_eq!(s, 200, "GET {loc}");
        (loc, html)
    }
}

/// Undoes askama's HTML escaping so assertions can use plain text.
pub fn unescape(s: &str) -> String {
    s.replace("&quot;", "\"")
        .replace("&#x27;", "'")
        .replace("&#39;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&#x2f;", "/")
        .replace("&amp;", "&")
}

pub struct Ui {
    pub app: TestApp,
    /// Owner of acme.
    pub owner: Session,
    pub admin: Session,
    pub viewer: Session,
    /// Logged in, member of globex only.
    pub outsider: Session,
    pub key: String,
    pub other_key: String,
}

pub async fn login_as(app: &TestApp, email: &str) -> Session {
    let b = app.browser();
    let r = app.login(&b, email, PW).await;
    assert_eq!(r.status(), 303, "login {email}");
    let home = b
        .get(app.url("/account/password"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    Session {
        csrf: csrf_of(&home),
        b,
        base: app.base.clone(),
    }
}

/// Workspaces acme (owner, admin, viewer) and globex (outsider), event types
/// `project.created` and `project.deleted`, and an API key for each workspace.
pub async fn ui_with(adjust: impl FnOnce(&mut hookline::config::RawConfig)) -> Ui {
    let app = spawn_app_with(adjust).await;
    let ws = app.workspace("acme").await;
    let other_ws = app.workspace("globex").await;
    let instance = app.api_key(None, "webhooks,events").await;
    for (name, desc) in [
        ("project.created", "A project was created"),
        ("project.deleted", "A project was deleted"),
    ] {
        let (s, b) = app
            .api(
                Method::POST,
                "/api/v1/event-types",
                Some(&instance),
                Some(json!({"name": name, "description": desc, "example": {"project": 7}})),
            )
            .await;
        assert_eq!(s, 201, "{b}");
    }
    app.user("owner@example.com", PW, false, Some((ws, Role::Owner)))
        .await;
    app.user("admin@example.com", PW, false, Some((ws, Role::Admin)))
        .await;
    app.user("viewer@example.com", PW, false, Some((ws, Role::Viewer)))
        .await;
    app.user(
        "outsider@example.com",
        PW,
        false,
        Some((other_ws, Role::Owner)),
    )
    .await;
    let owner = login_as(&app, "owner@example.com").await;
    let admin = login_as(&app, "admin@example.com").await;
    let viewer = login_as(&app, "viewer@example.com").await;
    let outsider = login_as(&app, "outsider@example.com").await;
    let key = app.api_key(Some(ws), "webhooks,events").await;
    let other_key = app.api_key(Some(other_ws), "webhooks,events").await;
    Ui {
        app,
        owner,
        admin,
        viewer,
        outsider,
        key,
        other_key,
    }
}

pub async fn ui() -> Ui {
    ui_with(|_| {}).await
}

/// Loopback receivers need plain http and the loopback range allowed.
pub async fn local_ui() -> Ui {
    ui_with(|r| {
        r.allow_http = Some("true".into());
        r.allowed_networks = Some("127.0.0.0/8".into());
    })
    .await
}

impl Ui {
    pub async fn api(&self, method: Method, path: &str, body: Option<Value>) -> (u16, Value) {
        self.app.api(method, path, Some(&self.key), body).await
    }
    /// A webhook made over the API in acme; returns its id.
    pub async fn webhook(&self, body: Value) -> i64 {
        let (s, b) = self.api(Method::POST, "/api/v1/webhooks", Some(body)).await;
        assert_eq!(s, 201, "{b}");
        b["data"]["id"].as_i64().unwrap()
    }
    /// A webhook in globex; returns its id.
    pub async fn other_webhook(&self) -> i64 {
        let (s, b) = self
            .app
            .api(
                Method::POST,
                "/api/v1/webhooks",
                Some(&self.other_key),
                Some(json!({"url": "https://globex.example/hook", "events": ["*"], "name": "Globex hook"})),
            )
            .await;
        assert_eq!(s, 201, "{b}");
        b["data"]["id"].as_i64().unwrap()
    }
    pub async fn publish(&self, event_type: &str, data: Value) {
        let (s, b) = self
            .api(
                Method::POST,
                "/api/v1/events",
                Some(json!({"type": event_type, "data": data})),
            )
            .await;
        assert_eq!(s, 202, "{b}");
    }
    /// Polls the API until the webhook's deliveries satisfy `done` (at most 20 s).
    pub async fn wait_deliveries(
        &self,
        webhook: i64,
        done: impl Fn(&[Value]) -> bool,
    ) -> Vec<Value> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        loop {
            let (_, b) = self
                .api(
                    Method::GET,
                    &format!("/api/v1/webhooks/{webhook}/deliveries?limit=100"),
                    None,
                )
                .await;
            let list = b["data"].as_array().cloned().unwrap_or_default();
            if done(&list) {
                return list;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "deliveries never reached the expected state: {list:#?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    pub async fn get_webhook(&self, id: i64) -> (u16, Value) {
        self.api(Method::GET, &format!("/api/v1/webhooks/{id}"), None)
            .await
    }
}

fn valid_form(url: &str) -> Vec<(&str, &str)> {
    vec![
        ("url", url),
        ("name", "CRM sync"),
        ("description", "Keeps the CRM in step"),
        ("events_mode", "chosen"),
        ("events", "project.created"),
        ("secret_mode", "auto"),
        ("header_name", "X-Team"),
        ("header_value", "crm"),
        ("header_name", ""),
        ("header_value", ""),
        ("retry_preset", "every6"),
        ("retry_custom", ""),
        ("timeout_seconds", "15"),
        ("notification_email", "ops@example.com"),
    ]
}

/// The id at the end of `/w/acme/webhooks/{id}`.
fn id_in(location: &str) -> i64 {
    location.rsplit('/').next().unwrap().parse().unwrap()
}

fn secret_in(html: &str) -> Option<String> {
    let i = html.find("whsec_")?;
    Some(
        html[i..]
            .chars()
            .take_while(|c| !c.is_whitespace() && *c != '<')
            .collect(),
    )
}

/// No inline script or style: the CSP (`script-src 'self'; style-src 'self'`) would block it.
fn assert_csp_clean(html: &str, page: &str) {
    assert!(
        !html.contains(" style=\""),
        "{page}: inline style attribute"
    );
    assert!(!html.contains("<style"), "{page}: inline <style>");
    for (i, _) in html.match_indices("<script") {
        let tag = &html[i..html[i..].find('>').unwrap() + i];
        assert!(
            tag.contains(" src=\"/static/"),
            "{page}: inline script {tag}"
        );
    }
    assert!(!html.contains(" onclick="), "{page}: inline handler");
    for (i, _) in html.match_indices("<link ") {
        let tag = &html[i..html[i..].find('>').unwrap() + i];
        assert!(
            tag.contains("href=\"/static/"),
            "{page}: external resource {tag}"
        );
    }
}

// ---------------------------------------------------------------- webhooks list and form

#[tokio::test]
async fn empty_state_explains_webhooks_and_viewers_get_no_add_button() {
    let ui = ui().await;
    let (s, html) = ui.owner.get("/w/acme/webhooks").await;
    assert_eq!(s, 200);
    assert!(html.contains("No webhooks yet") && html.contains("HTTPS POST"));
    assert!(html.contains("href=\"/w/acme/webhooks/new\""));
    assert!(html.contains("Add Webhook"));
    let (s, html) = ui.viewer.get("/w/acme/webhooks").await;
    assert_eq!(s, 200);
    assert!(html.contains("No webhooks yet"));
    assert!(
        !html.contains("/w/acme/webhooks/new"),
        "viewer sees no Add Webhook"
    );
    assert_eq!(ui.viewer.get("/w/acme/webhooks/new").await.0, 403);
    // /w/acme leads to the webhooks.
    let r = ui.owner.b.get(ui.app.url("/w/acme")).send().await.unwrap();
    assert_eq!(r.headers()["location"], "/w/acme/webhooks");
}

#[tokio::test]
async fn add_webhook_shows_the_secret_once_and_lists_it() {
    let ui = ui().await;
    let (s, html) = ui.owner.get("/w/acme/webhooks/new").await;
    assert_eq!(s, 200);
    for needle in [
        "name=\"url\"",
        "project.created",
        "A project was created",
        "name=\"secret_mode\"",
        "name=\"header_name\"",
        "name=\"retry_preset\"",
        "name=\"timeout_seconds\"",
        "name=\"notification_email\"",
        ">Save<",
    ] {
        assert!(html.contains(needle), "form lacks {needle}");
    }
    // Several empty header rows work without JavaScript.
    assert!(html.matches("name=\"header_name\"").count() >= 3);
    let form = valid_form("https://crm.example.com/hook");
    let (loc, page) = ui.owner.post_follow("/w/acme/webhooks", &form).await;
    let id = id_in(&loc);
    assert_eq!(loc, format!("/w/acme/webhooks/{id}"));
    let secret = secret_in(&page).expect("the new secret is shown");
    assert!(page.contains("shown only this once"));
    // It is the webhook's real secret.
    let (_, api) = ui.get_webhook(id).await;
    assert_eq!(api["data"]["secret"], secret);
    assert_eq!(api["data"]["events"], json!(["project.created"]));
    assert_eq!(api["data"]["headers"], json!({"X-Team": "crm"}));
    assert_eq!(api["data"]["retry_schedule"], json!(vec![360; 9]));
    assert_eq!(api["data"]["timeout_seconds"], 15);
    assert_eq!(api["data"]["notification_email"], "ops@example.com");
    assert_eq!(api["data"]["description"], "Keeps the CRM in step");
    // Shown once: a reload does not show it again.
    let (_, again) = ui.owner.get(&loc).await;
    assert!(secret_in(&again).is_none(), "secret shown twice");
    // Listed with its name, URL, events and state.
    let (_, list) = ui.owner.get("/w/acme/webhooks").await;
    assert!(list.contains("CRM sync") && list.contains("https://crm.example.com/hook"));
    assert!(list.contains("project.created") && list.contains("Active"));
    assert!(list.contains("none yet"));
    assert!(secret_in(&list).is_none(), "never a secret in the list");
    // Own secret and the default schedule.
    let own = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSwMfKQ9r8G";
    let (loc, _) = ui
        .owner
        .post_follow(
            "/w/acme/webhooks",
            &[
                ("url", "https://two.example.com/"),
                ("events_mode", "all"),
                ("secret_mode", "own"),
                ("secret", own),
                ("retry_preset", "default"),
                ("timeout_seconds", ""),
            ],
        )
        .await;
    let (_, api) = ui.get_webhook(id_in(&loc)).await;
    assert_eq!(api["data"]["secret"], own);
    assert_eq!(api["data"]["events"], json!(["*"]));
    assert_eq!(api["data"]["retry_schedule"], json!([60, 300, 1800, 7200]));
    assert_eq!(api["data"]["timeout_seconds"], 30);
}

/// Every field's error is shown next to it, with what the user typed kept, and says the
/// same as the API.
#[tokio::test]
async fn validation_errors_are_shown_by_their_fields_with_the_input_kept() {
    let ui = ui().await;
    let bad = [
        ("url", "http://plain.example.com/hook"),
        ("name", "Kept name"),
        ("description", "Kept description"),
        ("events_mode", "chosen"),
        ("secret_mode", "own"),
        ("secret", "not-a-secret"),
        ("header_name", "Host"),
        ("header_value", "evil.example"),
        ("retry_preset", "custom"),
        ("retry_custom", "60, 0"),
        ("timeout_seconds", "99"),
        ("notification_email", "not-an-email"),
    ];
    let r = ui.owner.post("/w/acme/webhooks", &bad).await;
    assert_eq!(r.status(), 422);
    let html = unescape(&r.text().await.unwrap());
    // The API's words for the same input.
    let (s, api) = ui
        .api(
            Method::POST,
            "/api/v1/webhooks",
            Some(json!({"url": "http://plain.example.com/hook", "events": ["*"]})),
        )
        .await;
    assert_eq!(s, 422);
    let url_msg = api["error"]["message"].as_str().unwrap();
    for (field, msg) in [
        ("url", url_msg),
        ("events", "choose at least one event type"),
        ("secret", "does not start with whsec_"),
        ("headers", "Host is set by Hookline itself"),
        (
            "retry_schedule",
            "step 2: each step is a number of seconds from 1 to 604800",
        ),
        ("timeout_seconds", "use a timeout from 1 to 60 seconds"),
        (
            "notification_email",
            "enter an email address like ops@example.com",
        ),
    ] {
        let marker = format!("id=\"{field}-error\">");
        let i = html
            .find(&marker)
            .unwrap_or_else(|| panic!("no error shown for {field}"));
        let shown =
            &html[i + marker.len()..i + marker.len() + html[i + marker.len()..].find('<').unwrap()];
        assert!(shown.contains(msg), "{field}: {shown:?} lacks {msg:?}");
        assert!(
            html.contains(&format!("href=\"#{field}\"")),
            "summary links {field}"
        );
    }
    for kept in [
        "value=\"http://plain.example.com/hook\"",
        "value=\"Kept name\"",
        ">Kept description</textarea>",
        "value=\"not-a-secret\"",
        "value=\"Host\"",
        "value=\"evil.example\"",
        "value=\"60, 0\"",
        "value=\"99\"",
        "value=\"not-an-email\"",
    ] {
        assert!(html.contains(kept), "input not kept: {kept}");
    }
    assert!(html.contains("aria-invalid=\"true\""));
    // Nothing was created.
    let (_, list) = ui.api(Method::GET, "/api/v1/webhooks", None).await;
    assert_eq!(list["data"].as_array().unwrap().len(), 0);
    // Non-numbers where numbers belong, and an unknown event type.
    let r = ui
        .owner
        .post(
            "/w/acme/webhooks",
            &[
                ("url", "https://ok.example.com/"),
                ("events_mode", "chosen"),
                ("events", "nope.unknown"),
                ("retry_preset", "custom"),
                ("retry_custom", "soon"),
                ("timeout_seconds", "ten"),
            ],
        )
        .await;
    assert_eq!(r.status(), 422);
    let html = unescape(&r.text().await.unwrap());
    assert!(html.contains("unknown event type 'nope.unknown'"));
    assert!(html.contains("'soon' is not a whole number of seconds"));
    assert!(html.contains("use a timeout from 1 to 60 seconds"));
    assert!(html.contains("value=\"https://ok.example.com/\""));
    // The unknown type stays checked so the user sees what was refused.
    assert!(html.contains("value=\"nope.unknown\" checked"));
}

#[tokio::test]
async fn edit_form_is_filled_in_and_saves() {
    let ui = ui().await;
    let id = ui
        .webhook(
            json!({"url": "https://a.example.com/", "events": ["project.created"], "name": "Before",
            "headers": {"X-One": "1"}, "retry_schedule": [10, 20]}),
        )
        .await;
    let (s, html) = ui.owner.get(&format!("/w/acme/webhooks/{id}/edit")).await;
    assert_eq!(s, 200);
    assert!(html.contains("value=\"https://a.example.com/\""));
    assert!(html.contains("value=\"Before\""));
    assert!(html.contains("value=\"project.created\" checked"));
    assert!(html.contains("value=\"X-One\"") && html.contains("value=\"1\""));
    assert!(html.contains("value=\"custom\" id=\"retry-custom\" checked"));
    assert!(html.contains("value=\"10, 20\""));
    assert!(
        !html.contains("name=\"secret_mode\""),
        "the secret is rotated, not edited"
    );
    let path = format!("/w/acme/webhooks/{id}/edit");
    // An error keeps the edit.
    let r = ui
        .owner
        .post(
            &path,
            &[("url", ""), ("name", "After"), ("events_mode", "all")],
        )
        .await;
    assert_eq!(r.status(), 422);
    let html = unescape(&r.text().await.unwrap());
    assert!(html.contains("enter the URL that will receive the POSTs"));
    assert!(html.contains("value=\"After\""));
    let (loc, page) = ui
        .owner
        .post_follow(
            &path,
            &[
                ("url", "https://b.example.com/"),
                ("name", "After"),
                ("events_mode", "all"),
                ("header_name", "X-Two"),
                ("header_value", "2"),
                ("retry_preset", "default"),
                ("timeout_seconds", "20"),
            ],
        )
        .await;
    assert_eq!(loc, format!("/w/acme/webhooks/{id}"));
    assert!(page.contains("Webhook saved."));
    let (_, api) = ui.get_webhook(id).await;
    let d = &api["data"];
    assert_eq!(d["url"], "https://b.example.com/");
    assert_eq!(d["name"], "After");
    assert_eq!(d["events"], json!(["*"]));
    assert_eq!(d["headers"], json!({"X-Two": "2"}));
    assert_eq!(d["retry_schedule"], json!([60, 300, 1800, 7200]));
    assert_eq!(d["timeout_seconds"], 20);
    assert_eq!(d["is_active"], true);
}

// ---------------------------------------------------------------- the webhook page

#[tokio::test]
async fn active_switch_toggles_and_shows_why_hookline_disabled_it() {
    let ui = ui().await;
    let id = ui
        .webhook(json!({"url": "https://a.example.com/", "events": ["*"], "name": "Switchy"}))
        .await;
    let page = format!("/w/acme/webhooks/{id}");
    let (_, html) = ui.owner.get(&page).await;
    assert!(html.contains("role=\"switch\" aria-checked=\"true\""));
    assert!(html.contains("name=\"active\" value=\"false\""));
    let (loc, html) = ui
        .owner
        .post_follow(&format!("{page}/active"), &[("active", "false")])
        .await;
    assert_eq!(loc, page);
    assert!(html.contains("aria-checked=\"false\"") && html.contains("Webhook turned off"));
    assert_eq!(ui.get_webhook(id).await.1["data"]["is_active"], false);
    ui.owner
        .post_follow(&format!("{page}/active"), &[("active", "true")])
        .await;
    assert_eq!(ui.get_webhook(id).await.1["data"]["is_active"], true);
    // Garbage is refused without a change.
    let r = ui
        .owner
        .post(&format!("{page}/active"), &[("active", "maybe")])
        .await;
    assert_eq!(r.status(), 400);
    // A webhook Hookline turned off says why.
    ui.app
        .db
        .write(move |c| {
            c.execute(
                "UPDATE webhooks SET is_active = 0, disabled_reason = 'the endpoint answered 410 Gone' WHERE id = ?1",
                [id],
            )?;
            Ok(())
        })
        .await
        .unwrap();
    let (_, html) = ui.viewer.get(&page).await;
    assert!(html.contains("the endpoint answered 410 Gone"));
    // Turning it on again clears the reason.
    ui.owner
        .post_follow(&format!("{page}/active"), &[("active", "true")])
        .await;
    let (_, html) = ui.owner.get(&page).await;
    assert!(!html.contains("410 Gone"));
}

#[tokio::test]
async fn send_test_shows_the_result() {
    let ui = local_ui().await;
    let rx = Receiver::start(|n| if n == 0 { (200, vec![]) } else { (503, vec![]) }).await;
    let id = ui
        .webhook(json!({"url": rx.url, "events": ["*"], "name": "Tested"}))
        .await;
    let page = format!("/w/acme/webhooks/{id}");
    let (_, html) = ui
        .owner
        .post_follow(&format!("{page}/test"), &[("event_type", "webhook.test")])
        .await;
    assert!(html.contains("Test delivered"), "{html}");
    assert!(html.contains("HTTP 200") && html.contains("receiver says hi"));
    assert_eq!(rx.count(), 1);
    assert!(rx.all()[0].body.contains("\"type\":\"webhook.test\""));
    // A failing test says so; an event type's example can be sent.
    let (_, html) = ui
        .owner
        .post_follow(
            &format!("{page}/test"),
            &[("event_type", "project.created")],
        )
        .await;
    assert!(html.contains("Test failed") && html.contains("HTTP 503"));
    assert!(rx.all()[1].body.contains("\"data\":{\"project\":7}"));
    // Shown once.
    let (_, html) = ui.owner.get(&page).await;
    assert!(!html.contains("Test failed"));
    // A test to an unknown type is explained, not sent.
    let (_, html) = ui
        .owner
        .post_follow(&format!("{page}/test"), &[("event_type", "no.such")])
        .await;
    assert!(html.contains("The test was not sent: unknown event type 'no.such'"));
    assert_eq!(rx.count(), 2);
}

#[tokio::test]
async fn rotate_and_reveal_show_the_secret_once() {
    let ui = ui().await;
    let id = ui
        .webhook(json!({"url": "https://a.example.com/", "events": ["*"]}))
        .await;
    let old = ui.get_webhook(id).await.1["data"]["secret"]
        .as_str()
        .unwrap()
        .to_string();
    let page = format!("/w/acme/webhooks/{id}");
    let (_, html) = ui.owner.get(&page).await;
    assert!(
        secret_in(&html).is_none(),
        "the page does not show the secret by itself"
    );
    let (_, html) = ui.owner.post_follow(&format!("{page}/rotate"), &[]).await;
    let new = secret_in(&html).unwrap();
    assert_ne!(new, old);
    assert!(html.contains("Your new signing secret") && html.contains("24 hours"));
    assert!(html.contains("data-copy=\"secret-value\""));
    assert_eq!(ui.get_webhook(id).await.1["data"]["secret"], new);
    let (_, html) = ui.owner.get(&page).await;
    assert!(secret_in(&html).is_none());
    assert!(html.contains("The previous secret also signs until"));
    let (_, html) = ui.admin.post_follow(&format!("{page}/reveal"), &[]).await;
    assert_eq!(secret_in(&html).unwrap(), new);
    // Viewers can neither see nor rotate it.
    let (_, html) = ui.viewer.get(&page).await;
    assert!(!html.contains("/reveal") && !html.contains("/rotate"));
    assert_eq!(
        ui.viewer
            .post(&format!("{page}/reveal"), &[])
            .await
            .status(),
        403
    );
    assert_eq!(
        ui.viewer
            .post(&format!("{page}/rotate"), &[])
            .await
            .status(),
        403
    );
}

#[tokio::test]
async fn delete_asks_first_naming_the_webhook() {
    let ui = ui().await;
    let id = ui
        .webhook(json!({"url": "https://a.example.com/", "events": ["*"], "name": "Doomed hook"}))
        .await;
    let page = format!("/w/acme/webhooks/{id}");
    let (_, html) = ui.owner.get(&page).await;
    assert!(html.contains(&format!("href=\"{page}/delete\"")));
    // GET only asks.
    let (s, html) = ui.owner.get(&format!("{page}/delete")).await;
    assert_eq!(s, 200);
    assert!(html.contains("Delete the webhook “Doomed hook”?"));
    assert!(html.contains("https://a.example.com/"));
    assert_eq!(ui.get_webhook(id).await.0, 200, "GET changed nothing");
    let (loc, html) = ui.owner.post_follow(&format!("{page}/delete"), &[]).await;
    assert_eq!(loc, "/w/acme/webhooks");
    assert!(html.contains("Webhook “Doomed hook” deleted."));
    assert_eq!(ui.get_webhook(id).await.0, 404);
    assert_eq!(ui.owner.get(&page).await.0, 404);
}

// ---------------------------------------------------------------- deliveries

/// A delivery waiting for its next attempt reads as such: a solid `retrying` badge with when
/// the next attempt starts, in the list and on its page.
#[tokio::test]
async fn retrying_rows_say_when_the_next_attempt_starts() {
    let ui = local_ui().await;
    let rx = Receiver::start(Receiver::always(503)).await;
    let id = ui
        .webhook(json!({"url": rx.url, "events": ["*"], "retry_schedule": [7200]}))
        .await;
    ui.publish("project.created", json!({"n": 1})).await;
    ui.wait_deliveries(id, |l| l.len() == 1 && l[0]["status"] == "retrying")
        .await;
    let (_, html) = ui
        .viewer
        .get(&format!("/w/acme/webhooks/{id}/deliveries"))
        .await;
    let row = &html[html
        .find("data-status=\"retrying\"")
        .expect("a retrying row")..];
    let row = &row[..row.find("</tr>").unwrap()];
    assert!(
        row.contains("class=\"badge status-retrying\">retrying</span>"),
        "{row}"
    );
    let next = &row[row
        .find("class=\"next-attempt\">next attempt <time datetime=\"")
        .expect("next attempt shown")..];
    // Two hours plus at most 10% jitter, read at a glance.
    assert!(next.contains(">in 2 h"), "{next}");
}

#[tokio::test]
async fn deliveries_tab_marks_failures_filters_and_pages() {
    let ui = local_ui().await;
    // Odd requests fail; no retries so each delivery is final after one attempt.
    let rx = Receiver::start(|n| {
        if n % 2 == 1 {
            (500, vec![])
        } else {
            (200, vec![])
        }
    })
    .await;
    let id = ui
        .webhook(json!({"url": rx.url, "events": ["*"], "retry_schedule": [], "name": "Flaky"}))
        .await;
    for i in 0..6 {
        // One at a time, so the receiver sees them in order.
        ui.publish(
            if i % 3 == 0 {
                "project.deleted"
            } else {
                "project.created"
            },
            json!({"i": i}),
        )
        .await;
        let want = i + 1;
        ui.wait_deliveries(id, |l| {
            l.len() == want
                && l.iter()
                    .all(|d| d["status"] == "succeeded" || d["status"] == "failed")
        })
        .await;
    }
    let tab = format!("/w/acme/webhooks/{id}/deliveries");
    let (s, html) = ui.viewer.get(&tab).await;
    assert_eq!(s, 200);
    assert_eq!(html.matches("data-status=\"failed\"").count(), 3);
    assert_eq!(html.matches("data-status=\"succeeded\"").count(), 3);
    assert_eq!(html.matches("class=\"delivery status-failed\"").count(), 3);
    assert!(html.contains(">500<") && html.contains(">200<") && html.contains(" ms<"));
    assert!(
        html.contains("<code>{\"i\":5}</code>"),
        "the payload preview is the data, nothing after it"
    );
    assert!(html.contains("project.deleted"));
    // Filters.
    let (_, html) = ui.viewer.get(&format!("{tab}?status=failed")).await;
    assert_eq!(html.matches("data-status=\"failed\"").count(), 3);
    assert_eq!(html.matches("data-status=\"succeeded\"").count(), 0);
    assert!(html.contains("value=\"failed\" selected"));
    let (_, html) = ui
        .viewer
        .get(&format!("{tab}?event_type=project.deleted"))
        .await;
    assert_eq!(html.matches("<tr class=\"delivery").count(), 2);
    let (_, html) = ui.viewer.get(&format!("{tab}?status=bogus")).await;
    assert!(html.contains("Unknown status"));
    let (_, html) = ui
        .viewer
        .get(&format!(
            "{tab}?status=succeeded&event_type=project.deleted"
        ))
        .await;
    assert_eq!(html.matches("<tr class=\"delivery").count(), 1);
    assert!(!html.contains("Older →"));
    assert_eq!(ui.viewer.get(&format!("{tab}?cursor=garbage")).await.0, 400);
}

#[tokio::test]
async fn deliveries_page_with_older_link() {
    let ui = ui().await;
    // An inactive-then-active webhook to an address nobody answers: deliveries stay in the
    // queue; only their number matters here.
    let id = ui
        .webhook(json!({"url": "https://unreachable.invalid/", "events": ["project.created"]}))
        .await;
    let (s, b) = ui
        .api(
            Method::POST,
            "/api/v1/events/batch",
            Some(json!({"events": (0..55).map(|i| json!({"type": "project.created", "data": {"n": i}})).collect::<Vec<_>>()})),
        )
        .await;
    assert!(s == 202 || s == 200, "{s} {b}");
    let tab = format!("/w/acme/webhooks/{id}/deliveries");
    let (_, first) = ui.owner.get(&tab).await;
    assert_eq!(first.matches("<tr class=\"delivery").count(), 50);
    let i = first.find("id=\"older\"").expect("Older → link");
    let href_start = first[..i].rfind("href=\"").unwrap() + 6;
    let href = &first[href_start..href_start + first[href_start..].find('"').unwrap()];
    assert!(href.contains("cursor="));
    let (_, second) = ui.owner.get(href).await;
    assert_eq!(second.matches("<tr class=\"delivery").count(), 5);
    assert!(second.contains("← Newest"));
    assert!(!second.contains("id=\"older\""));
    // No row repeats across the pages.
    assert!(first.contains("{\"n\":54}") && second.contains("{\"n\":0}"));
    assert!(!first.contains("{\"n\":0}"));
}

#[tokio::test]
async fn delivery_page_shows_every_attempt_and_retries() {
    let ui = local_ui().await;
    let rx = Receiver::start(|n| {
        if n == 0 {
            (500, vec![("X-Why".into(), "broken".into())])
        } else {
            (200, vec![])
        }
    })
    .await;
    let id = ui
        .webhook(json!({"url": rx.url, "events": ["*"], "retry_schedule": [], "headers": {"X-Team": "crm"}}))
        .await;
    ui.publish("project.created", json!({"hello": "world"}))
        .await;
    let list = ui
        .wait_deliveries(id, |l| l.len() == 1 && l[0]["status"] == "failed")
        .await;
    let did = list[0]["id"].as_i64().unwrap();
    let page = format!("/w/acme/deliveries/{did}");
    let (s, html) = ui.viewer.get(&page).await;
    assert_eq!(s, 200);
    assert!(html.contains("Attempt 1"));
    let lower = html.to_lowercase();
    assert!(lower.contains("<th scope=\"row\">webhook-signature</th><td><code>v1,"));
    assert!(lower.contains("<th scope=\"row\">x-team</th><td><code>crm</code>"));
    assert!(html.contains("\"hello\": \"world\""), "pretty payload");
    assert!(
        html.contains("x-why") && html.contains("broken"),
        "response headers"
    );
    assert!(html.contains("receiver says hi"), "response body");
    assert!(html.contains("HTTP 500"));
    assert!(!html.contains("/retry"), "viewers get no Retry button");
    assert_eq!(
        ui.viewer.post(&format!("{page}/retry"), &[]).await.status(),
        403
    );
    let (_, html) = ui.owner.get(&page).await;
    assert!(html.contains("id=\"retry\""));
    let (loc, html) = ui.owner.post_follow(&format!("{page}/retry"), &[]).await;
    assert_eq!(loc, page);
    assert!(html.contains("Retry scheduled"));
    ui.wait_deliveries(id, |l| l[0]["status"] == "succeeded")
        .await;
    let (_, html) = ui.owner.get(&page).await;
    assert!(html.contains("Attempt 2") && html.contains("HTTP 200"));
    // The list's row links to the page.
    let (_, tab) = ui
        .owner
        .get(&format!("/w/acme/webhooks/{id}/deliveries"))
        .await;
    assert!(tab.contains(&format!("href=\"{page}\"")));
}

// ---------------------------------------------------------------- API keys

#[tokio::test]
async fn api_keys_are_shown_once_work_and_can_be_revoked() {
    let ui = ui().await;
    let (s, html) = ui.owner.get("/w/acme/api-keys").await;
    assert_eq!(s, 200);
    assert!(html.contains("Create an API key"));
    // No scope chosen: an error, the name kept.
    let r = ui
        .owner
        .post("/w/acme/api-keys", &[("name", "backend")])
        .await;
    assert_eq!(r.status(), 422);
    let html = unescape(&r.text().await.unwrap());
    assert!(html.contains("id=\"scopes-error\">choose at least one scope"));
    assert!(html.contains("value=\"backend\""));
    let long = "x".repeat(101);
    let r = ui
        .owner
        .post("/w/acme/api-keys", &[("name", &long), ("scopes", "events")])
        .await;
    assert_eq!(r.status(), 422);
    assert!(r.text().await.unwrap().contains("id=\"name-error\""));
    let (_, html) = ui
        .owner
        .post_follow(
            "/w/acme/api-keys",
            &[("name", "backend"), ("scopes", "webhooks")],
        )
        .await;
    let i = html.find("id=\"new-key\"").expect("the key is shown");
    let key: String = html[i..]
        .split('>')
        .nth(1)
        .unwrap()
        .chars()
        .take_while(|c| *c != '<')
        .collect();
    assert!(key.starts_with("hk_") && key.len() == 43, "{key}");
    let (s, _) = ui
        .app
        .api(Method::GET, "/api/v1/webhooks", Some(&key), None)
        .await;
    assert_eq!(s, 200, "the new key works");
    let (s, _) = ui
        .app
        .api(
            Method::POST,
            "/api/v1/events",
            Some(&key),
            Some(json!({"type": "project.created", "data": {}})),
        )
        .await;
    assert_eq!(s, 403, "only the chosen scope");
    // Listed by prefix, never again in full.
    let (_, html) = ui.owner.get("/w/acme/api-keys").await;
    assert!(!html.contains(&key));
    assert!(html.contains(&format!("{}…", &key[..11])));
    assert!(html.contains("backend"));
    // Revoke.
    let kid: i64 = ui
        .app
        .db
        .read(|c| Ok(c.query_row("SELECT max(id) FROM api_keys", [], |r| r.get(0))?))
        .await
        .unwrap();
    let (_, html) = ui
        .owner
        .post_follow(&format!("/w/acme/api-keys/{kid}/revoke"), &[])
        .await;
    assert!(html.contains("revoked") && html.contains("Revoked"));
    let (s, _) = ui
        .app
        .api(Method::GET, "/api/v1/webhooks", Some(&key), None)
        .await;
    assert_eq!(s, 401);
    // Viewers see the list only.
    let (_, html) = ui.viewer.get("/w/acme/api-keys").await;
    assert!(html.contains("backend"));
    assert!(!html.contains("Create an API key") && !html.contains("/revoke"));
    let r = ui
        .viewer
        .post("/w/acme/api-keys", &[("name", "x"), ("scopes", "events")])
        .await;
    assert_eq!(r.status(), 403);
}

// ---------------------------------------------------------------- members

#[tokio::test]
async fn members_are_added_changed_and_removed_under_the_owner_rules() {
    let ui = ui().await;
    let (s, html) = ui.owner.get("/w/acme/members").await;
    assert_eq!(s, 200);
    for e in [
        "owner@example.com",
        "admin@example.com",
        "viewer@example.com",
    ] {
        assert!(html.contains(e));
    }
    assert!(!html.contains("outsider@example.com"));
    // Validation: bad email; new account without a password.
    let r = ui
        .admin
        .post("/w/acme/members", &[("email", "nope"), ("role", "viewer")])
        .await;
    assert_eq!(r.status(), 422);
    let html = unescape(&r.text().await.unwrap());
    assert!(html.contains("id=\"email-error\">enter an email address"));
    assert!(html.contains("value=\"nope\""));
    // Every wrong field at once.
    let r = ui
        .admin
        .post(
            "/w/acme/members",
            &[("email", "nope"), ("role", "boss"), ("password", "short")],
        )
        .await;
    assert_eq!(r.status(), 422);
    let html = unescape(&r.text().await.unwrap());
    for field in ["email", "role", "password"] {
        assert!(
            html.contains(&format!("id=\"{field}-error\">")),
            "no error shown for {field}"
        );
    }
    let r = ui
        .admin
        .post(
            "/w/acme/members",
            &[
                ("email", "new@example.com"),
                ("role", "admin"),
                ("password", "short"),
            ],
        )
        .await;
    assert_eq!(r.status(), 422);
    let html = unescape(&r.text().await.unwrap());
    assert!(html.contains("id=\"password-error\">new@example.com has no account yet"));
    assert!(html.contains("at least 10 characters"));
    assert!(html.contains("value=\"admin\" selected"));
    // A new account.
    let (_, html) = ui
        .admin
        .post_follow(
            "/w/acme/members",
            &[
                ("email", "New@Example.com"),
                ("role", "viewer"),
                ("password", PW),
            ],
        )
        .await;
    assert!(html.contains("new@example.com added as viewer."));
    login_as(&ui.app, "new@example.com").await;
    // An existing account (the outsider) by email, without a password.
    let (_, html) = ui
        .admin
        .post_follow(
            "/w/acme/members",
            &[("email", "outsider@example.com"), ("role", "admin")],
        )
        .await;
    assert!(html.contains("outsider@example.com added as admin."));
    assert_eq!(ui.outsider.get("/w/acme/webhooks").await.0, 200);
    let r = ui
        .admin
        .post(
            "/w/acme/members",
            &[("email", "outsider@example.com"), ("role", "viewer")],
        )
        .await;
    assert_eq!(r.status(), 422);
    assert!(r.text().await.unwrap().contains("already a member"));
    // Admins cannot grant or touch the owner role; the form does not offer it.
    let (_, html) = ui.admin.get("/w/acme/members").await;
    assert!(!html.contains("<option value=\"owner\""));
    let r = ui
        .admin
        .post(
            "/w/acme/members",
            &[
                ("email", "x@example.com"),
                ("role", "owner"),
                ("password", PW),
            ],
        )
        .await;
    assert_eq!(r.status(), 403);
    let uid = |email: &'static str| {
        let db = ui.app.db.clone();
        async move {
            db.read(move |c| Ok(hookline::db::repo::user_by_email(c, email)?.unwrap().id))
                .await
                .unwrap()
        }
    };
    let owner_id = uid("owner@example.com").await;
    let viewer_id = uid("viewer@example.com").await;
    let r = ui
        .admin
        .post(
            &format!("/w/acme/members/{viewer_id}/role"),
            &[("role", "owner")],
        )
        .await;
    assert_eq!(r.status(), 403);
    let r = ui
        .admin
        .post(&format!("/w/acme/members/{owner_id}/remove"), &[])
        .await;
    assert_eq!(r.status(), 403);
    // The last owner can be neither demoted nor removed.
    let r = ui
        .owner
        .post(
            &format!("/w/acme/members/{owner_id}/role"),
            &[("role", "admin")],
        )
        .await;
    assert_eq!(r.status(), 409);
    assert!(r.text().await.unwrap().contains("last owner"));
    let r = ui
        .owner
        .post(&format!("/w/acme/members/{owner_id}/remove"), &[])
        .await;
    assert_eq!(r.status(), 409);
    // An owner promotes; then the first owner may step down.
    let (_, html) = ui
        .owner
        .post_follow(
            &format!("/w/acme/members/{viewer_id}/role"),
            &[("role", "owner")],
        )
        .await;
    assert!(html.contains("viewer@example.com is now owner."));
    ui.owner
        .post_follow(
            &format!("/w/acme/members/{owner_id}/role"),
            &[("role", "admin")],
        )
        .await;
    // An admin removes a non-owner.
    let new_id = uid("new@example.com").await;
    let (_, html) = ui
        .admin
        .post_follow(&format!("/w/acme/members/{new_id}/remove"), &[])
        .await;
    assert!(html.contains("new@example.com was removed"));
    assert!(!html.contains("<td>new@example.com"));
    // Bad role values are refused.
    let r = ui
        .viewer
        .post(
            &format!("/w/acme/members/{new_id}/role"),
            &[("role", "admin")],
        )
        .await;
    assert_eq!(r.status(), 404, "no longer a member");
    let r = ui
        .viewer
        .post(
            &format!("/w/acme/members/{owner_id}/role"),
            &[("role", "god")],
        )
        .await;
    assert_eq!(r.status(), 400);
}

#[tokio::test]
async fn viewers_see_members_but_no_forms() {
    let ui = ui().await;
    let (_, html) = ui.viewer.get("/w/acme/members").await;
    assert!(html.contains("owner@example.com"));
    assert!(!html.contains("Add a member") && !html.contains("/remove") && !html.contains("/role"));
    let r = ui
        .viewer
        .post(
            "/w/acme/members",
            &[
                ("email", "x@example.com"),
                ("role", "viewer"),
                ("password", PW),
            ],
        )
        .await;
    assert_eq!(r.status(), 403);
}

// ---------------------------------------------------------------- account

#[tokio::test]
async fn changing_the_password_ends_other_sessions() {
    let ui = ui().await;
    let other = login_as(&ui.app, "admin@example.com").await;
    let (s, html) = ui.admin.get("/account/password").await;
    assert_eq!(s, 200);
    assert!(html.contains("name=\"current_password\""));
    let r = ui
        .admin
        .post(
            "/account/password",
            &[
                ("current_password", "wrong password!"),
                ("new_password", "a new long password"),
                ("new_password_confirm", "a new long password"),
            ],
        )
        .await;
    assert_eq!(r.status(), 422);
    assert!(r
        .text()
        .await
        .unwrap()
        .contains("id=\"current_password-error\""));
    let r = ui
        .admin
        .post(
            "/account/password",
            &[
                ("current_password", PW),
                ("new_password", "a new long password"),
                ("new_password_confirm", "another one!!"),
            ],
        )
        .await;
    assert_eq!(r.status(), 422);
    assert!(r
        .text()
        .await
        .unwrap()
        .contains("the two new passwords differ"));
    let r = ui
        .admin
        .post(
            "/account/password",
            &[
                ("current_password", PW),
                ("new_password", "short"),
                ("new_password_confirm", "short"),
            ],
        )
        .await;
    assert_eq!(r.status(), 422);
    let (_, html) = ui
        .admin
        .post_follow(
            "/account/password",
            &[
                ("current_password", PW),
                ("new_password", "a new long password"),
                ("new_password_confirm", "a new long password"),
            ],
        )
        .await;
    assert!(html.contains("Password changed"));
    // This session stays; the other one ended.
    assert_eq!(ui.admin.get("/w/acme/webhooks").await.0, 200);
    let r = other
        .b
        .get(ui.app.url("/w/acme/webhooks"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let b = ui.app.browser();
    assert_eq!(
        ui.app.login(&b, "admin@example.com", PW).await.status(),
        401
    );
    assert_eq!(
        ui.app
            .login(&b, "admin@example.com", "a new long password")
            .await
            .status(),
        303
    );
}

// ---------------------------------------------------------------- home, instance admins

#[tokio::test]
async fn home_switches_workspaces_and_instance_admins_create_them() {
    let ui = ui().await;
    // One workspace: straight into it.
    let (s, _) = ui.owner.get("/").await;
    assert_eq!(s, 303);
    // Two: a picker with both, and no admin forms.
    let db = ui.app.db.clone();
    db.write(|c| {
        let owner = hookline::db::repo::user_by_email(c, "owner@example.com")?
            .unwrap()
            .id;
        let extra = hookline::db::repo::create_workspace(
            c,
            &hookline::domain::Slug::parse("hooli").unwrap(),
            "Hooli",
        )?
        .unwrap()
        .id;
        hookline::db::repo::upsert_membership(c, extra, owner, Role::Viewer)
    })
    .await
    .unwrap();
    let (s, html) = ui.owner.get("/").await;
    assert_eq!(s, 200);
    assert!(
        html.contains("href=\"/w/acme/webhooks\"") && html.contains("href=\"/w/hooli/webhooks\"")
    );
    assert!(!html.contains("globex"));
    assert!(!html.contains("Create a workspace"));
    let r = ui.owner.post("/workspaces", &[("slug", "mine")]).await;
    assert_eq!(r.status(), 403);
    ui.app.user("root@example.com", PW, true, None).await;
    let root = login_as(&ui.app, "root@example.com").await;
    let (_, html) = root.get("/").await;
    assert!(
        html.contains("href=\"/w/acme/webhooks\"") && html.contains("href=\"/w/globex/webhooks\"")
    );
    assert!(html.contains("Create a workspace"));
    let r = root
        .post("/workspaces", &[("slug", "Bad Slug!"), ("name", "Kept")])
        .await;
    assert_eq!(r.status(), 422);
    let html = unescape(&r.text().await.unwrap());
    assert!(html.contains("id=\"slug-error\">use 1–63 lowercase letters"));
    assert!(html.contains("value=\"Bad Slug!\"") && html.contains("value=\"Kept\""));
    let r = root.post("/workspaces", &[("slug", "acme")]).await;
    assert_eq!(r.status(), 422);
    assert!(unescape(&r.text().await.unwrap()).contains("a workspace 'acme' already exists"));
    let (_, html) = root
        .post_follow("/workspaces", &[("slug", "initech"), ("name", "Initech")])
        .await;
    assert!(
        html.contains("Workspace “Initech” created")
            && html.contains("href=\"/w/initech/webhooks\"")
    );
    // Instance admins act in every workspace.
    let (s, html) = root.get("/w/globex/webhooks").await;
    assert_eq!(s, 200);
    assert!(html.contains("Add Webhook") && html.contains("instance admin"));
    let (loc, _) = root
        .post_follow("/w/globex/webhooks", &valid_form("https://g.example.com/"))
        .await;
    assert!(loc.starts_with("/w/globex/webhooks/"));
}

#[tokio::test]
async fn event_types_are_listed_for_all_and_created_by_instance_admins() {
    let ui = ui().await;
    let (s, html) = ui.viewer.get("/event-types").await;
    assert_eq!(s, 200);
    assert!(html.contains("project.created") && html.contains("A project was created"));
    assert!(html.contains("\"project\": 7"), "example payload");
    assert!(!html.contains("Add an event type"));
    assert_eq!(
        ui.owner
            .post("/event-types", &[("name", "x.y")])
            .await
            .status(),
        403
    );
    ui.app.user("root@example.com", PW, true, None).await;
    let root = login_as(&ui.app, "root@example.com").await;
    let r = root
        .post(
            "/event-types",
            &[
                ("name", "bad name"),
                ("description", "Kept"),
                ("example", "{\"a\":"),
            ],
        )
        .await;
    assert_eq!(r.status(), 422);
    let html = unescape(&r.text().await.unwrap());
    // Every wrong field at once: the name is checked although the example is not JSON.
    assert!(html.contains("id=\"example-error\">not valid JSON"));
    assert!(html.contains("id=\"name-error\">use segments of letters"));
    assert!(html.contains("value=\"bad name\"") && html.contains(">{\"a\":</textarea>"));
    let long = "d".repeat(1001);
    let r = root
        .post(
            "/event-types",
            &[("name", "x..y"), ("description", &long), ("example", "[1]")],
        )
        .await;
    assert_eq!(r.status(), 422);
    let html = unescape(&r.text().await.unwrap());
    for field in ["name", "description", "example"] {
        assert!(
            html.contains(&format!("id=\"{field}-error\">")),
            "no error shown for {field}"
        );
        assert!(
            html.contains(&format!("href=\"#{field}\"")),
            "summary links {field}"
        );
    }
    let r = root
        .post("/event-types", &[("name", "bad name"), ("example", "")])
        .await;
    assert!(
        unescape(&r.text().await.unwrap()).contains("id=\"name-error\">use segments of letters")
    );
    let r = root
        .post("/event-types", &[("name", "x.y"), ("example", "[1]")])
        .await;
    assert!(unescape(&r.text().await.unwrap()).contains("must be a JSON object"));
    let r = root
        .post("/event-types", &[("name", "project.created")])
        .await;
    assert_eq!(r.status(), 422);
    assert!(unescape(&r.text().await.unwrap()).contains("already exists"));
    let (_, html) = root
        .post_follow(
            "/event-types",
            &[
                ("name", "invoice.paid"),
                ("description", "An invoice was paid"),
                ("example", "{\"amount\": 5}"),
            ],
        )
        .await;
    assert!(html.contains("Event type invoice.paid created."));
    // The new type is offered on the webhook form.
    let (_, html) = ui.owner.get("/w/acme/webhooks/new").await;
    assert!(html.contains("value=\"invoice.paid\"") && html.contains("An invoice was paid"));
}

// ---------------------------------------------------------------- security

/// Every state-changing route, with a webhook, delivery, key and member of acme.
async fn post_routes(ui: &Ui) -> Vec<String> {
    let hook = ui
        .webhook(json!({"url": "https://a.example.com/", "events": ["*"]}))
        .await;
    ui.publish("project.created", json!({})).await;
    let (delivery, key, member): (i64, i64, i64) = ui
        .app
        .db
        .read(|c| {
            Ok((
                c.query_row("SELECT max(id) FROM deliveries", [], |r| r.get(0))?,
                c.query_row("SELECT max(id) FROM api_keys WHERE workspace_id = (SELECT id FROM workspaces WHERE slug = 'acme')", [], |r| r.get(0))?,
                c.query_row("SELECT id FROM users WHERE email = 'viewer@example.com'", [], |r| r.get(0))?,
            ))
        })
        .await
        .unwrap();
    vec![
        "/w/acme/webhooks".into(),
        format!("/w/acme/webhooks/{hook}/edit"),
        format!("/w/acme/webhooks/{hook}/active"),
        format!("/w/acme/webhooks/{hook}/test"),
        format!("/w/acme/webhooks/{hook}/rotate"),
        format!("/w/acme/webhooks/{hook}/reveal"),
        format!("/w/acme/webhooks/{hook}/delete"),
        format!("/w/acme/deliveries/{delivery}/retry"),
        "/w/acme/api-keys".into(),
        format!("/w/acme/api-keys/{key}/revoke"),
        "/w/acme/members".into(),
        format!("/w/acme/members/{member}/role"),
        format!("/w/acme/members/{member}/remove"),
    ]
}

#[tokio::test]
async fn viewers_are_refused_every_change() {
    let ui = ui().await;
    let routes = post_routes(&ui).await;
    for path in &routes {
        let r = ui
            .viewer
            .post(
                path,
                &[
                    ("active", "false"),
                    ("role", "viewer"),
                    ("url", "https://x.example/"),
                    ("events_mode", "all"),
                    ("scopes", "events"),
                    ("email", "z@example.com"),
                    ("password", PW),
                ],
            )
            .await;
        assert_eq!(r.status(), 403, "viewer POST {path}");
    }
    // Nothing changed.
    let (_, list) = ui.api(Method::GET, "/api/v1/webhooks", None).await;
    assert_eq!(list["data"][0]["is_active"], true);
    assert_eq!(list["data"][0]["url"], "https://a.example.com/");
    // And the pages offer no forms but logout.
    let hook = list["data"][0]["id"].as_i64().unwrap();
    for page in [
        "/w/acme/webhooks".to_string(),
        format!("/w/acme/webhooks/{hook}"),
        format!("/w/acme/webhooks/{hook}/deliveries"),
        "/w/acme/api-keys".into(),
        "/w/acme/members".into(),
    ] {
        let (s, html) = ui.viewer.get(&page).await;
        assert_eq!(s, 200, "{page}");
        assert_eq!(
            html.matches("method=\"post\"").count(),
            1,
            "{page} offers a form to a viewer"
        );
        assert!(
            !html.contains("Send Test</button>") && !html.contains("Edit</a>"),
            "{page}"
        );
    }
    for page in [
        format!("/w/acme/webhooks/{hook}/edit"),
        format!("/w/acme/webhooks/{hook}/delete"),
        "/w/acme/webhooks/new".into(),
    ] {
        assert_eq!(ui.viewer.get(&page).await.0, 403, "{page}");
    }
}

#[tokio::test]
async fn forms_without_the_csrf_token_or_from_another_origin_are_refused() {
    let ui = ui().await;
    let routes = post_routes(&ui).await;
    let extra = ["/workspaces", "/event-types", "/account/password"];
    for path in routes.iter().map(String::as_str).chain(extra) {
        let r = ui.owner.post_raw(path, &[("active", "false")]).await;
        assert_eq!(r.status(), 403, "no token: POST {path}");
        let r = ui
            .owner
            .post_raw(path, &[("csrf", "forged"), ("active", "false")])
            .await;
        assert_eq!(r.status(), 403, "wrong token: POST {path}");
        let r = ui
            .owner
            .b
            .post(ui.app.url(path))
            .header("origin", "https://evil.example")
            .form(&[("csrf", ui.owner.csrf.as_str()), ("active", "false")])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 403, "foreign origin: POST {path}");
    }
    // Another session's token does not work either.
    let r = ui
        .owner
        .post_raw(
            &routes[2],
            &[("csrf", ui.admin.csrf.as_str()), ("active", "false")],
        )
        .await;
    assert_eq!(r.status(), 403);
    let (_, list) = ui.api(Method::GET, "/api/v1/webhooks", None).await;
    assert_eq!(list["data"][0]["is_active"], true, "nothing changed");
    // Not logged in: to the login page, nothing changed.
    let anon = ui.app.browser();
    let r = anon
        .post(ui.app.url(&routes[2]))
        .form(&[("active", "false")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    assert!(r.headers()["location"]
        .to_str()
        .unwrap()
        .starts_with("/login?next="));
}

#[tokio::test]
async fn another_workspaces_ids_and_non_members_get_404() {
    let ui = ui().await;
    let theirs = ui.other_webhook().await;
    // A delivery in globex.
    let (s, _) = ui
        .app
        .api(
            Method::POST,
            "/api/v1/events",
            Some(&ui.other_key),
            Some(json!({"type": "project.created", "data": {}})),
        )
        .await;
    assert_eq!(s, 202);
    let (delivery, key, outsider): (i64, i64, i64) = ui
        .app
        .db
        .read(|c| {
            Ok((
                c.query_row("SELECT max(id) FROM deliveries", [], |r| r.get(0))?,
                c.query_row("SELECT max(id) FROM api_keys", [], |r| r.get(0))?,
                c.query_row(
                    "SELECT id FROM users WHERE email = 'outsider@example.com'",
                    [],
                    |r| r.get(0),
                )?,
            ))
        })
        .await
        .unwrap();
    for page in [
        format!("/w/acme/webhooks/{theirs}"),
        format!("/w/acme/webhooks/{theirs}/edit"),
        format!("/w/acme/webhooks/{theirs}/delete"),
        format!("/w/acme/webhooks/{theirs}/deliveries"),
        format!("/w/acme/deliveries/{delivery}"),
        "/w/acme/webhooks/999999".into(),
        "/w/acme/webhooks/abc".into(),
        "/w/nope/webhooks".into(),
    ] {
        assert_eq!(ui.owner.get(&page).await.0, 404, "GET {page}");
    }
    for path in [
        format!("/w/acme/webhooks/{theirs}/edit"),
        format!("/w/acme/webhooks/{theirs}/active"),
        format!("/w/acme/webhooks/{theirs}/test"),
        format!("/w/acme/webhooks/{theirs}/rotate"),
        format!("/w/acme/webhooks/{theirs}/reveal"),
        format!("/w/acme/webhooks/{theirs}/delete"),
        format!("/w/acme/deliveries/{delivery}/retry"),
        format!("/w/acme/api-keys/{key}/revoke"),
        format!("/w/acme/members/{outsider}/role"),
        format!("/w/acme/members/{outsider}/remove"),
    ] {
        let r = ui
            .owner
            .post(
                &path,
                &[
                    ("active", "false"),
                    ("role", "viewer"),
                    ("url", "https://x.example/"),
                    ("events_mode", "all"),
                ],
            )
            .await;
        assert_eq!(r.status(), 404, "POST {path}");
        // Viewers get 404 too: existence is not revealed by a 403.
        let r = ui
            .viewer
            .post(&path, &[("active", "false"), ("role", "viewer")])
            .await;
        assert_eq!(r.status(), 404, "viewer POST {path}");
    }
    // Still there, unchanged.
    let (s, b) = ui
        .app
        .api(
            Method::GET,
            &format!("/api/v1/webhooks/{theirs}"),
            Some(&ui.other_key),
            None,
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(b["data"]["is_active"], true);
    // A non-member sees nothing of acme, GET or POST.
    for page in [
        "/w/acme",
        "/w/acme/webhooks",
        "/w/acme/webhooks/new",
        "/w/acme/api-keys",
        "/w/acme/members",
    ] {
        assert_eq!(ui.outsider.get(page).await.0, 404, "outsider GET {page}");
    }
    let r = ui
        .outsider
        .post("/w/acme/webhooks", &valid_form("https://x.example.com/"))
        .await;
    assert_eq!(r.status(), 404);
    let r = ui
        .outsider
        .post("/w/acme/api-keys", &[("scopes", "events")])
        .await;
    assert_eq!(r.status(), 404);
}

#[tokio::test]
async fn pages_are_csp_clean_and_load_the_script_file() {
    let ui = local_ui().await;
    let rx = Receiver::start(Receiver::always(500)).await;
    let id = ui
        .webhook(json!({"url": rx.url, "events": ["*"], "retry_schedule": [], "name": "Styled"}))
        .await;
    ui.publish("project.created", json!({"a": 1})).await;
    let list = ui
        .wait_deliveries(id, |l| l.len() == 1 && l[0]["status"] == "failed")
        .await;
    let did = list[0]["id"].as_i64().unwrap();
    ui.app.user("root@example.com", PW, true, None).await;
    let root = login_as(&ui.app, "root@example.com").await;
    for page in [
        "/".to_string(),
        "/event-types".into(),
        "/account/password".into(),
        "/w/acme/webhooks".into(),
        "/w/acme/webhooks/new".into(),
        format!("/w/acme/webhooks/{id}"),
        format!("/w/acme/webhooks/{id}/edit"),
        format!("/w/acme/webhooks/{id}/delete"),
        format!("/w/acme/webhooks/{id}/deliveries"),
        format!("/w/acme/deliveries/{did}"),
        "/w/acme/api-keys".into(),
        "/w/acme/members".into(),
    ] {
        let r = root.b.get(ui.app.url(&page)).send().await.unwrap();
        assert_eq!(r.status(), 200, "{page}");
        assert!(r.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("script-src 'self'"));
        assert_eq!(r.headers()["cache-control"], "no-store", "{page}");
        let html = r.text().await.unwrap();
        // Page content may contain URLs the user typed; only check the frame's own tags.
        assert_csp_clean(&html.replace(&rx.url, ""), &page);
        assert!(html.contains("<script src=\"/static/app.js\" defer></script>"));
        assert!(html.contains("<html lang=\"en\">") && html.contains("name=\"viewport\""));
        // Every input has a label (the JavaScript row template gets ids when cloned).
        let html = match (html.find("<template"), html.find("</template>")) {
            (Some(a), Some(b)) => format!("{}{}", &html[..a], &html[b..]),
            _ => html,
        };
        for (i, _) in html.match_indices("<input ") {
            let tag = &html[i..html[i..].find('>').unwrap() + i];
            if tag.contains("type=\"hidden\"")
                || tag.contains("type=\"checkbox\"")
                || tag.contains("type=\"radio\"")
            {
                continue;
            }
            let id = tag
                .split("id=\"")
                .nth(1)
                .map(|s| s.split('"').next().unwrap());
            let id = id.unwrap_or_else(|| panic!("{page}: input without id: {tag}"));
            assert!(
                html.contains(&format!("for=\"{id}\"")),
                "{page}: no label for {id}"
            );
        }
    }
    let r = ui
        .app
        .http
        .get(ui.app.url("/static/app.js"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap()
        .contains("javascript"));
    assert!(r.headers().contains_key("etag"));
}

/// A newcomer's first steps: someone with one workspace goes straight into it; an empty
/// instance's Add Webhook form says event types come first and how to define them (a link
/// for instance admins, the CLI line for everyone); the API's 422 for an unknown type says
/// the same.
#[tokio::test]
async fn first_steps_lead_somewhere() {
    let app = spawn_app().await;
    let ws = app.workspace("acme").await;
    app.user("ann@example.com", PW, false, Some((ws, Role::Owner)))
        .await;
    app.user("root@example.com", PW, true, Some((ws, Role::Owner)))
        .await;
    let ann = login_as(&app, "ann@example.com").await;
    let r = ann.b.get(app.url("/")).send().await.unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()["location"], "/w/acme/webhooks");
    // Instance admins keep the start page: it is where workspaces are made.
    let root = login_as(&app, "root@example.com").await;
    let (s, html) = root.get("/").await;
    assert_eq!(s, 200);
    assert!(html.contains("acme"));
    // No event types yet.
    let (_, html) = ann.get("/w/acme/webhooks/new").await;
    assert!(html.contains("id=\"no-event-types\""));
    assert!(html.contains("hookline event-type create"));
    assert!(html.contains("ask the operator"));
    assert!(!html.contains("href=\"/event-types\">Event types</a> page"));
    let (_, html) = root.get("/w/acme/webhooks/new").await;
    assert!(html.contains("href=\"/event-types\">Event types</a> page"));
    assert!(html.contains("hookline event-type create"));
    // The API says how, too.
    let key = app.api_key(Some(ws), "webhooks,events").await;
    let (s, b) = app
        .api(
            Method::POST,
            "/api/v1/webhooks",
            Some(&key),
            Some(json!({"url": "https://example.com/h", "events": ["project.created"]})),
        )
        .await;
    assert_eq!(s, 422);
    assert_eq!(b["error"]["field"], "events");
    let msg = b["error"]["message"].as_str().unwrap();
    assert!(
        msg.contains("hookline event-type create project.created")
            && msg.contains("POST /api/v1/event-types"),
        "{msg}"
    );
    let (s, b) = app
        .api(
            Method::POST,
            "/api/v1/events",
            Some(&key),
            Some(json!({"type": "project.created", "data": {}})),
        )
        .await;
    assert_eq!(s, 422);
    assert!(b["error"]["message"]
        .as_str()
        .unwrap()
        .contains("hookline event-type create project.created"));
}

/// A receiver that answers every request with `500`, 90 long headers full of characters
/// HTML escapes, and a 100 KiB body: 100 levels of brackets around quotes and slashes.
async fn hostile_receiver() -> (String, tokio::task::JoinHandle<()>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    let mut head = String::from("HTTP/1.1 500 Internal Server Error\r\n");
    for i in 0..90 {
        head.push_str(&format!("x-h{i}: {}\r\n", "\"'/<>&".repeat(30)));
    }
    let mut body = "[".repeat(100);
    while body.len() < 100 * 1024 {
        body.push_str("\"\\\"//<>&\",");
    }
    body.push('1');
    body.push_str(&"]".repeat(100));
    let response = format!(
        "{head}content-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    let task = tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            let response = response.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 512 * 1024];
                let mut got = Vec::new();
                // Read the whole request (headers and the content-length body).
                loop {
                    let n = s.read(&mut buf).await.unwrap_or(0);
                    if n == 0 {
                        return;
                    }
                    got.extend_from_slice(&buf[..n]);
                    if let Some(end) = got.windows(4).position(|w| w == b"\r\n\r\n") {
                        let head = String::from_utf8_lossy(&got[..end]).to_lowercase();
                        let len: usize = head
                            .lines()
                            .find_map(|l| l.strip_prefix("content-length:"))
                            .and_then(|v| v.trim().parse().ok())
                            .unwrap_or(0);
                        if got.len() >= end + 4 + len {
                            break;
                        }
                    }
                }
                let _ = s.write_all(response.as_bytes()).await;
            });
        }
    });
    (format!("http://127.0.0.1:{port}/hook"), task)
}

/// Whatever a payload or a receiver holds (deep nesting, walls of quotes and slashes, many
/// long headers, dozens of attempts), the delivery page stays under 1 MB, says what it cut
/// and links the exact bytes; the raw body is what was signed (it verifies with the
/// standardwebhooks crate against the attempt's own headers).
#[tokio::test]
async fn the_delivery_page_stays_small_whatever_the_bodies() {
    let ui = local_ui().await;
    let (url, _rx) = hostile_receiver().await;
    // The most custom headers a webhook may have, each as long as allowed, all of characters
    // HTML escapes: sent (and shown) with every attempt.
    let big_headers: serde_json::Map<String, Value> = (0..20)
        .map(|i| (format!("X-Big-{i:02}"), json!("\"/".repeat(1024))))
        .collect();
    let (s, w) = ui
        .api(
            Method::POST,
            "/api/v1/webhooks",
            Some(
                json!({"url": url, "events": ["*"], "retry_schedule": [], "headers": big_headers}),
            ),
        )
        .await;
    assert_eq!(s, 201, "{w}");
    let (wid, secret) = (
        w["data"]["id"].as_i64().unwrap(),
        w["data"]["secret"].as_str().unwrap().to_string(),
    );
    // Deep: 120 levels of arrays around 40,000 numbers (~120 KB published).
    let mut deep = json!((0..40_000).collect::<Vec<i32>>());
    for _ in 0..120 {
        deep = json!([deep]);
    }
    // Deep objects with many keys at every level, and a wall of characters HTML escapes to six bytes.
    let mut objects = json!({"leaf": "x"});
    for i in 0..120 {
        let mut level = serde_json::Map::new();
        level.insert(format!("level-{i}"), objects);
        for j in 0..100 {
            level.insert(format!("s{j}"), json!(j));
        }
        objects = Value::Object(level);
    }
    let wall = json!(vec!["\"/'\"/'\"/'"; 15_000]);
    for (i, data) in [deep, objects, wall].into_iter().enumerate() {
        ui.publish("project.created", json!({ "v": data })).await;
        let list = ui
            .wait_deliveries(wid, |l| l.len() == i + 1 && l[0]["status"] == "failed")
            .await;
        let did = list[0]["id"].as_i64().unwrap();
        let page = format!("/w/acme/deliveries/{did}");
        if i == 0 {
            // Thirty more attempts, through the Retry button.
            for n in 2..=31 {
                let r = ui.owner.post(&format!("{page}/retry"), &[]).await;
                assert_eq!(r.status(), 303);
                ui.wait_deliveries(wid, |l| l[0]["attempts"] == n && l[0]["status"] == "failed")
                    .await;
            }
        }
        let r = ui.viewer.b.get(ui.app.url(&page)).send().await.unwrap();
        assert_eq!(r.status(), 200);
        let html = r.text().await.unwrap();
        eprintln!("payload {i}: delivery page of {} bytes", html.len());
        assert!(
            html.len() < 1_000_000,
            "payload {i}: the delivery page is {} bytes",
            html.len()
        );
        assert!(
            html.contains("id=\"payload-cut\""),
            "payload {i}: no notice"
        );
        assert!(html.contains(&format!("href=\"{page}/body\"")));
        assert!(html.contains("more response headers are not shown"));
        assert!(html.contains("more request headers are not shown"));
        assert!(html.contains("Shown in part; the raw link has all of it."));
        if i == 0 {
            assert!(html.contains("id=\"attempts-hidden\""));
            assert!(
                html.contains("6 older ones are not shown"),
                "31 attempts, 25 shown"
            );
        }
        // The raw body: exactly the bytes that were signed.
        let raw = ui
            .viewer
            .b
            .get(ui.app.url(&format!("{page}/body")))
            .send()
            .await
            .unwrap();
        assert_eq!(raw.status(), 200);
        assert_eq!(raw.headers()["content-type"], "text/plain; charset=utf-8");
        assert!(raw.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("sandbox"));
        let raw = raw.bytes().await.unwrap();
        let (_, d) = ui
            .api(Method::GET, &format!("/api/v1/deliveries/{did}"), None)
            .await;
        let sent = &d["data"]["attempts"][0]["request"]["headers"];
        let mut headers = http::HeaderMap::new();
        for h in ["webhook-id", "webhook-timestamp", "webhook-signature"] {
            headers.insert(h, sent[h].as_str().unwrap().parse().unwrap());
        }
        standardwebhooks::Webhook::new(&secret)
            .unwrap()
            .verify(&raw, &headers)
            .expect("the raw body is what was signed");
        let download = ui
            .viewer
            .b
            .get(ui.app.url(&format!("{page}/body?download=1")))
            .send()
            .await
            .unwrap();
        assert!(download.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .starts_with("attachment; filename=\"evt_"));
        assert_eq!(download.bytes().await.unwrap(), raw);
        // The receiver's stored answer, raw: its first 64 KiB.
        let resp = ui
            .viewer
            .b
            .get(ui.app.url(&format!("{page}/attempts/1/response")))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        let resp = resp.bytes().await.unwrap();
        assert_eq!(resp.len(), 64 * 1024);
        assert!(resp.starts_with(b"[[[["));
    }
    // Raw bytes follow the same tenancy as the page.
    let (_, d) = ui
        .api(
            Method::GET,
            &format!("/api/v1/webhooks/{wid}/deliveries?limit=1"),
            None,
        )
        .await;
    let did = d["data"][0]["id"].as_i64().unwrap();
    for path in [
        format!("/w/acme/deliveries/{did}/body"),
        format!("/w/acme/deliveries/{did}/attempts/1/response"),
        format!("/w/acme/deliveries/{did}/attempts/99/response"),
        format!("/w/globex/deliveries/{did}/body"),
    ] {
        let r = ui.outsider.b.get(ui.app.url(&path)).send().await.unwrap();
        assert_eq!(r.status(), 404, "{path}");
    }
    let r = ui
        .viewer
        .b
        .get(
            ui.app
                .url(&format!("/w/acme/deliveries/{did}/attempts/99/response")),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
}
