//! `baseline`: the same HTTP client straight to the same receiver, no Hookline in between.
//!
//! The end-to-end scenarios' ratios divide by a baseline measured around each of their runs
//! (the mean of one right before and one right after it, [`ratio`]), not by this scenario's:
//! on a shared host the baseline moves by a third within one full run, and a ratio against a
//! yardstick read minutes earlier measured the hour as much as Hookline.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use serde_json::json;

use super::Ctx;
use crate::results::{row, Results};

pub async fn run(cx: &Ctx<'_>, results: &mut Results) {
    let m = timed(cx).await;
    row(
        results,
        "baseline",
        "requests_per_s",
        "baseline: client -> receiver directly (req/s)",
        json!(m.rate),
    );
    row(
        results,
        "baseline",
        "seconds",
        "  measured for (s)",
        json!(m.seconds),
    );
    // What Hookline's CPU per delivery compares with: one bare request of this client, and
    // what the receiver spends on it (which a delivery costs the receiver too).
    row(
        results,
        "baseline",
        "client_cpu_us_per_request",
        "  the client's CPU per request (µs)",
        json!(m.client_cpu_us),
    );
    row(
        results,
        "baseline",
        "receiver_cpu_us_per_request",
        "  the receiver's CPU per request (µs)",
        json!(m.receiver_cpu_us),
    );
}

/// One baseline measurement.
struct Measured {
    /// Requests per second.
    rate: f64,
    /// How long it measured.
    seconds: f64,
    /// CPU per request of the bench's threads but the receiver's (the client, and the task
    /// that starts the requests), and of the receiver's (µs); threads that ended meanwhile
    /// are not counted.
    client_cpu_us: f64,
    receiver_cpu_us: f64,
}

/// Each thread of the bench's process: (thread id, name, CPU time in ns so far), from
/// `/proc/self/task/*/schedstat` (empty where there is none).
fn threads_cpu() -> Vec<(String, String, u64)> {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return Vec::new();
    };
    tasks
        .flatten()
        .filter_map(|t| {
            let comm = std::fs::read_to_string(t.path().join("comm")).ok()?;
            let stat = std::fs::read_to_string(t.path().join("schedstat")).ok()?;
            let ns = stat.split_whitespace().next()?.parse().ok()?;
            Some((
                t.file_name().to_string_lossy().into_owned(),
                comm.trim().to_string(),
                ns,
            ))
        })
        .collect()
}

/// CPU time between two [`threads_cpu`] readings (ns): of the receiver's threads
/// (actix-server's worker and acceptor), and of the others, which run the client.
fn client_and_receiver(
    before: &[(String, String, u64)],
    after: &[(String, String, u64)],
) -> (u64, u64) {
    let (mut client, mut receiver) = (0, 0);
    for (tid, comm, ns) in after {
        let was = before.iter().find(|(t, _, _)| t == tid).map_or(0, |b| b.2);
        let used = ns.saturating_sub(was);
        if comm.starts_with("actix-server") {
            receiver += used;
        } else {
            client += used;
        }
    }
    (client, receiver)
}

/// How long a baseline measures at least (divided by the scale). Half-second baselines (the
/// 20,000 requests alone) read anywhere between 25,000 and 44,000 req/s within minutes on a
/// shared host; two seconds before and two after a run cover more of the time the run itself
/// takes, so the ratio compares like with like.
const BASELINE_MIN_MS: u64 = 2_000;

/// A baseline measured around a run: requests/s, and the client's CPU per request (µs).
#[derive(Debug, Clone, Copy)]
pub struct Yardstick {
    pub rate: f64,
    pub client_cpu_us: f64,
}

/// Posts rounds of 20,000 (/ scale) requests straight to the receiver, 64 at a time, until
/// at least [`BASELINE_MIN_MS`] (/ scale) have passed: requests/s, and what each cost the
/// client. The receiver's arrival count is reset afterwards.
pub async fn measure(cx: &Ctx<'_>) -> Yardstick {
    let m = timed(cx).await;
    Yardstick {
        rate: m.rate,
        client_cpu_us: m.client_cpu_us,
    }
}

/// [`measure`], how long it took and what CPU it cost.
async fn timed(cx: &Ctx<'_>) -> Measured {
    let n = 20_000 / cx.scale;
    let least = std::time::Duration::from_millis(BASELINE_MIN_MS / cx.scale as u64);
    let cpu_before = threads_cpu();
    let started = Instant::now();
    let sem = Arc::new(tokio::sync::Semaphore::new(64));
    let mut sent = 0usize;
    while sent == 0 || started.elapsed() < least {
        let mut tasks = Vec::with_capacity(n);
        for _ in 0..n {
            let (http, url, sem) = (cx.http.clone(), cx.rx_url.to_string(), sem.clone());
            tasks.push(tokio::spawn(async move {
                let _p = sem.acquire().await.unwrap();
                http.post(url).body("{\"data\":{}}").send().await.unwrap();
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        sent += n;
    }
    let took = started.elapsed().as_secs_f64();
    let (client, receiver) = client_and_receiver(&cpu_before, &threads_cpu());
    cx.sink.arrivals.store(0, Ordering::Relaxed);
    let per = |ns: u64| ns as f64 / 1000.0 / sent as f64;
    Measured {
        rate: sent as f64 / took,
        seconds: took,
        client_cpu_us: per(client),
        receiver_cpu_us: per(receiver),
    }
}

/// Records the ratio of the run of `scenario` just measured (its last `deliveries_per_s`) to
/// the mean of the baselines measured right `before` and `after` it, and that mean; and its
/// Hookline CPU per delivery (its last `cpu_us_per_delivery`) in bare requests of the bench's
/// client, whose CPU per request is the mean of the same two baselines'. Both CPU times move
/// with the host's load together, so their ratio says what a delivery costs against the
/// plainest HTTP POST in the same minutes.
pub fn ratio(results: &mut Results, scenario: &str, before: Yardstick, after: Yardstick) {
    against(
        results,
        scenario,
        ("deliveries_per_s", (before.rate + after.rate) / 2.0),
        (
            "ratio_to_baseline",
            "  ratio to the baseline around the run",
        ),
        (
            "baseline_requests_per_s",
            "    that baseline: the mean of one before and one after (req/s)",
        ),
    );
    against(
        results,
        scenario,
        (
            "cpu_us_per_delivery",
            (before.client_cpu_us + after.client_cpu_us) / 2.0,
        ),
        (
            "cpu_in_client_requests",
            "  hookline CPU per delivery in the bench client's bare requests",
        ),
        (
            "baseline_client_cpu_us_per_request",
            "    that client's CPU per request around the run (µs)",
        ),
    );
}

/// Records `scenario`'s last value of `metric` divided by `yardstick` as the row `quotient`,
/// and the yardstick itself as the row `yard` (each a metric and its label).
fn against(
    results: &mut Results,
    scenario: &str,
    (metric, yardstick): (&str, f64),
    quotient: (&str, &str),
    yard: (&str, &str),
) {
    let value = results.last(scenario, metric).unwrap_or(f64::NAN);
    row(
        results,
        scenario,
        quotient.0,
        quotient.1,
        json!(value / yardstick),
    );
    row(results, scenario, yard.0, yard.1, json!(yardstick));
}
