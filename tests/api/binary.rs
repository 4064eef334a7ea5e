//! The real built binary, end to end: `serve`, the CLI against its data directory while it
//! runs, `/healthz`, `backup`, and SIGTERM.

use std::path::Path;
use std::process::{Child, Stdio};
use std::time::Duration;

use crate::helpers::*;

fn sigterm(child: &Child) {
    let ok = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(ok.success());
}

#[tokio::test]
async fn serve_cli_backup_and_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = start_server(dir.path(), &[]);
    assert!(server.banner.contains("/setup?token="), "{}", server.banner);
    let http = crate::helpers::client().build().unwrap();
    let health = http
        .get(format!("{}/healthz", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);

    // CLI commands against the running server's data directory.
    let out = run_cli(
        dir.path(),
        &["workspace", "create", "acme", "--name", "Acme Inc"],
        None,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = run_cli(
        dir.path(),
        &[
            "user",
            "create",
            "--email",
            "owner@acme.io",
            "--password-stdin",
            "--workspace",
            "acme",
            "--role",
            "owner",
        ],
        Some("correct horse battery\n"),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = run_cli(
        dir.path(),
        &[
            "event-type",
            "create",
            "project.created",
            "--description",
            "A project",
            "--example",
            "{\"id\": 1}",
        ],
        None,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = run_cli(
        dir.path(),
        &[
            "api-key",
            "create",
            "--workspace",
            "acme",
            "--scopes",
            "webhooks,events",
            "--name",
            "ci",
        ],
        None,
    );
    assert!(out.status.success());
    let key = String::from_utf8(out.stdout).unwrap();
    let key = key.trim();
    assert!(
        key.starts_with("hk_") && !key.contains(' '),
        "the key alone on stdout: {key:?}"
    );

    // The server sees what the CLI wrote.
    let r = http
        .get(format!("{}/api/v1/webhooks/events", server.base))
        .bearer_auth(key)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["data"][0]["name"], "project.created");

    // A user made by the CLI can log in through the UI.
    let b = crate::helpers::client()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let page = b
        .get(format!("{}/login", server.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let csrf = csrf_of(&page);
    let r = b
        .post(format!("{}/login", server.base))
        .form(&[
            ("email", "owner@acme.io"),
            ("password", "correct horse battery"),
            ("csrf", csrf.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);

    // Online backup while serving.
    let backup = dir.path().join("copy.db");
    let out = run_cli(dir.path(), &["backup", backup.to_str().unwrap()], None);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let copy = rusqlite::Connection::open(&backup).unwrap();
    let check: String = copy
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(check, "ok");
    let n: i64 = copy
        .query_row(
            "SELECT count(*) FROM workspaces WHERE slug = 'acme'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(n, 1);
    // Refuses to overwrite.
    let out = run_cli(dir.path(), &["backup", backup.to_str().unwrap()], None);
    assert!(!out.status.success());

    // SIGTERM: a clean exit.
    sigterm(&server.child);
    let status = wait_timeout(&mut server.child, Duration::from_secs(20))
        .expect("server exits after SIGTERM");
    assert!(status.success(), "{status:?}");
    // Clean close: the WAL was checkpointed and the database is intact.
    let conn = rusqlite::Connection::open(hookline::db::db_path(dir.path())).unwrap();
    let check: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(check, "ok");

    // Restarted with users present: no setup link any more.
    let server2 = start_server(dir.path(), &[]);
    assert!(
        !server2.banner.contains("/setup?token="),
        "{}",
        server2.banner
    );
}

fn wait_timeout(child: &mut Child, d: Duration) -> Option<std::process::ExitStatus> {
    let deadline = std::time::Instant::now() + d;
    while std::time::Instant::now() < deadline {
        if let Some(s) = child.try_wait().unwrap() {
            return Some(s);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    None
}

#[test]
fn version_and_help() {
    let out = bin().arg("--version").output().unwrap();
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8(out.stdout).unwrap().trim(),
        format!("hookline {}", hookline::VERSION)
    );
    for cmd in [
        &["--help"][..],
        &["serve", "--help"],
        &["user", "create", "--help"],
        &["api-key", "create", "--help"],
        &["backup", "--help"],
    ] {
        let out = bin().args(cmd).output().unwrap();
        assert!(out.status.success(), "{cmd:?}");
        assert!(!out.stdout.is_empty());
    }
}

#[test]
fn bad_configuration_stops_start_up_with_one_clear_line() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        ("HOOKLINE_LISTEN", "8080"),
        ("HOOKLINE_ALLOW_HTTP", "maybe"),
        ("HOOKLINE_RETENTION_DAYS", "-1"),
        ("HOOKLINE_LOG_FORMAT", "yaml"),
        ("HOOKLINE_ALLOWED_NETWORKS", "not-a-cidr"),
        ("HOOKLINE_SMTP_URL", "mailto:x"),
        ("HOOKLINE_EMBED_ORIGINS", "https://app.example.com/settings"),
        ("HOOKLINE_EMBED_ORIGINS", "https://*.example.com"),
        ("HOOKLINE_EMBED_ORIGINS", "app.example.com"),
        ("HOOKLINE_EMBED_ORIGINS", "ftp://files.example"),
        ("HOOKLINE_EMBED_ORIGINS", "https://user:pw@app.example.com"),
        ("HOOKLINE_PORTAL_SESSION_MINUTES", "0"),
        ("HOOKLINE_PORTAL_SESSION_MINUTES", "1441"),
        ("HOOKLINE_PORTAL_SESSION_MINUTES", "an hour"),
        ("HOOKLINE_BRAND_COLOR", "blue"),
        ("HOOKLINE_BRAND_COLOR", "#12345"),
        ("HOOKLINE_BRAND_LOGO", "/nonexistent/logo.png"),
        (
            "HOOKLINE_BRAND_NAME",
            "A very long product name that nobody would ever put in a header",
        ),
    ];
    for (env, value) in cases {
        let out = bin()
            .args(["serve"])
            .env("HOOKLINE_DATA_DIR", dir.path())
            .env(env, value)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{env}");
        let err = String::from_utf8(out.stderr).unwrap();
        assert_eq!(err.trim().lines().count(), 1, "{err}");
        assert!(
            err.contains(env) && err.contains(value) && err.contains("write"),
            "{err}"
        );
    }
}

#[test]
fn cli_bad_input_is_refused_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let out = run_cli(dir.path(), &["workspace", "create", "Bad Slug"], None);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("lowercase"));
    let out = run_cli(
        dir.path(),
        &["user", "create", "--email", "a@b.io", "--password-stdin"],
        Some("short\n"),
    );
    assert_eq!(out.status.code(), Some(2));
    let out = run_cli(
        dir.path(),
        &[
            "api-key",
            "create",
            "--workspace",
            "nope",
            "--scopes",
            "events",
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("workspace create"));
    let out = run_cli(
        dir.path(),
        &["api-key", "create", "--instance", "--scopes", "admin"],
        None,
    );
    assert_eq!(out.status.code(), Some(2));
    let out = run_cli(
        dir.path(),
        &["event-type", "create", "a.b", "--example", "{oops"],
        None,
    );
    assert_eq!(out.status.code(), Some(2));
    let out = run_cli(
        dir.path(),
        &[
            "user",
            "create",
            "--email",
            "a@b.io",
            "--password-stdin",
            "--role",
            "owner",
        ],
        Some("long enough pw\n"),
    );
    assert_eq!(out.status.code(), Some(2), "--role needs --workspace");
}

#[test]
fn a_database_from_a_newer_hookline_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let out = run_cli(dir.path(), &["workspace", "create", "acme"], None);
    assert!(out.status.success());
    let c = rusqlite::Connection::open(hookline::db::db_path(dir.path())).unwrap();
    c.pragma_update(None, "user_version", 99).unwrap();
    drop(c);
    let out = bin()
        .args(["serve"])
        .env("HOOKLINE_DATA_DIR", dir.path())
        .env("HOOKLINE_LISTEN", "127.0.0.1:0")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("newer Hookline"));
}

#[test]
fn readme_configuration_table_matches_the_code() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    for s in hookline::config::SETTINGS {
        let default = if s.default.starts_with('(') {
            s.default.to_string()
        } else {
            format!("`{}`", s.default)
        };
        let row = format!("| `{}` | `{}` | {} | {} |", s.env, s.flag, default, s.help);
        assert!(
            readme.contains(&row),
            "README lacks or misstates the row:\n{row}"
        );
    }
}

/// The README's API example, run verbatim (with the placeholders set) against a real server.
#[tokio::test]
async fn readme_api_example_runs() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let block = readme
        .split("<!-- api-example:start -->")
        .nth(1)
        .and_then(|r| r.split("<!-- api-example:end -->").next())
        .expect("README has the api-example block");
    let script: String = block
        .lines()
        .filter(|l| !l.starts_with("```") && !l.starts_with("export "))
        .map(|l| format!("{l}\n"))
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let key = cli_workspace(dir.path(), &["project.created"], "webhooks,events");
    let server = start_server(dir.path(), &[]);
    let out = std::process::Command::new("bash")
        .args(["-euo", "pipefail", "-c", &script])
        .env("HOOKLINE", &server.base)
        .env("KEY", &key)
        .output()
        .expect("bash and curl");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    let answers: Vec<serde_json::Value> = serde_json::Deserializer::from_str(&stdout)
        .into_iter()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(answers.len(), 3, "{stdout}");
    assert!(answers[0]["data"]["secret"]
        .as_str()
        .unwrap()
        .starts_with("whsec_"));
    assert_eq!(answers[1]["data"]["deliveries"], 1);
    assert_eq!(answers[2]["data"][0]["event_type"], "project.created");
}

#[test]
fn api_keys_are_listed_by_prefix_and_revoked_from_the_cli() {
    let dir = tempfile::tempdir().unwrap();
    assert!(run_cli(dir.path(), &["workspace", "create", "acme"], None)
        .status
        .success());
    let out = run_cli(
        dir.path(),
        &[
            "api-key",
            "create",
            "--workspace",
            "acme",
            "--scopes",
            "events",
            "--name",
            "ci",
        ],
        None,
    );
    let key = String::from_utf8(out.stdout).unwrap().trim().to_string();
    let list = ok_stdout(run_cli(
        dir.path(),
        &["api-key", "list", "--workspace", "acme"],
        None,
    ));
    assert!(
        list.contains(&key[..11]) && list.contains("active") && list.contains("ci"),
        "{list}"
    );
    assert!(!list.contains(&key), "the full key is never shown again");
    let id = list
        .lines()
        .nth(1)
        .unwrap()
        .split('\t')
        .next()
        .unwrap()
        .to_string();
    assert!(run_cli(
        dir.path(),
        &["api-key", "revoke", &id, "--workspace", "acme"],
        None
    )
    .status
    .success());
    let list = ok_stdout(run_cli(
        dir.path(),
        &["api-key", "list", "--workspace", "acme"],
        None,
    ));
    assert!(list.contains("revoked"), "{list}");
    let out = run_cli(
        dir.path(),
        &["api-key", "revoke", &id, "--workspace", "acme"],
        None,
    );
    assert_eq!(out.status.code(), Some(2), "revoking twice says so");
    let out = run_cli(dir.path(), &["api-key", "revoke", &id, "--instance"], None);
    assert_eq!(
        out.status.code(),
        Some(2),
        "a workspace key is not an instance key"
    );
}

/// Standard output of a successful command; otherwise fails showing its standard error.
fn ok_stdout(out: std::process::Output) -> String {
    assert!(
        out.status.success(),
        "exit {:?}: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// deploy/README.md's backup and restore procedure, step by step, while events are published.
#[tokio::test]
async fn backup_while_publishing_then_restore() {
    let dir = tempfile::tempdir().unwrap();
    ok_stdout(run_cli(dir.path(), &["workspace", "create", "acme"], None));
    ok_stdout(run_cli(
        dir.path(),
        &["event-type", "create", "order.paid"],
        None,
    ));
    let key = ok_stdout(run_cli(
        dir.path(),
        &[
            "api-key",
            "create",
            "--workspace",
            "acme",
            "--scopes",
            "webhooks,events",
        ],
        None,
    ));
    let key = key.trim().to_string();
    let server = start_server(dir.path(), &[]);
    let http = crate::helpers::client().build().unwrap();
    let w: serde_json::Value = http
        .post(format!("{}/api/v1/webhooks", server.base))
        .bearer_auth(&key)
        .json(&serde_json::json!({"url": "https://example.invalid/hook", "events": ["*"], "is_active": false}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let secret = w["data"]["secret"].as_str().unwrap().to_string();
    let wid = w["data"]["id"].as_i64().unwrap();

    // Publish in the background while the backup runs.
    let publish = |n: usize| {
        let (http, base, key) = (http.clone(), server.base.clone(), key.clone());
        async move {
            let mut ids = Vec::new();
            for i in 0..n {
                let r: serde_json::Value = http
                    .post(format!("{base}/api/v1/events"))
                    .bearer_auth(&key)
                    .json(&serde_json::json!({"type": "order.paid", "data": {"i": i}}))
                    .send()
                    .await
                    .unwrap()
                    .json()
                    .await
                    .unwrap();
                ids.push(r["data"]["id"].as_str().unwrap().to_string());
            }
            ids
        }
    };
    let before = publish(50).await;
    let during = tokio::spawn(publish(200));
    let backup = dir.path().join("nightly.db");
    let out = run_cli(dir.path(), &["backup", backup.to_str().unwrap()], None);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("secret.key"),
        "the backup reminds about the key"
    );
    during.await.unwrap();
    drop(server);

    // Restore: a new data directory with the backup as hookline.db and the key beside it.
    let restored = tempfile::tempdir().unwrap();
    std::fs::copy(&backup, hookline::db::db_path(restored.path())).unwrap();
    std::fs::copy(
        hookline::crypto::key_path(dir.path()),
        hookline::crypto::key_path(restored.path()),
    )
    .unwrap();
    let server = start_server(restored.path(), &[]);
    for id in &before {
        let r = http
            .get(format!("{}/api/v1/events/{id}", server.base))
            .bearer_auth(&key)
            .send()
            .await
            .unwrap();
        assert_eq!(
            r.status(),
            200,
            "event {id} acknowledged before the backup is in it"
        );
    }
    let w: serde_json::Value = http
        .get(format!("{}/api/v1/webhooks/{wid}", server.base))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        w["data"]["secret"],
        secret.as_str(),
        "the secret decrypts with the restored key"
    );
}

/// Logs (JSON, debug level) carry attempts and failures but never keys, secrets,
/// passwords or payloads.
#[tokio::test]
async fn logs_never_contain_secrets_keys_or_payloads() {
    let dir = tempfile::tempdir().unwrap();
    ok_stdout(run_cli(dir.path(), &["workspace", "create", "acme"], None));
    ok_stdout(run_cli(
        dir.path(),
        &["event-type", "create", "order.paid"],
        None,
    ));
    let password = "Tr0ub4dor&3-never-logged";
    ok_stdout(run_cli(
        dir.path(),
        &[
            "user",
            "create",
            "--email",
            "a@acme.io",
            "--password-stdin",
            "--workspace",
            "acme",
            "--role",
            "owner",
        ],
        Some(&format!("{password}\n")),
    ));
    let key = ok_stdout(run_cli(
        dir.path(),
        &[
            "api-key",
            "create",
            "--workspace",
            "acme",
            "--scopes",
            "webhooks,events",
        ],
        None,
    ))
    .trim()
    .to_string();
    let log_path = dir.path().join("server.log");
    let log = std::fs::File::create(&log_path).unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    // In a `Server`, so a failing assertion does not leave it running.
    let child = bin()
        .args([
            "serve",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--log-format",
            "json",
        ])
        .env("HOOKLINE_DATA_DIR", dir.path())
        .env("RUST_LOG", "debug")
        .env("HOOKLINE_ALLOW_HTTP", "true")
        .env("HOOKLINE_ALLOWED_NETWORKS", "127.0.0.0/8")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let mut server = Server {
        child,
        base: base.clone(),
        banner: String::new(),
    };
    let http = crate::helpers::client().build().unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while http.get(format!("{base}/healthz")).send().await.is_err() {
        assert!(std::time::Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let rx =
        crate::receiver::Receiver::start(|n| if n == 0 { (500, vec![]) } else { (200, vec![]) })
            .await;
    let w: serde_json::Value = http
        .post(format!("{base}/api/v1/webhooks"))
        .bearer_auth(&key)
        .json(&serde_json::json!({"url": rx.url, "events": ["*"], "retry_schedule": [1], "headers": {"X-Api-Key": "custom-header-secret"}}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let secret = w["data"]["secret"].as_str().unwrap().to_string();
    http.post(format!("{base}/api/v1/events"))
        .bearer_auth(&key)
        .json(&serde_json::json!({"type": "order.paid", "data": {"card": "payload-marker-4242"}}))
        .send()
        .await
        .unwrap();
    // A failed login too.
    let page = http
        .get(format!("{base}/login"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let _ = csrf_of(&page);
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while rx.count() < 2 {
        assert!(
            std::time::Instant::now() < deadline,
            "the retry never arrived"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let wid = w["data"]["id"].as_i64().unwrap();
    loop {
        let d: serde_json::Value = http
            .get(format!("{base}/api/v1/webhooks/{wid}/deliveries"))
            .bearer_auth(&key)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if d["data"][0]["status"] == "succeeded" {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the retry never succeeded"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &server.child.id().to_string()])
        .status();
    let _ = server.child.wait();
    let logs = std::fs::read_to_string(&log_path).unwrap();
    let not_json: Vec<&str> = logs
        .lines()
        .filter(|l| serde_json::from_str::<serde_json::Value>(l).is_err())
        .collect();
    assert!(
        not_json.is_empty(),
        "every line is JSON; these are not: {not_json:?}"
    );
    assert!(
        logs.contains("attempt failed") && logs.contains("attempt succeeded"),
        "{logs}"
    );
    for needle in [
        key.as_str(),
        &secret,
        &secret["whsec_".len()..],
        password,
        "payload-marker-4242",
        "custom-header-secret",
    ] {
        assert!(!logs.contains(needle), "the logs contain {needle:?}");
    }
}

/// The mode bits of a file or directory.
fn mode_of(p: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p)
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        .permissions()
        .mode()
        & 0o777
}

/// Everything Hookline writes (the database with its -wal and -shm, the secret key, CLI
/// backups and pre-migration copies) is readable by its owner only, even when it is started
/// with the usual umask 022; files an older version left readable are tightened.
#[tokio::test]
async fn data_files_and_backups_are_owner_only() {
    // SAFETY: sets this test process's file-creation mask (nextest runs each test in a
    // process of its own); the children inherit it, as they would from a login shell.
    unsafe {
        libc::umask(0o022);
    }
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let key = cli_workspace(&data, &["a.b"], "events");
    let server = start_server(&data, &[]);
    let r = reqwest::Client::new()
        .post(format!("{}/api/v1/events", server.base))
        .bearer_auth(key.trim())
        .json(&serde_json::json!({"type": "a.b", "data": {}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    let backup = dir.path().join("backup.db");
    let out = run_cli(&data, &["backup", backup.to_str().unwrap()], None);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(mode_of(&data), 0o700, "data directory");
    for f in [
        "hookline.db",
        "hookline.db-wal",
        "hookline.db-shm",
        "secret.key",
    ] {
        assert_eq!(mode_of(&data.join(f)), 0o600, "{f}");
    }
    assert_eq!(mode_of(&backup), 0o600, "hookline backup FILE");
    // A second backup to the same file is refused and leaves the first one alone.
    let out = run_cli(&data, &["backup", backup.to_str().unwrap()], None);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("already exists"));
    assert!(std::fs::metadata(&backup).unwrap().len() > 0);
    drop(server);

    // An older database, left readable by others, upgraded: the pre-migration copy is
    // owner-only and the database is tightened.
    use std::os::unix::fs::PermissionsExt;
    let old = dir.path().join("old");
    std::fs::create_dir(&old).unwrap();
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/schema-v1");
    for f in ["hookline.db", "secret.key"] {
        std::fs::copy(fixture.join(f), old.join(f)).unwrap();
        std::fs::set_permissions(old.join(f), std::fs::Permissions::from_mode(0o644)).unwrap();
    }
    let out = run_cli(&old, &["workspace", "list"], None);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(mode_of(&old.join("hookline.db")), 0o600);
    let _ = run_cli(
        &old,
        &["api-key", "create", "--instance", "--scopes", "webhooks"],
        None,
    );
    let server = start_server(&old, &[]);
    drop(server);
    assert_eq!(mode_of(&old.join("secret.key")), 0o600);
    let copies: Vec<_> = std::fs::read_dir(old.join("backups"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(copies.len(), 1);
    assert_eq!(mode_of(&copies[0]), 0o600, "pre-migration copy");
    assert_eq!(mode_of(&old.join("backups")), 0o700);
}

/// A second `serve` on a data directory in use is refused and names the first one's PID;
/// the first keeps serving, the other commands keep working beside it, and once it is gone
/// (even by SIGKILL) a new server starts.
#[tokio::test]
async fn a_second_server_on_one_data_directory_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let first = start_server(dir.path(), &[]);
    // Bounded: were the lock broken, the second server would run on instead of failing.
    let mut second = bin()
        .arg("serve")
        .env("HOOKLINE_DATA_DIR", dir.path())
        .env("HOOKLINE_LISTEN", "127.0.0.1:0")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while second.try_wait().unwrap().is_none() {
        if std::time::Instant::now() > deadline {
            let _ = second.kill();
            panic!("a second server kept running on a data directory in use");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = second.wait_with_output().unwrap();
    assert!(!out.status.success(), "the second server must not start");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("(PID {})", first.child.id())) && err.contains("already using"),
        "{err}"
    );
    assert!(!String::from_utf8_lossy(&out.stdout).contains("is running"));
    let r = reqwest::get(format!("{}/healthz", first.base))
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "the first server is untouched");
    let out = run_cli(dir.path(), &["workspace", "create", "acme"], None);
    assert!(out.status.success(), "CLI beside a running server");
    let mut first = first;
    first.child.kill().unwrap();
    first.child.wait().unwrap();
    let second = start_server(dir.path(), &[]);
    let r = reqwest::get(format!("{}/healthz", second.base))
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

/// `hookline completion SHELL` prints a script the shell loads: bash completes subcommands
/// and flags with it; zsh and fish get their own formats.
#[test]
fn shell_completion_scripts_complete_commands() {
    let script = |shell: &str| {
        let out = bin().args(["completion", shell]).output().unwrap();
        assert!(out.status.success(), "{shell}");
        String::from_utf8(out.stdout).unwrap()
    };
    let bash = script("bash");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("hookline.bash");
    std::fs::write(&file, &bash).unwrap();
    let complete = |words: &str| {
        let cmd = format!(
            "source {}; COMP_WORDS=({words}); COMP_CWORD=$((${{#COMP_WORDS[@]}} - 1)); \
             _hookline hookline \"${{COMP_WORDS[-1]}}\" \"${{COMP_WORDS[-2]}}\"; echo \"${{COMPREPLY[*]}}\"",
            file.display()
        );
        let out = std::process::Command::new("bash")
            .args(["-c", &cmd])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    assert_eq!(complete("hookline ser").trim(), "serve");
    assert!(complete("hookline api-key cr").contains("create"));
    assert!(complete("hookline serve --retention").contains("--retention-days"));
    assert!(complete("hookline completion z").contains("zsh"));
    assert!(script("zsh").starts_with("#compdef hookline"));
    assert!(script("fish").contains("complete -c hookline"));
    let out = bin().args(["completion", "tcsh"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("possible values"));
}

/// `serve --dev` delivers to a plain-http receiver on this machine out of the box, says so in
/// its banner, and is refused beside an https public URL.
#[tokio::test]
async fn dev_mode_delivers_to_a_local_receiver_and_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let key = cli_workspace(dir.path(), &["a.b"], "webhooks,events");
    let rx = crate::receiver::Receiver::start(crate::receiver::Receiver::always(200)).await;
    let server = start_server(dir.path(), &[("HOOKLINE_DEV", "true")]);
    assert!(
        server.banner.contains("DEVELOPMENT MODE"),
        "{}",
        server.banner
    );
    let http = crate::helpers::client().build().unwrap();
    let r = http
        .post(format!("{}/api/v1/webhooks", server.base))
        .bearer_auth(key.trim())
        .json(&serde_json::json!({"url": rx.url, "events": ["*"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    let r = http
        .post(format!("{}/api/v1/events", server.base))
        .bearer_auth(key.trim())
        .json(&serde_json::json!({"type": "a.b", "data": {"n": 1}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while rx.count() == 0 {
        assert!(std::time::Instant::now() < deadline, "no delivery arrived");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    drop(server);
    // Without --dev the same server refuses the http:// URL, and --dev refuses https.
    let plain = start_server(dir.path(), &[]);
    assert!(!plain.banner.contains("DEVELOPMENT MODE"));
    let r = http
        .post(format!("{}/api/v1/webhooks", plain.base))
        .bearer_auth(key.trim())
        .json(&serde_json::json!({"url": rx.url, "events": ["*"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    drop(plain);
    let out = bin()
        .args(["serve", "--dev"])
        .env("HOOKLINE_DATA_DIR", dir.path())
        .env("HOOKLINE_LISTEN", "127.0.0.1:0")
        .env("HOOKLINE_PUBLIC_URL", "https://hooks.example.com")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("HOOKLINE_DEV") && err.contains("--dev"),
        "{err}"
    );
}
