//! On PostgreSQL: deleting a workspace (at once for everyone, its history in batches),
//! retention's deletes, the notifier's reads and marks, and a new database's first
//! statistics. The notices themselves are stored by `record`, with the queue.

use super::PgStore;
use crate::store::types::{StoreError, Waiting, IDEMPOTENCY_TTL_MS};

type Result<T> = std::result::Result<T, StoreError>;

/// The tables the queue's statements read, whose plans depend on their statistics.
const QUEUE_TABLES: [&str; 5] = [
    "deliveries",
    "attempts",
    "events",
    "webhooks",
    "webhook_stats",
];
/// Rows changed in a table without statistics before it gets its first.
const FIRST_STATISTICS_AFTER: i64 = 1_000;
/// The transaction lock one node takes to analyze ("hookstat"), so nodes do not all do it.
const STATISTICS_LOCK: i64 = 0x686f_6f6b_7374_6174;

/// Gives the queue's tables of a new database their first statistics once they hold work,
/// and returns the tables analyzed. Until a table is first analyzed the planner takes it
/// for nearly empty, and with `lease_until IS NOT NULL` unknown it prefers reading every
/// delivery of a webhook to the small partial index of leases: measured on a fresh database,
/// 15 ms for the lease count of a claim round and 280 ms for a reap, instead of well under
/// 1 ms. Autovacuum's first analyze can come a minute or more into a burst; after this one it
/// keeps the statistics current. Runs with the heartbeat; a table with statistics costs one
/// catalog read.
pub(super) async fn first_statistics(c: &mut deadpool_postgres::Object) -> Result<Vec<String>> {
    let due: Vec<String> = c
        .query(
            "SELECT s.relname::text FROM pg_stat_user_tables s
             WHERE s.schemaname = current_schema() AND s.relname = ANY($1)
               AND s.n_mod_since_analyze >= $2
               AND NOT EXISTS (SELECT 1 FROM pg_stats p
                               WHERE p.schemaname = s.schemaname AND p.tablename = s.relname)",
            &[&QUEUE_TABLES.as_slice(), &FIRST_STATISTICS_AFTER],
        )
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect();
    if due.is_empty() {
        return Ok(due);
    }
    let tx = c.transaction().await?;
    let mine: bool = tx
        .query_one("SELECT pg_try_advisory_xact_lock($1)", &[&STATISTICS_LOCK])
        .await?
        .get(0);
    if !mine {
        return Ok(Vec::new());
    }
    for table in &due {
        // Names from QUEUE_TABLES only (the catalog returned them by that list).
        debug_assert!(QUEUE_TABLES.contains(&table.as_str()));
        tx.batch_execute(&format!("ANALYZE {table}")).await?;
    }
    tx.commit().await?;
    Ok(due)
}

impl PgStore {
    pub async fn workspace_mark_deleted(&self, id: i64) -> Result<bool> {
        let mut c = self.conn().await?;
        let tx = c.transaction().await?;
        let now = crate::clock::now_ms();
        let n = tx
            .execute(
                "UPDATE workspaces SET deleted_at = $2, slug = slug || '~' || id, updated_at = $2
                 WHERE id = $1 AND deleted_at IS NULL",
                &[&id, &now],
            )
            .await?;
        if n == 0 {
            return Ok(false);
        }
        for table in [
            "api_keys",
            "memberships",
            "portal_sessions",
            "portal_links",
            "invitations",
        ] {
            tx.execute(
                &format!("DELETE FROM {table} WHERE workspace_id = $1"),
                &[&id],
            )
            .await?;
        }
        tx.execute(
            "UPDATE webhooks SET is_active = FALSE, disabled_reason = 'workspace deleted', updated_at = $2
             WHERE workspace_id = $1",
            &[&id, &now],
        )
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    pub async fn workspaces_deleted(&self) -> Result<Vec<i64>> {
        let c = self.conn().await?;
        Ok(c.query(
            "SELECT id FROM workspaces WHERE deleted_at IS NOT NULL ORDER BY id",
            &[],
        )
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect())
    }

    /// Removes up to about `limit` rows of a deleted workspace's history, children first;
    /// true when nothing is left (see the SQLite backend's `purge_batch`).
    pub async fn workspace_purge_batch(&self, id: i64, limit: i64) -> Result<bool> {
        let c = self.conn().await?;
        let deleted = c
            .query_opt(
                "SELECT 1 FROM workspaces WHERE id = $1 AND deleted_at IS NOT NULL",
                &[&id],
            )
            .await?;
        if deleted.is_none() {
            return Ok(true);
        }
        let hook = c
            .query_opt(
                "SELECT w.id FROM webhooks w WHERE w.workspace_id = $1
                   AND EXISTS (SELECT 1 FROM deliveries d WHERE d.webhook_id = w.id) LIMIT 1",
                &[&id],
            )
            .await?;
        if let Some(hook) = hook {
            let hook: i64 = hook.get(0);
            c.execute(
                "DELETE FROM deliveries WHERE id IN (SELECT id FROM deliveries WHERE webhook_id = $1 LIMIT $2)",
                &[&hook, &limit],
            )
            .await?;
            return Ok(false);
        }
        for sql in [
            "DELETE FROM events WHERE id IN (SELECT id FROM events WHERE workspace_id = $1 LIMIT $2)",
            "DELETE FROM idempotency_keys WHERE (workspace_id, route, key) IN
                 (SELECT workspace_id, route, key FROM idempotency_keys WHERE workspace_id = $1 LIMIT $2)",
            "DELETE FROM webhooks WHERE id IN (SELECT id FROM webhooks WHERE workspace_id = $1 LIMIT $2)",
        ] {
            if c.execute(sql, &[&id, &limit]).await? > 0 {
                return Ok(false);
            }
        }
        c.execute("DELETE FROM workspaces WHERE id = $1", &[&id])
            .await?;
        Ok(true)
    }

    pub async fn purge_finished_events(&self, cutoff: i64, limit: i64) -> Result<usize> {
        let c = self.conn().await?;
        Ok(c.execute(
            "DELETE FROM events WHERE id IN (
                SELECT e.id FROM events e WHERE e.created_at < $1
                  AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.event_id = e.id AND d.next_attempt_at IS NOT NULL)
                ORDER BY e.created_at LIMIT $2)",
            &[&cutoff, &limit],
        )
        .await? as usize)
    }

    pub async fn expire_tokens(&self, now: i64, cutoff: i64) -> Result<()> {
        let c = self.conn().await?;
        c.execute(
            "DELETE FROM idempotency_keys WHERE created_at < $1",
            &[&(now - IDEMPOTENCY_TTL_MS)],
        )
        .await?;
        c.execute("DELETE FROM sessions WHERE expires_at < $1", &[&now])
            .await?;
        // Links expired an hour ago (a late visitor still hears "expired"), ended sessions.
        let hour_ago = now - 3_600_000;
        c.execute(
            "DELETE FROM portal_links WHERE expires_at <= $1",
            &[&hour_ago],
        )
        .await?;
        c.execute(
            "DELETE FROM portal_sessions WHERE expires_at <= $1",
            &[&hour_ago],
        )
        .await?;
        c.execute(
            "DELETE FROM setup_tokens WHERE expires_at < $1 OR used_at IS NOT NULL",
            &[&now],
        )
        .await?;
        // Spent or expired invitation and reset links, once they are past retention.
        c.execute(
            "DELETE FROM invitations
             WHERE least(expires_at, coalesce(accepted_at, expires_at), coalesce(revoked_at, expires_at)) < $1",
            &[&cutoff],
        )
        .await?;
        c.execute(
            "DELETE FROM password_resets WHERE least(expires_at, coalesce(used_at, expires_at)) < $1",
            &[&cutoff],
        )
        .await?;
        // Notices still waiting to be emailed are kept whatever their age.
        c.execute(
            "DELETE FROM notifications WHERE created_at < $1 AND due_at IS NULL",
            &[&cutoff],
        )
        .await?;
        // The shared login throttles and rate limits look back an hour at most.
        let day_ago = now - 24 * 3600 * 1000;
        c.execute(
            "DELETE FROM login_attempts WHERE started_at < $1",
            &[&day_ago],
        )
        .await?;
        c.execute("DELETE FROM rate_events WHERE at < $1", &[&day_ago])
            .await?;
        Ok(())
    }

    pub async fn notices_due(&self, now: i64) -> Result<Vec<Waiting>> {
        let c = self.conn().await?;
        Ok(c
            .query(
                "SELECT n.id, n.webhook_id, n.kind, n.recipient, n.subject, n.body, n.repeats, n.send_attempts,
                        w.last_notified_at
                 FROM notifications n JOIN webhooks w ON w.id = n.webhook_id
                 WHERE n.due_at IS NOT NULL AND n.due_at <= $1 ORDER BY n.webhook_id, n.id",
                &[&now],
            )
            .await?
            .iter()
            .map(|r| Waiting {
                id: r.get(0),
                webhook_id: r.get(1),
                kind: r.get(2),
                recipient: r.get(3),
                subject: r.get(4),
                body: r.get(5),
                repeats: r.get(6),
                send_attempts: r.get(7),
                last_notified_at: r.get(8),
            })
            .collect())
    }

    pub async fn notices_next_due(&self) -> Result<Option<i64>> {
        let c = self.conn().await?;
        Ok(c.query_one(
            "SELECT min(due_at) FROM notifications WHERE due_at IS NOT NULL",
            &[],
        )
        .await?
        .get(0))
    }

    pub async fn notices_postpone(&self, ids: Vec<i64>, at: i64) -> Result<()> {
        let c = self.conn().await?;
        c.execute(
            "UPDATE notifications SET due_at = $2 WHERE id = ANY($1)",
            &[&ids, &at],
        )
        .await?;
        Ok(())
    }

    pub async fn notices_mark_failed(
        &self,
        ids: Vec<i64>,
        error: String,
        retry_at: Option<i64>,
    ) -> Result<()> {
        let c = self.conn().await?;
        c.execute(
            "UPDATE notifications SET error = $2, due_at = $3, send_attempts = send_attempts + 1
             WHERE id = ANY($1)",
            &[&ids, &error, &retry_at],
        )
        .await?;
        Ok(())
    }

    /// `sent`: (notice, repeats the email reported). A notice that took more repeats while
    /// the email was sent keeps waiting with those.
    pub async fn notices_mark_sent(
        &self,
        webhook_id: i64,
        sent: Vec<(i64, i64)>,
        now: i64,
    ) -> Result<()> {
        let mut c = self.conn().await?;
        let tx = c.transaction().await?;
        for (id, repeats) in sent {
            let done = tx
                .execute(
                    "UPDATE notifications SET sent_at = $2, due_at = NULL, error = NULL,
                         send_attempts = send_attempts + 1
                     WHERE id = $1 AND repeats = $3",
                    &[&id, &now, &repeats],
                )
                .await?;
            if done == 0 {
                tx.execute(
                    "UPDATE notifications SET repeats = repeats - $2 - 1 WHERE id = $1",
                    &[&id, &repeats],
                )
                .await?;
            }
        }
        tx.execute(
            "UPDATE webhooks SET last_notified_at = $2 WHERE id = $1",
            &[&webhook_id, &now],
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }
}
