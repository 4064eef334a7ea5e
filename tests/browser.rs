//! The settings UI in a real browser: headless Chromium (Debian's `/usr/bin/chromium`) driven
//! over WebDriver through `/usr/bin/chromedriver`. It walks the main scenario (log in, add a
//! webhook, toggle it, Send Test, read deliveries with failures in red, retry one, delete)
//! and saves screenshots of the main pages to `test-artifacts/screenshots/` (and, with
//! `HOOKLINE_UPDATE_SCREENSHOTS=1`, to the README's `docs/screenshots/`).
//!
//! A second test puts the portal in a vendor's iframe on another site, over https with a
//! test CA, with third-party cookies blocked, and works in it (see
//! `portal_in_a_third_party_iframe_with_third_party_cookies_blocked`).
//!
//! Without Chromium the test is skipped, except with `CI=true`, where it fails.

#[allow(dead_code)]
#[path = "api/helpers.rs"]
mod helpers;
#[path = "common/pg.rs"]
mod pg_cluster;
#[path = "common/pki.rs"]
mod pki;
#[allow(dead_code)]
#[path = "api/receiver.rs"]
mod receiver;

use std::collections::HashMap;
use std::future::Future;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use helpers::*;
use hookline::domain::Role;
use receiver::Receiver;
use reqwest::Method;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const PW: &str = "correct horse battery";
/// The whole scenario must finish within this.
const SCENARIO_TIMEOUT: Duration = Duration::from_secs(180);
/// Any single wait for the page.
const WAIT: Duration = Duration::from_secs(20);

/// `true` when the browser is there; otherwise skips (or, in CI, fails).
fn browser_available() -> bool {
    let missing: Vec<&str> = [CHROMIUM, CHROMEDRIVER]
        .into_iter()
        .filter(|p| !Path::new(p).exists())
        .collect();
    if missing.is_empty() {
        return true;
    }
    let msg = format!(
        "{} not found: install the Debian packages `chromium chromium-driver` (apt-get install -y chromium chromium-driver)",
        missing.join(" and ")
    );
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("CI=true and the browser tests cannot run: {msg}");
    }
    eprintln!("SKIPPED: browser tests: {msg}");
    false
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// chromedriver (in its own process group) and the Chromium it starts, with a fresh
/// profile. Everything is killed when this is dropped, even after a panic.
struct Browser {
    driver: Child,
    profile: tempfile::TempDir,
    client: Option<Client>,
}

impl Browser {
    async fn start() -> Browser {
        Browser::start_with(Vec::new(), json!({})).await
    }

    /// Like [`Browser::start`], with more Chromium switches and profile preferences.
    async fn start_with(extra_args: Vec<String>, prefs: Value) -> Browser {
        use std::os::unix::process::CommandExt;
        // Orphaned browser processes are re-parented to this process, which reaps them.
        unsafe {
            libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
        }
        let profile = tempfile::tempdir().unwrap();
        let port = free_port();
        let driver = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .arg("--allowed-ips=127.0.0.1")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .expect("start chromedriver");
        let mut b = Browser {
            driver,
            profile,
            client: None,
        };
        let url = format!("http://127.0.0.1:{port}");
        // Wait (bounded) until chromedriver answers.
        let http = reqwest::Client::new();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
        loop {
            let ready = http
                .get(format!("{url}/status"))
                .timeout(Duration::from_secs(2))
                .send()
                .await
                .ok()
                .filter(|r| r.status().is_success());
            if ready.is_some() {
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "chromedriver did not start on port {port}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let profile_dir = b.profile.path().display().to_string();
        let mut args: Vec<String> = [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-extensions",
            "--no-default-browser-check",
            "--hide-scrollbars",
            "--window-size=1280,900",
        ]
        .into_iter()
        .map(String::from)
        .collect();
        args.push(format!("--user-data-dir={profile_dir}"));
        args.extend(extra_args);
        let caps: serde_json::Map<String, Value> = serde_json::from_value(json!({
            "browserName": "chrome",
            "pageLoadStrategy": "normal",
            "timeouts": {"pageLoad": 20000, "script": 10000, "implicit": 0},
            "goog:chromeOptions": {
                "binary": CHROMIUM,
                "args": args,
                "prefs": prefs,
            }
        }))
        .unwrap();
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        let client = tokio::time::timeout(
            Duration::from_secs(30),
            ClientBuilder::new(connector)
                .capabilities(caps)
                .connect(&url),
        )
        .await
        .expect("Chromium did not start within 30 s")
        .expect("WebDriver session");
        b.client = Some(client);
        b
    }

    fn c(&self) -> &Client {
        self.client.as_ref().unwrap()
    }

    /// Ends the WebDriver session (Chromium quits); `Drop` kills whatever remains.
    async fn close(mut self) {
        if let Some(c) = self.client.take() {
            let _ = tokio::time::timeout(Duration::from_secs(10), c.close()).await;
        }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // The process group holds chromedriver and the browser it started.
        let pgid = self.driver.id() as libc::pid_t;
        unsafe {
            libc::kill(-pgid, libc::SIGKILL);
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
        // Any Chromium process that left the group still names our profile directory.
        let marker = self.profile.path().display().to_string();
        if let Ok(dir) = std::fs::read_dir("/proc") {
            for entry in dir.flatten() {
                let Ok(pid) = entry.file_name().to_string_lossy().parse::<libc::pid_t>() else {
                    continue;
                };
                let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
                if String::from_utf8_lossy(&cmdline).contains(&marker) {
                    unsafe {
                        libc::kill(pid, libc::SIGKILL);
                    }
                }
            }
        }
        // Reap what was killed (bounded), so no zombie outlives the test either.
        let deadline = std::time::Instant::now() + Duration::from_secs(3);
        while std::time::Instant::now() < deadline {
            let pid = unsafe { libc::waitpid(-1, std::ptr::null_mut(), libc::WNOHANG) };
            if pid < 0 {
                break; // no children left
            }
            if pid == 0 {
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }
}

/// Browser steps, each bounded.
struct Page<'a> {
    c: &'a Client,
    base: String,
}

impl Page<'_> {
    async fn goto(&self, path: &str) {
        tokio::time::timeout(WAIT, self.c.goto(&format!("{}{path}", self.base)))
            .await
            .unwrap_or_else(|_| panic!("loading {path} timed out"))
            .unwrap_or_else(|e| panic!("loading {path}: {e}"));
    }

    async fn find(&self, css: &str) -> fantoccini::elements::Element {
        self.c
            .wait()
            .at_most(WAIT)
            .every(Duration::from_millis(50))
            .for_element(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no element {css}: {e}"))
    }

    async fn click(&self, css: &str) {
        let el = self.find(css).await;
        tokio::time::timeout(WAIT, el.click())
            .await
            .unwrap_or_else(|_| panic!("clicking {css} timed out"))
            .unwrap_or_else(|e| panic!("clicking {css}: {e}"));
    }

    async fn type_into(&self, css: &str, text: &str) {
        let el = self.find(css).await;
        el.clear().await.unwrap();
        el.send_keys(text).await.unwrap();
    }

    async fn path(&self) -> String {
        let u = self.c.current_url().await.unwrap();
        match u.query() {
            Some(q) => format!("{}?{q}", u.path()),
            None => u.path().to_string(),
        }
    }

    /// Waits until the browser is on `path` (after a form's redirect).
    async fn wait_path(&self, want: impl Fn(&str) -> bool, what: &str) -> String {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let p = self.path().await;
            if want(&p) {
                // And the page has loaded.
                self.wait_js("return document.readyState === 'complete'")
                    .await;
                return p;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "never reached {what}; at {p}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn js(&self, script: &str, args: Vec<Value>) -> Value {
        tokio::time::timeout(WAIT, self.c.execute(script, args))
            .await
            .expect("script timed out")
            .unwrap_or_else(|e| panic!("script failed: {e}\n{script}"))
    }

    /// Polls a script until it returns `true`.
    async fn wait_js(&self, script: &str) {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            if self.js(script, vec![]).await == Value::Bool(true) {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "timed out waiting for: {script}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn text(&self, css: &str) -> String {
        self.find(css).await.text().await.unwrap()
    }

    /// Saves a full-page screenshot at `width` as `name.png` in both screenshot folders.
    async fn screenshot(&self, name: &str, width: u32) {
        self.c.set_window_size(width, 900).await.unwrap();
        // Grow the window until the viewport holds the whole page (bounded).
        for _ in 0..4 {
            let m = self
                .js(
                    "var d = document.documentElement; \
                     return [Math.max(d.scrollHeight, document.body.scrollHeight), window.innerHeight, window.outerHeight]",
                    vec![],
                )
                .await;
            let n = |i: usize| m[i].as_u64().unwrap_or(900) as u32;
            let (page, inner, outer) = (n(0).min(5000), n(1), n(2));
            if inner >= page {
                break;
            }
            self.c
                .set_window_size(width, page + outer.saturating_sub(inner))
                .await
                .unwrap();
        }
        let png = tokio::time::timeout(WAIT, self.c.screenshot())
            .await
            .expect("screenshot timed out")
            .unwrap();
        assert!(png.starts_with(b"\x89PNG"), "not a PNG");
        for dir in screenshot_dirs() {
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(dir.join(format!("{name}.png")), &png).unwrap();
        }
        self.c.set_window_size(1280, 900).await.unwrap();
    }
}

/// Always `test-artifacts/screenshots`; also the README's `docs/screenshots` when
/// `HOOKLINE_UPDATE_SCREENSHOTS=1`, so ordinary runs leave the work tree clean.
fn screenshot_dirs() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut dirs = vec![root.join("test-artifacts/screenshots")];
    if std::env::var("HOOKLINE_UPDATE_SCREENSHOTS").is_ok_and(|v| v == "1") {
        dirs.push(root.join("docs/screenshots"));
    }
    dirs
}

/// `rgb(180, 35, 24)` → (180, 35, 24).
fn rgb(css: &str) -> (u32, u32, u32) {
    let inner = css
        .trim()
        .trim_start_matches("rgba(")
        .trim_start_matches("rgb(")
        .trim_end_matches(')');
    let v: Vec<u32> = inner
        .split(',')
        .take(3)
        .map(|p| p.trim().parse::<f32>().unwrap_or(0.0) as u32)
        .collect();
    (v[0], v[1], v[2])
}

fn is_red((r, g, b): (u32, u32, u32)) -> bool {
    r >= 140 && r > 2 * g && r > 2 * b
}

async fn wait_deliveries(
    app: &TestApp,
    key: &str,
    webhook: i64,
    done: impl Fn(&[Value]) -> bool,
) -> Vec<Value> {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let (_, b) = app
            .api(
                Method::GET,
                &format!("/api/v1/webhooks/{webhook}/deliveries?limit=100"),
                Some(key),
                None,
            )
            .await;
        let list = b["data"].as_array().cloned().unwrap_or_default();
        if done(&list) {
            return list;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "deliveries never settled: {list:#?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn settings_ui_in_headless_chromium() {
    if !browser_available() {
        return;
    }
    tokio::time::timeout(SCENARIO_TIMEOUT, scenario())
        .await
        .expect("the browser scenario took too long");
}

async fn scenario() {
    let app = spawn_app_with(|r| {
        r.allow_http = Some("true".into());
        r.allowed_networks = Some("127.0.0.0/8".into());
    })
    .await;
    let ws = app.workspace("acme").await;
    app.db
        .write(move |c| {
            c.execute(
                "UPDATE workspaces SET name = 'Acme Corp' WHERE id = ?1",
                [ws],
            )?;
            Ok(())
        })
        .await
        .unwrap();
    let instance = app.api_key(None, "webhooks,events").await;
    for (name, desc) in [
        ("order.created", "An order was placed"),
        ("order.paid", "An order was paid"),
        ("order.refunded", "An order was refunded"),
    ] {
        let (s, b) = app
            .api(
                Method::POST,
                "/api/v1/event-types",
                Some(&instance),
                Some(json!({"name": name, "description": desc, "example": {"order_id": 1042, "total": "19.90"}})),
            )
            .await;
        assert_eq!(s, 201, "{b}");
    }
    app.user("ann@acme.example", PW, false, Some((ws, Role::Owner)))
        .await;
    let key = app.api_key(Some(ws), "webhooks,events").await;
    // Request 0 is Send Test (200); after that every odd request fails.
    let rx = Receiver::start(|n| {
        if n % 2 == 1 {
            (500, vec![])
        } else {
            (200, vec![])
        }
    })
    .await;

    let browser = Browser::start().await;
    let p = Page {
        c: browser.c(),
        base: app.base.clone(),
    };

    // Log in.
    p.goto("/").await;
    p.wait_path(|x| x.starts_with("/login"), "the login form")
        .await;
    p.type_into("#email", "ann@acme.example").await;
    p.type_into("#password", PW).await;
    p.click("button[type=submit].primary").await;
    // Ann is in one workspace: the login lands straight in it, no picker.
    p.wait_path(|x| x == "/w/acme/webhooks", "the webhooks list")
        .await;
    assert!(p.text("main").await.contains("No webhooks yet"));

    // Add Webhook.
    p.click("#add-webhook").await;
    p.wait_path(|x| x == "/w/acme/webhooks/new", "the form")
        .await;
    p.type_into("#url", &rx.url).await;
    p.type_into("#name", "Order sync").await;
    p.type_into("#description", "Sends orders to the fulfilment service")
        .await;
    p.click("#events-chosen").await;
    p.click("input[name=events][value='order.created']").await;
    p.click("input[name=events][value='order.paid']").await;
    // Header rows: fill the first, add one with the button, remove a spare one.
    p.type_into("#header-name-1", "X-Api-Key").await;
    p.type_into("#header-value-1", "fulfil-123").await;
    let rows_before = p
        .js(
            "return document.querySelectorAll('.header-row').length",
            vec![],
        )
        .await;
    p.click("#add-header").await;
    let rows_after = p
        .js(
            "return document.querySelectorAll('.header-row').length",
            vec![],
        )
        .await;
    assert_eq!(rows_after.as_u64(), rows_before.as_u64().map(|n| n + 1));
    p.click("#header-rows .header-row:last-child .remove-row")
        .await;
    p.click("#retry-custom").await;
    p.type_into("#timeout_seconds", "10").await;
    p.type_into("#notification_email", "ops@acme.example").await;
    p.js("window.scrollTo(0, 0)", vec![]).await;
    p.screenshot("webhook-form", 1280).await;
    p.click("#save").await;
    let page = p
        .wait_path(
            |x| x.starts_with("/w/acme/webhooks/") && !x.ends_with("/new"),
            "the webhook page",
        )
        .await;
    let id: i64 = page.rsplit('/').next().unwrap().parse().unwrap();

    // The secret, once, with a copy button.
    let secret = p.text("#secret-value").await;
    assert!(secret.starts_with("whsec_"), "{secret}");
    let (_, api) = app
        .api(
            Method::GET,
            &format!("/api/v1/webhooks/{id}"),
            Some(&key),
            None,
        )
        .await;
    assert_eq!(api["data"]["secret"], secret.as_str());
    assert_eq!(
        api["data"]["events"],
        json!(["order.created", "order.paid"])
    );
    assert_eq!(api["data"]["headers"], json!({"X-Api-Key": "fulfil-123"}));
    assert_eq!(api["data"]["retry_schedule"], json!([]));
    p.click("button[data-copy='secret-value']").await;
    p.wait_js(
        "var b = document.querySelector(\"button[data-copy='secret-value']\"); \
         return b.textContent === 'Copied' || String(window.getSelection()).indexOf('whsec_') === 0",
    )
    .await;
    p.screenshot("webhook-page-new-secret", 1280).await;

    // Listed.
    p.goto("/w/acme/webhooks").await;
    let row = p.text("table.webhooks tbody tr").await;
    assert!(
        row.contains("Order sync") && row.contains("Active"),
        "{row}"
    );

    // Active off and on again.
    p.goto(&page).await;
    assert!(
        p.text("main").await.find(&secret).is_none(),
        "secret shown twice"
    );
    p.click("#active-switch").await;
    p.wait_js("var s = document.querySelector('#active-switch'); return !!s && s.getAttribute('aria-checked') === 'false'").await;
    assert!(p.text(".notice").await.contains("turned off"));
    let (_, api) = app
        .api(
            Method::GET,
            &format!("/api/v1/webhooks/{id}"),
            Some(&key),
            None,
        )
        .await;
    assert_eq!(api["data"]["is_active"], false);
    p.click("#active-switch").await;
    p.wait_js("var s = document.querySelector('#active-switch'); return !!s && s.getAttribute('aria-checked') === 'true'").await;

    // Send Test.
    p.click("#send-test").await;
    p.wait_js("return !!document.querySelector('#test-result')")
        .await;
    let result = p.text("#test-result").await;
    assert!(
        result.contains("Test delivered") && result.contains("HTTP 200"),
        "{result}"
    );
    p.screenshot("webhook-page", 1280).await;

    // Events over the API; the receiver fails every other one.
    for i in 0..6 {
        let t = if i % 2 == 0 {
            "order.created"
        } else {
            "order.paid"
        };
        let (s, b) = app
            .api(
                Method::POST,
                "/api/v1/events",
                Some(&key),
                Some(json!({"type": t, "data": {"order_id": 1000 + i, "total": format!("{}.90", 10 + i)}})),
            )
            .await;
        assert_eq!(s, 202, "{b}");
        // One at a time, so the receiver's answers alternate predictably.
        wait_deliveries(&app, &key, id, |l| {
            l.len() == i + 2
                && l.iter()
                    .all(|d| d["status"] == "succeeded" || d["status"] == "failed")
        })
        .await;
    }

    // Deliveries: failed rows are red, succeeded ones are not.
    p.click("nav.tabs a[href$='/deliveries']").await;
    p.wait_path(|x| x.ends_with("/deliveries"), "the deliveries tab")
        .await;
    let rows = p
        .js(
            "return Array.from(document.querySelectorAll('tr.delivery')).map(function (tr) { \
               var s = getComputedStyle(tr); var td = getComputedStyle(tr.cells[0]); \
               return [tr.getAttribute('data-status'), s.color, td.backgroundColor]; })",
            vec![],
        )
        .await;
    let rows = rows.as_array().unwrap();
    assert_eq!(rows.len(), 7, "{rows:?}");
    let (mut failed, mut succeeded) = (0, 0);
    for r in rows {
        let status = r[0].as_str().unwrap();
        let color = rgb(r[1].as_str().unwrap());
        let bg = rgb(r[2].as_str().unwrap());
        match status {
            "failed" => {
                failed += 1;
                assert!(is_red(color), "failed row text is not red: {color:?}");
                assert!(
                    bg.0 > bg.1 && bg.0 > bg.2,
                    "failed row background is not reddish: {bg:?}"
                );
            }
            "succeeded" => {
                succeeded += 1;
                assert!(!is_red(color), "succeeded row is red: {color:?}");
                assert!(
                    bg.0 <= bg.1 + 5 || bg == (0, 0, 0),
                    "succeeded row background is reddish: {bg:?}"
                );
            }
            other => panic!("unexpected status {other}"),
        }
    }
    assert_eq!((failed, succeeded), (3, 4));
    p.screenshot("deliveries", 1280).await;

    // Filter to the failures.
    p.find("#f-status")
        .await
        .select_by_value("failed")
        .await
        .unwrap();
    p.click("#apply-filters").await;
    p.wait_path(|x| x.contains("status=failed"), "the filtered list")
        .await;
    let n = p
        .js(
            "return document.querySelectorAll(\"tr.delivery[data-status='failed']\").length === \
                document.querySelectorAll('tr.delivery').length ? document.querySelectorAll('tr.delivery').length : -1",
            vec![],
        )
        .await;
    assert_eq!(n.as_i64(), Some(3));

    // Open a failed delivery by clicking its row, and retry it.
    p.click("tr.delivery[data-status='failed'] td.preview")
        .await;
    let delivery = p
        .wait_path(
            |x| x.starts_with("/w/acme/deliveries/"),
            "the delivery page",
        )
        .await;
    let body = p.text("main").await;
    assert!(
        body.contains("Attempt 1") && body.contains("HTTP 500"),
        "{body}"
    );
    let lower = body.to_lowercase();
    assert!(
        lower.contains("webhook-signature") && lower.contains("x-api-key: fulfil-123")
            || lower.contains("x-api-key\tfulfil-123")
            || lower.contains("x-api-key fulfil-123"),
        "request headers missing: {body}"
    );
    assert!(body.contains("receiver says hi"));
    p.screenshot("delivery", 1280).await;
    p.click("#retry").await;
    p.wait_js("var n = document.querySelector('.notice'); return !!n && n.textContent.indexOf('Retry scheduled') >= 0").await;
    // The new attempt shows up after a reload.
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        p.goto(&delivery).await;
        if p.text("main").await.contains("Attempt 2") {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the retry never showed up"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // The list, and every main page at phone width without sideways scrolling.
    p.goto("/w/acme/webhooks").await;
    p.screenshot("webhooks", 1280).await;
    p.screenshot("webhooks-phone", 390).await;
    p.c.set_window_size(390, 844).await.unwrap();
    for path in [
        "/w/acme/webhooks".to_string(),
        "/w/acme/webhooks/new".into(),
        page.clone(),
        format!("{page}/deliveries"),
        delivery.clone(),
        "/w/acme/api-keys".into(),
        "/w/acme/members".into(),
    ] {
        p.goto(&path).await;
        let fits = p
            .js(
                "return document.documentElement.scrollWidth <= window.innerWidth + 1",
                vec![],
            )
            .await;
        if fits != Value::Bool(true) {
            let wide = p
                .js(
                    "return Array.from(document.querySelectorAll('body *')).filter(function (e) { \
                       return !(e.parentElement && e.parentElement.closest('.table-wrap, pre')) && e.getBoundingClientRect().right > window.innerWidth + 1; }).slice(0, 8) \
                       .map(function (e) { return e.tagName + '.' + e.className + ' ' + Math.round(e.getBoundingClientRect().right); }).concat(['inner=' + window.innerWidth, 'scroll=' + document.documentElement.scrollWidth])",
                    vec![],
                )
                .await;
            panic!("{path} scrolls sideways on a phone; too wide: {wide}");
        }
    }
    p.c.set_window_size(1280, 900).await.unwrap();

    // Retry failed…: a job big enough to watch (200,000 failed deliveries from an hour ago,
    // 400 batches). Its page follows the progress in place, without reloading (the meta
    // refresh only works without JavaScript), and Cancel ends it. The preview counts every
    // failed delivery of the webhook in the last two hours: those stored above as well.
    let matching = app
        .db
        .write(move |c| {
            let hour_ago = hookline::clock::now_ms() - 3_600_000;
            let before: i64 = c.query_row(
                "SELECT count(*) FROM deliveries WHERE webhook_id = ?1 AND status = 'failed'",
                [id],
                |r| r.get(0),
            )?;
            c.execute_batch(&format!(
                "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 200000)
                 INSERT INTO events (public_id, workspace_id, type, body, created_at)
                   SELECT 'evt_bulk' || i, {ws}, 'order.created', '{{}}', {hour_ago} FROM n;
                 INSERT INTO deliveries (workspace_id, webhook_id, event_id, event_type, status, attempt_count, last_status_code, created_at, updated_at)
                   SELECT {ws}, {id}, e.id, e.type, 'failed', 1, 500, e.created_at, e.created_at
                   FROM events e WHERE e.public_id LIKE 'evt_bulk%';"
            ))?;
            Ok(before + 200_000)
        })
        .await
        .unwrap();
    p.goto(&format!("{page}/bulk-retry")).await;
    let since = hookline::clock::rfc3339(hookline::clock::now_ms() - 7_200_000);
    p.type_into("#since", &since).await;
    p.click("#preview-button").await;
    p.wait_js("return !!document.getElementById('preview')")
        .await;
    assert!(
        p.text("#preview")
            .await
            .contains(&format!("{matching} deliveries match")),
        "{}",
        p.text("#preview").await
    );
    p.click("#start-job").await;
    p.wait_path(|x| x.contains("/jobs/"), "the job's page")
        .await;
    assert_eq!(p.text("#job-state").await, "running");
    p.js("window.__notReloaded = true", vec![]).await;
    let progress = "return document.getElementById('job-progress-text').textContent";
    let first = p.js(progress, vec![]).await;
    p.wait_js(&format!("{progress} !== {first}")).await;
    let second = p.js(progress, vec![]).await;
    p.wait_js(&format!("{progress} !== {second}")).await;
    assert_eq!(
        p.js("return window.__notReloaded === true", vec![]).await,
        Value::Bool(true),
        "the progress moved without reloading the page"
    );
    p.click("#cancel-job").await;
    p.wait_js("return !!document.getElementById('job-state') && document.getElementById('job-state').textContent === 'cancelled'")
        .await;
    assert!(
        p.js("return !document.getElementById('cancel-job')", vec![])
            .await
            == Value::Bool(true)
    );

    // Delete, through the confirmation.
    p.goto(&page).await;
    p.click("#delete-webhook").await;
    p.wait_path(|x| x.ends_with("/delete"), "the confirmation")
        .await;
    assert!(p.text("h1").await.contains("Order sync"));
    p.click("#confirm-delete").await;
    p.wait_path(|x| x == "/w/acme/webhooks", "the list after deleting")
        .await;
    assert!(p.text(".notice").await.contains("Order sync"));
    assert!(p.text("main").await.contains("No webhooks yet"));
    let (s, _) = app
        .api(
            Method::GET,
            &format!("/api/v1/webhooks/{id}"),
            Some(&key),
            None,
        )
        .await;
    assert_eq!(s, 404);

    browser.close().await;
}

// The portal inside a vendor's iframe, on another site, with third-party cookies blocked.
//
// Sites: the vendor's app is `https://127.0.0.1:<vendor>`, Hookline is
// `https://localhost:<proxy>` (a TLS-terminating proxy in front of its plain-HTTP port, as in
// production). `127.0.0.1` and `localhost` are different sites, so the portal is a
// third-party frame and its cookies third-party cookies; Chromium runs with third-party
// cookies blocked. Only partitioned cookies (CHIPS) work there, keyed to the top-level site.

/// The whole iframe scenario must finish within this.
const IFRAME_TIMEOUT: Duration = Duration::from_secs(120);
const ANN: &str = "ann@acme.example";

type Tls = tokio_rustls::server::TlsStream<tokio::net::TcpStream>;

/// A TLS listener on 127.0.0.1 with the test CA's certificate (valid for `localhost` and
/// `127.0.0.1`); `serve` gets each connection after the handshake. Dropping this aborts the
/// accept loop, whose `JoinSet` then aborts every connection still open.
struct TlsServer {
    task: tokio::task::JoinHandle<()>,
}

impl Drop for TlsServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn bind() -> (tokio::net::TcpListener, u16) {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    (l, port)
}

fn serve_tls<F, Fut>(
    listener: tokio::net::TcpListener,
    acceptor: tokio_rustls::TlsAcceptor,
    serve: F,
) -> TlsServer
where
    F: Fn(Tls) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let serve = Arc::new(serve);
    let task = tokio::spawn(async move {
        let mut conns = tokio::task::JoinSet::new();
        while let Ok((tcp, _)) = listener.accept().await {
            while conns.try_join_next().is_some() {}
            let (acceptor, serve) = (acceptor.clone(), serve.clone());
            conns.spawn(async move {
                if let Ok(Ok(tls)) = tokio::time::timeout(WAIT, acceptor.accept(tcp)).await {
                    serve(tls).await;
                }
            });
        }
    });
    TlsServer { task }
}

fn find_bytes(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// The value of header `name` in a message head (its first line is skipped).
fn header_of(head: &str, name: &str) -> Option<String> {
    head.split("\r\n")
        .skip(1)
        .filter_map(|l| l.split_once(':'))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case(name))
        .map(|(_, v)| v.trim().to_string())
}

/// One HTTP/1.1 request: its head and its body (by `Content-Length`), bounded in time.
async fn read_request(s: &mut Tls) -> Option<(String, Vec<u8>)> {
    let mut got = Vec::new();
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = tokio::time::timeout(WAIT, s.read(&mut buf))
            .await
            .ok()?
            .ok()?;
        if n == 0 || got.len() > 1 << 20 {
            return None;
        }
        got.extend_from_slice(&buf[..n]);
        let Some(end) = find_bytes(&got, b"\r\n\r\n") else {
            continue;
        };
        let head = String::from_utf8_lossy(&got[..end]).into_owned();
        let len: usize = header_of(&head, "content-length")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        if got.len() >= end + 4 + len {
            return Some((head, got[end + 4..end + 4 + len].to_vec()));
        }
    }
}

/// Hookline over https: terminates TLS and copies the bytes to Hookline's plain port, as the
/// reverse proxy of a deployment does. The `Host` header passes unchanged
/// (`localhost:<port>`), so it matches `HOOKLINE_PUBLIC_URL`.
fn tls_proxy(
    listener: tokio::net::TcpListener,
    acceptor: tokio_rustls::TlsAcceptor,
    upstream: u16,
) -> TlsServer {
    serve_tls(listener, acceptor, move |mut tls| async move {
        if let Ok(mut up) = tokio::net::TcpStream::connect(("127.0.0.1", upstream)).await {
            let _ = tokio::io::copy_bidirectional(&mut tls, &mut up).await;
        }
    })
}

/// What the negative control's proxy saw of one exchange.
#[derive(Debug, Clone)]
struct Seen {
    /// The request line, e.g. `GET /w/acme/webhooks HTTP/1.1`.
    request: String,
    /// The request's `Cookie` header ("" without one).
    cookie: String,
    /// The response's `Set-Cookie` values as forwarded (without `Partitioned`).
    set_cookie: Vec<String>,
}

/// The negative control: the same Hookline behind a proxy that drops the `Partitioned`
/// attribute from every `Set-Cookie` and changes nothing else (`SameSite=None; Secure` stay),
/// one request per connection, recording each exchange.
fn unpartitioning_proxy(
    listener: tokio::net::TcpListener,
    acceptor: tokio_rustls::TlsAcceptor,
    upstream: u16,
    seen: Arc<Mutex<Vec<Seen>>>,
) -> TlsServer {
    serve_tls(listener, acceptor, move |mut tls| {
        let seen = seen.clone();
        async move {
            let Some((head, body)) = read_request(&mut tls).await else {
                return;
            };
            let mut lines: Vec<&str> = head
                .split("\r\n")
                .filter(|l| !l.to_ascii_lowercase().starts_with("connection:"))
                .collect();
            lines.push("Connection: close");
            let mut request = format!("{}\r\n\r\n", lines.join("\r\n")).into_bytes();
            request.extend_from_slice(&body);
            let Ok(mut up) = tokio::net::TcpStream::connect(("127.0.0.1", upstream)).await else {
                return;
            };
            if up.write_all(&request).await.is_err() {
                return;
            }
            let mut resp = Vec::new();
            if !matches!(
                tokio::time::timeout(WAIT, up.read_to_end(&mut resp)).await,
                Ok(Ok(_))
            ) {
                return;
            }
            let Some(end) = find_bytes(&resp, b"\r\n\r\n") else {
                return;
            };
            let mut set_cookie = Vec::new();
            let mut out = Vec::new();
            for l in String::from_utf8_lossy(&resp[..end]).split("\r\n") {
                let lower = l.to_ascii_lowercase();
                if lower.starts_with("connection:") {
                    continue;
                }
                if lower.starts_with("set-cookie:") {
                    let value = l["set-cookie:".len()..]
                        .split(';')
                        .map(str::trim)
                        .filter(|a| !a.eq_ignore_ascii_case("partitioned"))
                        .collect::<Vec<_>>()
                        .join("; ");
                    out.push(format!("Set-Cookie: {value}"));
                    set_cookie.push(value);
                } else {
                    out.push(l.to_string());
                }
            }
            out.push("Connection: close".into());
            seen.lock().unwrap().push(Seen {
                request: head.split("\r\n").next().unwrap_or("").to_string(),
                cookie: header_of(&head, "cookie").unwrap_or_default(),
                set_cookie,
            });
            let mut response = format!("{}\r\n\r\n", out.join("\r\n")).into_bytes();
            response.extend_from_slice(&resp[end + 4..]);
            let _ = tls.write_all(&response).await;
            let _ = tls.shutdown().await;
        }
    })
}

/// The vendor's app on its own site: serves `pages` (path → HTML) with a content type and
/// nothing else — no header or attribute that would relax the browser's cookie rules.
fn vendor_site(
    listener: tokio::net::TcpListener,
    acceptor: tokio_rustls::TlsAcceptor,
    pages: Arc<Mutex<HashMap<String, String>>>,
) -> TlsServer {
    serve_tls(listener, acceptor, move |mut tls| {
        let pages = pages.clone();
        async move {
            let Some((head, _)) = read_request(&mut tls).await else {
                return;
            };
            let path = head.split(' ').nth(1).unwrap_or("").to_string();
            let page = pages.lock().unwrap().get(&path).cloned();
            let (status, body) = match page {
                Some(html) => ("200 OK", html),
                None => ("404 Not Found", "not found".to_string()),
            };
            let resp = format!(
                "HTTP/1.1 {status}\r\ncontent-type: text/html; charset=utf-8\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = tls.write_all(resp.as_bytes()).await;
            let _ = tls.shutdown().await;
        }
    })
}

/// The vendor's settings page, framing a portal link.
fn vendor_page(portal_url: &str) -> String {
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Acme Shop · Settings</title>\
         <style>body{{margin:0;font-family:sans-serif;background:#f4f1fb}}\
         header{{background:#3d2b8f;color:#fff;padding:12px 24px}}main{{padding:8px 24px 24px}}\
         iframe{{border:1px solid #c9c2e0;background:#fff}}</style></head>\
         <body><header><strong>Acme Shop</strong> · the vendor's app on https://127.0.0.1</header>\
         <main><h1>Settings › Webhooks</h1>\
         <iframe id=\"portal\" src=\"{portal_url}\" style=\"width:100%;height:800px\"></iframe>\
         </main></body></html>"
    )
}

/// A client trusting the test CA that sends `localhost` to 127.0.0.1 (the URL's port is kept).
fn https_client(ca_pem: &str) -> reqwest::Client {
    reqwest::Client::builder()
        // Idle connections go after 2 s, before the server's 5 s keep-alive closes them under
        // a request (`IncompleteMessage`, seen once in CI between two portal links).
        .pool_idle_timeout(Duration::from_secs(2))
        .add_root_certificate(reqwest::Certificate::from_pem(ca_pem.as_bytes()).unwrap())
        .resolve("localhost", "127.0.0.1:0".parse().unwrap())
        .redirect(reqwest::redirect::Policy::none())
        .cookie_store(true)
        .timeout(WAIT)
        .build()
        .unwrap()
}

/// The vendor's backend asks for a portal link for Ann (over https, like any client would).
async fn portal_link(https: &reqwest::Client, public: &str, key: &str) -> String {
    let resp = https
        .post(format!("{public}/api/v1/portal-links"))
        .bearer_auth(key)
        .json(&json!({"role": "admin", "email": ANN}))
        .send()
        .await
        .expect("POST /api/v1/portal-links");
    assert_eq!(resp.status(), 201);
    let b: Value = resp.json().await.unwrap();
    let url = b["data"]["url"].as_str().unwrap().to_string();
    assert!(url.starts_with(&format!("{public}/portal/")), "{url}");
    url
}

fn header_str(r: &reqwest::Response, name: &str) -> String {
    r.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string()
}

fn has_attr(cookie: &str, attr: &str) -> bool {
    cookie
        .split(';')
        .any(|a| a.trim().eq_ignore_ascii_case(attr))
}

/// Waits for the exchange `want` in the negative control's record.
async fn wait_seen(seen: &Mutex<Vec<Seen>>, what: &str, want: impl Fn(&Seen) -> bool) -> Seen {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let found = seen.lock().unwrap().iter().rev().find(|s| want(s)).cloned();
        if let Some(s) = found {
            return s;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the control proxy never saw {what}: {:#?}",
            seen.lock().unwrap()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

impl Page<'_> {
    /// Switches into the vendor page's `#portal` frame (again after each navigation in it).
    async fn enter_portal(&self) -> Result<(), fantoccini::error::CmdError> {
        self.c.enter_frame(None).await?;
        self.c
            .find(Locator::Css("#portal"))
            .await?
            .enter_frame()
            .await
    }

    /// Waits until the portal frame shows `want` (a path and query), loaded; stays in it.
    async fn wait_frame_path(&self, want: impl Fn(&str) -> bool, what: &str) -> String {
        let deadline = tokio::time::Instant::now() + WAIT;
        let mut last = Value::Null;
        loop {
            let step = tokio::time::timeout(WAIT, async {
                self.enter_portal().await?;
                self.c
                    .execute(
                        "return [location.pathname + location.search, document.readyState]",
                        vec![],
                    )
                    .await
            })
            .await;
            if let Ok(Ok(v)) = step {
                if let (Some(path), Some("complete")) = (v[0].as_str(), v[1].as_str()) {
                    if want(path) {
                        return path.to_string();
                    }
                }
                last = v;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "the portal frame never reached {what}; at {last}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn portal_in_a_third_party_iframe_with_third_party_cookies_blocked() {
    if !browser_available() {
        return;
    }
    tokio::time::timeout(IFRAME_TIMEOUT, iframe_scenario())
        .await
        .expect("the iframe scenario took too long");
}

async fn iframe_scenario() {
    let pki::TestPki {
        ca_pem,
        acceptor,
        leaf_spki_sha256,
    } = pki::test_pki();
    let (vendor_listener, vendor_port) = bind().await;
    let (proxy_listener, proxy_port) = bind().await;
    let (control_listener, control_port) = bind().await;
    let vendor = format!("https://127.0.0.1:{vendor_port}");
    let public = format!("https://localhost:{proxy_port}");
    let app = spawn_app_with(|r| {
        r.public_url = Some(public.clone());
        r.embed_origins = Some(vendor.clone());
        // The webhook added in the frame points at 127.0.0.1 (nothing is delivered to it).
        r.allowed_networks = Some("127.0.0.0/8".into());
    })
    .await;
    let upstream: u16 = app.base.rsplit(':').next().unwrap().parse().unwrap();
    let _proxy = tls_proxy(proxy_listener, acceptor.clone(), upstream);
    let seen = Arc::new(Mutex::new(Vec::<Seen>::new()));
    let _control = unpartitioning_proxy(control_listener, acceptor.clone(), upstream, seen.clone());
    let pages = Arc::new(Mutex::new(HashMap::new()));
    let _vendor = vendor_site(vendor_listener, acceptor, pages.clone());

    let ws = app.workspace("acme").await;
    app.db
        .write(move |c| {
            c.execute(
                "UPDATE workspaces SET name = 'Acme Corp' WHERE id = ?1",
                [ws],
            )?;
            Ok(())
        })
        .await
        .unwrap();
    let portal_key = app.api_key(Some(ws), "portal").await;
    let webhooks_key = app.api_key(Some(ws), "webhooks").await;
    let backend = https_client(&ca_pem);

    // The headers, through the proxy. A portal page may be framed by the vendor only, and
    // its cookie is partitioned.
    let link = portal_link(&backend, &public, &portal_key).await;
    let visitor = https_client(&ca_pem);
    let r = visitor.get(&link).send().await.unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(header_str(&r, "location"), "/w/acme/webhooks");
    let csp = header_str(&r, "content-security-policy");
    assert!(csp.contains(&format!("frame-ancestors {vendor}")), "{csp}");
    assert!(r.headers().get("x-frame-options").is_none());
    let cookie = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with("hookline_portal="))
        .expect("the portal link sets the portal cookie")
        .to_string();
    for attr in ["Secure", "SameSite=None", "Partitioned", "HttpOnly"] {
        assert!(has_attr(&cookie, attr), "{attr} missing: {cookie}");
    }
    let r = visitor
        .get(format!("{public}/w/acme/webhooks"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let csp = header_str(&r, "content-security-policy");
    assert!(csp.contains(&format!("frame-ancestors {vendor}")), "{csp}");
    assert!(r.headers().get("x-frame-options").is_none());
    assert!(r.text().await.unwrap().contains(ANN));
    // Every other page stays out of frames.
    let r = https_client(&ca_pem)
        .get(format!("{public}/login"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let csp = header_str(&r, "content-security-policy");
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert_eq!(header_str(&r, "x-frame-options"), "DENY");

    // Chromium trusts the test certificate by its key (no CA installed, no certificate
    // errors ignored wholesale), and blocks third-party cookies as a user can in its
    // settings ("Block third-party cookies").
    let browser = Browser::start_with(
        vec![format!(
            "--ignore-certificate-errors-spki-list={leaf_spki_sha256}"
        )],
        // `cookie_controls_mode` 1 is "block third-party cookies" (it alone does it in
        // Chromium 156); `block_third_party_cookies` is the older name of the setting.
        json!({
            "profile.cookie_controls_mode": 1,
            "profile.block_third_party_cookies": true,
        }),
    )
    .await;
    let p = Page {
        c: browser.c(),
        base: vendor.clone(),
    };

    // 1. Negative control: the same link flow in the same kind of frame, with the cookie
    // not partitioned (else the same: SameSite=None; Secure). Chromium drops it, so the
    // request after the link's redirect comes without a session. This is what shows that
    // third-party cookies are really blocked here: without the blocking it would arrive.
    let link = portal_link(&backend, &public, &portal_key).await;
    let control_link = link.replace(
        &format!("https://localhost:{proxy_port}/"),
        &format!("https://localhost:{control_port}/"),
    );
    pages
        .lock()
        .unwrap()
        .insert("/control".into(), vendor_page(&control_link));
    p.goto("/control").await;
    let after = wait_seen(&seen, "the redirect after the link", |s| {
        s.request.starts_with("GET /w/acme/webhooks ")
    })
    .await;
    let opened = wait_seen(&seen, "the link", |s| s.request.starts_with("GET /portal/")).await;
    let set = opened
        .set_cookie
        .iter()
        .find(|c| c.starts_with("hookline_portal="))
        .expect("the control's link sets the portal cookie");
    assert!(
        has_attr(set, "Secure") && has_attr(set, "SameSite=None") && !has_attr(set, "Partitioned"),
        "{set}"
    );
    assert!(
        !after.cookie.contains("hookline_portal="),
        "an unpartitioned cookie reached Hookline from the third-party frame: third-party \
         cookies are not blocked in this Chromium, so the scenario below would prove nothing ({after:?})"
    );

    // 2. The portal, partitioned, in the vendor's page.
    let link = portal_link(&backend, &public, &portal_key).await;
    pages
        .lock()
        .unwrap()
        .insert("/settings".into(), vendor_page(&link));
    p.goto("/settings").await;
    p.wait_frame_path(|x| x == "/w/acme/webhooks", "the Webhooks page")
        .await;
    assert_eq!(p.text(".portal-who").await, ANN);
    assert!(p.text("main").await.contains("No webhooks yet"));
    // Chromium itself says the frame has no unpartitioned cookie access.
    assert_eq!(
        p.js("return document.hasStorageAccess()", vec![]).await,
        Value::Bool(false),
        "the portal frame has third-party cookie access"
    );
    p.click("#add-webhook").await;
    p.wait_frame_path(|x| x == "/w/acme/webhooks/new", "the form")
        .await;
    p.type_into("#url", "https://127.0.0.1:9/hook").await;
    p.type_into("#name", "Order sync").await;
    p.click("#events-all").await;
    p.click("#save").await;
    // The POST carried the portal cookie (session and CSRF token), and the secret came
    // through the redirect in the (partitioned) flash cookie.
    let page = p
        .wait_frame_path(
            |x| x.starts_with("/w/acme/webhooks/") && !x.ends_with("/new"),
            "the webhook page",
        )
        .await;
    let id: i64 = page.rsplit('/').next().unwrap().parse().unwrap();
    let secret = p.text("#secret-value").await;
    assert!(secret.starts_with("whsec_"), "{secret}");
    assert_eq!(p.text(".changed-by").await, format!("by {ANN}"));
    let (_, api) = app
        .api(
            Method::GET,
            &format!("/api/v1/webhooks/{id}"),
            Some(&webhooks_key),
            None,
        )
        .await;
    assert_eq!(api["data"]["secret"], secret.as_str());
    assert_eq!(api["data"]["url"], "https://127.0.0.1:9/hook");
    // Back to the list, inside the frame.
    p.click("nav.sections a[href='/w/acme/webhooks']").await;
    p.wait_frame_path(|x| x == "/w/acme/webhooks", "the Webhooks list")
        .await;
    let row = p.text("table.webhooks tbody tr").await;
    assert!(row.contains("Order sync"), "{row}");
    // The webhook's page again: the flash cookie was removed (a removal has to name the
    // partition too), so the secret is not shown twice.
    p.click(&format!("table.webhooks a[href='{page}']")).await;
    p.wait_frame_path(|x| x == page, "the webhook page again")
        .await;
    assert_eq!(p.text("h1").await, "Order sync");
    assert!(
        !p.text("main").await.contains(&secret),
        "secret shown twice"
    );
    p.click("nav.sections a[href='/w/acme/webhooks']").await;
    p.wait_frame_path(|x| x == "/w/acme/webhooks", "the Webhooks list")
        .await;
    p.c.enter_frame(None).await.unwrap();
    p.screenshot("portal-iframe", 1280).await;

    // 3. The session lives in the vendor's partition only: Hookline opened top-level in
    // the same browser has no session.
    let top = Page {
        c: browser.c(),
        base: public.clone(),
    };
    top.goto("/w/acme/webhooks").await;
    top.wait_path(|x| x.starts_with("/login"), "the login page")
        .await;

    // 4. And the control's unpartitioned cookie is a good cookie in a first-party context:
    // its link opened top-level works. So what failed in step 1 was the blocking alone.
    let link = portal_link(&backend, &public, &portal_key).await;
    let token_path = &link[public.len()..];
    let control = Page {
        c: browser.c(),
        base: format!("https://localhost:{control_port}"),
    };
    control.goto(token_path).await;
    control
        .wait_path(|x| x == "/w/acme/webhooks", "the Webhooks page")
        .await;
    assert_eq!(control.text(".portal-who").await, ANN);
    let last = wait_seen(&seen, "the first-party request", |s| {
        s.request.starts_with("GET /w/acme/webhooks ") && s.cookie.contains("hookline_portal=")
    })
    .await;
    assert!(last.cookie.contains("hookline_portal="));

    browser.close().await;
}
