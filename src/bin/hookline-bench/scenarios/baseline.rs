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
    let (rate, took) = timed(cx).await;
    row(
        results,
        "baseline",
        "requests_per_s",
        "baseline: client -> receiver directly (req/s)",
        json!(rate),
    );
    row(
        results,
        "baseline",
        "seconds",
        "  measured for (s)",
        json!(took),
    );
}

/// How long a baseline measures at least (divided by the scale). Half-second baselines (the
/// 20,000 requests alone) read anywhere between 25,000 and 44,000 req/s within minutes on a
/// shared host; two seconds before and two after a run cover more of the time the run itself
/// takes, so the ratio compares like with like.
const BASELINE_MIN_MS: u64 = 2_000;

/// Posts rounds of 20,000 (/ scale) requests straight to the receiver, 64 at a time, until
/// at least [`BASELINE_MIN_MS`] (/ scale) have passed: requests/s. The receiver's arrival
/// count is reset afterwards.
pub async fn measure(cx: &Ctx<'_>) -> f64 {
    timed(cx).await.0
}

/// [`measure`], and the seconds it took.
async fn timed(cx: &Ctx<'_>) -> (f64, f64) {
    let n = 20_000 / cx.scale;
    let least = std::time::Duration::from_millis(BASELINE_MIN_MS / cx.scale as u64);
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
    cx.sink.arrivals.store(0, Ordering::Relaxed);
    (sent as f64 / took, took)
}

/// Records the ratio of the run of `scenario` just measured (its last `deliveries_per_s`) to
/// the mean of the baselines measured right `before` and `after` it, and that mean.
pub fn ratio(results: &mut Results, scenario: &str, before: f64, after: f64) {
    let rate = results
        .last(scenario, "deliveries_per_s")
        .unwrap_or(f64::NAN);
    let baseline = (before + after) / 2.0;
    row(
        results,
        scenario,
        "ratio_to_baseline",
        "  ratio to the baseline around the run",
        json!(rate / baseline),
    );
    row(
        results,
        scenario,
        "baseline_requests_per_s",
        "    that baseline: the mean of one before and one after (req/s)",
        json!(baseline),
    );
}
