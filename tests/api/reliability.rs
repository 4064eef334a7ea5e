//! Reliability: at-least-once across many crashes.

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::helpers::{cli_workspace, start_server};
use crate::receiver::Receiver;
use serde_json::json;

/// Publish 20,000 events while SIGKILLing the server at random moments (at least 10 times)
/// and restarting it: every event acknowledged with 202 reaches the receiver at least once.
#[tokio::test]
async fn twenty_thousand_events_through_ten_sigkills() {
    const EVENTS: usize = 20_000;
    const KILLS: usize = 10;
    let dir = tempfile::tempdir().unwrap();
    let rx = Receiver::start(Receiver::always(200)).await;
    let key = cli_workspace(dir.path(), &["order.paid"], "webhooks,events");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let listen = format!("127.0.0.1:{port}");
    let env = [
        ("HOOKLINE_ALLOW_HTTP", "true"),
        ("HOOKLINE_ALLOWED_NETWORKS", "127.0.0.0/8"),
        ("HOOKLINE_LISTEN", listen.as_str()),
    ];
    let server = Arc::new(Mutex::new(Some(start_server(dir.path(), &env))));
    let base = format!("http://{listen}");
    let http = crate::helpers::client()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let r = http
        .post(format!("{base}/api/v1/webhooks"))
        .bearer_auth(&key)
        .json(&json!({"url": rx.url, "events": ["*"], "retry_schedule": [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);

    // Publishers: 16 at a time until 20,000 events are acknowledged; refused or cut-off
    // requests (the server is down) are simply tried again as new events.
    let acked = Arc::new(Mutex::new(HashSet::new()));
    let next = Arc::new(AtomicUsize::new(0));
    let mut publishers = Vec::new();
    for _ in 0..16 {
        let (http, base, key, acked, next) = (
            http.clone(),
            base.clone(),
            key.clone(),
            acked.clone(),
            next.clone(),
        );
        publishers.push(tokio::spawn(async move {
            while next.fetch_add(1, Ordering::SeqCst) < EVENTS {
                loop {
                    let r = http
                        .post(format!("{base}/api/v1/events"))
                        .bearer_auth(&key)
                        .json(&json!({"type": "order.paid", "data": {"n": 1}}))
                        .send()
                        .await;
                    if let Ok(r) = r {
                        if r.status() == 202 {
                            if let Ok(b) = r.json::<serde_json::Value>().await {
                                acked
                                    .lock()
                                    .unwrap()
                                    .insert(b["data"]["id"].as_str().unwrap().to_string());
                                break;
                            }
                        }
                    }
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
        }));
    }

    // The killer: seeded pseudo-random pauses, SIGKILL, restart.
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut kills = 0;
    let started = Instant::now();
    while kills < KILLS {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        tokio::time::sleep(Duration::from_millis(150 + seed % 400)).await;
        let mut s = server.lock().unwrap().take().unwrap();
        s.child.kill().unwrap();
        s.child.wait().unwrap();
        drop(s);
        kills += 1;
        *server.lock().unwrap() = Some(start_server(dir.path(), &env));
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "the kill loop took too long"
        );
    }
    for p in publishers {
        tokio::time::timeout(Duration::from_secs(120), p)
            .await
            .expect("publishers finish")
            .unwrap();
    }
    let acked = acked.lock().unwrap().clone();
    assert_eq!(acked.len(), EVENTS);

    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let got: HashSet<String> = rx
            .all()
            .into_iter()
            .map(|r| r.headers["webhook-id"].clone())
            .collect();
        let missing = acked.difference(&got).count();
        if missing == 0 {
            let total = rx.count();
            eprintln!(
                "reliability: {EVENTS} events acknowledged through {kills} SIGKILLs; {total} requests received, {} duplicates ({:.2}%)",
                total - got.len(),
                (total - got.len()) as f64 * 100.0 / EVENTS as f64
            );
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{missing} acknowledged events never arrived"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    drop(server.lock().unwrap().take());
    let conn = rusqlite::Connection::open(hookline::db::db_path(dir.path())).unwrap();
    let check: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(check, "ok");
}

/// A listener that answers every connection with a TCP reset.
async fn resetting_listener() -> (String, tokio::task::JoinHandle<()>) {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    let task = tokio::spawn(async move {
        while let Ok((s, _)) = l.accept().await {
            let _ = s.set_zero_linger();
            drop(s);
        }
    });
    (format!("http://127.0.0.1:{port}/hook"), task)
}

/// A listener that sends headers, then one body byte every 100 ms, forever.
async fn trickling_listener() -> (String, tokio::task::JoinHandle<()>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    let task = tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                let _ = s.read(&mut buf).await;
                let _ = s
                    .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 100000\r\n\r\n")
                    .await;
                for _ in 0..600 {
                    if s.write_all(b"x").await.is_err() {
                        return;
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            });
        }
    });
    (format!("http://127.0.0.1:{port}/hook"), task)
}

/// Deliveries to a healthy webhook keep their pace beside webhooks whose receivers hang,
/// reset connections, or trickle their answer.
#[tokio::test]
async fn broken_receivers_do_not_slow_a_healthy_one() {
    let f = crate::webhooks_api::fixture_with(|r| {
        r.allow_http = Some("true".into());
        r.allowed_networks = Some("127.0.0.0/8".into());
    })
    .await;
    // The healthy receiver is the bottleneck on purpose (serial, 6 ms a request), so this
    // measures isolation between webhooks, not the machine's CPU nor the database's. At 2 ms
    // (500 a second) one webhook on PostgreSQL was bound by the database instead (about 270
    // a second on the test machine), and the broken webhooks' claims and records, real work
    // on the same two cores, slowed it past the bound below in half the runs.
    let healthy = Receiver::start(|_| {
        std::thread::sleep(Duration::from_millis(6));
        (200, vec![])
    })
    .await;
    let w = f
        .create_webhook(json!({"url": healthy.url, "events": ["project.created"]}))
        .await;
    let wid = w["id"].as_i64().unwrap();
    const N: usize = 600;
    let drain = |n_before: usize| {
        let (f, healthy) = (&f, &healthy);
        async move {
            let started = Instant::now();
            for chunk in 0..(N / 200) {
                let events: Vec<_> = (0..200)
                    .map(|i| json!({"type": "project.created", "data": {"i": chunk * 200 + i}}))
                    .collect();
                let (s, _) = f
                    .call(
                        reqwest::Method::POST,
                        "/api/v1/events/batch",
                        Some(json!({"events": events})),
                    )
                    .await;
                assert_eq!(s, 202);
            }
            while healthy.count() < n_before + N {
                assert!(
                    started.elapsed() < Duration::from_secs(60),
                    "healthy deliveries stalled"
                );
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            started.elapsed()
        }
    };
    let alone = drain(0).await;

    let hang = Receiver::start(|_| {
        std::thread::sleep(Duration::from_secs(5));
        (200, vec![])
    })
    .await;
    let (reset_url, _reset) = resetting_listener().await;
    let (trickle_url, _trickle) = trickling_listener().await;
    for url in [&hang.url, &reset_url, &trickle_url] {
        f.create_webhook(json!({"url": url, "events": ["project.created"], "timeout_seconds": 3, "retry_schedule": [60]})).await;
    }
    let rss_before = rss_kib();
    let beside = drain(N).await;
    // Let the broken receivers' attempts (3 s timeouts) run their course, then take the
    // process's peak: memory must stay bounded while they hang, reset and trickle.
    tokio::time::sleep(Duration::from_secs(4)).await;
    let peak_growth_mib = status_kib("VmHWM:").saturating_sub(rss_before) as f64 / 1024.0;
    eprintln!(
        "healthy webhook: {N} deliveries alone in {alone:?}, beside broken receivers in {beside:?}; peak memory {peak_growth_mib:.1} MiB above the start"
    );
    assert!(
        peak_growth_mib < 64.0,
        "memory grew {peak_growth_mib:.1} MiB beside {} broken receivers' deliveries",
        3 * N
    );
    assert!(
        beside.as_secs_f64() <= alone.as_secs_f64() * 1.10 + 0.3,
        "the healthy webhook slowed from {alone:?} to {beside:?}"
    );
    let (_, list) = f
        .call(
            reqwest::Method::GET,
            &format!("/api/v1/webhooks/{wid}/deliveries?status=succeeded&limit=1"),
            None,
        )
        .await;
    assert_eq!(list["data"][0]["status"], "succeeded");
}

/// A tmpfs of a few MiB mounted for one test, unmounted on drop.
struct SmallFs {
    dir: Option<tempfile::TempDir>,
    path: std::path::PathBuf,
}

impl SmallFs {
    fn mount(mib: u32) -> Option<SmallFs> {
        let dir = tempfile::tempdir().unwrap();
        let ok = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={mib}m"), "tmpfs"])
            .arg(dir.path())
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            if std::env::var("CI").is_ok_and(|v| v == "true") {
                panic!("CI=true but a tmpfs cannot be mounted (the disk-full test needs root)");
            }
            eprintln!("SKIPPED: cannot mount a tmpfs (not root?)");
            return None;
        }
        let path = dir.path().to_path_buf();
        Some(SmallFs {
            dir: Some(dir),
            path,
        })
    }

    fn grow(&self, mib: u32) {
        let ok = std::process::Command::new("mount")
            .args(["-o", &format!("remount,size={mib}m")])
            .arg(&self.path)
            .status()
            .unwrap();
        assert!(ok.success());
    }
}

impl Drop for SmallFs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.path)
            .status();
        drop(self.dir.take());
    }
}

/// On a full disk publishing fails with 503 and a clear message, nothing acknowledged is
/// lost, and once space is freed publishing works again by itself.
#[tokio::test]
async fn a_full_disk_refuses_with_503_and_recovers() {
    let Some(fs) = SmallFs::mount(4) else { return };
    let data = tempfile::Builder::new().tempdir_in(&fs.path).unwrap();
    let app = crate::helpers::spawn_app_in(data, |_| {}).await;
    let ws = app.workspace("acme").await;
    let admin = app.api_key(None, "webhooks,events").await;
    let (s, _) = app
        .api(
            reqwest::Method::POST,
            "/api/v1/event-types",
            Some(&admin),
            Some(json!({"name": "blob.stored"})),
        )
        .await;
    assert_eq!(s, 201);
    let key = app.api_key(Some(ws), "webhooks,events").await;
    let filler = "x".repeat(16 * 1024);
    let mut acked = Vec::new();
    let mut refused = None;
    for i in 0..2000 {
        let (s, b) = app
            .api(
                reqwest::Method::POST,
                "/api/v1/events",
                Some(&key),
                Some(json!({"type": "blob.stored", "data": {"i": i, "filler": filler}})),
            )
            .await;
        match s {
            202 => acked.push(b["data"]["id"].as_str().unwrap().to_string()),
            _ => {
                refused = Some((s, b));
                break;
            }
        }
    }
    let (status, body) = refused.expect("the 4 MiB disk filled up");
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["error"]["code"], "storage_full", "{body}");
    assert!(
        body["error"]["message"].as_str().unwrap().contains("disk"),
        "{body}"
    );
    assert!(!acked.is_empty());

    // Space comes back: publishing works again without a restart.
    fs.grow(64);
    let mut recovered = false;
    for _ in 0..50 {
        let (s, _) = app
            .api(
                reqwest::Method::POST,
                "/api/v1/events",
                Some(&key),
                Some(json!({"type": "blob.stored", "data": {"after": true}})),
            )
            .await;
        if s == 202 {
            recovered = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        recovered,
        "publishing did not recover after space was freed"
    );
    for id in &acked {
        let (s, _) = app
            .api(
                reqwest::Method::GET,
                &format!("/api/v1/events/{id}"),
                Some(&key),
                None,
            )
            .await;
        assert_eq!(s, 200, "acknowledged event {id} was lost");
    }
    let (s, _) = app.api(reqwest::Method::GET, "/healthz", None, None).await;
    assert_eq!(s, 200);
}

fn rss_kib() -> u64 {
    status_kib("VmRSS:")
}

/// A memory figure of this test process (app included) from /proc/self/status, in KiB.
fn status_kib(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// Publishing much faster than the receiver accepts: the backlog lives in the database, memory
/// stays bounded, and every acknowledged event is kept.
#[tokio::test]
async fn overload_keeps_the_backlog_on_disk_not_in_memory() {
    let f = crate::webhooks_api::fixture_with(|r| {
        r.allow_http = Some("true".into());
        r.allowed_networks = Some("127.0.0.0/8".into());
    })
    .await;
    let stuck = Receiver::start(|_| {
        std::thread::sleep(Duration::from_secs(30));
        (200, vec![])
    })
    .await;
    f.create_webhook(json!({"url": stuck.url, "events": ["*"], "timeout_seconds": 30}))
        .await;
    // Warm up, then measure the growth of this whole test process (app included).
    let events: Vec<_> = (0..1000)
        .map(|i| json!({"type": "project.created", "data": {"i": i, "pad": "p".repeat(200)}}))
        .collect();
    let (s, _) = f
        .call(
            reqwest::Method::POST,
            "/api/v1/events/batch",
            Some(json!({"events": events.clone()})),
        )
        .await;
    assert_eq!(s, 202);
    let before = rss_kib();
    const BATCHES: usize = 50;
    for _ in 0..BATCHES {
        let (s, _) = f
            .call(
                reqwest::Method::POST,
                "/api/v1/events/batch",
                Some(json!({"events": events.clone()})),
            )
            .await;
        assert_eq!(s, 202);
    }
    let grown_mib = rss_kib().saturating_sub(before) as f64 / 1024.0;
    let stored = f
        .app
        .sql_i64(
            "SELECT count(*) FROM deliveries WHERE status = 'pending'",
            &[],
        )
        .await;
    eprintln!(
        "overload: {} events queued for a stuck receiver; process RSS grew {grown_mib:.1} MiB",
        (BATCHES + 1) * 1000
    );
    assert!(
        stored >= (BATCHES * 1000) as i64,
        "the backlog is in the database: {stored} pending"
    );
    assert!(
        grown_mib < 64.0,
        "memory grew {grown_mib:.1} MiB for a 50,000-delivery backlog"
    );
}

/// A memory figure of another process (from /proc/<pid>/status), in KiB.
fn pid_status_kib(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// POSTs `body` with the key and checks the status.
async fn post_ok(http: &reqwest::Client, url: &str, key: &str, body: serde_json::Value, want: u16) {
    let r = http
        .post(url)
        .bearer_auth(key)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), want, "POST {url}");
}

/// What a misbehaving receiver does with each connection.
#[derive(Clone, Copy, Debug)]
enum Misbehaviour {
    /// Announces 100 MB and sends zeros as fast as the client reads.
    HugeBody,
    /// Chunked, never-ending body.
    EndlessChunks,
    /// Headers, then nothing, ever.
    NeverFinishes,
    /// One header byte every 100 ms.
    TrickledHeaders,
    /// Header lines until the client gives up.
    EndlessHeaders,
    /// A TCP reset after reading the request.
    Reset,
}

async fn misbehaving(kind: Misbehaviour) -> (String, tokio::task::JoinHandle<()>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    let task = tokio::spawn(async move {
        let mut conns = tokio::task::JoinSet::new();
        while let Ok((mut s, _)) = l.accept().await {
            conns.spawn(async move {
                let mut buf = vec![0u8; 64 * 1024];
                let _ = s.read(&mut buf).await;
                let zeros = vec![0u8; 64 * 1024];
                let bounded = tokio::time::Instant::now() + Duration::from_secs(30);
                match kind {
                    Misbehaviour::HugeBody => {
                        let _ = s
                            .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 100000000\r\n\r\n")
                            .await;
                        while tokio::time::Instant::now() < bounded {
                            if s.write_all(&zeros).await.is_err() {
                                return;
                            }
                        }
                    }
                    Misbehaviour::EndlessChunks => {
                        let _ = s
                            .write_all(b"HTTP/1.1 500 Oops\r\ntransfer-encoding: chunked\r\n\r\n")
                            .await;
                        let mut chunk = b"10000\r\n".to_vec();
                        chunk.extend_from_slice(&zeros);
                        chunk.extend_from_slice(b"\r\n");
                        while tokio::time::Instant::now() < bounded {
                            if s.write_all(&chunk).await.is_err() {
                                return;
                            }
                        }
                    }
                    Misbehaviour::NeverFinishes => {
                        let _ = s
                            .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nhal")
                            .await;
                        tokio::time::sleep_until(bounded).await;
                    }
                    Misbehaviour::TrickledHeaders => {
                        for b in b"HTTP/1.1 200 OK\r\nx-slow: ".iter().cycle() {
                            if tokio::time::Instant::now() > bounded
                                || s.write_all(&[*b]).await.is_err()
                            {
                                return;
                            }
                            tokio::time::sleep(Duration::from_millis(100)).await;
                        }
                    }
                    Misbehaviour::EndlessHeaders => {
                        let _ = s.write_all(b"HTTP/1.1 200 OK\r\n").await;
                        let line = format!("x-filler: {}\r\n", "y".repeat(8000));
                        while tokio::time::Instant::now() < bounded {
                            if s.write_all(line.as_bytes()).await.is_err() {
                                return;
                            }
                        }
                    }
                    Misbehaviour::Reset => {
                        let _ = s.set_zero_linger();
                    }
                }
            });
        }
    });
    (format!("http://127.0.0.1:{port}/hook"), task)
}

/// The response cap bounds memory in flight too: 180 attempts at once to receivers that send
/// 100 MB bodies, endless chunks or endless headers, never finish, trickle their headers or
/// reset, grow the real server's peak RSS by at most 32 MiB at the default limits.
#[tokio::test]
async fn misbehaving_receivers_keep_memory_bounded() {
    const KINDS: [Misbehaviour; 6] = [
        Misbehaviour::HugeBody,
        Misbehaviour::EndlessChunks,
        Misbehaviour::NeverFinishes,
        Misbehaviour::TrickledHeaders,
        Misbehaviour::EndlessHeaders,
        Misbehaviour::Reset,
    ];
    let dir = tempfile::tempdir().unwrap();
    let key = cli_workspace(dir.path(), &["a.b"], "webhooks,events");
    let server = start_server(dir.path(), &[("HOOKLINE_DEV", "true")]);
    let pid = server.child.id();
    let http = crate::helpers::client().build().unwrap();
    let api = |path: &str| format!("{}/api/v1{path}", server.base);
    // Warm up with a healthy receiver, so start-up allocations are not counted as growth.
    let ok = Receiver::start(Receiver::always(200)).await;
    post_ok(
        &http,
        &api("/webhooks"),
        &key,
        json!({"url": ok.url, "events": ["*"]}),
        201,
    )
    .await;
    for _ in 0..3 {
        let events: Vec<_> = (0..100)
            .map(|i| json!({"type": "a.b", "data": {"i": i}}))
            .collect();
        post_ok(
            &http,
            &api("/events/batch"),
            &key,
            json!({"events": events}),
            202,
        )
        .await;
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    while ok.count() < 300 {
        assert!(Instant::now() < deadline, "warm-up deliveries stalled");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let before = pid_status_kib(pid, "VmRSS:");
    // Two webhooks per misbehaviour, 15 events: 180 attempts, all in flight together (the
    // default limits: 256 in all, 16 per webhook), each bounded by a 4 s timeout.
    let mut listeners = Vec::new();
    for kind in KINDS {
        let (url, task) = misbehaving(kind).await;
        listeners.push(task);
        for _ in 0..2 {
            post_ok(
                &http,
                &api("/webhooks"),
                &key,
                json!({"url": url, "events": ["*"], "retry_schedule": [], "timeout_seconds": 4}),
                201,
            )
            .await;
        }
    }
    let before_hwm = pid_status_kib(pid, "VmHWM:");
    let events: Vec<_> = (0..15)
        .map(|i| json!({"type": "a.b", "data": {"bad": i}}))
        .collect();
    post_ok(
        &http,
        &api("/events/batch"),
        &key,
        json!({"events": events}),
        202,
    )
    .await;
    // Every bad delivery gets its one attempt and is final.
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut peak_rss = 0;
    loop {
        peak_rss = peak_rss.max(pid_status_kib(pid, "VmRSS:"));
        let r: serde_json::Value = http
            .get(api("/webhooks?limit=100"))
            .bearer_auth(&key)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let mut done = 0;
        for w in r["data"].as_array().unwrap().iter().skip(1) {
            // A 100 MB body with a 200 is a success (read to 64 KiB); the rest fail.
            for status in ["failed", "succeeded"] {
                let d: serde_json::Value = http
                    .get(api(&format!(
                        "/webhooks/{}/deliveries?status={status}&limit=100",
                        w["id"]
                    )))
                    .bearer_auth(&key)
                    .send()
                    .await
                    .unwrap()
                    .json()
                    .await
                    .unwrap();
                done += d["data"].as_array().unwrap().len();
            }
        }
        if done == 180 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{done} of 180 bad deliveries finished"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let hwm = pid_status_kib(pid, "VmHWM:");
    let growth_mib = hwm.saturating_sub(before) as f64 / 1024.0;
    eprintln!(
        "misbehaving receivers: RSS {:.1} MiB before, peak {:.1} MiB (high-water mark {:.1} MiB, {:.1} before): growth {growth_mib:.1} MiB",
        before as f64 / 1024.0,
        peak_rss as f64 / 1024.0,
        hwm as f64 / 1024.0,
        before_hwm as f64 / 1024.0,
    );
    assert!(
        growth_mib <= 32.0,
        "peak RSS grew {growth_mib:.1} MiB beside 180 misbehaving attempts"
    );
    for t in listeners {
        t.abort();
    }
}
