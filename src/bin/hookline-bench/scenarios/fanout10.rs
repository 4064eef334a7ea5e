//! `fanout10`: batch publishes of 500 to a workspace with 10 webhooks, all to the receiver.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use serde_json::json;

use super::{Ctx, Server};
use crate::harness::{
    cpu_of, pg_transactions, print_writer, publish_batches, setup, wait_arrivals, writer_counters,
};
use crate::results::{row, Results};

/// Publishes `events` events (`--fanout10-events`, default 10,000 / scale), so 10 × as many
/// deliveries.
pub async fn run(cx: &Ctx<'_>, server: &Server<'_>, results: &mut Results, events: usize) {
    let (http, h, sink) = (cx.http, server.hookline, cx.sink);
    // A workspace of its own for each run.
    static RUN: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let slug = format!("ten-{}", RUN.fetch_add(1, Ordering::Relaxed));
    let ten = setup(h, &slug, 10, cx.rx_url, http).await;
    let n = events;
    let writer_before = writer_counters(http, &h.base).await;
    let cpu_before = h.cpu_seconds();
    let nodes: Vec<&crate::harness::Hookline> = std::iter::once(h).chain(server.others).collect();
    let nodes_cpu_before = cpu_of(&nodes);
    let xacts_before = match server.pg {
        Some(t) => pg_transactions(t).await,
        None => 0.0,
    };
    let started = Instant::now();
    publish_batches(http, &h.base, &ten.key, n, 500, 4).await;
    let stored = started.elapsed();
    let arrived_by_then = sink.arrivals.load(Ordering::Relaxed);
    wait_arrivals(sink, (n * 10) as u64, Duration::from_secs(180)).await;
    let total = started.elapsed();
    let (writer_after, cpu_after) = (writer_counters(http, &h.base).await, h.cpu_seconds());
    row(
        results,
        "fanout10",
        "deliveries_per_s",
        "end-to-end: batch publish, fan-out 10 (deliveries/s)",
        json!((n * 10) as f64 / total.as_secs_f64()),
    );
    row(
        results,
        "fanout10",
        "publish_share",
        "    time until the last publish's 202 (share of the run)",
        json!(stored.as_secs_f64() / total.as_secs_f64()),
    );
    row(
        results,
        "fanout10",
        "delivered_while_publishing",
        "    deliveries arrived by then (share of all)",
        json!(arrived_by_then as f64 / (n * 10) as f64),
    );
    if let Some(t) = server.pg {
        let deliveries = (n * 10) as f64;
        row(
            results,
            "fanout10",
            "cpu_us_per_delivery",
            "    hookline CPU per delivery, every node (µs)",
            json!(1e6 * (cpu_of(&nodes) - nodes_cpu_before) / deliveries),
        );
        row(
            results,
            "fanout10",
            "pg_transactions_per_delivery",
            "    PostgreSQL transactions per delivery",
            json!((pg_transactions(t).await - xacts_before) / deliveries),
        );
    }
    print_writer(
        results,
        "fanout10",
        writer_before,
        writer_after,
        total,
        (cpu_before, cpu_after),
        n * 10,
    );
    sink.arrivals.store(0, Ordering::Relaxed);
    sink.latencies_us.lock().unwrap().clear();
}
