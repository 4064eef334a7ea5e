//! A webhook's health by the hour (`webhook_stats`): attempts that succeeded and failed, and
//! their response times counted in fixed buckets. Each batch of attempts adds to its hours in
//! the same write that records the attempts, so the figures stay exact across crashes, and
//! a day or a week of them is a few dozen rows whatever the webhook's volume.

use std::collections::BTreeMap;

use rusqlite::{params, Connection};

use super::DbError;
pub use crate::domain::stats::{bucket_of, HourStats, Tally, BUCKETS, HOUR_MS, LATENCY_BOUNDS};

/// Adds the tally to the table (hours of deleted webhooks are dropped).
pub fn write(tally: &Tally, c: &Connection) -> Result<(), DbError> {
    let mut read =
        c.prepare_cached("SELECT latency FROM webhook_stats WHERE webhook_id = ?1 AND hour = ?2")?;
    let mut upsert = c.prepare_cached(
        "INSERT INTO webhook_stats (webhook_id, hour, succeeded, failed, attempts, latency)
         SELECT ?1, ?2, ?3, ?4, ?5, ?6 WHERE EXISTS (SELECT 1 FROM webhooks WHERE id = ?1)
         ON CONFLICT (webhook_id, hour) DO UPDATE SET succeeded = succeeded + excluded.succeeded,
             failed = failed + excluded.failed, attempts = attempts + excluded.attempts,
             latency = excluded.latency",
    )?;
    for (&(webhook, hour), add) in tally.rows() {
        let mut latency = add.latency;
        let stored: Option<String> = read.query_row(params![webhook, hour], |r| r.get(0)).ok();
        if let Some(s) = stored {
            let old: Vec<i64> = serde_json::from_str(&s).unwrap_or_default();
            for (a, b) in latency.iter_mut().zip(old) {
                *a += b;
            }
        }
        upsert.execute(params![
            webhook,
            hour,
            add.succeeded,
            add.failed,
            add.attempts,
            serde_json::to_string(&latency)?
        ])?;
    }
    Ok(())
}

/// The webhook's hours from `from` (inclusive) to `to` (exclusive), by hour start.
pub fn hours(
    c: &Connection,
    webhook_id: i64,
    from: i64,
    to: i64,
) -> Result<BTreeMap<i64, HourStats>, DbError> {
    let mut st = c.prepare_cached(
        "SELECT hour, succeeded, failed, attempts, latency FROM webhook_stats
         WHERE webhook_id = ?1 AND hour >= ?2 AND hour < ?3 ORDER BY hour",
    )?;
    let mut out = BTreeMap::new();
    for row in st.query_map(params![webhook_id, from, to], |r| {
        Ok((
            r.get::<_, i64>(0)?,
            r.get(1)?,
            r.get(2)?,
            r.get(3)?,
            r.get::<_, String>(4)?,
        ))
    })? {
        let (hour, succeeded, failed, attempts, latency) = row?;
        let mut s = HourStats {
            succeeded,
            failed,
            attempts,
            ..Default::default()
        };
        let counts: Vec<i64> = serde_json::from_str(&latency).unwrap_or_default();
        for (a, b) in s.latency.iter_mut().zip(counts) {
            *a = b;
        }
        out.insert(hour, s);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_v5_counts_the_attempts_already_there() {
        let mut c = Connection::open_in_memory().unwrap();
        let m = crate::db::migrations();
        m.to_version(&mut c, 4).unwrap();
        let now = crate::clock::now_ms();
        c.execute_batch(&format!(
            "INSERT INTO workspaces (id, slug, name, created_at) VALUES (1, 'a', 'a', 0);
             INSERT INTO webhooks (id, workspace_id, url, events, retry_schedule, retry_count, secret_enc, created_at, updated_at)
                 VALUES (1, 1, 'https://x.example', '[\"*\"]', '[]', 0, x'00', 0, 0);
             INSERT INTO events (id, public_id, workspace_id, type, body, created_at) VALUES (1, 'evt_1', 1, 't', '{{}}', 0);
             INSERT INTO deliveries (id, workspace_id, webhook_id, event_id, event_type, status, created_at, updated_at)
                 VALUES (1, 1, 1, 1, 't', 'failed', 0, 0);
             INSERT INTO attempts (delivery_id, attempt_number, started_at, duration_ms, request_headers, response_status, error)
                 VALUES (1, 1, {now}, 3, '{{}}', 200, NULL), (1, 2, {now}, 700, '{{}}', 503, NULL),
                        (1, 3, {now}, 40, '{{}}', NULL, 'connection refused'),
                        (1, 4, {old}, 40, '{{}}', 200, NULL);",
            old = now - 30 * 86_400_000
        ))
        .unwrap();
        m.to_latest(&mut c).unwrap();
        let hour = now.div_euclid(HOUR_MS) * HOUR_MS;
        let got = hours(&c, 1, hour, hour + HOUR_MS).unwrap();
        let s = &got[&hour];
        assert_eq!((s.succeeded, s.failed, s.attempts), (1, 2, 3));
        assert_eq!(s.latency[bucket_of(3)], 1);
        assert_eq!(s.latency[bucket_of(700)], 1);
        assert_eq!(s.latency[bucket_of(40)], 1);
        assert_eq!(
            hours(&c, 1, 0, hour).unwrap().len(),
            0,
            "older than eight days: not counted"
        );
    }

    #[test]
    fn percentiles_come_from_the_buckets() {
        let mut s = HourStats::default();
        assert_eq!(s.percentile(0.5), None);
        // 90 fast answers (≤ 5 ms), 10 slow ones (1–2.5 s).
        s.latency[0] = 90;
        s.latency[8] = 10;
        assert!(s.percentile(0.5).unwrap() <= 5);
        let p95 = s.percentile(0.95).unwrap();
        assert!((1000..=2500).contains(&p95), "{p95}");
        assert_eq!(bucket_of(0), 0);
        assert_eq!(bucket_of(5), 0);
        assert_eq!(bucket_of(6), 1);
        assert_eq!(bucket_of(60_001), LATENCY_BOUNDS.len());
    }
}
