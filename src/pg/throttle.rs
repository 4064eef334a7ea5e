//! Login throttles and rate limits shared by every node (plan §3.7): the in-memory counters
//! of a single process become rows, counted under transaction-scoped advisory locks on their
//! keys (taken in sorted order), so two nodes cannot both let the last allowed attempt
//! through.

use super::PgStore;
use crate::store::types::StoreError;

type Result<T> = std::result::Result<T, StoreError>;

/// A reservation older than this counts no more: its node died before it was settled.
const RESERVATION_MS: i64 = 60_000;

impl PgStore {
    /// Reserves one password verification for the account and the address, or `None` when
    /// either has used its allowance: failures within `window_ms` (the account's since its
    /// last success) plus verifications still running.
    pub async fn login_reserve(
        &self,
        account: String,
        address: String,
        window_ms: i64,
        per_account: i64,
        per_address: i64,
    ) -> Result<Option<i64>> {
        let mut c = self.conn().await?;
        let tx = c.transaction().await?;
        let mut keys = [account.as_str(), address.as_str()];
        keys.sort_unstable();
        for k in keys {
            tx.execute(
                "SELECT pg_advisory_xact_lock(hashtextextended('login:' || $1, 0))",
                &[&k],
            )
            .await?;
        }
        let now = crate::clock::now_ms();
        let row = tx
            .query_one(
                "SELECT
                   (SELECT count(*) FROM login_attempts a
                     WHERE a.account_key = $1 AND a.started_at > $3
                       AND a.started_at > coalesce((SELECT max(s.started_at) FROM login_attempts s
                                                    WHERE s.account_key = $1 AND s.outcome = 'succeeded'), 0)
                       AND (a.outcome = 'failed' OR (a.outcome IS NULL AND a.started_at > $4))),
                   (SELECT count(*) FROM login_attempts a
                     WHERE a.address_key = $2 AND a.started_at > $3
                       AND (a.outcome = 'failed' OR (a.outcome IS NULL AND a.started_at > $4)))",
                &[&account, &address, &(now - window_ms), &(now - RESERVATION_MS)],
            )
            .await?;
        let (by_account, by_address): (i64, i64) = (row.get(0), row.get(1));
        if by_account >= per_account || by_address >= per_address {
            return Ok(None);
        }
        let id: i64 = tx
            .query_one(
                "INSERT INTO login_attempts (account_key, address_key, started_at)
                 VALUES ($1, $2, $3) RETURNING id",
                &[&account, &address, &now],
            )
            .await?
            .get(0);
        tx.commit().await?;
        Ok(Some(id))
    }

    /// How reservation `id` went.
    pub async fn login_settle(&self, id: i64, failed: bool) -> Result<()> {
        let outcome = if failed { "failed" } else { "succeeded" };
        self.conn()
            .await?
            .execute(
                "UPDATE login_attempts SET outcome = $2 WHERE id = $1",
                &[&id, &outcome],
            )
            .await?;
        Ok(())
    }

    /// Forgets the account's failures (its owner just reset the password).
    pub async fn login_forget(&self, account: String) -> Result<()> {
        self.conn()
            .await?
            .execute(
                "UPDATE login_attempts SET outcome = 'forgiven' WHERE account_key = $1 AND outcome = 'failed'",
                &[&account],
            )
            .await?;
        Ok(())
    }

    /// Counts one request against every `(key, limit)` within `window_ms` and allows it, or
    /// refuses it (counting nothing) when a key has used its limit.
    pub async fn rate_allow(&self, keys: Vec<(String, i64)>, window_ms: i64) -> Result<bool> {
        let mut c = self.conn().await?;
        let tx = c.transaction().await?;
        let mut names: Vec<&str> = keys.iter().map(|(k, _)| k.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        for k in &names {
            tx.execute(
                "SELECT pg_advisory_xact_lock(hashtextextended('rate:' || $1, 0))",
                &[k],
            )
            .await?;
        }
        let now = crate::clock::now_ms();
        for (k, limit) in &keys {
            let used: i64 = tx
                .query_one(
                    "SELECT count(*) FROM rate_events WHERE key = $1 AND at > $2",
                    &[k, &(now - window_ms)],
                )
                .await?
                .get(0);
            if used >= *limit {
                return Ok(false);
            }
        }
        for (k, _) in &keys {
            tx.execute(
                "INSERT INTO rate_events (key, at) VALUES ($1, $2)",
                &[k, &now],
            )
            .await?;
        }
        tx.commit().await?;
        Ok(true)
    }
}
