//! What every scenario shares: the receiver, the `hookline` child process, HTTP helpers,
//! workspace setup, the settings-UI session, the writer's counters and timing helpers.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use actix_web::{web, App, HttpResponse, HttpServer};
use serde_json::{json, Value};

use crate::results::Results;

pub fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_micros() as u64
}

/// Counts arrivals per event-id prefix and records publish-to-arrival latency from
/// `data.sent_us` in the body.
#[derive(Default)]
pub struct Sink {
    pub arrivals: AtomicU64,
    /// When the first request arrived (µs since the epoch), 0 before.
    pub first_us: AtomicU64,
    pub latencies_us: Mutex<Vec<u64>>,
}

/// How a receiver answers.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Reply {
    /// 204 at once.
    Fast,
    /// Never (it sleeps for an hour).
    Hang,
    /// 500 at once, so every attempt fails and is retried.
    Fail,
}

pub async fn start_receiver(
    sink: Arc<Sink>,
    reply: Reply,
) -> (String, actix_web::dev::ServerHandle) {
    let s = sink.clone();
    let server = HttpServer::new(move || {
        let s = s.clone();
        App::new()
            .app_data(web::PayloadConfig::new(1 << 20))
            .default_service(web::to(move |body: web::Bytes| {
                let s = s.clone();
                async move {
                    if reply == Reply::Hang {
                        tokio::time::sleep(Duration::from_secs(3600)).await;
                    }
                    let arrived = now_us();
                    let _ = s.first_us.compare_exchange(
                        0,
                        arrived,
                        Ordering::Relaxed,
                        Ordering::Relaxed,
                    );
                    if let Some(i) = memchr(&body, b"\"sent_us\":") {
                        let rest = &body[i + 10..];
                        let end = rest
                            .iter()
                            .position(|b| !b.is_ascii_digit())
                            .unwrap_or(rest.len());
                        if let Some(sent) = std::str::from_utf8(&rest[..end])
                            .ok()
                            .and_then(|t| t.parse::<u64>().ok())
                        {
                            s.latencies_us
                                .lock()
                                .unwrap()
                                .push(arrived.saturating_sub(sent));
                        }
                    }
                    s.arrivals.fetch_add(1, Ordering::Relaxed);
                    if reply == Reply::Fail {
                        HttpResponse::InternalServerError().finish()
                    } else {
                        HttpResponse::NoContent().finish()
                    }
                }
            }))
    })
    .workers(1)
    .backlog(4096)
    .max_connections(100_000)
    .disable_signals()
    .bind("127.0.0.1:0")
    .unwrap();
    let port = server.addrs()[0].port();
    let server = server.run();
    let handle = server.handle();
    tokio::spawn(server);
    (format!("http://127.0.0.1:{port}/hook"), handle)
}

fn memchr(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

pub struct Hookline {
    child: Child,
    pub base: String,
    pub data_dir: PathBuf,
    pub bin: PathBuf,
    /// The environment it was started with beyond the bench's own (its database), which its
    /// CLI commands get too.
    env: Vec<(String, String)>,
}

impl Drop for Hookline {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Hookline {
    /// Runs a `hookline` command on this server's store; returns its stdout.
    pub fn cli(&self, args: &[&str]) -> String {
        self.cli_with_stdin(args, None)
    }

    /// Runs a `hookline` command on this server's store, with `input` as a line on its stdin
    /// if given; returns its stdout.
    pub fn cli_with_stdin(&self, args: &[&str], input: Option<&str>) -> String {
        use std::io::Write;
        let (bin, data_dir) = (&self.bin, &self.data_dir);
        let mut child = Command::new(bin)
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .arg("--data-dir")
            .arg(data_dir)
            .args(args)
            .stdin(if input.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run hookline");
        if let Some(input) = input {
            writeln!(child.stdin.take().unwrap(), "{input}").unwrap();
        }
        let out = child.wait_with_output().expect("run hookline");
        assert!(
            out.status.success(),
            "hookline {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    }

    /// Starts `hookline serve` and waits until /healthz answers; returns it and the time that took.
    pub async fn start(bin: &Path, data_dir: &Path) -> (Hookline, Duration) {
        Self::start_with(bin, data_dir, &[]).await
    }

    /// [`Hookline::start`] with more environment.
    pub async fn start_with(
        bin: &Path,
        data_dir: &Path,
        env: &[(&str, &str)],
    ) -> (Hookline, Duration) {
        let port = free_port();
        let started = Instant::now();
        let child = Command::new(bin)
            .envs(env.iter().copied())
            .args([
                "serve",
                "--listen",
                &format!("127.0.0.1:{port}"),
                "--allow-http",
                "true",
                "--allowed-networks",
                "127.0.0.0/8",
            ])
            .arg("--data-dir")
            .arg(data_dir)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start hookline serve");
        let base = format!("http://127.0.0.1:{port}");
        let http = reqwest::Client::new();
        loop {
            if let Ok(r) = http.get(format!("{base}/healthz")).send().await {
                if r.status().is_success() {
                    break;
                }
            }
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "hookline did not start"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let took = started.elapsed();
        (
            Hookline {
                child,
                base,
                data_dir: data_dir.to_path_buf(),
                bin: bin.to_path_buf(),
                env: env
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
            },
            took,
        )
    }

    /// CPU seconds (user + system) used so far: the whole process, and its writer thread.
    pub fn cpu_seconds(&self) -> (f64, f64) {
        let ticks = |stat: &str| -> f64 {
            // Fields after the parenthesised command name; utime and stime are 14 and 15.
            let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
            let f: Vec<&str> = rest.split_whitespace().collect();
            let t = |i: usize| {
                f.get(i - 3)
                    .and_then(|v| v.parse::<f64>().ok())
                    .unwrap_or(0.0)
            };
            (t(14) + t(15)) / 100.0
        };
        let pid = self.child.id();
        let total =
            ticks(&std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default());
        let mut writer = 0.0;
        if let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) {
            for t in tasks.flatten() {
                let comm = std::fs::read_to_string(t.path().join("comm")).unwrap_or_default();
                if comm.trim() == "hookline-db-wri" {
                    writer +=
                        ticks(&std::fs::read_to_string(t.path().join("stat")).unwrap_or_default());
                }
            }
        }
        (total, writer)
    }

    pub fn rss_kib(&self, field: &str) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .unwrap_or_default();
        status
            .lines()
            .find(|l| l.starts_with(field))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    }

    pub async fn stop(mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if self.child.try_wait().unwrap().is_some() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

pub async fn post(http: &reqwest::Client, url: &str, key: &str, body: &Value) -> Value {
    let r = http
        .post(url)
        .bearer_auth(key)
        .json(body)
        .send()
        .await
        .expect("request");
    let status = r.status();
    let v: Value = r.json().await.unwrap_or(Value::Null);
    assert!(status.is_success(), "{url}: {status} {v}");
    v
}

/// GETs `url` with `key` and returns the JSON answer.
pub async fn get_json(http: &reqwest::Client, url: &str, key: &str) -> Value {
    http.get(url)
        .bearer_auth(key)
        .send()
        .await
        .expect("request")
        .json()
        .await
        .unwrap_or(Value::Null)
}

/// Publishes `n` events one request each, `parallel` at a time, as fast as they are taken.
/// With `timed`, each carries `data.sent_us` for the receiver's latency.
pub async fn publish_singles(
    http: &reqwest::Client,
    base: &str,
    key: &str,
    n: usize,
    parallel: usize,
    timed: bool,
) {
    let sem = Arc::new(tokio::sync::Semaphore::new(parallel));
    let mut tasks = Vec::with_capacity(n);
    for i in 0..n {
        let (http, url, key, sem) = (
            http.clone(),
            format!("{base}/api/v1/events"),
            key.to_string(),
            sem.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let _p = sem.acquire().await.unwrap();
            let data = if timed {
                json!({"i": i, "sent_us": now_us()})
            } else {
                json!({"i": i})
            };
            post(
                &http,
                &url,
                &key,
                &json!({"type": "bench.event", "data": data}),
            )
            .await;
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
}

/// Publishes `n` events at 200 a second, one request each (as a vendor's app does), with
/// `data.sent_us` for the receiver's latency; returns each publish's time until its 202, in
/// µs, sorted.
pub async fn publish_at_200_per_s(
    http: &reqwest::Client,
    base: &str,
    key: &str,
    n: usize,
) -> Vec<u64> {
    let mut tick = tokio::time::interval(Duration::from_millis(5));
    let mut tasks = Vec::with_capacity(n);
    for i in 0..n {
        tick.tick().await;
        let (http, url, key) = (
            http.clone(),
            format!("{base}/api/v1/events"),
            key.to_string(),
        );
        tasks.push(tokio::spawn(async move {
            let sent = Instant::now();
            post(
                &http,
                &url,
                &key,
                &json!({"type": "bench.event", "data": {"i": i, "sent_us": now_us()}}),
            )
            .await;
            sent.elapsed().as_micros() as u64
        }));
    }
    let mut acks = Vec::with_capacity(n);
    for t in tasks {
        acks.push(t.await.unwrap());
    }
    acks.sort_unstable();
    acks
}

/// Reads `/metrics`: a function from a metric's name to its value (0 when absent).
async fn metrics(http: &reqwest::Client, base: &str) -> impl Fn(&str) -> f64 {
    let text = match http.get(format!("{base}/metrics")).send().await {
        Ok(r) => r.text().await.unwrap_or_default(),
        Err(_) => String::new(),
    };
    move |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse::<f64>().ok())
            .unwrap_or(0.0)
    }
}

/// Waits until the server's queue is drained: nothing due, nothing in flight (so every
/// attempt is recorded), then a quarter second for the WAL checkpoint after the burst. Each
/// scenario starts from there, not from the previous one's leftovers.
pub async fn wait_drained(http: &reqwest::Client, base: &str) {
    let started = Instant::now();
    loop {
        let m = metrics(http, base).await;
        if m("hookline_queue_due") == 0.0 && m("hookline_queue_in_flight") == 0.0 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "the queue did not drain in 120 s"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(250)).await;
}

/// The writer's commit-duration histogram from `/metrics`: (upper bound in seconds,
/// commits that took at most that), by bound, the last being every commit.
pub async fn commit_histogram(http: &reqwest::Client, base: &str) -> Vec<(f64, f64)> {
    let text = match http.get(format!("{base}/metrics")).send().await {
        Ok(r) => r.text().await.unwrap_or_default(),
        Err(_) => String::new(),
    };
    let mut out: Vec<(f64, f64)> = text
        .lines()
        .filter_map(|l| {
            let rest = l.strip_prefix("hookline_db_commit_duration_seconds_bucket{le=\"")?;
            let (le, count) = rest.split_once("\"} ")?;
            let le = if le == "+Inf" {
                f64::INFINITY
            } else {
                le.parse().ok()?
            };
            Some((le, count.trim().parse().ok()?))
        })
        .collect();
    out.sort_by(|a, b| a.0.total_cmp(&b.0));
    out
}

/// Of the commits between two readings of [`commit_histogram`], how many took longer than
/// `secs` (counted at the histogram's next bound at or above it).
pub fn commits_slower_than(before: &[(f64, f64)], after: &[(f64, f64)], secs: f64) -> f64 {
    let at = |h: &[(f64, f64)], le: f64| {
        h.iter()
            .find(|(b, _)| (*b - le).abs() < 1e-9)
            .map(|x| x.1)
            .unwrap_or(0.0)
    };
    let Some(bound) = after.iter().map(|x| x.0).find(|b| *b >= secs - 1e-9) else {
        return 0.0;
    };
    let total = |h: &[(f64, f64)]| h.last().map(|x| x.1).unwrap_or(0.0);
    (total(after) - at(after, bound)) - (total(before) - at(before, bound))
}

/// The writer's counters from `/metrics`: (commits, jobs, seconds committing).
pub async fn writer_counters(http: &reqwest::Client, base: &str) -> (f64, f64, f64) {
    let value = metrics(http, base).await;
    (
        value("hookline_db_commit_duration_seconds_count"),
        value("hookline_db_commit_batch_jobs_sum"),
        value("hookline_db_commit_duration_seconds_sum"),
    )
}

/// Prints what the writer did between two readings of its counters, and Hookline's CPU time
/// per delivery; keeps both in the JSON under `scenario`.
pub fn print_writer(
    results: &mut Results,
    scenario: &str,
    before: (f64, f64, f64),
    after: (f64, f64, f64),
    elapsed: Duration,
    cpu: ((f64, f64), (f64, f64)),
    deliveries: usize,
) {
    let commits = after.0 - before.0;
    if commits <= 0.0 {
        return;
    }
    let per = |a: f64, b: f64| 1e6 * (b - a) / deliveries as f64;
    let (cpu_us, writer_cpu_us) = (per(cpu.0 .0, cpu.1 .0), per(cpu.0 .1, cpu.1 .1));
    let commits_per_s = commits / elapsed.as_secs_f64();
    let jobs_per_commit = (after.1 - before.1) / commits;
    let ms_per_commit = 1000.0 * (after.2 - before.2) / commits;
    let busy = 100.0 * (after.2 - before.2) / elapsed.as_secs_f64();
    for (metric, label, v) in [
        (
            "cpu_us_per_delivery",
            "    hookline CPU per delivery (µs)",
            cpu_us,
        ),
        (
            "writer_cpu_us_per_delivery",
            "    of which the writer thread (µs)",
            writer_cpu_us,
        ),
        (
            "writer_commits_per_s",
            "    writer commits/s",
            commits_per_s,
        ),
        (
            "writer_jobs_per_commit",
            "    writer jobs per commit",
            jobs_per_commit,
        ),
        (
            "writer_ms_per_commit",
            "    writer ms per commit",
            ms_per_commit,
        ),
        ("writer_busy_percent", "    writer busy (%)", busy),
    ] {
        crate::results::row(results, scenario, metric, label, json!(v));
    }
}

/// CPU seconds (user + system) the given processes used so far, together.
pub fn cpu_of(nodes: &[&Hookline]) -> f64 {
    nodes.iter().map(|n| n.cpu_seconds().0).sum()
}

/// Transactions the PostgreSQL database has committed or rolled back so far.
pub async fn pg_transactions(target: &hookline::pg::Target) -> f64 {
    let c = target.connect().await.expect("connect to PostgreSQL");
    let n: i64 = c
        .query_one(
            "SELECT (xact_commit + xact_rollback)::bigint FROM pg_stat_database WHERE datname = current_database()",
            &[],
        )
        .await
        .expect("read pg_stat_database")
        .get(0);
    n as f64
}

/// The fastest of five runs of a timed read, in milliseconds.
pub async fn fastest_ms<F, Fut>(mut timed: F) -> f64
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Duration>,
{
    let mut best = Duration::MAX;
    for _ in 0..5 {
        best = best.min(timed().await);
    }
    best.as_secs_f64() * 1000.0
}

pub fn percentile(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i] as f64 / 1000.0
}

pub async fn wait_arrivals(sink: &Sink, n: u64, limit: Duration) -> Duration {
    let started = Instant::now();
    while sink.arrivals.load(Ordering::Relaxed) < n {
        assert!(
            started.elapsed() < limit,
            "only {} of {n} deliveries arrived in {limit:?}",
            sink.arrivals.load(Ordering::Relaxed)
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    started.elapsed()
}

/// Publishes `events` events in batches of `batch`, `parallel` requests at a time.
pub async fn publish_batches(
    http: &reqwest::Client,
    base: &str,
    key: &str,
    events: usize,
    batch: usize,
    parallel: usize,
) {
    let sem = Arc::new(tokio::sync::Semaphore::new(parallel));
    let mut tasks = Vec::new();
    for start in (0..events).step_by(batch) {
        let n = batch.min(events - start);
        let (http, url, key, sem) = (
            http.clone(),
            format!("{base}/api/v1/events/batch"),
            key.to_string(),
            sem.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let _p = sem.acquire().await.unwrap();
            let sent = now_us();
            let evs: Vec<Value> = (0..n)
                .map(|i| json!({"type": "bench.event", "data": {"i": start + i, "sent_us": sent}}))
                .collect();
            post(&http, &url, &key, &json!({"events": evs})).await;
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
}

pub struct Setup {
    pub key: String,
}

pub const UI_EMAIL: &str = "bench@example.com";
pub const UI_PASSWORD: &str = "bench-password-1234";

/// A logged-in browser session on the settings UI; cookies kept by hand (the binary's HTTP
/// client has no cookie jar) and redirects not followed.
pub struct UiSession {
    http: reqwest::Client,
    base: String,
    cookies: std::collections::BTreeMap<String, String>,
}

impl UiSession {
    pub async fn login(base: &str, email: &str, password: &str) -> UiSession {
        let mut ui = UiSession {
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            base: base.to_string(),
            cookies: Default::default(),
        };
        let r = ui.http.get(format!("{base}/login")).send().await.unwrap();
        ui.keep_cookies(&r);
        let page = r.text().await.unwrap();
        let marker = "name=\"csrf\" value=\"";
        let at = page.find(marker).expect("login page has a CSRF field") + marker.len();
        let csrf = page[at..at + page[at..].find('"').unwrap()].to_string();
        let r = ui
            .http
            .post(format!("{base}/login"))
            .header("cookie", ui.cookie_header())
            .form(&[
                ("email", email),
                ("password", password),
                ("csrf", &csrf),
                ("next", "/"),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 303, "bench login failed");
        ui.keep_cookies(&r);
        ui
    }

    fn keep_cookies(&mut self, r: &reqwest::Response) {
        for v in r.headers().get_all("set-cookie") {
            let pair = v.to_str().unwrap_or("").split(';').next().unwrap_or("");
            if let Some((name, value)) = pair.split_once('=') {
                if value.is_empty() {
                    self.cookies.remove(name);
                } else {
                    self.cookies.insert(name.to_string(), value.to_string());
                }
            }
        }
    }

    fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    /// Fetches a page that must answer 200: how long it took, and the page.
    pub async fn page(&self, path: &str) -> (Duration, String) {
        let started = Instant::now();
        let r = self
            .http
            .get(format!("{}{path}", self.base))
            .header("cookie", self.cookie_header())
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "{path}: {}", r.status());
        let html = r.text().await.unwrap();
        (started.elapsed(), html)
    }

    /// Fetches a page of a delivery list: how long it took and the page's "Older" link, if
    /// any.
    pub async fn get(&self, path: &str) -> (Duration, Option<String>) {
        let (took, html) = self.page(path).await;
        assert_eq!(
            html.matches("<tr class=\"delivery ").count(),
            50,
            "{path}: a full page of deliveries"
        );
        let older = html.find("id=\"older\"").and_then(|end| {
            let start = html[..end].rfind("href=\"")? + "href=\"".len();
            let href = &html[start..start + html[start..].find('"')?];
            Some(href.replace("&amp;", "&"))
        });
        (took, older)
    }
}

/// Creates a workspace with `webhooks` webhooks pointing at `url`, and a key for it.
pub async fn setup(
    h: &Hookline,
    slug: &str,
    webhooks: usize,
    url: &str,
    http: &reqwest::Client,
) -> Setup {
    h.cli(&["workspace", "create", slug]);
    let key = h.cli(&[
        "api-key",
        "create",
        "--workspace",
        slug,
        "--scopes",
        "webhooks,events",
    ]);
    for _ in 0..webhooks {
        post(
            http,
            &format!("{}/api/v1/webhooks", h.base),
            &key,
            &json!({"url": url, "events": ["*"], "timeout_seconds": 60}),
        )
        .await;
    }
    Setup { key }
}

/// Where a scenario's own server keeps its data, so that it starts empty: SQLite in a data
/// directory of its own or, when the bench runs on PostgreSQL, also a database of its own on
/// the same server, named after the bench's (`<db>_<name>`; the role needs `CREATEDB`) and
/// dropped afterwards.
pub struct Scratch {
    pub data_dir: PathBuf,
    /// (the bench's URL, the database's name, its URL)
    pg: Option<(String, String, String)>,
}

impl Scratch {
    pub async fn new(tmp: &Path, name: &str, database_url: Option<&str>) -> Scratch {
        let data_dir = tmp.join(name);
        let pg = match database_url {
            None => None,
            Some(url) => {
                let mut u = url::Url::parse(url).expect("a checked URL");
                let db = format!(
                    "{}_{}",
                    u.path().trim_start_matches('/'),
                    name.replace('-', "_")
                );
                let c = pg_connect(url).await;
                c.batch_execute(&format!("DROP DATABASE IF EXISTS \"{db}\" WITH (FORCE)"))
                    .await
                    .unwrap();
                c.batch_execute(&format!("CREATE DATABASE \"{db}\""))
                    .await
                    .unwrap_or_else(|e| {
                        panic!(
                            "the {name} scenario runs on a database of its own beside the bench's; \
                             making {db} failed (the role needs CREATEDB): {e}"
                        )
                    });
                u.set_path(&format!("/{db}"));
                Some((url.to_string(), db, u.to_string()))
            }
        };
        Scratch { data_dir, pg }
    }

    /// The environment of its server and CLI.
    pub fn env(&self) -> Vec<(&'static str, &str)> {
        match &self.pg {
            Some((_, _, url)) => vec![("HOOKLINE_DATABASE_URL", url.as_str())],
            None => Vec::new(),
        }
    }

    /// Runs `sql` (statements in the SQL both backends speak, with their own BEGIN and
    /// COMMIT) straight on the store while its server is stopped: the bulk loads. On
    /// PostgreSQL the tables are analysed after it, as a database in service would be.
    pub async fn load(&self, sql: &str) {
        match &self.pg {
            Some((_, _, url)) => {
                let c = pg_connect(url).await;
                c.batch_execute(sql).await.unwrap();
                c.batch_execute("ANALYZE").await.unwrap();
            }
            None => {
                let conn =
                    rusqlite::Connection::open(hookline::db::db_path(&self.data_dir)).unwrap();
                conn.execute_batch("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;")
                    .unwrap();
                conn.execute_batch(sql).unwrap();
            }
        }
    }

    /// Removes the data directory and, on PostgreSQL, the database.
    pub async fn remove(self) {
        let _ = std::fs::remove_dir_all(&self.data_dir);
        if let Some((bench, db, _)) = self.pg {
            let _ = pg_connect(&bench)
                .await
                .batch_execute(&format!("DROP DATABASE IF EXISTS \"{db}\" WITH (FORCE)"))
                .await;
        }
    }
}

async fn pg_connect(url: &str) -> tokio_postgres::Client {
    hookline::pg::Target::parse(url)
        .expect("a checked URL")
        .connect()
        .await
        .unwrap_or_else(|e| panic!("connecting to PostgreSQL: {e}"))
}
