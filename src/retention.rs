//! Retention: events (with their deliveries and attempts) older than
//! `HOOKLINE_RETENTION_DAYS` are deleted in small batches in the background, each batch its
//! own short write so deliveries never stall behind it. Events whose deliveries are still
//! scheduled are kept until they finish. Expired idempotency keys, sessions and setup links
//! go too, and so do invitation and password reset links that ended before the
//! retention period.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;

use crate::clock::now_ms;
use crate::store::{Store, StoreError};

pub const BATCH: i64 = 500;
pub const INTERVAL: Duration = Duration::from_secs(60);

/// Deletes what has outlived `retention_days`; returns how many events were deleted.
pub async fn sweep(store: &Store, retention_days: u32) -> Result<u64, StoreError> {
    let cutoff = now_ms() - retention_days as i64 * 24 * 3600 * 1000;
    let mut total = 0u64;
    loop {
        let n = store.purge_finished_events(cutoff, BATCH).await?;
        total += n as u64;
        if (n as i64) < BATCH {
            break;
        }
        // Let other writers in between batches.
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    store.expire_tokens(now_ms(), cutoff).await?;
    if total > 0 {
        tracing::info!(
            events = total,
            retention_days,
            "retention: deleted old events with their deliveries and attempts"
        );
    }
    Ok(total)
}

/// Runs [`sweep`] every minute until `stop` is notified, while this node leads retention.
pub fn spawn(store: Store, retention_days: u32, stop: Arc<Notify>) -> tokio::task::JoinHandle<()> {
    let lead = store.lead(crate::store::lead::Role::Retention);
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = stop.notified() => break,
                _ = tokio::time::sleep(INTERVAL) => {}
            }
            // One node of a cluster sweeps (always this one on SQLite).
            if !lead.holds() {
                continue;
            }
            if let Err(e) = sweep(&store, retention_days).await {
                tracing::warn!(error = %e, "retention sweep failed; will try again");
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rusqlite::params;

    #[tokio::test]
    async fn old_finished_events_go_and_scheduled_ones_stay() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open_sqlite(dir.path()).unwrap();
        let db = store.sqlite().clone();
        let old = now_ms() - 40 * 24 * 3600 * 1000;
        db.write(move |c| {
            c.execute_batch(
                "INSERT INTO workspaces (id, slug, name, created_at) VALUES (1, 'a', 'a', 0);
                 INSERT INTO webhooks (id, workspace_id, url, events, retry_schedule, retry_count, secret_enc, created_at, updated_at)
                   VALUES (1, 1, 'https://x.io', '[\"*\"]', '[]', 0, x'00', 0, 0);",
            )?;
            for i in 0..1200 {
                c.execute(
                    "INSERT INTO events (public_id, workspace_id, type, body, created_at) VALUES (?1, 1, 't', '{}', ?2)",
                    params![format!("evt_{i}"), old],
                )?;
                let next: Option<i64> = if i == 0 { Some(old) } else { None };
                c.execute(
                    "INSERT INTO deliveries (workspace_id, webhook_id, event_id, event_type, status, next_attempt_at, created_at, updated_at)
                     VALUES (1, 1, last_insert_rowid(), 't', 'failed', ?1, ?2, ?2)",
                    params![next, old],
                )?;
                c.execute(
                    "INSERT INTO attempts (delivery_id, attempt_number, started_at, request_headers) VALUES (last_insert_rowid(), 1, ?1, '{}')",
                    [old],
                )?;
            }
            c.execute("INSERT INTO events (public_id, workspace_id, type, body, created_at) VALUES ('evt_new', 1, 't', '{}', ?1)", [now_ms()])?;
            Ok(())
        })
        .await
        .unwrap();
        assert_eq!(sweep(&store, 30).await.unwrap(), 1199);
        let count =
            |sql: &'static str| db.read(move |c| Ok(c.query_row(sql, [], |r| r.get::<_, i64>(0))?));
        assert_eq!(
            count("SELECT count(*) FROM events").await.unwrap(),
            2,
            "the scheduled one and the new one"
        );
        assert_eq!(count("SELECT count(*) FROM deliveries").await.unwrap(), 1);
        assert_eq!(count("SELECT count(*) FROM attempts").await.unwrap(), 1);
    }
}
