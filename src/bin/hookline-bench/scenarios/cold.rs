//! `cold`: the server starts on 1,000,000 pending deliveries across 1,000 webhooks (1,000
//! events, each to every webhook), bulk-loaded into SQLite while it was stopped, as after an
//! outage or a restart under load. Measures the time from starting the process to the first
//! delivery arriving, and the rate at which the backlog drains, against the warm fan-out-10
//! rate of the same run. With `--database-url` the same on a PostgreSQL database of its own
//! (one node), bulk-loaded with the same SQL and then analysed.

use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;

use crate::harness::{
    now_us, setup, start_receiver, wait_arrivals, Hookline, Reply, Scratch, Sink,
};
use crate::results::{row, Results};

/// `warm`: the fan-out-10 scenario's deliveries/s (NaN when it did not run).
pub async fn run(
    bin: &Path,
    tmp: &Path,
    http: &reqwest::Client,
    results: &mut Results,
    scale: usize,
    warm: f64,
    database_url: Option<&str>,
) {
    let webhooks = (1_000 / scale).max(1);
    let events = 1_000;
    let n = webhooks * events;
    let scratch = Scratch::new(tmp, "cold", database_url).await;
    let sink = Arc::new(Sink::default());
    let (url, _rx) = start_receiver(sink.clone(), Reply::Fast).await;
    let (h, _) = Hookline::start_with(bin, &scratch.data_dir, &scratch.env()).await;
    h.cli(&["event-type", "create", "bench.event"]);
    setup(&h, "cold", webhooks, &url, http).await;
    h.stop().await;
    let now = hookline::clock::now_ms();
    scratch.load(&format!(
        "BEGIN;
         WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {events})
         INSERT INTO events (public_id, workspace_id, type, body, created_at)
           SELECT 'evt_c' || i, w.id, 'bench.event', '{{\"id\":\"evt_c' || i || '\",\"type\":\"bench.event\",\"timestamp\":\"2026-01-01T00:00:00Z\",\"data\":{{\"i\":' || i || '}}}}', {now} - 60000 + i
           FROM n, (SELECT id FROM workspaces WHERE slug = 'cold') w;
         INSERT INTO deliveries (workspace_id, webhook_id, event_id, event_type, status, next_attempt_at, created_at, updated_at)
           SELECT e.workspace_id, wh.id, e.id, e.type, 'pending', e.created_at, e.created_at, e.created_at
           FROM events e JOIN webhooks wh ON wh.workspace_id = e.workspace_id ORDER BY e.id, wh.id;
         COMMIT;"
    ))
    .await;

    let spawned = now_us();
    let (h, startup) = Hookline::start_with(bin, &scratch.data_dir, &scratch.env()).await;
    let cpu_before = h.cpu_seconds();
    wait_arrivals(&sink, n as u64, Duration::from_secs(600)).await;
    let all = now_us() - spawned;
    let cpu = h.cpu_seconds().0 - cpu_before.0;
    let first_ms = (sink.first_us.load(Ordering::Relaxed) - spawned) as f64 / 1000.0;
    let rate = n as f64 / (all as f64 / 1e6);
    row(
        results,
        "cold",
        "startup_ms",
        &format!("cold start on {n} pending across {webhooks} webhooks: up (ms)"),
        json!(startup.as_secs_f64() * 1000.0),
    );
    row(
        results,
        "cold",
        "first_delivery_ms",
        "  first delivery arrives, from the process's start (ms)",
        json!(first_ms),
    );
    row(
        results,
        "cold",
        "deliveries_per_s",
        "  drained at (deliveries/s)",
        json!(rate),
    );
    row(
        results,
        "cold",
        "cpu_us_per_delivery",
        "    hookline CPU per delivery (µs)",
        json!(1e6 * cpu / n as f64),
    );
    row(
        results,
        "cold",
        "ratio_to_warm",
        "  ratio to the warm fan-out-10 rate",
        json!(rate / warm),
    );
    h.stop().await;
    scratch.remove().await;
}
