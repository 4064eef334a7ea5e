//! `single`: single publishes (`POST /events`, 64 at a time), fan-out 1.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use serde_json::json;

use super::{Ctx, Server};
use crate::harness::{print_writer, publish_singles, wait_arrivals, writer_counters};
use crate::results::{row, Results};

pub async fn run(cx: &Ctx<'_>, server: &Server<'_>, results: &mut Results) {
    let n = 5_000 / cx.scale;
    let h = server.hookline;
    let writer_before = writer_counters(cx.http, &h.base).await;
    let cpu_before = h.cpu_seconds();
    let started = Instant::now();
    publish_singles(cx.http, &server.hookline.base, server.key, n, 64, true).await;
    let publish = started.elapsed();
    wait_arrivals(cx.sink, n as u64, Duration::from_secs(120)).await;
    let total = started.elapsed();
    let (writer_after, cpu_after) = (writer_counters(cx.http, &h.base).await, h.cpu_seconds());
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
    print_writer(
        results,
        "single",
        writer_before,
        writer_after,
        total,
        (cpu_before, cpu_after),
        n,
    );
    cx.sink.arrivals.store(0, Ordering::Relaxed);
    cx.sink.latencies_us.lock().unwrap().clear();
}
