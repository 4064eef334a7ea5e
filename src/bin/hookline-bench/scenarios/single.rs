//! `single`: single publishes (`POST /events`, 64 at a time), fan-out 1.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;

use super::{Ctx, Server};
use crate::harness::{now_us, post, wait_arrivals};
use crate::results::{row, Results};

pub async fn run(cx: &Ctx<'_>, server: &Server<'_>, results: &mut Results) {
    let n = 5_000 / cx.scale;
    let started = Instant::now();
    let sem = Arc::new(tokio::sync::Semaphore::new(64));
    let mut tasks = Vec::new();
    for i in 0..n {
        let (http, url, key, sem) = (
            cx.http.clone(),
            format!("{}/api/v1/events", server.hookline.base),
            server.key.to_string(),
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
    wait_arrivals(cx.sink, n as u64, Duration::from_secs(120)).await;
    let total = started.elapsed();
    row(
        results,
        "single",
        "publish_events_per_s",
        "publish: POST /events, 64 clients (events/s)",
        json!(n as f64 / publish.as_secs_f64()),
    );
    row(
        results,
        "single",
        "deliveries_per_s",
        "end-to-end: single publishes, fan-out 1 (deliveries/s)",
        json!(n as f64 / total.as_secs_f64()),
    );
    row(
        results,
        "single",
        "ratio_to_baseline",
        "  ratio to baseline",
        json!(n as f64 / total.as_secs_f64() / server.baseline),
    );
    cx.sink.arrivals.store(0, Ordering::Relaxed);
    cx.sink.latencies_us.lock().unwrap().clear();
}
