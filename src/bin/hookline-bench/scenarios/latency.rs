//! `latency`: publish-to-arrival latency at a fixed offered rate of 200 events/s.

use std::sync::atomic::Ordering;
use std::time::Duration;

use serde_json::json;

use super::{Ctx, Server};
use crate::harness::{now_us, percentile, post, wait_arrivals};
use crate::results::{row, Results};

pub async fn run(cx: &Ctx<'_>, server: &Server<'_>, results: &mut Results) {
    let secs = 10usize.div_ceil(cx.scale.min(10)).max(1);
    let n = 200 * secs;
    let mut tick = tokio::time::interval(Duration::from_millis(5));
    let mut tasks = Vec::new();
    for i in 0..n {
        tick.tick().await;
        let (http, url, key) = (
            cx.http.clone(),
            format!("{}/api/v1/events", server.hookline.base),
            server.key.to_string(),
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
    wait_arrivals(cx.sink, n as u64, Duration::from_secs(60)).await;
    let mut l = std::mem::take(&mut *cx.sink.latencies_us.lock().unwrap());
    l.sort_unstable();
    row(
        results,
        "latency",
        "p50_ms",
        "latency at 200 events/s p50 (ms)",
        json!(percentile(&l, 0.5)),
    );
    row(
        results,
        "latency",
        "p90_ms",
        "latency at 200 events/s p90 (ms)",
        json!(percentile(&l, 0.9)),
    );
    row(
        results,
        "latency",
        "p99_ms",
        "latency at 200 events/s p99 (ms)",
        json!(percentile(&l, 0.99)),
    );
    cx.sink.arrivals.store(0, Ordering::Relaxed);
}
