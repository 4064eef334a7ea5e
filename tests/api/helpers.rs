//! The test harness: spawns the app in-process on port 0 with a fresh data directory and
//! offers a small typed client for the API and the UI.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use hookline::config::{Config, RawConfig};
use hookline::db::Db;
use hookline::domain::{Email, Password, Role, Scopes, Slug};
use hookline::startup::Application;
use serde_json::Value;

/// A reqwest client builder for the tests. Idle connections are dropped after 2 s, well
/// before the server's keep-alive (actix closes them after 5 s): a client that reused one just
/// as the server closed it would get `IncompleteMessage` for a request the server never read.
pub fn client() -> reqwest::ClientBuilder {
    reqwest::Client::builder().pool_idle_timeout(Duration::from_secs(2))
}

pub struct TestApp {
    pub base: String,
    pub data_dir: tempfile::TempDir,
    /// The SQLite database, for tests that read or write it with SQL (SQLite runs only).
    pub db: SqliteOnly,
    /// The store, whatever the backend.
    pub store: hookline::store::Store,
    /// The app's PostgreSQL database (`HOOKLINE_TEST_BACKEND=postgres`), for `sql.rs`.
    pub pg_url: Option<String>,
    pub setup_link: Option<String>,
    pub handle: actix_web::dev::ServerHandle,
    pub engine: hookline::delivery::engine::Engine,
    /// A plain client without cookies.
    pub http: reqwest::Client,
}

pub fn raw_config(data_dir: &Path) -> RawConfig {
    RawConfig {
        data_dir: data_dir.to_path_buf(),
        listen: Some("127.0.0.1:0".into()),
        ..Default::default()
    }
}

/// The backend the in-process apps run on: `HOOKLINE_TEST_BACKEND=postgres` gives each a
/// fresh database on the test cluster (`HOOKLINE_TEST_DATABASE_URL`); scripts/test.sh runs
/// the modules that need no SQLite SQL a second time that way. Unset: SQLite.
pub fn postgres_backend() -> bool {
    std::env::var("HOOKLINE_TEST_BACKEND").as_deref() == Ok("postgres")
}

/// The SQLite handle of a test app; a test that reaches for it on PostgreSQL is one that
/// reads or writes SQLite with SQL, and says so.
#[derive(Clone)]
pub struct SqliteOnly(Option<Db>);

impl std::ops::Deref for SqliteOnly {
    type Target = Db;
    fn deref(&self) -> &Db {
        self.0.as_ref().expect(
            "this test uses SQLite SQL: it runs on SQLite only (leave it out of the PostgreSQL pass in scripts/test.sh)",
        )
    }
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// Starts an app, letting the test adjust the raw configuration first.
pub async fn spawn_app_with(adjust: impl FnOnce(&mut RawConfig)) -> TestApp {
    spawn_app_in(tempfile::tempdir().expect("temp dir"), adjust).await
}

/// Starts an app on an existing data directory.
pub async fn spawn_app_in(
    data_dir: tempfile::TempDir,
    adjust: impl FnOnce(&mut RawConfig),
) -> TestApp {
    spawn_app_configured(data_dir, adjust, |_| {}).await
}

/// Starts an app, adjusting the raw configuration and then the parsed one (for what is not a
/// setting, such as the notice interval).
pub async fn spawn_app_configured(
    data_dir: tempfile::TempDir,
    adjust: impl FnOnce(&mut RawConfig),
    adjust_config: impl FnOnce(&mut Config),
) -> TestApp {
    let mut raw = raw_config(data_dir.path());
    let mut pg_url = None;
    if postgres_backend() {
        let admin = crate::pg_cluster::admin_url().expect("HOOKLINE_TEST_DATABASE_URL");
        // Dropped with the throwaway cluster at the end of the run.
        let db = crate::pg_cluster::TestDb::new(&admin).await;
        raw.database_url = Some(db.url.clone());
        pg_url = Some(db.url.clone());
    }
    adjust(&mut raw);
    let mut config = Config::parse(raw).expect("valid test config");
    adjust_config(&mut config);
    let app = Application::build(config).await.expect("app builds");
    let base = format!("http://127.0.0.1:{}", app.port());
    let store = app.store();
    let db = SqliteOnly(match &store {
        hookline::store::Store::Sqlite(db) => Some(db.clone()),
        _ => None,
    });
    let setup_link = app.setup_link().map(str::to_string);
    let handle = app.handle();
    let engine = app.engine();
    tokio::spawn(app.run_until_stopped());
    let http = client()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    TestApp {
        base,
        data_dir,
        db,
        store,
        pg_url,
        setup_link,
        handle,
        engine,
        http,
    }
}

impl TestApp {
    /// Waits until the delivery engine has attempted everything due and recorded every
    /// attempt (retries scheduled for later may wait): for tests about what the engine
    /// decided, instead of polling for its effects.
    pub async fn settle(&self) {
        tokio::time::timeout(Duration::from_secs(20), self.engine.settle())
            .await
            .expect("the engine settles within 20 s");
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub fn data_path(&self) -> PathBuf {
        self.data_dir.path().to_path_buf()
    }

    pub async fn workspace(&self, slug: &str) -> i64 {
        let slug = Slug::parse(slug).unwrap();
        let name = slug.to_string();
        self.store
            .workspace_create(hookline::domain::NewWorkspace {
                slug,
                name,
                webhooks_enabled: true,
                max_webhooks: None,
            })
            .await
            .unwrap()
            .expect("a new workspace")
            .id
    }

    /// Creates a user (password hashed for real) and, optionally, a membership.
    pub async fn user(
        &self,
        email: &str,
        password: &str,
        admin: bool,
        membership: Option<(i64, Role)>,
    ) -> i64 {
        let email = Email::parse(email).unwrap();
        let hash = hookline::auth::password::hash(Password::parse(password).unwrap()).await;
        self.store
            .user_create(email, hash, admin, membership)
            .await
            .unwrap()
            .expect("a new user")
    }

    /// Creates an API key; `workspace = None` makes an instance key.
    pub async fn api_key(&self, workspace: Option<i64>, scopes: &str) -> String {
        let scopes = Scopes::parse(scopes).unwrap();
        let key = hookline::auth::new_api_key();
        self.store
            .api_key_create(hookline::store::types::NewApiKey {
                workspace_id: workspace,
                name: "test".into(),
                prefix: key.prefix.clone(),
                hash: key.hash.clone(),
                scopes,
                created_by: None,
            })
            .await
            .unwrap();
        key.key
    }

    pub async fn api(
        &self,
        method: reqwest::Method,
        path: &str,
        key: Option<&str>,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut req = self.http.request(method, self.url(path));
        if let Some(k) = key {
            req = req.bearer_auth(k);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.expect("request");
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap();
        let json =
            serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON ({status}): {text}"));
        (status, json)
    }

    /// Sends raw bytes as a request body.
    pub async fn api_raw(
        &self,
        method: reqwest::Method,
        path: &str,
        key: &str,
        body: Vec<u8>,
    ) -> (u16, Value) {
        let resp = self
            .http
            .request(method, self.url(path))
            .bearer_auth(key)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .expect("request");
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap();
        let json =
            serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON ({status}): {text}"));
        (status, json)
    }

    /// A browser-like client that keeps cookies and does not follow redirects.
    pub fn browser(&self) -> reqwest::Client {
        client()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap()
    }

    /// Logs `browser` in; returns the final response status of the POST.
    pub async fn login(
        &self,
        browser: &reqwest::Client,
        email: &str,
        password: &str,
    ) -> reqwest::Response {
        let page = browser
            .get(self.url("/login"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let csrf = csrf_of(&page);
        browser
            .post(self.url("/login"))
            .form(&[
                ("email", email),
                ("password", password),
                ("csrf", &csrf),
                ("next", "/"),
            ])
            .send()
            .await
            .unwrap()
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        // Stop the server and close the database before the temp dir goes.
        let h = self.handle.clone();
        let _ = tokio::runtime::Handle::try_current()
            .map(|rt| rt.spawn(async move { h.stop(false).await }));
    }
}

/// The value of the first `name="csrf"` hidden input of a page.
pub fn csrf_of(html: &str) -> String {
    let i = html
        .find("name=\"csrf\" value=\"")
        .expect("page has a CSRF field")
        + "name=\"csrf\" value=\"".len();
    html[i..html[i..].find('"').unwrap() + i].to_string()
}

pub fn assert_error(body: &Value, code: &str) {
    assert_eq!(body["error"]["code"], code, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "{body}"
    );
    assert!(
        body["meta"]["request_id"]
            .as_str()
            .is_some_and(|r| r.starts_with("req_")),
        "{body}"
    );
}

/// The real `hookline` binary.
pub fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_hookline"))
}

impl TestApp {
    /// Runs the CLI on this app's store: its data directory and, on PostgreSQL, its database.
    pub fn cli(&self, args: &[&str], stdin: Option<&str>) -> Output {
        let mut all: Vec<&str> = Vec::new();
        if let Some(url) = &self.pg_url {
            all.extend(["--database-url", url.as_str()]);
        }
        all.extend(args);
        run_cli(&self.data_path(), &all, stdin)
    }
}

/// Runs the binary with `--data-dir` and optional standard input.
pub fn run_cli(data_dir: &Path, args: &[&str], stdin: Option<&str>) -> Output {
    run_cli_env(data_dir, &[], args, stdin)
}

/// `run_cli` with environment variables (such as `HOOKLINE_DATABASE_URL`).
pub fn run_cli_env(
    data_dir: &Path,
    env: &[(&str, &str)],
    args: &[&str],
    stdin: Option<&str>,
) -> Output {
    use std::io::Write;
    let mut child = bin()
        .arg("--data-dir")
        .arg(data_dir)
        .args(args)
        .envs(env.iter().copied())
        .env_remove("HOOKLINE_DATA_DIR")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn hookline");
    if let Some(s) = stdin {
        // The CLI may refuse its arguments before reading stdin: a broken pipe is fine.
        let _ = child.stdin.take().unwrap().write_all(s.as_bytes());
    }
    drop(child.stdin.take());
    child.wait_with_output().unwrap()
}

/// The tests' Python (`HOOKLINE_TEST_PYTHON`, else `.venv`) if it can import every one of
/// `modules`. With `CI=true` a missing one fails the test instead of skipping it.
pub fn python_with(modules: &[&str]) -> Option<String> {
    let candidates = [
        std::env::var("HOOKLINE_TEST_PYTHON").ok(),
        Some(concat!(env!("CARGO_MANIFEST_DIR"), "/.venv/bin/python").to_string()),
    ];
    let import = format!("import {}", modules.join(", "));
    for py in candidates.into_iter().flatten() {
        let ok = Command::new(&py)
            .args(["-c", &import])
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false);
        if ok {
            return Some(py);
        }
    }
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("CI=true but no Python with {modules:?}: run scripts/test.sh, which installs tests/requirements.txt into .venv");
    }
    eprintln!("SKIPPED: no Python with {modules:?} (run scripts/test.sh to set up .venv)");
    None
}

/// A data directory prepared with the real CLI, as an operator would: workspace `acme`, the
/// given event types, and a key of `acme` with `scopes` (printed once by the CLI), which it
/// returns.
pub fn cli_workspace(data_dir: &Path, event_types: &[&str], scopes: &str) -> String {
    cli_workspace_env(data_dir, &[], event_types, scopes)
}

/// `cli_workspace` with environment variables (such as `HOOKLINE_DATABASE_URL`).
pub fn cli_workspace_env(
    data_dir: &Path,
    env: &[(&str, &str)],
    event_types: &[&str],
    scopes: &str,
) -> String {
    let ok = |args: &[&str]| {
        let out = run_cli_env(data_dir, env, args, None);
        assert!(
            out.status.success(),
            "hookline {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    ok(&["workspace", "create", "acme"]);
    for t in event_types {
        ok(&["event-type", "create", t]);
    }
    ok(&[
        "api-key",
        "create",
        "--workspace",
        "acme",
        "--scopes",
        scopes,
    ])
    .trim()
    .to_string()
}

/// A `hookline serve` child process, killed if the test ends early.
pub struct Server {
    pub child: Child,
    pub base: String,
    pub banner: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn start_server(data_dir: &Path, extra_env: &[(&str, &str)]) -> Server {
    let mut cmd = bin();
    cmd.arg("serve")
        .env("HOOKLINE_DATA_DIR", data_dir)
        .env("HOOKLINE_LISTEN", "127.0.0.1:0")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    for (k, v) in extra_env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("spawn hookline serve");
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut banner = String::new();
    let mut base = None;
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while std::time::Instant::now() < deadline {
        match rx.recv_timeout(Duration::from_millis(200)) {
            Ok(line) => {
                banner.push_str(&line);
                banner.push('\n');
                if let Some(rest) = line.trim().strip_prefix("REST API:") {
                    base = Some(rest.trim().trim_end_matches("/api/v1").to_string());
                    // Give the setup link lines a moment to arrive.
                    while let Ok(l) = rx.recv_timeout(Duration::from_millis(300)) {
                        banner.push_str(&l);
                        banner.push('\n');
                    }
                    break;
                }
            }
            Err(mpsc::RecvTimeoutError::Timeout) => continue,
            Err(_) => break,
        }
    }
    let base = base.unwrap_or_else(|| panic!("server did not print its banner: {banner}"));
    Server {
        child,
        base,
        banner,
    }
}

/// Polls `GET /api/v1/webhooks/{webhook}/deliveries` with `key` until `done` holds for the
/// list (at most 20 s); returns the list. For tests about timing; a test about what the engine
/// decided can call [`TestApp::settle`] instead.
pub async fn wait_deliveries(
    app: &TestApp,
    key: &str,
    webhook: i64,
    done: impl Fn(&[Value]) -> bool,
) -> Vec<Value> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let (_, b) = app
            .api(
                reqwest::Method::GET,
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
            "deliveries never reached the expected state: {list:#?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// `n` deliveries, every one in `status`.
pub fn all_status(list: &[Value], n: usize, status: &str) -> bool {
    list.len() == n && list.iter().all(|d| d["status"] == status)
}
