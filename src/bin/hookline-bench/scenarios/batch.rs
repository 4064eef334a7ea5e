//! `batch`: batch publishes of 500, fan-out 1: the publish rate and the sustained delivery
//! rate at saturation, with the writer's work and Hookline's CPU time per delivery.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use serde_json::json;

use super::{Ctx, Server};
use crate::harness::{percentile, print_writer, publish_batches, wait_arrivals, writer_counters};
use crate::results::{row, Results};

pub async fn run(cx: &Ctx<'_>, server: &Server<'_>, results: &mut Results) {
    let (http, h, sink) = (cx.http, server.hookline, cx.sink);
    let n = 50_000 / cx.scale;
    let writer_before = writer_counters(http, &h.base).await;
    let cpu_before = h.cpu_seconds();
    let started = Instant::now();
    publish_batches(http, &h.base, server.key, n, 500, 4).await;
    let publish = started.elapsed();
    wait_arrivals(sink, n as u64, Duration::from_secs(180)).await;
    let total = started.elapsed();
    row(
        results,
        "batch",
        "publish_events_per_s",
        "publish: POST /events/batch of 500 (events/s)",
        json!(n as f64 / publish.as_secs_f64()),
    );
    let (writer_after, cpu_after) = (writer_counters(http, &h.base).await, h.cpu_seconds());
    let e2e = n as f64 / total.as_secs_f64();
    row(
        results,
        "batch",
        "deliveries_per_s",
        "end-to-end: batch publish, fan-out 1 (deliveries/s)",
        json!(e2e),
    );
    print_writer(
        results,
        "batch",
        writer_before,
        writer_after,
        total,
        (cpu_before, cpu_after),
        n,
    );
    let mut l = std::mem::take(&mut *sink.latencies_us.lock().unwrap());
    l.sort_unstable();
    row(
        results,
        "batch",
        "latency_p50_ms",
        "  latency at saturation p50 (ms)",
        json!(percentile(&l, 0.5)),
    );
    row(
        results,
        "batch",
        "latency_p99_ms",
        "  latency at saturation p99 (ms)",
        json!(percentile(&l, 0.99)),
    );
    sink.arrivals.store(0, Ordering::Relaxed);
}
