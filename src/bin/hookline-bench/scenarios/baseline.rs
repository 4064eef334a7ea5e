//! `baseline`: the same HTTP client straight to the same receiver, no Hookline in between.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use serde_json::json;

use super::Ctx;
use crate::results::{row, Results};

pub async fn run(cx: &Ctx<'_>, results: &mut Results) {
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
    row(
        results,
        "baseline",
        "requests_per_s",
        "baseline: client -> receiver directly (req/s)",
        json!(rate),
    );
    cx.sink.arrivals.store(0, Ordering::Relaxed);
}
