//! `latency`: publish-to-arrival latency at a fixed offered rate of 200 events/s, split into
//! where an event waits: until its publish is acknowledged (the writer's commit, fsync
//! included) and from there to its arrival (claim, signing, the HTTP exchange); and how many
//! of the writer's commits meanwhile took longer than 12.8 ms and 102.4 ms. Then the same
//! right after a burst of 20,000 single publishes, without waiting for them to drain (as a
//! vendor's traffic does): what a burst leaves behind (its queue, its WAL checkpoint) shows in
//! this second tail.

use std::sync::atomic::Ordering;
use std::time::Duration;

use serde_json::json;

use super::{Ctx, Server};
use crate::harness::{
    commit_histogram, commits_slower_than, percentile, publish_at_200_per_s, publish_singles,
    wait_arrivals,
};
use crate::results::{row, Results};

pub async fn run(cx: &Ctx<'_>, server: &Server<'_>, results: &mut Results) {
    measure(cx, server, results, 0, "").await;
    let burst = 20_000 / cx.scale;
    publish_singles(cx.http, &server.hookline.base, server.key, burst, 64, false).await;
    measure(cx, server, results, burst, "after_burst_").await;
}

/// 200 events/s for 10 s; `pending`: arrivals still to come from before (a burst), which
/// carry no `sent_us`. Metrics are named with `prefix`.
async fn measure(
    cx: &Ctx<'_>,
    server: &Server<'_>,
    results: &mut Results,
    pending: usize,
    prefix: &str,
) {
    let secs = 10usize.div_ceil(cx.scale.min(10)).max(1);
    let n = 200 * secs;
    let commits_before = commit_histogram(cx.http, &server.hookline.base).await;
    let acks = publish_at_200_per_s(cx.http, &server.hookline.base, server.key, n).await;
    wait_arrivals(cx.sink, (n + pending) as u64, Duration::from_secs(120)).await;
    let mut l = std::mem::take(&mut *cx.sink.latencies_us.lock().unwrap());
    let after = if pending > 0 {
        format!(", right after {pending} single publishes,")
    } else {
        String::new()
    };
    l.sort_unstable();
    row(
        results,
        "latency",
        &format!("{prefix}p50_ms"),
        &format!("latency at 200 events/s{after} p50 (ms)"),
        json!(percentile(&l, 0.5)),
    );
    row(
        results,
        "latency",
        &format!("{prefix}p90_ms"),
        &format!("latency at 200 events/s{after} p90 (ms)"),
        json!(percentile(&l, 0.9)),
    );
    row(
        results,
        "latency",
        &format!("{prefix}p99_ms"),
        &format!("latency at 200 events/s{after} p99 (ms)"),
        json!(percentile(&l, 0.99)),
    );
    row(
        results,
        "latency",
        &format!("{prefix}ack_p99_ms"),
        "  of which until the publish's 202, p99 (ms)",
        json!(percentile(&acks, 0.99)),
    );
    let commits_after = commit_histogram(cx.http, &server.hookline.base).await;
    row(
        results,
        "latency",
        &format!("{prefix}commits_over_12ms"),
        "  writer commits over 12.8 ms meanwhile",
        json!(commits_slower_than(&commits_before, &commits_after, 0.0128)),
    );
    row(
        results,
        "latency",
        &format!("{prefix}commits_over_100ms"),
        "  writer commits over 102.4 ms meanwhile",
        json!(commits_slower_than(&commits_before, &commits_after, 0.1024)),
    );
    cx.sink.arrivals.store(0, Ordering::Relaxed);
}
