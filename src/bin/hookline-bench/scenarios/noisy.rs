//! `noisy`: a quiet tenant beside a noisy one. Workspace "quiet" publishes 200 events/s to
//! its one webhook for 10 s while workspace "noisy" has 100,000 deliveries of its own:
//!
//! - `alone`: none, the reference;
//! - `drain`: pending, to a receiver that answers at once;
//! - `spread`: the same, spread over 50 webhooks, so they want more attempts in flight than
//!   the global limit allows (50 × 16 against 256) and the quiet tenant competes for slots;
//! - `failing`: pending, to a receiver that answers 500, so each fails and is rescheduled;
//! - `bulkretry`: failed, and a bulk retry of all of them is started through the API as the
//!   quiet tenant starts publishing; it counts until the job is done and every retried
//!   delivery has arrived;
//! - `publishing`: published as the quiet tenant starts, in batches of 500 events to the
//!   noisy workspace's 10 webhooks, four requests at a time (as `fanout10` publishes): a
//!   burst in which each batch stores 5,000 deliveries, tens of milliseconds of the writer.
//!
//! Each phase runs on a server of its own on a fresh data directory (the noisy deliveries are
//! bulk-loaded into SQLite while it is stopped, or published), so each starts from a drained
//! queue; with
//! `--database-url`, on a fresh PostgreSQL database of its own (one node), loaded with the
//! same SQL. It
//! reports the quiet tenant's p50/p99 publish-to-arrival and its delivery rate (arrivals over
//! the time from its first publish to its last arrival), and how far each drops against
//! `alone`; and, as in `latency`, the p99 until its publishes' 202 and how many of the
//! writer's commits took longer than 12.8 ms while it published (what its tail waits in).

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::harness::{
    commit_histogram, commits_slower_than, get_json, percentile, post, publish_at_200_per_s,
    publish_batches, setup, start_receiver, wait_arrivals, Hookline, Reply, Scratch, Sink,
};
use crate::results::{row, Results};

/// How many webhooks the `spread` phase's noisy workspace has.
const SPREAD: usize = 50;

/// How many webhooks the `publishing` phase's noisy workspace has.
const FAN_OUT: usize = 10;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Noise {
    Alone,
    Drain,
    Spread,
    Failing,
    BulkRetry,
    Publishing,
}

impl Noise {
    fn name(self) -> &'static str {
        match self {
            Noise::Alone => "alone",
            Noise::Drain => "drain",
            Noise::Spread => "spread",
            Noise::Failing => "failing",
            Noise::BulkRetry => "bulkretry",
            Noise::Publishing => "publishing",
        }
    }

    fn what(self, n: usize) -> String {
        match self {
            Noise::Alone => "alone".into(),
            Noise::Drain => format!("beside {n} draining"),
            Noise::Spread => format!("beside {n} draining over {SPREAD} webhooks"),
            Noise::Failing => format!("beside {n} failing (500)"),
            Noise::BulkRetry => format!("beside a bulk retry of {n}"),
            Noise::Publishing => {
                format!("beside batch publishes of {n} deliveries (to {FAN_OUT} webhooks)")
            }
        }
    }
}

struct Phase {
    p50_ms: f64,
    p99_ms: f64,
    /// Until the publishes' 202.
    ack_p99_ms: f64,
    /// Writer commits over 12.8 ms while the quiet tenant published.
    slow_commits: f64,
    rate: f64,
    /// How long the noisy workspace's work took from the server's start, if it had any.
    noise_s: Option<f64>,
    /// For the bulk retry: how long the job took to schedule every delivery.
    job_s: Option<f64>,
}

pub async fn run(
    bin: &Path,
    tmp: &Path,
    http: &reqwest::Client,
    results: &mut Results,
    scale: usize,
    database_url: Option<&str>,
) {
    let n = 100_000 / scale;
    let secs = 10usize.div_ceil(scale.min(10)).max(1);
    let mut alone_rate = f64::NAN;
    for noise in [
        Noise::Alone,
        Noise::Drain,
        Noise::Spread,
        Noise::Failing,
        Noise::BulkRetry,
        Noise::Publishing,
    ] {
        let p = phase(bin, tmp, http, noise, n, secs, database_url).await;
        let (name, what) = (noise.name(), noise.what(n));
        row(
            results,
            "noisy",
            &format!("{name}_p50_ms"),
            &format!("quiet tenant at 200/s {what}: p50 (ms)"),
            json!(p.p50_ms),
        );
        row(
            results,
            "noisy",
            &format!("{name}_p99_ms"),
            &format!("quiet tenant at 200/s {what}: p99 (ms)"),
            json!(p.p99_ms),
        );
        row(
            results,
            "noisy",
            &format!("{name}_ack_p99_ms"),
            "  of which until the publish's 202, p99 (ms)",
            json!(p.ack_p99_ms),
        );
        row(
            results,
            "noisy",
            &format!("{name}_commits_over_12ms"),
            "  writer commits over 12.8 ms meanwhile",
            json!(p.slow_commits),
        );
        row(
            results,
            "noisy",
            &format!("{name}_rate"),
            &format!("quiet tenant at 200/s {what}: deliveries/s"),
            json!(p.rate),
        );
        if noise == Noise::Alone {
            alone_rate = p.rate;
        } else {
            row(
                results,
                "noisy",
                &format!("{name}_rate_drop_percent"),
                "  its rate's drop against alone (%)",
                json!((100.0 * (1.0 - p.rate / alone_rate)).max(0.0)),
            );
        }
        if let Some(s) = p.job_s {
            row(
                results,
                "noisy",
                &format!("{name}_job_s"),
                &format!("  bulk retry job: {n} scheduled (s)"),
                json!(s),
            );
        }
        if let Some(s) = p.noise_s {
            row(
                results,
                "noisy",
                &format!("{name}_noise_s"),
                &format!("  the noisy tenant's {n} done (s)"),
                json!(s),
            );
        }
    }
}

async fn phase(
    bin: &Path,
    tmp: &Path,
    http: &reqwest::Client,
    noise: Noise,
    n: usize,
    secs: usize,
    database_url: Option<&str>,
) -> Phase {
    let scratch = Scratch::new(tmp, &format!("noisy-{}", noise.name()), database_url).await;
    let (quiet_sink, noisy_sink) = (Arc::new(Sink::default()), Arc::new(Sink::default()));
    let (quiet_url, _q) = start_receiver(quiet_sink.clone(), Reply::Fast).await;
    let reply = if noise == Noise::Failing {
        Reply::Fail
    } else {
        Reply::Fast
    };
    let (noisy_url, _n) = start_receiver(noisy_sink.clone(), reply).await;

    let (h, _) = Hookline::start_with(bin, &scratch.data_dir, &scratch.env()).await;
    h.cli(&["event-type", "create", "bench.event"]);
    let quiet = setup(&h, "quiet", 1, &quiet_url, http).await;
    let webhooks = match noise {
        Noise::Spread => SPREAD,
        Noise::Publishing => FAN_OUT,
        _ => 1,
    };
    let noisy = setup(&h, "noisy", webhooks, &noisy_url, http).await;
    h.stop().await;
    let now = hookline::clock::now_ms();
    if noise != Noise::Alone && noise != Noise::Publishing {
        // An event goes to each of the noisy workspace's webhooks.
        scratch.load(&noise_sql(noise, n / webhooks, now)).await;
    }

    let (h, _) = Hookline::start_with(bin, &scratch.data_dir, &scratch.env()).await;
    let started = Instant::now();
    let job = if noise == Noise::BulkRetry {
        let webhooks = get_json(http, &format!("{}/api/v1/webhooks", h.base), &noisy.key).await;
        let wid = webhooks["data"][0]["id"].as_i64().unwrap();
        let r = post(
            http,
            &format!("{}/api/v1/webhooks/{wid}/bulk-retry", h.base),
            &noisy.key,
            &json!({"status": "failed", "since": hookline::clock::rfc3339(now - 7_200_000)}),
        )
        .await;
        assert_eq!(r["data"]["matched"], json!(n), "{r}");
        Some(r["data"]["job_id"].as_i64().unwrap())
    } else {
        None
    };
    // The bulk retry's job: poll it until done, beside the quiet tenant's publishing.
    let job_done = job.map(|id| {
        let (http, url, key) = (
            http.clone(),
            format!("{}/api/v1/jobs/{id}", h.base),
            noisy.key.clone(),
        );
        tokio::spawn(async move {
            loop {
                let r = get_json(&http, &url, &key).await;
                if r["data"]["state"] != "running" {
                    assert_eq!(r["data"]["state"], "done", "{r}");
                    return started.elapsed();
                }
                assert!(
                    started.elapsed() < Duration::from_secs(300),
                    "the bulk retry did not finish in 300 s: {r}"
                );
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
    });

    // The noisy tenant's batch publishes, beside the quiet tenant's.
    let publishing = (noise == Noise::Publishing).then(|| {
        let (http, base, key) = (http.clone(), h.base.clone(), noisy.key.clone());
        tokio::spawn(async move { publish_batches(&http, &base, &key, n / FAN_OUT, 500, 4).await })
    });
    // When the noisy tenant's work is done: every delivery answered once (the failing ones
    // are rescheduled for later).
    let noise_done = (noise != Noise::Alone).then(|| {
        let sink = noisy_sink.clone();
        tokio::spawn(async move {
            wait_arrivals(&sink, n as u64, Duration::from_secs(300)).await;
            started.elapsed()
        })
    });

    // The quiet tenant: 200 events/s, one request each, as a vendor's app publishes.
    let m = 200 * secs;
    let commits_before = commit_histogram(http, &h.base).await;
    let publish_started = Instant::now();
    let acks = publish_at_200_per_s(http, &h.base, &quiet.key, m).await;
    wait_arrivals(&quiet_sink, m as u64, Duration::from_secs(120)).await;
    let commits_after = commit_histogram(http, &h.base).await;
    let rate = m as f64 / publish_started.elapsed().as_secs_f64();
    let mut l = std::mem::take(&mut *quiet_sink.latencies_us.lock().unwrap());
    l.sort_unstable();

    let job_s = match job_done {
        Some(t) => Some(t.await.unwrap().as_secs_f64()),
        None => None,
    };
    if let Some(p) = publishing {
        p.await.unwrap();
    }
    let noise_s = match noise_done {
        Some(t) => Some(t.await.unwrap().as_secs_f64()),
        None => None,
    };
    h.stop().await;
    scratch.remove().await;
    Phase {
        p50_ms: percentile(&l, 0.5),
        p99_ms: percentile(&l, 0.99),
        ack_p99_ms: percentile(&acks, 0.99),
        slow_commits: commits_slower_than(&commits_before, &commits_after, 0.0128),
        rate,
        noise_s,
        job_s,
    }
}

/// The bulk load of `n` events of the noisy workspace, each with a delivery to each of its
/// webhooks, straight into the store (the server is stopped): pending ones due now, or for
/// the bulk retry failed ones from the last hour with the attempt that failed. Ids follow
/// creation, as when they are published (PostgreSQL's join would number them in any order).
fn noise_sql(noise: Noise, n: usize, now: i64) -> String {
    let created = now - 3_600_000;
    let deliveries = if noise == Noise::BulkRetry {
        "INSERT INTO deliveries (workspace_id, webhook_id, event_id, event_type, status, attempt_count, last_status_code, last_duration_ms, created_at, updated_at)
               SELECT e.workspace_id, wh.id, e.id, e.type, 'failed', 1, 500, 3, e.created_at, e.created_at
               FROM events e JOIN webhooks wh ON wh.workspace_id = e.workspace_id WHERE e.public_id LIKE 'evt_n%'
               ORDER BY e.id, wh.id;
             INSERT INTO attempts (delivery_id, attempt_number, started_at, duration_ms, request_headers, response_status, response_headers, response_body)
               SELECT d.id, 1, d.created_at, 3, '{}', 500, '{}', 'down'
               FROM deliveries d JOIN events e ON e.id = d.event_id WHERE e.public_id LIKE 'evt_n%'
               ORDER BY d.id;"
            .to_string()
    } else {
        "INSERT INTO deliveries (workspace_id, webhook_id, event_id, event_type, status, next_attempt_at, created_at, updated_at)
           SELECT e.workspace_id, wh.id, e.id, e.type, 'pending', e.created_at, e.created_at, e.created_at
           FROM events e JOIN webhooks wh ON wh.workspace_id = e.workspace_id WHERE e.public_id LIKE 'evt_n%'
           ORDER BY e.id, wh.id;"
            .to_string()
    };
    format!(
        "BEGIN;
         WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {n})
         INSERT INTO events (public_id, workspace_id, type, body, created_at)
           SELECT 'evt_n' || i, w.id, 'bench.event', '{{\"id\":\"evt_n' || i || '\",\"type\":\"bench.event\",\"timestamp\":\"2026-01-01T00:00:00Z\",\"data\":{{\"i\":' || i || '}}}}', {created} + i * 10
           FROM n, (SELECT id FROM workspaces WHERE slug = 'noisy') w;
         {deliveries}
         COMMIT;"
    )
}
