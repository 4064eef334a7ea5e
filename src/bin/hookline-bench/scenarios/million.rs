//! `million`: a database with 1,000,000 pending deliveries and 1,000,000 stored attempts, on
//! its own `hookline` server.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::harness::{
    fastest_ms, get_json, setup, start_receiver, Hookline, Reply, Sink, UiSession, UI_EMAIL,
    UI_PASSWORD,
};
use crate::results::{row, Results};

fn rfc3339_q(ms: i64) -> String {
    url::form_urlencoded::byte_serialize(hookline::clock::rfc3339(ms).as_bytes()).collect()
}

/// 1,000,000 pending deliveries to a receiver that never answers, and 1,000,000 stored
/// attempts: memory, start-up time and delivery-list read times.
pub async fn run(
    bin: &Path,
    tmp: &Path,
    http: &reqwest::Client,
    results: &mut Results,
    scale: usize,
) {
    let n = 1_000_000 / scale as i64;
    let data_dir = tmp.join("million");
    let hang = Arc::new(Sink::default());
    let (hang_url, _hang) = start_receiver(hang, Reply::Hang).await;
    let (h, _) = Hookline::start(bin, &data_dir).await;
    h.cli(&["event-type", "create", "bench.event"]);
    h.cli(&["event-type", "create", "bench.other"]);
    setup(&h, "big", 1, &hang_url, http).await;
    let list = setup(&h, "listed", 1, "https://example.invalid/hook", http).await;
    h.cli_with_stdin(
        &[
            "user",
            "create",
            "--email",
            UI_EMAIL,
            "--password-stdin",
            "--workspace",
            "listed",
            "--role",
            "viewer",
        ],
        Some(UI_PASSWORD),
    );
    h.stop().await;
    // Bulk-load straight into SQLite (the server is stopped): pending deliveries for "big",
    // finished deliveries with one attempt each for "listed" (paused so it stays still).
    let started = Instant::now();
    let conn = rusqlite::Connection::open(hookline::db::db_path(&data_dir)).unwrap();
    conn.execute_batch("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;")
        .unwrap();
    let now = hookline::clock::now_ms();
    // "listed"'s history spreads over the last week, in creation order.
    let week_ago = now - 7 * 86_400_000;
    let spacing = (7 * 86_400_000 / n).max(1);
    conn.execute_batch(&format!(
        "BEGIN;
         UPDATE webhooks SET is_active = 0 WHERE workspace_id = (SELECT id FROM workspaces WHERE slug = 'listed');
         WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {n})
         INSERT INTO events (public_id, workspace_id, type, body, created_at)
           SELECT 'evt_b' || i, w.id, 'bench.event', '{{\"id\":\"evt_b' || i || '\",\"type\":\"bench.event\",\"timestamp\":\"2026-01-01T00:00:00Z\",\"data\":{{\"i\":' || i || '}}}}', {now}
           FROM n, (SELECT id FROM workspaces WHERE slug = 'big') w;
         INSERT INTO deliveries (workspace_id, webhook_id, event_id, event_type, status, next_attempt_at, created_at, updated_at)
           SELECT e.workspace_id, wh.id, e.id, e.type, 'pending', {now}, {now}, {now}
           FROM events e JOIN webhooks wh ON wh.workspace_id = e.workspace_id WHERE e.public_id LIKE 'evt_b%';
         WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {n})
         INSERT INTO events (public_id, workspace_id, type, body, created_at)
           SELECT 'evt_l' || i, w.id, CASE WHEN i % 3 = 0 THEN 'bench.other' ELSE 'bench.event' END,
                  '{{\"data\":{{\"i\":' || i || '}}}}', {week_ago} + i * {spacing}
           FROM n, (SELECT id FROM workspaces WHERE slug = 'listed') w;
         INSERT INTO deliveries (workspace_id, webhook_id, event_id, event_type, status, attempt_count, last_status_code, last_duration_ms, created_at, updated_at)
           SELECT e.workspace_id, wh.id, e.id, e.type, CASE WHEN e.id % 7 = 0 THEN 'failed' ELSE 'succeeded' END, 1,
                  CASE WHEN e.id % 7 = 0 THEN 500 WHEN e.id % 101 = 0 THEN 404 ELSE 200 END, 12, e.created_at, e.created_at
           FROM events e JOIN webhooks wh ON wh.workspace_id = e.workspace_id WHERE e.public_id LIKE 'evt_l%';
         INSERT INTO attempts (delivery_id, attempt_number, started_at, duration_ms, request_headers, response_status, response_headers, response_body)
           SELECT d.id, 1, d.created_at, 5 + d.id % 300, '{{\"content-type\":\"application/json\"}}', d.last_status_code, '{{}}', 'ok'
           FROM deliveries d JOIN webhooks wh ON wh.id = d.webhook_id JOIN workspaces w ON w.id = wh.workspace_id WHERE w.slug = 'listed';
         COMMIT;"
    ))
    .unwrap();
    // The hourly statistics the recorder keeps, as schema v5's backfill computes them.
    let backfill = include_str!("../../../db/migrations/0005_history_jobs.sql");
    let backfill = &backfill[backfill
        .find("INSERT INTO webhook_stats")
        .expect("the backfill")..];
    conn.execute_batch(&format!("DELETE FROM webhook_stats; {backfill}"))
        .unwrap();
    drop(conn);
    println!(
        "(bulk-loaded {n} pending deliveries and {n} attempts in {:.1}s)",
        started.elapsed().as_secs_f64()
    );

    let (h, startup) = Hookline::start(bin, &data_dir).await;
    row(
        results,
        "million",
        "startup_ms",
        &format!("start-up with {n} pending deliveries (ms)"),
        json!(startup.as_secs_f64() * 1000.0),
    );
    tokio::time::sleep(Duration::from_secs(5)).await;
    row(
        results,
        "million",
        "rss_mib",
        &format!("RSS with {n} pending deliveries, receiver hanging (MiB)"),
        json!(h.rss_kib("VmRSS:") as f64 / 1024.0),
    );

    // Delivery list reads over n attempts: page 1 and page 1000 (100 a page).
    let wid: i64 = {
        let r: Value = get_json(http, &format!("{}/api/v1/webhooks", h.base), &list.key).await;
        r["data"][0]["id"].as_i64().unwrap()
    };
    let page = |cursor: Option<String>| {
        let url = match &cursor {
            Some(c) => format!(
                "{}/api/v1/webhooks/{wid}/deliveries?limit=100&cursor={c}",
                h.base
            ),
            None => format!("{}/api/v1/webhooks/{wid}/deliveries?limit=100", h.base),
        };
        let (http, key) = (http.clone(), list.key.clone());
        async move {
            let started = Instant::now();
            let v: Value = get_json(&http, &url, &key).await;
            (
                started.elapsed(),
                v["meta"]["next_cursor"].as_str().map(str::to_string),
            )
        }
    };
    let best_first = fastest_ms(|| async { page(None).await.0 }).await;
    let mut cursor = None;
    let pages = 999 / scale;
    for _ in 0..pages {
        cursor = page(cursor).await.1;
    }
    let best_last = fastest_ms(|| async { page(cursor.clone()).await.0 }).await;
    row(
        results,
        "million",
        "api_list_page1_ms",
        &format!("API delivery list page 1 over {n} attempts (ms)"),
        json!(best_first),
    );
    row(
        results,
        "million",
        "api_list_page1000_ms",
        &format!("API delivery list page {} (ms)", pages + 1),
        json!(best_last),
    );
    let filtered = fastest_ms(|| async {
        let started = Instant::now();
        let _: Value = http
            .get(format!(
                "{}/api/v1/webhooks/{wid}/deliveries?limit=100&status=failed",
                h.base
            ))
            .bearer_auth(&list.key)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        started.elapsed()
    })
    .await;
    row(
        results,
        "million",
        "api_list_failed_ms",
        "API delivery list filtered status=failed (ms)",
        json!(filtered),
    );

    // Every filter of the history, workspace-wide and on the webhook's list: the slowest
    // combination's best of five.
    let day = 86_400_000;
    let window = |from: i64, hours: i64| {
        format!(
            "since={}&until={}",
            rfc3339_q(week_ago + from),
            rfc3339_q(week_ago + from + hours * 3_600_000)
        )
    };
    let event_id = format!("evt_l{}", n / 2);
    let combos: Vec<String> = vec![
        String::new(),
        "status=failed".into(),
        "status=succeeded".into(),
        "event_type=bench.other".into(),
        "http_status=5xx".into(),
        "http_status=404".into(),
        "http_status=4xx".into(),
        window(3 * day, 6),
        window(6 * day, 24),
        format!("event_id={event_id}"),
        format!("status=failed&{}", window(3 * day, 6)),
        format!(
            "status=failed&http_status=5xx&event_type=bench.other&{}",
            window(2 * day, 6)
        ),
        format!("http_status=404&event_type=bench.other&{}", window(day, 48)),
        format!("webhook_id={wid}&status=failed&{}", window(4 * day, 6)),
        // A needle: no delivery answered 418, so the whole week is looked through.
        "http_status=418".into(),
        format!("http_status=418&{}", window(day, 24)),
    ];
    let mut slowest = (0.0f64, String::new());
    for q in &combos {
        for base in [
            format!("{}/api/v1/deliveries?limit=50&{q}", h.base),
            format!("{}/api/v1/webhooks/{wid}/deliveries?limit=50&{q}", h.base),
        ] {
            if base.contains("/webhooks/") && q.starts_with("webhook_id") {
                continue;
            }
            let ms = fastest_ms(|| async {
                let started = Instant::now();
                let r = http.get(&base).bearer_auth(&list.key).send().await.unwrap();
                assert!(r.status().is_success(), "{base}: {}", r.status());
                let _: Value = r.json().await.unwrap();
                started.elapsed()
            })
            .await;
            if ms > slowest.0 {
                slowest = (ms, base.replace(&h.base, ""));
            }
        }
    }
    println!("(slowest filter: {} in {:.1} ms)", slowest.1, slowest.0);
    row(
        results,
        "million",
        "api_filters_max_ms",
        &format!(
            "API delivery search, slowest of {} filter combinations (ms)",
            combos.len() * 2 - 1
        ),
        json!(slowest.0),
    );
    let mut stats_ms = 0.0f64;
    for w in ["24h", "7d"] {
        let url = format!("{}/api/v1/webhooks/{wid}/stats?window={w}", h.base);
        let ms = fastest_ms(|| async {
            let started = Instant::now();
            let v: Value = get_json(http, &url, &list.key).await;
            assert!(v["data"]["totals"]["attempts"].as_i64().unwrap() > 0, "{v}");
            started.elapsed()
        })
        .await;
        stats_ms = stats_ms.max(ms);
    }
    row(
        results,
        "million",
        "api_stats_ms",
        &format!("API webhook stats (24h and 7d) over {n} attempts (ms)"),
        json!(stats_ms),
    );

    // The same list as the settings UI renders it (50 a page), logged in as a viewer:
    // page 1, then the "Older" link followed to page 1000.
    let ui = UiSession::login(&h.base, UI_EMAIL, UI_PASSWORD).await;
    let first_url = format!("/w/listed/webhooks/{wid}/deliveries");
    let best_first = fastest_ms(|| async { ui.get(&first_url).await.0 }).await;
    let mut next = Some(first_url);
    let ui_pages = 999 / scale;
    for _ in 0..ui_pages {
        next = ui.get(next.as_deref().expect("an Older link")).await.1;
    }
    let deep = next.expect("an Older link on page 999");
    let best_last = fastest_ms(|| async { ui.get(&deep).await.0 }).await;
    row(
        results,
        "million",
        "ui_list_page1_ms",
        "UI delivery list page 1 (ms)",
        json!(best_first),
    );
    row(
        results,
        "million",
        "ui_list_page1000_ms",
        &format!("UI delivery list page {} (ms)", ui_pages + 1),
        json!(best_last),
    );
    // The settings UI's Deliveries page with every filter combination, and the webhook's
    // page with its health chart: the slowest one's best of five.
    let mut slowest = (0.0f64, String::new());
    for q in &combos {
        let path = format!("/w/listed/deliveries?{q}");
        let ms = fastest_ms(|| async { ui.page(&path).await.0 }).await;
        if ms > slowest.0 {
            slowest = (ms, path);
        }
    }
    println!("(slowest UI filter: {} in {:.1} ms)", slowest.1, slowest.0);
    row(
        results,
        "million",
        "ui_filters_max_ms",
        &format!(
            "UI Deliveries page, slowest of {} filter combinations (ms)",
            combos.len()
        ),
        json!(slowest.0),
    );
    let mut chart_ms = 0.0f64;
    for w in ["24h", "7d"] {
        let path = format!("/w/listed/webhooks/{wid}?window={w}");
        let ms = fastest_ms(|| async {
            let (took, html) = ui.page(&path).await;
            assert!(html.contains("<svg"), "{path}: a health chart");
            took
        })
        .await;
        chart_ms = chart_ms.max(ms);
    }
    row(
        results,
        "million",
        "ui_chart_ms",
        "UI webhook page with its health chart (24h and 7d) (ms)",
        json!(chart_ms),
    );
    // Not `stop`: a graceful stop would wait out the grace period (30 s) for the attempts
    // hanging on the receiver that never answers. Dropping it kills it.
    drop(h);
}
