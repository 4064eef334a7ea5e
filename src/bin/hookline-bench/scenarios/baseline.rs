//! `baseline`: the same HTTP client straight to the same receiver, no Hookline in between.
//!
//! The end-to-end scenarios' ratios divide by a baseline measured right before each of their
//! runs ([`measure`]), not by this scenario's: on a shared host the baseline moves by a third
//! within one full run, and a ratio against a yardstick read minutes earlier measured the
//! hour as much as Hookline.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use serde_json::json;

use super::Ctx;
use crate::results::{row, Results};

pub async fn run(cx: &Ctx<'_>, results: &mut Results) {
    let rate = measure(cx).await;
    row(
        results,
        "baseline",
        "requests_per_s",
        "baseline: client -> receiver directly (req/s)",
        json!(rate),
    );
}

/// Posts 20,000 (/ scale) requests straight to the receiver, 64 at a time: requests/s. The
/// receiver's arrival count is reset afterwards.
pub async fn measure(cx: &Ctx<'_>) -> f64 {
    let n = 20_000 / cx.scale;
    let started = Instant::now();
    let sem = Arc::new(tokio::sync::Semaphore::new(64));
    let mut tasks = Vec::new();
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
    let rate = n as f64 / started.elapsed().as_secs_f64();
    cx.sink.arrivals.store(0, Ordering::Relaxed);
    rate
}
