//! Login throttles and rate limits on a store several nodes share (PostgreSQL): the counts
//! must be the cluster's, not one node's. A single SQLite process counts in memory
//! (`auth::throttle`), exactly and without a write per login, and never calls these.

use std::sync::Arc;

use super::{Store, StoreError, StoreResult};

fn in_memory() -> StoreError {
    StoreError::Backend(Arc::new(std::io::Error::other(
        "on SQLite, login throttles and rate limits are counted in memory (auth::throttle)",
    )))
}

impl Store {
    /// Reserves one password verification (`Some(reservation)`), or `None` when the
    /// account or the address has used its allowance within `window_ms`.
    pub async fn login_reserve(
        &self,
        account: String,
        address: String,
        window_ms: i64,
        per_account: i64,
        per_address: i64,
    ) -> StoreResult<Option<i64>> {
        match self {
            Store::Sqlite(_) => Err(in_memory()),
            Store::Postgres(pg) => {
                pg.login_reserve(account, address, window_ms, per_account, per_address)
                    .await
            }
        }
    }

    /// How a reservation went.
    pub async fn login_settle(&self, reservation: i64, failed: bool) -> StoreResult<()> {
        match self {
            Store::Sqlite(_) => Err(in_memory()),
            Store::Postgres(pg) => pg.login_settle(reservation, failed).await,
        }
    }

    /// Forgets an account's failures.
    pub async fn login_forget(&self, account: String) -> StoreResult<()> {
        match self {
            Store::Sqlite(_) => Err(in_memory()),
            Store::Postgres(pg) => pg.login_forget(account).await,
        }
    }

    /// Counts one request against every `(key, limit)` within `window_ms`, or refuses it.
    pub async fn rate_allow(&self, keys: Vec<(String, i64)>, window_ms: i64) -> StoreResult<bool> {
        match self {
            Store::Sqlite(_) => Err(in_memory()),
            Store::Postgres(pg) => pg.rate_allow(keys, window_ms).await,
        }
    }
}
