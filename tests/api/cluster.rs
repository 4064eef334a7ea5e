//! Hookline on PostgreSQL as an operator runs it: the real binary, nodes with data
//! directories of their own sharing one database (`HOOKLINE_DATABASE_URL`) and one secret
//! key (`HOOKLINE_SECRET_KEY_FILE`), the CLI on the same database, and a node killed with
//! SIGKILL whose deliveries another node takes over.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Output, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::{bin, start_server, Server};
use crate::pg_cluster::{admin_url, TestDb};

/// Runs the CLI on the database `url` (and its own data directory).
fn cli(data_dir: &Path, url: &str, args: &[&str]) -> Output {
    bin()
        .arg("--data-dir")
        .arg(data_dir)
        .args(args)
        .env("HOOKLINE_DATABASE_URL", url)
        .env_remove("HOOKLINE_DATA_DIR")
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn ok(out: Output) -> String {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// A node: `serve` on the shared database, in development mode (receivers on 127.0.0.1).
fn node(data_dir: &Path, url: &str, key_file: Option<&Path>) -> Server {
    let key = key_file.map(|k| k.to_str().unwrap().to_string());
    let mut env = vec![("HOOKLINE_DATABASE_URL", url), ("HOOKLINE_DEV", "true")];
    if let Some(k) = &key {
        env.push(("HOOKLINE_SECRET_KEY_FILE", k));
    }
    start_server(data_dir, &env)
}

async fn call(
    base: &str,
    method: Method,
    path: &str,
    key: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut req = reqwest::Client::new()
        .request(method, format!("{base}{path}"))
        .bearer_auth(key);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let res = req.send().await.unwrap();
    let status = res.status().as_u16();
    (status, res.json().await.unwrap_or(Value::Null))
}

/// A receiver that counts the requests for each event (by its `webhook-id`), counts each
/// time two requests for one event were in flight at once (two nodes attempting one
/// delivery), and holds its answers while `hold` is set (an attempt then stays in flight).
struct Receiver {
    url: String,
    seen: Arc<Mutex<std::collections::HashMap<String, u32>>>,
    overlaps: Arc<std::sync::atomic::AtomicU32>,
    hold: Arc<AtomicBool>,
    handle: actix_web::dev::ServerHandle,
}

impl Receiver {
    async fn start() -> Receiver {
        use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
        let seen = Arc::new(Mutex::new(std::collections::HashMap::new()));
        let in_flight = Arc::new(Mutex::new(std::collections::HashSet::<String>::new()));
        let overlaps = Arc::new(std::sync::atomic::AtomicU32::new(0));
        let hold = Arc::new(AtomicBool::new(false));
        let (s, f, o, h) = (
            seen.clone(),
            in_flight.clone(),
            overlaps.clone(),
            hold.clone(),
        );
        let server = HttpServer::new(move || {
            let (s, f, o, h) = (s.clone(), f.clone(), o.clone(), h.clone());
            App::new().default_service(web::to(move |req: HttpRequest| {
                let (s, f, o, h) = (s.clone(), f.clone(), o.clone(), h.clone());
                async move {
                    let id = req
                        .headers()
                        .get("webhook-id")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("")
                        .to_string();
                    if !f.lock().unwrap().insert(id.clone()) {
                        o.fetch_add(1, Ordering::SeqCst);
                    }
                    // At least long enough for a second attempt of one delivery to overlap.
                    tokio::time::sleep(Duration::from_millis(5)).await;
                    while h.load(Ordering::SeqCst) {
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                    f.lock().unwrap().remove(&id);
                    *s.lock().unwrap().entry(id).or_insert(0) += 1;
                    HttpResponse::Ok().body("ok")
                }
            }))
        })
        .workers(2)
        .disable_signals()
        .bind("127.0.0.1:0")
        .unwrap();
        let port = server.addrs()[0].port();
        let server = server.run();
        let handle = server.handle();
        tokio::spawn(server);
        Receiver {
            url: format!("http://127.0.0.1:{port}/hook"),
            seen,
            overlaps,
            hold,
            handle,
        }
    }

    /// The events that arrived, each once.
    fn distinct(&self) -> BTreeSet<String> {
        self.seen.lock().unwrap().keys().cloned().collect()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.hold.store(false, Ordering::SeqCst);
        let h = self.handle.clone();
        let _ = tokio::runtime::Handle::try_current()
            .map(|rt| rt.spawn(async move { h.stop(false).await }));
    }
}

/// Workspace `acme` with event type `order.paid`, made with the CLI on the shared database;
/// returns a key of it.
fn provision(data_dir: &Path, url: &str) -> String {
    ok(cli(data_dir, url, &["workspace", "create", "acme"]));
    ok(cli(data_dir, url, &["event-type", "create", "order.paid"]));
    ok(cli(
        data_dir,
        url,
        &[
            "api-key",
            "create",
            "--workspace",
            "acme",
            "--scopes",
            "webhooks,events",
        ],
    ))
    .trim()
    .to_string()
}

/// Makes a webhook of `order.paid` to `url` through the node at `base`; its id.
async fn webhook_to(base: &str, key: &str, url: &str) -> i64 {
    let (s, hook) = call(
        base,
        Method::POST,
        "/api/v1/webhooks",
        key,
        Some(json!({"url": url, "events": ["order.paid"]})),
    )
    .await;
    assert_eq!(s, 201, "{hook}");
    hook["data"]["id"].as_i64().unwrap()
}

async fn wait_for(what: &str, secs: u64, mut done: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    while !done() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "waited {secs} s for {what}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn two_nodes_share_one_database_and_deliver_what_either_was_given() {
    let Some(admin) = admin_url() else { return };
    let db = TestDb::new(&admin).await;
    let (dir_a, dir_b, dir_cli) = (
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
    );
    let key = provision(dir_cli.path(), &db.url);
    // Node a makes the secret key; node b reads the same file.
    let a = node(dir_a.path(), &db.url, None);
    let key_file = dir_a.path().join("secret.key");
    let b = node(dir_b.path(), &db.url, Some(&key_file));
    for n in [&a, &b] {
        let (s, body) = call(&n.base, Method::GET, "/readyz", "", None).await;
        assert_eq!(
            (s, body["data"]["backend"].as_str()),
            (200, Some("postgres")),
            "{body}"
        );
        let (s, _) = call(&n.base, Method::GET, "/healthz", "", None).await;
        assert_eq!(s, 200);
    }
    let receiver = Receiver::start().await;
    let webhook = webhook_to(&a.base, &key, &receiver.url).await;
    // Node b sees the webhook node a made, and so does the CLI.
    let (s, _) = call(
        &b.base,
        Method::GET,
        &format!("/api/v1/webhooks/{webhook}"),
        &key,
        None,
    )
    .await;
    assert_eq!(s, 200);
    // Twenty events, published through both nodes in turn.
    let mut published = BTreeSet::new();
    for i in 0..20 {
        let base = if i % 2 == 0 { &a.base } else { &b.base };
        let (s, ev) = call(
            base,
            Method::POST,
            "/api/v1/events",
            &key,
            Some(json!({"type": "order.paid", "data": {"n": i}})),
        )
        .await;
        assert_eq!(s, 202, "{ev}");
        published.insert(ev["data"]["id"].as_str().unwrap().to_string());
    }
    wait_for("every event delivered", 20, || {
        receiver.distinct() == published
    })
    .await;
    // Each node's history shows them all succeeded.
    for n in [&a, &b] {
        let (s, list) = call(
            &n.base,
            Method::GET,
            &format!("/api/v1/webhooks/{webhook}/deliveries?limit=100"),
            &key,
            None,
        )
        .await;
        assert_eq!(s, 200);
        let rows = list["data"].as_array().unwrap();
        assert_eq!(rows.len(), 20);
        assert!(rows.iter().all(|d| d["status"] == "succeeded"), "{list}");
    }
    // Backups are pg_dump's business on PostgreSQL.
    let out = cli(
        dir_cli.path(),
        &db.url,
        &["backup", "/tmp/never-written.db"],
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("pg_dump"));
    // A node with another key is refused before it can store anything.
    std::fs::write(dir_cli.path().join("other.key"), [7u8; 32]).unwrap();
    let out = bin()
        .args(["serve"])
        .env("HOOKLINE_DATA_DIR", dir_cli.path())
        .env("HOOKLINE_DATABASE_URL", &db.url)
        .env("HOOKLINE_SECRET_KEY_FILE", dir_cli.path().join("other.key"))
        .env("HOOKLINE_LISTEN", "127.0.0.1:0")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("every node must read the same HOOKLINE_SECRET_KEY_FILE"),
        "{err}"
    );
    // A key file that is missing or short says how to make one.
    for (file, content) in [("missing.key", None), ("short.key", Some(&b"short"[..]))] {
        let path = dir_cli.path().join(file);
        if let Some(c) = content {
            std::fs::write(&path, c).unwrap();
        }
        let out = bin()
            .args(["serve"])
            .env("HOOKLINE_DATA_DIR", dir_cli.path())
            .env("HOOKLINE_DATABASE_URL", &db.url)
            .env("HOOKLINE_SECRET_KEY_FILE", &path)
            .env("HOOKLINE_LISTEN", "127.0.0.1:0")
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("head -c 32 /dev/urandom"), "{file}: {err}");
    }
    drop((a, b));
    db.drop().await;
}

#[tokio::test]
async fn a_node_killed_mid_delivery_has_its_work_taken_over_within_30_seconds() {
    let Some(admin) = admin_url() else { return };
    let db = TestDb::new(&admin).await;
    let (dir_a, dir_b, dir_cli) = (
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
    );
    let key = provision(dir_cli.path(), &db.url);
    let mut a = node(dir_a.path(), &db.url, None);
    let receiver = Receiver::start().await;
    let webhook = webhook_to(&a.base, &key, &receiver.url).await;
    // The receiver holds its answers: node a's five attempts stay in flight, then it dies.
    receiver.hold.store(true, Ordering::SeqCst);
    let mut published = BTreeSet::new();
    for i in 0..5 {
        let (s, ev) = call(
            &a.base,
            Method::POST,
            "/api/v1/events",
            &key,
            Some(json!({"type": "order.paid", "data": {"n": i}})),
        )
        .await;
        assert_eq!(s, 202);
        published.insert(ev["data"]["id"].as_str().unwrap().to_string());
    }
    let probe = poll_count(
        &db.url,
        "SELECT count(*) FROM deliveries WHERE lease_until IS NOT NULL",
    )
    .await;
    wait_for("node a to lease the five", 10, || probe() == 5).await;
    a.child.kill().unwrap(); // SIGKILL
    let _ = a.child.wait();
    receiver.hold.store(false, Ordering::SeqCst);
    let killed = std::time::Instant::now();
    let b = node(
        dir_b.path(),
        &db.url,
        Some(&dir_a.path().join("secret.key")),
    );
    let done = || {
        let got = receiver.distinct();
        published.iter().all(|e| got.contains(e))
    };
    // The receiver may have the held requests' bodies already (they reached it before the
    // kill); what counts is that node b records every delivery as succeeded.
    wait_for("node b to take the deliveries over", 30, done).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let (_, list) = call(
            &b.base,
            Method::GET,
            &format!("/api/v1/webhooks/{webhook}/deliveries?limit=100"),
            &key,
            None,
        )
        .await;
        let rows = list["data"].as_array().cloned().unwrap_or_default();
        if rows.len() == 5 && rows.iter().all(|d| d["status"] == "succeeded") {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "not taken over: {list}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(
        killed.elapsed() < Duration::from_secs(30),
        "taken over in {:?}",
        killed.elapsed()
    );
    drop(b);
    db.drop().await;
}

/// A counter of `sql`'s single number on the database, read synchronously from a
/// background connection (for polling inside `wait_for`).
async fn poll_count(url: &str, sql: &'static str) -> impl Fn() -> i64 {
    let client = Arc::new(crate::pg_cluster::connect_raw(url).await);
    let last = Arc::new(std::sync::atomic::AtomicI64::new(-1));
    let (c, l) = (client.clone(), last.clone());
    tokio::spawn(async move {
        loop {
            if let Ok(r) = c.query_one(sql, &[]).await {
                l.store(r.get(0), Ordering::SeqCst);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });
    move || last.load(Ordering::SeqCst)
}

/// Issue 19's crash test: three nodes on one database, 20,000 events published in batches
/// round-robin through whichever nodes are up, and ten times a random node is SIGKILLed and
/// started again. Every acknowledged event is delivered; no delivery is attempted by two
/// nodes at once; duplicates (at-least-once) are counted and printed.
#[tokio::test]
async fn three_nodes_lose_no_acknowledged_event_through_ten_sigkills() {
    let Some(admin) = admin_url() else { return };
    let db = TestDb::new(&admin).await;
    let cli_dir = tempfile::tempdir().unwrap();
    let key = provision(cli_dir.path(), &db.url);
    let dirs: Vec<tempfile::TempDir> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let first = node(dirs[0].path(), &db.url, None);
    let key_file = dirs[0].path().join("secret.key");
    let mut servers = vec![first];
    for d in &dirs[1..] {
        servers.push(node(d.path(), &db.url, Some(&key_file)));
    }
    let bases = Arc::new(Mutex::new(
        servers.iter().map(|s| s.base.clone()).collect::<Vec<_>>(),
    ));
    let receiver = Receiver::start().await;
    webhook_to(&servers[0].base, &key, &receiver.url).await;

    // The publisher: 400 batches of 50, each to the next node; a batch a dead node does not
    // acknowledge goes to the next one (what it may have stored unacknowledged is not
    // counted).
    let acked = Arc::new(Mutex::new(BTreeSet::new()));
    let publisher = {
        let (bases, acked, key) = (bases.clone(), acked.clone(), key.clone());
        tokio::spawn(async move {
            let client = crate::helpers::client()
                .timeout(Duration::from_secs(10))
                .build()
                .unwrap();
            let mut turn = 0usize;
            for batch in 0..400 {
                let events: Vec<Value> = (0..50)
                    .map(|i| json!({"type": "order.paid", "data": {"n": batch * 50 + i}}))
                    .collect();
                loop {
                    turn += 1;
                    let base = {
                        let b = bases.lock().unwrap();
                        b[turn % b.len()].clone()
                    };
                    let res = client
                        .post(format!("{base}/api/v1/events/batch"))
                        .bearer_auth(&key)
                        .json(&json!({ "events": events }))
                        .send()
                        .await;
                    if let Ok(r) = res {
                        if r.status().as_u16() == 202 {
                            let body: Value = r.json().await.unwrap();
                            let mut a = acked.lock().unwrap();
                            for e in body["data"]["events"].as_array().unwrap() {
                                a.insert(e["id"].as_str().unwrap().to_string());
                            }
                            break;
                        }
                    }
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
        })
    };

    // The killer: ten times, a random node is SIGKILLed and started again on its directory.
    for round in 0..10 {
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let i = rand::random::<usize>() % 3;
        let mut victim = servers.remove(i);
        victim.child.kill().unwrap(); // SIGKILL
        let _ = victim.child.wait();
        drop(victim);
        let (dir, url, key_file) = (
            dirs[i].path().to_path_buf(),
            db.url.clone(),
            key_file.clone(),
        );
        let restarted = tokio::task::spawn_blocking(move || {
            node(&dir, &url, if i == 0 { None } else { Some(&key_file) })
        })
        .await
        .unwrap();
        bases.lock().unwrap()[i] = restarted.base.clone();
        servers.insert(i, restarted);
        eprintln!("round {round}: node {i} killed and restarted");
    }
    publisher.await.unwrap();
    let acked = acked.lock().unwrap().clone();
    assert_eq!(
        acked.len(),
        20_000,
        "every batch was acknowledged by some node"
    );
    // Everything acknowledged arrives (a killed node's leases are reaped after 15 s).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(90);
    loop {
        let missing = {
            let seen = receiver.seen.lock().unwrap();
            acked.iter().filter(|e| !seen.contains_key(*e)).count()
        };
        if missing == 0 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{missing} acknowledged events never arrived"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let seen = receiver.seen.lock().unwrap().clone();
    let duplicates: u32 = seen.values().map(|n| n - 1).sum();
    eprintln!(
        "20,000 events through 10 SIGKILLs: {} delivered, {duplicates} duplicate attempts",
        seen.len()
    );
    assert_eq!(
        receiver.overlaps.load(Ordering::SeqCst),
        0,
        "a delivery was attempted by two nodes at once"
    );
    drop(servers);
    db.drop().await;
}

/// GETs `path` with `key` and answers the body's `data`.
async fn data(base: &str, path: &str, key: &str) -> Value {
    let (s, body) = call(base, Method::GET, path, key, None).await;
    assert_eq!(s, 200, "GET {path}: {body}");
    body["data"].clone()
}

/// Issue 19's migration test: an installation made and used on SQLite (a webhook that
/// delivers, one that fails and waits for its retry, a bulk retry job, a pre-v7 fixture
/// too) moves with `hookline migrate-to-postgres`, and a node on PostgreSQL then shows the
/// same webhooks (secrets included), deliveries, attempts, statistics and jobs, and goes on.
#[tokio::test]
async fn an_installation_moves_to_postgres_with_one_command_and_keeps_everything() {
    let Some(admin) = admin_url() else { return };
    let db = TestDb::new(&admin).await;
    let src = tempfile::tempdir().unwrap();
    let key = crate::helpers::cli_workspace(src.path(), &["order.paid"], "webhooks,events");
    let sqlite = start_server(src.path(), &[("HOOKLINE_DEV", "true")]);
    let good = Receiver::start().await;
    let bad = crate::receiver::Receiver::start(crate::receiver::Receiver::always(500)).await;
    let mut hooks = Vec::new();
    for (url, schedule) in [(&good.url, json!([60])), (&bad.url, json!([3600]))] {
        let (s, hook) = call(
            &sqlite.base,
            Method::POST,
            "/api/v1/webhooks",
            &key,
            Some(
                json!({"url": url, "events": ["order.paid"], "retry_schedule": schedule,
                        "headers": {"X-Team": "erp"}, "notification_email": "ops@acme.example"}),
            ),
        )
        .await;
        assert_eq!(s, 201, "{hook}");
        hooks.push(hook["data"]["id"].as_i64().unwrap());
    }
    for i in 0..10 {
        let (s, _) = call(
            &sqlite.base,
            Method::POST,
            "/api/v1/events",
            &key,
            Some(json!({"type": "order.paid", "data": {"n": i, "note": "ünïcode ✓"}})),
        )
        .await;
        assert_eq!(s, 202);
    }
    // Wait until the good webhook has ten successes and the bad one ten failed attempts.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let a = data(
            &sqlite.base,
            &format!("/api/v1/webhooks/{}/deliveries?limit=100", hooks[0]),
            &key,
        )
        .await;
        let b = data(
            &sqlite.base,
            &format!("/api/v1/webhooks/{}/deliveries?limit=100", hooks[1]),
            &key,
        )
        .await;
        let done = |v: &Value, status: &str| {
            v.as_array()
                .is_some_and(|r| r.len() == 10 && r.iter().all(|d| d["status"] == status))
        };
        if done(&a, "succeeded") && done(&b, "retrying") {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{a}\n{b}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (s, job) = call(
        &sqlite.base,
        Method::POST,
        &format!("/api/v1/webhooks/{}/bulk-retry", hooks[1]),
        &key,
        Some(json!({"status": "retrying", "since": "2020-01-01T00:00:00Z"})),
    )
    .await;
    assert_eq!(s, 202, "{job}");
    let job_id = job["data"]["job_id"].as_i64().unwrap();
    // The job pulls the ten retries forward; they fail again, their schedule used up.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let j = data(&sqlite.base, &format!("/api/v1/jobs/{job_id}"), &key).await;
        let b = data(
            &sqlite.base,
            &format!("/api/v1/webhooks/{}/deliveries?limit=100", hooks[1]),
            &key,
        )
        .await;
        let rows = b.as_array().unwrap();
        if j["state"] != "running"
            && rows
                .iter()
                .all(|d| d["attempts"] == 2 && d["status"] == "failed")
        {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{j}\n{b}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // What the SQLite installation shows, to compare with afterwards.
    let mut paths = vec![format!("/api/v1/jobs/{job_id}")];
    for h in &hooks {
        paths.push(format!("/api/v1/webhooks/{h}"));
        paths.push(format!("/api/v1/webhooks/{h}/deliveries?limit=100"));
        paths.push(format!("/api/v1/webhooks/{h}/stats"));
    }
    let first = data(&sqlite.base, &paths[2], &key).await;
    let delivery = first[0]["id"].as_i64().unwrap();
    paths.push(format!("/api/v1/deliveries/{delivery}"));
    let event = first[0]["event_id"].as_str().unwrap().to_string();
    paths.push(format!("/api/v1/events/{event}"));
    let mut before = Vec::new();
    for p in &paths {
        before.push(data(&sqlite.base, p, &key).await);
    }
    drop(sqlite); // SIGKILL: SQLite has every acknowledged write

    let out = cli(src.path(), &db.url, &["migrate-to-postgres"]);
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout).to_string(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    );
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("Done"), "{stdout}");
    assert!(!stdout.contains("DIFFERS"), "{stdout}");
    for table in [
        "webhooks",
        "deliveries",
        "attempts",
        "webhook_stats",
        "jobs",
    ] {
        assert!(
            stdout
                .lines()
                .any(|l| l.starts_with(table) && l.ends_with("ok")),
            "{table}: {stdout}"
        );
    }
    assert!(stderr.contains("copying deliveries"), "{stderr}");
    // Once only: a target with rows is refused, and so is a missing URL or data directory.
    let again = cli(src.path(), &db.url, &["migrate-to-postgres"]);
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("not empty"));
    let no_url = bin()
        .args(["--data-dir"])
        .arg(src.path())
        .arg("migrate-to-postgres")
        .env_remove("HOOKLINE_DATABASE_URL")
        .output()
        .unwrap();
    assert_eq!(no_url.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&no_url.stderr).contains("--database-url"));
    let nowhere = tempfile::tempdir().unwrap();
    let out = cli(nowhere.path(), &db.url, &["migrate-to-postgres"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("no Hookline database"));

    // A node on PostgreSQL, with the installation's key, shows the same.
    let node_dir = tempfile::tempdir().unwrap();
    let pg = node(
        node_dir.path(),
        &db.url,
        Some(&src.path().join("secret.key")),
    );
    for (p, was) in paths.iter().zip(&before) {
        let now = data(&pg.base, p, &key).await;
        assert_eq!(&now, was, "GET {p} differs after the move");
    }
    // And goes on: a new event gets new ids, and is delivered.
    let (s, ev) = call(
        &pg.base,
        Method::POST,
        "/api/v1/events",
        &key,
        Some(json!({"type": "order.paid", "data": {"after": "move"}})),
    )
    .await;
    assert_eq!(s, 202, "{ev}");
    let id = ev["data"]["id"].as_str().unwrap().to_string();
    wait_for("the first event after the move", 20, || {
        good.distinct().contains(&id)
    })
    .await;
    drop(pg);
    db.drop().await;

    // A fixture of schema v6 (before the key check existed) moves too.
    let db = TestDb::new(&admin).await;
    let fixture = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/schema-v6");
    let meta: Value =
        serde_json::from_str(&std::fs::read_to_string(fixture.join("fixture.json")).unwrap())
            .unwrap();
    let old = tempfile::tempdir().unwrap();
    for f in ["hookline.db", "secret.key"] {
        std::fs::copy(fixture.join(f), old.path().join(f)).unwrap();
    }
    ok(cli(old.path(), &db.url, &["migrate-to-postgres"]));
    let node_dir = tempfile::tempdir().unwrap();
    let pg = node(
        node_dir.path(),
        &db.url,
        Some(&old.path().join("secret.key")),
    );
    let key = meta["api_key"].as_str().unwrap();
    let w = data(
        &pg.base,
        &format!("/api/v1/webhooks/{}", meta["webhook_id"]),
        key,
    )
    .await;
    assert_eq!(w["secret"], meta["secret"], "the secret still decrypts");
    for id in meta["event_ids"].as_array().unwrap() {
        data(
            &pg.base,
            &format!("/api/v1/events/{}", id.as_str().unwrap()),
            key,
        )
        .await;
    }
    drop(pg);
    db.drop().await;
}

/// A TCP proxy in front of PostgreSQL that can cut every connection, open and new: the
/// database unreachable from one node while the shared test cluster keeps running.
struct Cuttable {
    port: u16,
    cut: Arc<AtomicBool>,
    conns: Arc<Mutex<Vec<tokio::task::AbortHandle>>>,
    accept: tokio::task::AbortHandle,
}

impl Cuttable {
    async fn start(upstream: String) -> Cuttable {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let cut = Arc::new(AtomicBool::new(false));
        let conns = Arc::new(Mutex::new(Vec::new()));
        let (c, k) = (cut.clone(), conns.clone());
        let accept = tokio::spawn(async move {
            while let Ok((mut down, _)) = listener.accept().await {
                if c.load(Ordering::SeqCst) {
                    continue; // dropped: closed at once
                }
                let upstream = upstream.clone();
                let task = tokio::spawn(async move {
                    if let Ok(mut up) = tokio::net::TcpStream::connect(&upstream).await {
                        let _ = tokio::io::copy_bidirectional(&mut down, &mut up).await;
                    }
                });
                k.lock().unwrap().push(task.abort_handle());
            }
        })
        .abort_handle();
        Cuttable {
            port,
            cut,
            conns,
            accept,
        }
    }

    /// `url` (a database on the test cluster) reached through this proxy.
    fn url(&self, url: &str) -> String {
        let mut u = url::Url::parse(url).unwrap();
        u.set_port(Some(self.port)).unwrap();
        u.to_string()
    }

    fn cut(&self) {
        self.cut.store(true, Ordering::SeqCst);
        for c in self.conns.lock().unwrap().drain(..) {
            c.abort();
        }
    }

    fn restore(&self) {
        self.cut.store(false, Ordering::SeqCst);
    }
}

impl Drop for Cuttable {
    fn drop(&mut self) {
        self.accept.abort();
        self.cut();
    }
}

// Multi-threaded: the proxy runs while `node` blocks on the server's banner.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readyz_is_503_while_the_database_is_unreachable() {
    let Some(admin) = admin_url() else { return };
    let db = TestDb::new(&admin).await;
    let direct = url::Url::parse(&db.url).unwrap();
    let proxy = Cuttable::start(format!(
        "{}:{}",
        direct.host_str().unwrap(),
        direct.port().unwrap()
    ))
    .await;
    let (dir, dir_cli) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let key = provision(dir_cli.path(), &db.url);
    let n = node(dir.path(), &proxy.url(&db.url), None);
    let receiver = Receiver::start().await;
    let webhook = webhook_to(&n.base, &key, &receiver.url).await;
    let publish = |i: u32| {
        let base = n.base.clone();
        let key = key.clone();
        async move {
            call(
                &base,
                Method::POST,
                "/api/v1/events",
                &key,
                Some(json!({"type": "order.paid", "data": {"i": i}})),
            )
            .await
        }
    };
    let ready = || async { call(&n.base, Method::GET, "/readyz", "", None).await };
    assert_eq!(ready().await.0, 200);
    let (s, first) = publish(1).await;
    assert_eq!(s, 202, "{first}");

    proxy.cut();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let body = loop {
        let (s, body) = ready().await;
        if s == 503 {
            break body;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "readyz still {s} 10 s after the database went away: {body}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(body["error"]["code"], "not_ready", "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("database"),
        "{body}"
    );
    // Liveness stays: the process is fine, a restart would not help.
    assert_eq!(
        call(&n.base, Method::GET, "/healthz", "", None).await.0,
        200
    );
    // A publish meanwhile is refused as unavailable (the client retries), not acknowledged.
    let (s, refused) = publish(2).await;
    assert_eq!(s, 503, "{refused}");

    proxy.restore();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let (s, body) = ready().await;
        if s == 200 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "readyz still {s} 30 s after the database came back: {body}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let (s, third) = publish(3).await;
    assert_eq!(s, 202, "{third}");
    let want: BTreeSet<String> = [&first, &third]
        .iter()
        .map(|e| e["data"]["id"].as_str().unwrap().to_string())
        .collect();
    wait_for("both acknowledged events to arrive", 30, || {
        receiver.distinct() == want
    })
    .await;
    let _ = webhook;
    drop(n);
    db.drop().await;
}
