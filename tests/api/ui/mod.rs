//! The settings UI's pages and forms, through HTTP like a browser without JavaScript:
//! validation errors (with the input kept), roles (viewers see no forms and get 403),
//! tenancy (another workspace's ids and non-members get 404), CSRF, and the one-time secrets.
//! This file is the harness (a logged-in `Session`, the `Ui` fixture); each section of the
//! settings has a file of its own.

mod account;
mod api_keys;
mod brand;
mod deliveries;
mod history;
mod home;
mod invitations;
mod members;
mod portal;
mod security;
mod webhook_form;
mod webhook_page;

use crate::helpers::*;
use crate::receiver::Receiver;
use hookline::domain::Role;
use reqwest::Method;
use serde_json::{json, Value};

pub const PW: &str = "correct horse battery";

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
        crate::helpers::wait_deliveries(&self.app, &self.key, webhook, done).await
    }
    pub async fn get_webhook(&self, id: i64) -> (u16, Value) {
        self.api(Method::GET, &format!("/api/v1/webhooks/{id}"), None)
            .await
    }
}

pub fn valid_form(url: &str) -> Vec<(&str, &str)> {
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
pub fn id_in(location: &str) -> i64 {
    location.rsplit('/').next().unwrap().parse().unwrap()
}

pub fn secret_in(html: &str) -> Option<String> {
    let i = html.find("whsec_")?;
    Some(
        html[i..]
            .chars()
            .take_while(|c| !c.is_whitespace() && *c != '<')
            .collect(),
    )
}

/// No inline script or style: the CSP (`script-src 'self'; style-src 'self'`) would block it.
pub fn assert_csp_clean(html: &str, page: &str) {
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
