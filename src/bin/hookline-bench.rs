//! hookline-bench: measures Hookline end to end on this machine.
//!
//! It starts the real `hookline` binary (from the same directory as this one) on a temporary
//! data directory, a fast receiver on 127.0.0.1, creates workspaces, event types and webhooks,
//! publishes over the real HTTP API and waits for every delivery. Every scenario is bounded in
//! count and time. Prints a table and writes JSON (`--json PATH`, default
//! `bench-results/latest.json`).
//!
//!     cargo build --release && target/release/hookline-bench [--quick] [--skip-million]
//!
//! `--only NAME[,NAME…]` runs some scenarios only (for profiling one of them): `baseline`,
//! `single`, `batch`, `fanout10`, `latency`, `million`. `--fanout10-events N` sets how many
//! events the fan-out-10 scenario publishes (default 10,000). `--quick` divides the counts by
//! 5, `--smoke` by 100 (the test suite runs that to keep every scenario working). At the end
//! it compares each result with the targets for the 2-core machine; `--check` makes a missed
//! target exit with status 1.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use actix_web::{web, App, HttpResponse, HttpServer};
use serde_json::{json, Value};

fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_micros() as u64
}

/// Counts arrivals per event-id prefix and records publish-to-arrival latency from
/// `data.sent_us` in the body.
#[derive(Default)]
struct Sink {
    arrivals: AtomicU64,
    latencies_us: Mutex<Vec<u64>>,
}

async fn start_receiver(sink: Arc<Sink>, hang: bool) -> (String, actix_web::dev::ServerHandle) {
    let s = sink.clone();
    let server = HttpServer::new(move || {
        let s = s.clone();
        App::new()
            .app_data(web::PayloadConfig::new(1 << 20))
            .default_service(web::to(move |body: web::Bytes| {
                let s = s.clone();
                async move {
                    if hang {
                        tokio::time::sleep(Duration::from_secs(3600)).await;
                    }
                    let arrived = now_us();
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
                    HttpResponse::NoContent().finish()
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

struct Hookline {
    child: Child,
    base: String,
    data_dir: PathBuf,
    bin: PathBuf,
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
    fn cli(bin: &Path, data_dir: &Path, args: &[&str]) -> String {
        Self::cli_with_stdin(bin, data_dir, args, None)
    }

    /// Runs a `hookline` command on `data_dir`, with `input` as a line on its stdin if given;
    /// returns its stdout.
    fn cli_with_stdin(bin: &Path, data_dir: &Path, args: &[&str], input: Option<&str>) -> String {
        use std::io::Write;
        let mut child = Command::new(bin)
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
    async fn start(bin: &Path, data_dir: &Path) -> (Hookline, Duration) {
        let port = free_port();
        let started = Instant::now();
        let child = Command::new(bin)
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
            },
            took,
        )
    }

    /// CPU seconds (user + system) used so far: the whole process, and its writer thread.
    fn cpu_seconds(&self) -> (f64, f64) {
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

    fn rss_kib(&self, field: &str) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .unwrap_or_default();
        status
            .lines()
            .find(|l| l.starts_with(field))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    }

    async fn stop(mut self) {
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

async fn post(http: &reqwest::Client, url: &str, key: &str, body: &Value) -> Value {
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

/// The writer's counters from `/metrics`: (commits, jobs, seconds committing).
async fn writer_counters(http: &reqwest::Client, base: &str) -> (f64, f64, f64) {
    let text = match http.get(format!("{base}/metrics")).send().await {
        Ok(r) => r.text().await.unwrap_or_default(),
        Err(_) => String::new(),
    };
    let value = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (
        value("hookline_db_commit_duration_seconds_count"),
        value("hookline_db_commit_batch_jobs_sum"),
        value("hookline_db_commit_duration_seconds_sum"),
    )
}

/// Prints what the writer did between two readings of its counters, and Hookline's CPU time
/// per delivery; keeps both in the JSON under `scenario`.
fn print_writer(
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
    println!(
        "    hookline CPU per delivery: {cpu_us:.0} µs, of which the writer thread {writer_cpu_us:.0} µs"
    );
    let commits_per_s = commits / elapsed.as_secs_f64();
    let jobs_per_commit = (after.1 - before.1) / commits;
    let ms_per_commit = 1000.0 * (after.2 - before.2) / commits;
    let busy = 100.0 * (after.2 - before.2) / elapsed.as_secs_f64();
    println!(
        "    writer: {commits_per_s:.0} commits/s, {jobs_per_commit:.1} jobs per commit, {ms_per_commit:.2} ms per commit, busy {busy:.0}%"
    );
    for (metric, v) in [
        ("cpu_us_per_delivery", cpu_us),
        ("writer_cpu_us_per_delivery", writer_cpu_us),
        ("writer_commits_per_s", commits_per_s),
        ("writer_jobs_per_commit", jobs_per_commit),
        ("writer_ms_per_commit", ms_per_commit),
        ("writer_busy_percent", busy),
    ] {
        results
            .rows
            .push((scenario.to_string(), metric.to_string(), json!(v)));
    }
}

/// The fastest of five runs of a timed read, in milliseconds.
async fn fastest_ms<F, Fut>(mut timed: F) -> f64
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

fn percentile(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i] as f64 / 1000.0
}

async fn wait_arrivals(sink: &Sink, n: u64, limit: Duration) -> Duration {
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
async fn publish_batches(
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

struct Setup {
    key: String,
}

const UI_EMAIL: &str = "bench@example.com";
const UI_PASSWORD: &str = "bench-password-1234";

/// A logged-in browser session on the settings UI; cookies kept by hand (the binary's HTTP
/// client has no cookie jar) and redirects not followed.
struct UiSession {
    http: reqwest::Client,
    base: String,
    cookies: std::collections::BTreeMap<String, String>,
}

impl UiSession {
    async fn login(base: &str, email: &str, password: &str) -> UiSession {
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

    /// Fetches a page: how long it took and the page's "Older" link, if any.
    async fn get(&self, path: &str) -> (Duration, Option<String>) {
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
        let took = started.elapsed();
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
async fn setup(
    h: &Hookline,
    slug: &str,
    webhooks: usize,
    url: &str,
    http: &reqwest::Client,
) -> Setup {
    Hookline::cli(&h.bin, &h.data_dir, &["workspace", "create", slug]);
    let key = Hookline::cli(
        &h.bin,
        &h.data_dir,
        &[
            "api-key",
            "create",
            "--workspace",
            slug,
            "--scopes",
            "webhooks,events",
        ],
    );
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

#[derive(Default)]
struct Results {
    machine: String,
    /// (scenario, metric, value), in the order measured.
    rows: Vec<(String, String, Value)>,
}

impl Results {
    fn get(&self, scenario: &str, metric: &str) -> Option<f64> {
        self.rows
            .iter()
            .find(|(s, m, _)| s == scenario && m == metric)
            .and_then(|(_, _, v)| v.as_f64())
    }

    /// `{"scenario": {"metric": value, …}, …}`.
    fn scenarios(&self) -> Value {
        let mut out = serde_json::Map::new();
        for (s, m, v) in &self.rows {
            out.entry(s.clone())
                .or_insert_with(|| json!({}))
                .as_object_mut()
                .unwrap()
                .insert(m.clone(), v.clone());
        }
        Value::Object(out)
    }
}

/// Prints one line of the table and keeps the value under `scenario.metric` for the JSON.
fn row(results: &mut Results, scenario: &str, metric: &str, label: &str, value: Value) {
    println!(
        "{label:<58} {}",
        value
            .as_f64()
            .map(|f| format!("{f:>12.1}"))
            .unwrap_or_else(|| value.to_string())
    );
    results
        .rows
        .push((scenario.to_string(), metric.to_string(), value));
}

/// The targets for the 2-core machine: (scenario, metric, what, at least?, bound).
const TARGETS: &[(&str, &str, &str, bool, f64)] = &[
    (
        "single",
        "deliveries_per_s",
        "end to end, one webhook (deliveries/s)",
        true,
        5_000.0,
    ),
    (
        "fanout10",
        "deliveries_per_s",
        "batch publish, fan-out 10 (deliveries/s)",
        true,
        20_000.0,
    ),
    (
        "latency",
        "p99_ms",
        "p99 publish-to-arrival at 200 events/s (ms)",
        false,
        20.0,
    ),
    (
        "million",
        "rss_mib",
        "RSS with 1,000,000 pending (MiB)",
        false,
        100.0,
    ),
    (
        "million",
        "startup_ms",
        "start-up on that database (ms)",
        false,
        1_000.0,
    ),
    (
        "million",
        "api_list_page1_ms",
        "API delivery list, page 1 (ms)",
        false,
        50.0,
    ),
    (
        "million",
        "api_list_page1000_ms",
        "API delivery list, page 1000 (ms)",
        false,
        50.0,
    ),
    (
        "million",
        "ui_list_page1_ms",
        "UI delivery list, page 1 (ms)",
        false,
        50.0,
    ),
    (
        "million",
        "ui_list_page1000_ms",
        "UI delivery list, page 1000 (ms)",
        false,
        50.0,
    ),
];

/// Prints each target that this run measured, met or missed, and returns them for the JSON.
fn check_targets(results: &Results, full_size: bool) -> Value {
    println!(
        "
targets (2-core machine, synchronous=FULL):"
    );
    let mut out = Vec::new();
    for &(scenario, metric, what, at_least, bound) in TARGETS {
        let Some(v) = results.get(scenario, metric) else {
            continue;
        };
        let met = if at_least { v >= bound } else { v <= bound };
        let (cmp, verdict) = match (at_least, met) {
            (true, true) => ("≥", "met"),
            (true, false) => ("≥", "MISSED"),
            (false, true) => ("≤", "met"),
            (false, false) => ("≤", "MISSED"),
        };
        println!("  {what:<50} {v:>10.1}  target {cmp} {bound:<8} {verdict}");
        out.push(json!({
            "scenario": scenario, "metric": metric, "what": what,
            "target": format!("{cmp} {bound}"), "measured": v, "met": met,
        }));
    }
    if !full_size {
        println!("  (--quick or --smoke: smaller counts than the targets assume)");
    }
    Value::Array(out)
}

const USAGE: &str = "usage: hookline-bench [--quick | --smoke] [--skip-million] [--check]
                      [--only baseline,single,batch,fanout10,latency,million]
                      [--fanout10-events N] [--json PATH]
Build first: cargo build --release (the bench starts the hookline binary beside it).";

/// Exits with the usage on `--help` or on an argument it does not know, rather than run the
/// whole benchmark with a typo ignored.
fn check_args(args: &[String]) {
    let mut i = 0;
    while i < args.len() {
        match args[i].as_str() {
            "--help" | "-h" => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            "--quick" | "--smoke" | "--skip-million" | "--check" => {}
            "--only" | "--fanout10-events" | "--json" if i + 1 < args.len() => i += 1,
            other => {
                eprintln!("hookline-bench: unknown or incomplete argument '{other}'\n{USAGE}");
                std::process::exit(2);
            }
        }
        i += 1;
    }
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    check_args(&args[1..]);
    let quick = args.iter().any(|a| a == "--quick");
    // --smoke: tiny counts, only to prove every scenario still runs (the test suite uses it).
    let smoke = args.iter().any(|a| a == "--smoke");
    let check = args.iter().any(|a| a == "--check");
    let skip_million = args.iter().any(|a| a == "--skip-million");
    let json_path = args
        .iter()
        .position(|a| a == "--json")
        .and_then(|i| args.get(i + 1))
        .cloned()
        .unwrap_or_else(|| "bench-results/latest.json".into());
    let scale: usize = if smoke {
        100
    } else if quick {
        5
    } else {
        1
    };
    let only: Option<Vec<String>> = args
        .iter()
        .position(|a| a == "--only")
        .and_then(|i| args.get(i + 1))
        .map(|v| v.split(',').map(str::to_string).collect());
    const SCENARIOS: [&str; 6] = [
        "baseline", "single", "batch", "fanout10", "latency", "million",
    ];
    if let Some(bad) = only
        .iter()
        .flatten()
        .find(|n| !SCENARIOS.contains(&n.as_str()))
    {
        eprintln!(
            "hookline-bench: no scenario '{bad}'; --only takes {}",
            SCENARIOS.join(",")
        );
        std::process::exit(2);
    }
    let run = |name: &str| only.as_ref().is_none_or(|o| o.iter().any(|x| x == name));
    let fanout10_events: usize = args
        .iter()
        .position(|a| a == "--fanout10-events")
        .and_then(|i| args.get(i + 1))
        .map(|v| v.parse().expect("--fanout10-events takes a number"))
        .unwrap_or(10_000 / scale);
    let bin = std::env::current_exe().unwrap().with_file_name("hookline");
    assert!(
        bin.exists(),
        "build the hookline binary first: cargo build --release"
    );
    let tmp = tempfile::tempdir().unwrap();
    let mut results = Results {
        machine: format!(
            "{} cores, {}",
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(0),
            std::fs::read_to_string("/proc/cpuinfo")
                .ok()
                .and_then(
                    |c| c.lines().find(|l| l.starts_with("model name")).map(|l| l
                        .split(':')
                        .nth(1)
                        .unwrap_or("")
                        .trim()
                        .to_string())
                )
                .unwrap_or_default()
        ),
        ..Default::default()
    };
    println!("hookline-bench on {}\n", results.machine);
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(256)
        .build()
        .unwrap();

    let sink = Arc::new(Sink::default());
    let (rx_url, _rx) = start_receiver(sink.clone(), false).await;

    // Baseline: the same HTTP client straight to the same receiver.
    if run("baseline") {
        let n = 20_000 / scale;
        let started = Instant::now();
        let sem = Arc::new(tokio::sync::Semaphore::new(64));
        let mut tasks = Vec::new();
        for _ in 0..n {
            let (http, url, sem) = (http.clone(), rx_url.clone(), sem.clone());
            tasks.push(tokio::spawn(async move {
                let _p = sem.acquire().await.unwrap();
                http.post(url).body("{\"data\":{}}").send().await.unwrap();
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        let rate = n as f64 / started.elapsed().as_secs_f64();
        row(
            &mut results,
            "baseline",
            "requests_per_s",
            "baseline: client -> receiver directly (req/s)",
            json!(rate),
        );
        sink.arrivals.store(0, Ordering::Relaxed);
    }
    let baseline = results
        .get("baseline", "requests_per_s")
        .unwrap_or(f64::NAN);

    let data_dir = tmp.path().join("data");
    let (h, _) = Hookline::start(&bin, &data_dir).await;
    Hookline::cli(
        &h.bin,
        &h.data_dir,
        &["event-type", "create", "bench.event"],
    );

    // Single publishes, fan-out 1.
    let one = setup(&h, "one", 1, &rx_url, &http).await;
    if run("single") {
        let n = 5_000 / scale;
        let started = Instant::now();
        let sem = Arc::new(tokio::sync::Semaphore::new(64));
        let mut tasks = Vec::new();
        for i in 0..n {
            let (http, url, key, sem) = (
                http.clone(),
                format!("{}/api/v1/events", h.base),
                one.key.clone(),
                sem.clone(),
            );
            tasks.push(tokio::spawn(async move {
                let _p = sem.acquire().await.unwrap();
                post(
                    &http,
                    &url,
                    &key,
                    &json!({"type": "bench.event", "data": {"i": i, "sent_us": now_us()}}),
                )
                .await;
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        let publish = started.elapsed();
        wait_arrivals(&sink, n as u64, Duration::from_secs(120)).await;
        let total = started.elapsed();
        row(
            &mut results,
            "single",
            "publish_events_per_s",
            "publish: POST /events, 64 clients (events/s)",
            json!(n as f64 / publish.as_secs_f64()),
        );
        row(
            &mut results,
            "single",
            "deliveries_per_s",
            "end-to-end: single publishes, fan-out 1 (deliveries/s)",
            json!(n as f64 / total.as_secs_f64()),
        );
        row(
            &mut results,
            "single",
            "ratio_to_baseline",
            "  ratio to baseline",
            json!(n as f64 / total.as_secs_f64() / baseline),
        );
        sink.arrivals.store(0, Ordering::Relaxed);
        sink.latencies_us.lock().unwrap().clear();
    }

    // Batch publishes, fan-out 1: publish rate and sustained delivery rate at saturation.
    if run("batch") {
        let n = 50_000 / scale;
        let writer_before = writer_counters(&http, &h.base).await;
        let cpu_before = h.cpu_seconds();
        let started = Instant::now();
        publish_batches(&http, &h.base, &one.key, n, 500, 4).await;
        let publish = started.elapsed();
        wait_arrivals(&sink, n as u64, Duration::from_secs(180)).await;
        let total = started.elapsed();
        row(
            &mut results,
            "batch",
            "publish_events_per_s",
            "publish: POST /events/batch of 500 (events/s)",
            json!(n as f64 / publish.as_secs_f64()),
        );
        print_writer(
            &mut results,
            "batch",
            writer_before,
            writer_counters(&http, &h.base).await,
            total,
            (cpu_before, h.cpu_seconds()),
            n,
        );
        let e2e = n as f64 / total.as_secs_f64();
        row(
            &mut results,
            "batch",
            "deliveries_per_s",
            "end-to-end: batch publish, fan-out 1 (deliveries/s)",
            json!(e2e),
        );
        row(
            &mut results,
            "batch",
            "ratio_to_baseline",
            "  ratio to baseline",
            json!(e2e / baseline),
        );
        let mut l = std::mem::take(&mut *sink.latencies_us.lock().unwrap());
        l.sort_unstable();
        row(
            &mut results,
            "batch",
            "latency_p50_ms",
            "  latency at saturation p50 (ms)",
            json!(percentile(&l, 0.5)),
        );
        row(
            &mut results,
            "batch",
            "latency_p99_ms",
            "  latency at saturation p99 (ms)",
            json!(percentile(&l, 0.99)),
        );
        sink.arrivals.store(0, Ordering::Relaxed);
    }

    // Batch publishes, fan-out 10.
    if run("fanout10") {
        let ten = setup(&h, "ten", 10, &rx_url, &http).await;
        let n = fanout10_events;
        let writer_before = writer_counters(&http, &h.base).await;
        let cpu_before = h.cpu_seconds();
        let started = Instant::now();
        publish_batches(&http, &h.base, &ten.key, n, 500, 4).await;
        wait_arrivals(&sink, (n * 10) as u64, Duration::from_secs(180)).await;
        let total = started.elapsed();
        print_writer(
            &mut results,
            "fanout10",
            writer_before,
            writer_counters(&http, &h.base).await,
            total,
            (cpu_before, h.cpu_seconds()),
            n * 10,
        );
        row(
            &mut results,
            "fanout10",
            "deliveries_per_s",
            "end-to-end: batch publish, fan-out 10 (deliveries/s)",
            json!((n * 10) as f64 / total.as_secs_f64()),
        );
        row(
            &mut results,
            "fanout10",
            "ratio_to_baseline",
            "  ratio to baseline",
            json!((n * 10) as f64 / total.as_secs_f64() / baseline),
        );
        sink.arrivals.store(0, Ordering::Relaxed);
        sink.latencies_us.lock().unwrap().clear();
    }

    // Latency at a fixed offered rate of 200 events/s.
    if run("latency") {
        let secs = 10usize.div_ceil(scale.min(10)).max(1);
        let n = 200 * secs;
        let mut tick = tokio::time::interval(Duration::from_millis(5));
        let mut tasks = Vec::new();
        for i in 0..n {
            tick.tick().await;
            let (http, url, key) = (
                http.clone(),
                format!("{}/api/v1/events", h.base),
                one.key.clone(),
            );
            tasks.push(tokio::spawn(async move {
                post(
                    &http,
                    &url,
                    &key,
                    &json!({"type": "bench.event", "data": {"i": i, "sent_us": now_us()}}),
                )
                .await;
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        wait_arrivals(&sink, n as u64, Duration::from_secs(60)).await;
        let mut l = std::mem::take(&mut *sink.latencies_us.lock().unwrap());
        l.sort_unstable();
        row(
            &mut results,
            "latency",
            "p50_ms",
            "latency at 200 events/s p50 (ms)",
            json!(percentile(&l, 0.5)),
        );
        row(
            &mut results,
            "latency",
            "p90_ms",
            "latency at 200 events/s p90 (ms)",
            json!(percentile(&l, 0.9)),
        );
        row(
            &mut results,
            "latency",
            "p99_ms",
            "latency at 200 events/s p99 (ms)",
            json!(percentile(&l, 0.99)),
        );
        sink.arrivals.store(0, Ordering::Relaxed);
    }
    row(
        &mut results,
        "rss",
        "peak_mib",
        "peak RSS of hookline so far (MiB)",
        json!(h.rss_kib("VmHWM:") as f64 / 1024.0),
    );
    h.stop().await;

    if !skip_million && run("million") {
        million(&bin, tmp.path(), &http, &mut results, scale).await;
    }

    let targets = check_targets(&results, scale == 1);
    let out = json!({
        "machine": results.machine,
        "command": args[1..].join(" "),
        "unix_time": now_us() / 1_000_000,
        "scenarios": results.scenarios(),
        "targets": targets,
    });
    if let Some(dir) = Path::new(&json_path).parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    std::fs::write(&json_path, serde_json::to_string_pretty(&out).unwrap()).unwrap();
    println!("\nwrote {json_path}");
    let missed = out["targets"]
        .as_array()
        .map(|t| t.iter().filter(|t| t["met"] == false).count())
        .unwrap_or(0);
    if check && missed > 0 {
        eprintln!("{missed} target(s) missed");
        std::process::exit(1);
    }
}

/// 1,000,000 pending deliveries to a receiver that never answers, and 1,000,000 stored
/// attempts: memory, start-up time and delivery-list read times.
async fn million(
    bin: &Path,
    tmp: &Path,
    http: &reqwest::Client,
    results: &mut Results,
    scale: usize,
) {
    let n = 1_000_000 / scale as i64;
    let data_dir = tmp.join("million");
    let hang = Arc::new(Sink::default());
    let (hang_url, _hang) = start_receiver(hang, true).await;
    let (h, _) = Hookline::start(bin, &data_dir).await;
    Hookline::cli(
        &h.bin,
        &h.data_dir,
        &["event-type", "create", "bench.event"],
    );
    setup(&h, "big", 1, &hang_url, http).await;
    let list = setup(&h, "listed", 1, "https://example.invalid/hook", http).await;
    Hookline::cli_with_stdin(
        &h.bin,
        &h.data_dir,
        &[
            "user",
            "create",
            "--email",
            UI_EMAIL,
            "--password-stdin",
            "--workspace",
            "listed",
            "--role",
            "viewer",
        ],
        Some(UI_PASSWORD),
    );
    h.stop().await;
    // Bulk-load straight into SQLite (the server is stopped): pending deliveries for "big",
    // finished deliveries with one attempt each for "listed" (paused so it stays still).
    let started = Instant::now();
    let conn = rusqlite::Connection::open(hookline::db::db_path(&data_dir)).unwrap();
    conn.execute_batch("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;")
        .unwrap();
    let now = hookline::clock::now_ms();
    conn.execute_batch(&format!(
        "BEGIN;
         UPDATE webhooks SET is_active = 0 WHERE workspace_id = (SELECT id FROM workspaces WHERE slug = 'listed');
         WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {n})
         INSERT INTO events (public_id, workspace_id, type, body, created_at)
           SELECT 'evt_b' || i, w.id, 'bench.event', '{{\"id\":\"evt_b' || i || '\",\"type\":\"bench.event\",\"timestamp\":\"2026-01-01T00:00:00Z\",\"data\":{{\"i\":' || i || '}}}}', {now}
           FROM n, (SELECT id FROM workspaces WHERE slug = 'big') w;
         INSERT INTO deliveries (workspace_id, webhook_id, event_id, event_type, status, next_attempt_at, created_at, updated_at)
           SELECT e.workspace_id, wh.id, e.id, e.type, 'pending', {now}, {now}, {now}
           FROM events e JOIN webhooks wh ON wh.workspace_id = e.workspace_id WHERE e.public_id LIKE 'evt_b%';
         WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {n})
         INSERT INTO events (public_id, workspace_id, type, body, created_at)
           SELECT 'evt_l' || i, w.id, 'bench.event', '{{\"data\":{{\"i\":' || i || '}}}}', {now}
           FROM n, (SELECT id FROM workspaces WHERE slug = 'listed') w;
         INSERT INTO deliveries (workspace_id, webhook_id, event_id, event_type, status, attempt_count, last_status_code, last_duration_ms, created_at, updated_at)
           SELECT e.workspace_id, wh.id, e.id, e.type, CASE WHEN e.id % 7 = 0 THEN 'failed' ELSE 'succeeded' END, 1,
                  CASE WHEN e.id % 7 = 0 THEN 500 ELSE 200 END, 12, {now}, {now}
           FROM events e JOIN webhooks wh ON wh.workspace_id = e.workspace_id WHERE e.public_id LIKE 'evt_l%';
         INSERT INTO attempts (delivery_id, attempt_number, started_at, duration_ms, request_headers, response_status, response_headers, response_body)
           SELECT d.id, 1, {now}, 12, '{{\"content-type\":\"application/json\"}}', d.last_status_code, '{{}}', 'ok'
           FROM deliveries d JOIN webhooks wh ON wh.id = d.webhook_id JOIN workspaces w ON w.id = wh.workspace_id WHERE w.slug = 'listed';
         COMMIT;"
    ))
    .unwrap();
    drop(conn);
    println!(
        "(bulk-loaded {n} pending deliveries and {n} attempts in {:.1}s)",
        started.elapsed().as_secs_f64()
    );

    let (h, startup) = Hookline::start(bin, &data_dir).await;
    row(
        results,
        "million",
        "startup_ms",
        &format!("start-up with {n} pending deliveries (ms)"),
        json!(startup.as_secs_f64() * 1000.0),
    );
    tokio::time::sleep(Duration::from_secs(5)).await;
    row(
        results,
        "million",
        "rss_mib",
        &format!("RSS with {n} pending deliveries, receiver hanging (MiB)"),
        json!(h.rss_kib("VmRSS:") as f64 / 1024.0),
    );

    // Delivery list reads over n attempts: page 1 and page 1000 (100 a page).
    let wid: i64 = {
        let r: Value = http
            .get(format!("{}/api/v1/webhooks", h.base))
            .bearer_auth(&list.key)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        r["data"][0]["id"].as_i64().unwrap()
    };
    let page = |cursor: Option<String>| {
        let url = match &cursor {
            Some(c) => format!(
                "{}/api/v1/webhooks/{wid}/deliveries?limit=100&cursor={c}",
                h.base
            ),
            None => format!("{}/api/v1/webhooks/{wid}/deliveries?limit=100", h.base),
        };
        let (http, key) = (http.clone(), list.key.clone());
        async move {
            let started = Instant::now();
            let v: Value = http
                .get(url)
                .bearer_auth(key)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            (
                started.elapsed(),
                v["meta"]["next_cursor"].as_str().map(str::to_string),
            )
        }
    };
    let best_first = fastest_ms(|| async { page(None).await.0 }).await;
    let mut cursor = None;
    let pages = 999 / scale;
    for _ in 0..pages {
        cursor = page(cursor).await.1;
    }
    let best_last = fastest_ms(|| async { page(cursor.clone()).await.0 }).await;
    row(
        results,
        "million",
        "api_list_page1_ms",
        &format!("API delivery list page 1 over {n} attempts (ms)"),
        json!(best_first),
    );
    row(
        results,
        "million",
        "api_list_page1000_ms",
        &format!("API delivery list page {} (ms)", pages + 1),
        json!(best_last),
    );
    let filtered = fastest_ms(|| async {
        let started = Instant::now();
        let _: Value = http
            .get(format!(
                "{}/api/v1/webhooks/{wid}/deliveries?limit=100&status=failed",
                h.base
            ))
            .bearer_auth(&list.key)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        started.elapsed()
    })
    .await;
    row(
        results,
        "million",
        "api_list_failed_ms",
        "API delivery list filtered status=failed (ms)",
        json!(filtered),
    );

    // The same list as the settings UI renders it (50 a page), logged in as a viewer:
    // page 1, then the "Older" link followed to page 1000.
    let ui = UiSession::login(&h.base, UI_EMAIL, UI_PASSWORD).await;
    let first_url = format!("/w/listed/webhooks/{wid}/deliveries");
    let best_first = fastest_ms(|| async { ui.get(&first_url).await.0 }).await;
    let mut next = Some(first_url);
    let ui_pages = 999 / scale;
    for _ in 0..ui_pages {
        next = ui.get(next.as_deref().expect("an Older link")).await.1;
    }
    let deep = next.expect("an Older link on page 999");
    let best_last = fastest_ms(|| async { ui.get(&deep).await.0 }).await;
    row(
        results,
        "million",
        "ui_list_page1_ms",
        "UI delivery list page 1 (ms)",
        json!(best_first),
    );
    row(
        results,
        "million",
        "ui_list_page1000_ms",
        &format!("UI delivery list page {} (ms)", ui_pages + 1),
        json!(best_last),
    );
    // Not `stop`: a graceful stop would wait out the grace period (30 s) for the attempts
    // hanging on the receiver that never answers. Dropping it kills it.
    drop(h);
}
