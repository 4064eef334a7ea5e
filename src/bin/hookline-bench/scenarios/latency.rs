//! `latency`: publish-to-arrival latency at a fixed offered rate of 200 events/s, split into
//! where an event waits: until its publish is acknowledged (the writer's commit, fsync
//! included) and from there to its arrival (claim, signing, the HTTP exchange); and how many
//! of the writer's commits meanwhile took longer than 12.8 ms and 102.4 ms.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use serde_json::json;

use super::{Ctx, Server};
use crate::harness::{
    commit_histogram, commits_slower_than, now_us, percentile, post, wait_arrivals,
};
use crate::results::{row, Results};

pub async fn run(cx: &Ctx<'_>, server: &Server<'_>, results: &mut Results) {
    let secs = 10usize.div_ceil(cx.scale.min(10)).max(1);
    let n = 200 * secs;
    let commits_before = commit_histogram(cx.http, &server.hookline.base).await;
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
    row(
        results,
        "latency",
        "ack_p99_ms",
        "  of which until the publish's 202, p99 (ms)",
        json!(percentile(&acks, 0.99)),
    );
    let commits_after = commit_histogram(cx.http, &server.hookline.base).await;
    row(
        results,
        "latency",
        "commits_over_12ms",
        "  writer commits over 12.8 ms meanwhile",
        json!(commits_slower_than(&commits_before, &commits_after, 0.0128)),
    );
    row(
        results,
        "latency",
        "commits_over_100ms",
        "  writer commits over 102.4 ms meanwhile",
        json!(commits_slower_than(&commits_before, &commits_after, 0.1024)),
    );
    cx.sink.arrivals.store(0, Ordering::Relaxed);
}
