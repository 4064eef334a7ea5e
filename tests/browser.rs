//! The settings UI in a real browser: headless Chromium (Debian's `/usr/bin/chromium`) driven
//! over WebDriver through `/usr/bin/chromedriver`. It walks the main scenario (log in, add a
//! webhook, toggle it, Send Test, read deliveries with failures in red, retry one, delete)
//! and saves screenshots of the main pages to `test-artifacts/screenshots/` (and, with
//! `HOOKLINE_UPDATE_SCREENSHOTS=1`, to the README's `docs/screenshots/`).
//!
//! Without Chromium the test is skipped, except with `CI=true`, where it fails.

#[allow(dead_code)]
#[path = "api/helpers.rs"]
mod helpers;
#[allow(dead_code)]
#[path = "api/receiver.rs"]
mod receiver;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use helpers::*;
use hookline::domain::Role;
use receiver::Receiver;
use reqwest::Method;
use serde_json::{json, Value};

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
        let caps: serde_json::Map<String, Value> = serde_json::from_value(json!({
            "browserName": "chrome",
            "pageLoadStrategy": "normal",
            "timeouts": {"pageLoad": 20000, "script": 10000, "implicit": 0},
            "goog:chromeOptions": {
                "binary": CHROMIUM,
                "args": [
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
                    format!("--user-data-dir={profile_dir}"),
                ]
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
