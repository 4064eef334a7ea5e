//! Webhooks' `last_triggered_at`, written once per write transaction instead of once per
//! publish.
//!
//! Every publish wrote `UPDATE webhooks SET last_triggered_at = …` for each webhook it gave a
//! delivery: with single publishes folded 20–30 into one transaction, that was the same row
//! rewritten 20–30 times, 5% of the writer thread's time. Publishes now note the time here,
//! and the writer writes what was noted, the latest time per webhook, as the last statement
//! of the transaction, before its `COMMIT`.
//!
//! - The update is in the same transaction as the deliveries: it commits or rolls back with
//!   them. If it fails, the transaction fails, as if the `COMMIT` had (every job in it hears
//!   the error).
//! - A rolled-back transaction forgets what its publishes noted.
//! - Readers see the time with the deliveries that caused it, as before. Within the
//!   transaction, a later job on the writer reads the time as it was before the publishes
//!   of that transaction; none needs it.
//! - Only the writer thread flushes or forgets; publishes (on that thread too) note.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};

use rusqlite::{params, Connection};

use super::DbError;

/// Times noted by the open transaction's publishes (see the module's text). Cheap to share.
#[derive(Default)]
pub struct LastTriggered {
    noted: Mutex<HashMap<i64, i64>>,
}

impl LastTriggered {
    fn lock(&self) -> MutexGuard<'_, HashMap<i64, i64>> {
        self.noted.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// `webhook` got a delivery of an event created at `at` (ms).
    pub fn note(&self, webhook: i64, at: i64) {
        let mut noted = self.lock();
        let t = noted.entry(webhook).or_insert(at);
        *t = (*t).max(at);
    }

    /// Writes what was noted, in the open transaction; nothing is noted after.
    pub fn flush(&self, conn: &Connection) -> Result<(), DbError> {
        let noted = std::mem::take(&mut *self.lock());
        if noted.is_empty() {
            return Ok(());
        }
        let mut st = conn.prepare_cached(
            "UPDATE webhooks SET last_triggered_at = max(coalesce(last_triggered_at, 0), ?2) WHERE id = ?1",
        )?;
        for (id, at) in noted {
            st.execute(params![id, at])?;
        }
        Ok(())
    }

    /// The transaction was rolled back: what its publishes noted never happened.
    pub fn forget(&self) {
        self.lock().clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn db() -> (tempfile::TempDir, Connection) {
        let dir = tempfile::tempdir().unwrap();
        let c = crate::db::open_and_migrate(dir.path()).unwrap();
        c.execute_batch(
            "INSERT INTO workspaces (id, slug, name, created_at) VALUES (1, 'a', 'a', 0);
             INSERT INTO webhooks (id, workspace_id, url, events, retry_schedule, retry_count, secret_enc, created_at, updated_at)
               VALUES (1, 1, 'https://a.example/h', '[\"*\"]', '[]', 0, x'00', 0, 0),
                      (2, 1, 'https://b.example/h', '[\"*\"]', '[]', 0, x'00', 0, 0),
                      (3, 1, 'https://c.example/h', '[\"*\"]', '[]', 0, x'00', 0, 0);
             UPDATE webhooks SET last_triggered_at = 500 WHERE id = 3;",
        )
        .unwrap();
        (dir, c)
    }

    fn times(c: &Connection) -> Vec<Option<i64>> {
        c.prepare("SELECT last_triggered_at FROM webhooks ORDER BY id")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    }

    #[test]
    fn the_latest_time_per_webhook_is_written_once_and_never_moves_back() {
        let (_dir, c) = db();
        let t = LastTriggered::default();
        t.note(1, 200);
        t.note(1, 100);
        t.note(2, 50);
        t.note(3, 400);
        // A webhook deleted meanwhile: nothing to write, and no error.
        t.note(9, 700);
        t.flush(&c).unwrap();
        assert_eq!(times(&c), vec![Some(200), Some(50), Some(500)]);
        // Flushed: a second flush writes nothing.
        c.execute(
            "UPDATE webhooks SET last_triggered_at = NULL WHERE id = 1",
            [],
        )
        .unwrap();
        t.flush(&c).unwrap();
        assert_eq!(times(&c), vec![None, Some(50), Some(500)]);
    }

    #[test]
    fn forgotten_times_are_not_written() {
        let (_dir, c) = db();
        let t = LastTriggered::default();
        t.note(1, 200);
        t.forget();
        t.note(2, 300);
        t.flush(&c).unwrap();
        assert_eq!(times(&c), vec![None, Some(300), Some(500)]);
    }
}
