//! What a publish reads before it stores anything, kept on the writer between publishes: each
//! workspace's active webhooks with the event types they subscribe to, and the event types
//! that exist.
//!
//! Every publish job read them again: the workspace's webhooks (a query and a JSON parse of
//! each one's filter) and each event type named. Single publishes, one event a job, spent
//! about 7% of the writer's time there. They change rarely, so the writer keeps them until
//! something may have changed them:
//!
//! - its own writes: temporary triggers on the writer's connection (on `webhooks`' rows
//!   inserted or deleted, or their `workspace_id`, `is_active`, `events` or `updated_at`
//!   written; on `event_types`' rows inserted, deleted or written) call a function that
//!   forgets everything. Writes of a webhook's health or last trigger time do not;
//! - another process's commits (the CLI on the same data directory): `PRAGMA data_version`
//!   changes, and everything is forgotten;
//! - a transaction or a job rolled back: what was read after a change it made was never
//!   committed, so everything is forgotten.
//!
//! Forgetting too often costs a read; forgetting too rarely would send an event to a webhook
//! that was switched off, so every way a change can come is covered above, and the triggers
//! fire on the columns written, not on values changed.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};

use rusqlite::functions::FunctionFlags;
use rusqlite::Connection;

use super::DbError;

/// An active webhook as a publish sees it: id, version (`updated_at`), subscribed types (`*`
/// is every type).
pub type Subscriber = (i64, i64, Vec<String>);

#[derive(Default)]
struct State {
    /// `PRAGMA data_version` when this was filled: another process's commit changes it.
    data_version: Option<i64>,
    webhooks: HashMap<i64, Arc<Vec<Subscriber>>>,
    event_types: HashSet<String>,
}

/// Kept on the writer (see the module's text). Cheap to share.
#[derive(Default)]
pub struct Subscribers {
    state: Mutex<State>,
}

/// The SQL function the triggers call.
const FORGET: &str = "hookline_forget_subscribers";

impl Subscribers {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Everything is read again from the next publish on.
    pub fn forget(&self) {
        let mut s = self.lock();
        s.webhooks.clear();
        s.event_types.clear();
    }

    /// Installs the triggers on the writer's connection (temporary: other connections and
    /// processes write without them, and `data_version` covers those).
    pub fn watch(self: &Arc<Self>, conn: &Connection) -> rusqlite::Result<()> {
        let me = Arc::downgrade(self);
        conn.create_scalar_function(FORGET, 0, FunctionFlags::SQLITE_UTF8, move |_| {
            if let Some(me) = me.upgrade() {
                me.forget();
            }
            Ok(0)
        })?;
        conn.execute_batch(&format!(
            "CREATE TEMP TRIGGER IF NOT EXISTS forget_webhook_insert AFTER INSERT ON main.webhooks
                BEGIN SELECT {FORGET}(); END;
             CREATE TEMP TRIGGER IF NOT EXISTS forget_webhook_delete AFTER DELETE ON main.webhooks
                BEGIN SELECT {FORGET}(); END;
             CREATE TEMP TRIGGER IF NOT EXISTS forget_webhook_update
                AFTER UPDATE OF id, workspace_id, is_active, events, updated_at ON main.webhooks
                BEGIN SELECT {FORGET}(); END;
             CREATE TEMP TRIGGER IF NOT EXISTS forget_type_insert AFTER INSERT ON main.event_types
                BEGIN SELECT {FORGET}(); END;
             CREATE TEMP TRIGGER IF NOT EXISTS forget_type_delete AFTER DELETE ON main.event_types
                BEGIN SELECT {FORGET}(); END;
             CREATE TEMP TRIGGER IF NOT EXISTS forget_type_update AFTER UPDATE ON main.event_types
                BEGIN SELECT {FORGET}(); END;"
        ))
    }

    /// Forgets everything if another process committed since it was filled.
    fn check(&self, conn: &Connection) -> Result<MutexGuard<'_, State>, DbError> {
        let version: i64 = conn
            .prepare_cached("PRAGMA data_version")?
            .query_row([], |r| r.get(0))?;
        let mut s = self.lock();
        if s.data_version != Some(version) {
            s.webhooks.clear();
            s.event_types.clear();
            s.data_version = Some(version);
        }
        Ok(s)
    }

    /// The workspace's active webhooks, in id order.
    pub fn webhooks(&self, conn: &Connection, ws: i64) -> Result<Arc<Vec<Subscriber>>, DbError> {
        if let Some(w) = self.check(conn)?.webhooks.get(&ws) {
            return Ok(w.clone());
        }
        let w = Arc::new(read_webhooks(conn, ws)?);
        self.lock().webhooks.insert(ws, w.clone());
        Ok(w)
    }

    /// How many active webhooks the workspace had when they were last read, if they are
    /// still kept. Read off the writer, so it may be out of date: a guess.
    pub fn known_webhooks(&self, ws: i64) -> Option<usize> {
        self.lock().webhooks.get(&ws).map(|w| w.len())
    }

    /// Whether the event type exists and is not archived.
    pub fn event_type_exists(&self, conn: &Connection, name: &str) -> Result<bool, DbError> {
        if self.check(conn)?.event_types.contains(name) {
            return Ok(true);
        }
        let exists = super::repo::event_type_exists(conn, name)?;
        if exists {
            self.lock().event_types.insert(name.to_string());
        }
        Ok(exists)
    }
}

/// The workspace's active webhooks, in id order, read from the database.
pub fn read_webhooks(conn: &Connection, ws: i64) -> Result<Vec<Subscriber>, DbError> {
    conn.prepare_cached(
        "SELECT id, updated_at, events FROM webhooks WHERE workspace_id = ?1 AND is_active = 1 ORDER BY id",
    )?
    .query_map([ws], |r| {
        Ok((
            r.get::<_, i64>(0)?,
            r.get::<_, i64>(1)?,
            r.get::<_, String>(2)?,
        ))
    })?
    .map(|row| {
        let (id, version, events) = row?;
        Ok((id, version, serde_json::from_str::<Vec<String>>(&events)?))
    })
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_to_webhooks_and_types_are_seen_by_the_next_publish() {
        let dir = tempfile::tempdir().unwrap();
        let c = crate::db::open_and_migrate(dir.path()).unwrap();
        let subs = Arc::new(Subscribers::default());
        subs.watch(&c).unwrap();
        c.execute_batch(
            "INSERT INTO workspaces (id, slug, name, created_at) VALUES (1, 'a', 'a', 0);
             INSERT INTO event_types (name, created_at) VALUES ('a.b', 0);
             INSERT INTO webhooks (id, workspace_id, url, events, retry_schedule, retry_count, secret_enc, created_at, updated_at)
                VALUES (1, 1, 'https://x.io', '[\"*\"]', '[]', 0, x'00', 0, 0);",
        )
        .unwrap();
        let ids = |subs: &Subscribers| -> Vec<(i64, i64, Vec<String>)> {
            subs.webhooks(&c, 1).unwrap().as_ref().clone()
        };
        assert_eq!(ids(&subs), vec![(1, 0, vec!["*".to_string()])]);
        assert!(subs.event_type_exists(&c, "a.b").unwrap());
        assert!(!subs.event_type_exists(&c, "a.c").unwrap());
        // Health and last trigger time: kept.
        c.execute(
            "UPDATE webhooks SET last_triggered_at = 5, failure_count = 1 WHERE id = 1",
            [],
        )
        .unwrap();
        assert!(subs.lock().webhooks.contains_key(&1));
        // Each change that matters is seen.
        for change in [
            "UPDATE webhooks SET events = '[\"a.b\"]', updated_at = 1 WHERE id = 1",
            "UPDATE webhooks SET is_active = 0 WHERE id = 1",
            "UPDATE webhooks SET is_active = 1 WHERE id = 1",
            "INSERT INTO webhooks (id, workspace_id, url, events, retry_schedule, retry_count, secret_enc, created_at, updated_at)
                VALUES (2, 1, 'https://y.io', '[\"*\"]', '[]', 0, x'00', 0, 0)",
            "DELETE FROM webhooks WHERE id = 2",
        ] {
            let before = ids(&subs);
            c.execute(change, []).unwrap();
            assert!(subs.lock().webhooks.is_empty(), "forgotten after {change}");
            assert_eq!(ids(&subs), crate::db::subscribers::read_webhooks(&c, 1).unwrap());
            assert_ne!(ids(&subs), before, "{change}");
        }
        c.execute(
            "UPDATE event_types SET archived_at = 1 WHERE name = 'a.b'",
            [],
        )
        .unwrap();
        assert!(!subs.event_type_exists(&c, "a.b").unwrap());
        c.execute(
            "UPDATE event_types SET archived_at = NULL WHERE name = 'a.b'",
            [],
        )
        .unwrap();
        assert!(subs.event_type_exists(&c, "a.b").unwrap());
        // A workspace deleted takes its webhooks along (a cascade, which fires the trigger).
        c.execute_batch(
            "INSERT INTO workspaces (id, slug, name, created_at) VALUES (2, 'b', 'b', 0);
             INSERT INTO webhooks (id, workspace_id, url, events, retry_schedule, retry_count, secret_enc, created_at, updated_at)
                VALUES (3, 2, 'https://z.io', '[\"*\"]', '[]', 0, x'00', 0, 0);",
        )
        .unwrap();
        assert_eq!(subs.webhooks(&c, 2).unwrap().len(), 1);
        c.execute("DELETE FROM workspaces WHERE id = 2", [])
            .unwrap();
        assert!(subs.webhooks(&c, 2).unwrap().is_empty());
        // Another connection's commit: seen through data_version.
        let other = Connection::open(crate::db::db_path(dir.path())).unwrap();
        other
            .execute("UPDATE webhooks SET is_active = 0 WHERE id = 1", [])
            .unwrap();
        assert!(ids(&subs).is_empty());
        other
            .execute("DELETE FROM event_types WHERE name = 'a.b'", [])
            .unwrap();
        assert!(!subs.event_type_exists(&c, "a.b").unwrap());
    }
}
