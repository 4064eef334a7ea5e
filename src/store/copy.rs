//! Moving a SQLite installation into PostgreSQL (`hookline migrate-to-postgres`): the SQLite
//! backend reads every table in one snapshot and hands the rows over as plain values; the
//! PostgreSQL backend copies them in, in one transaction, converting each value to its
//! column's type. Neither names the other's driver.

/// The tables, in an order that honours the foreign keys.
pub const TABLES: &[&str] = &[
    "workspaces",
    "users",
    "memberships",
    "sessions",
    "setup_tokens",
    "api_keys",
    "event_types",
    "webhooks",
    "events",
    "idempotency_keys",
    "jobs",
    "deliveries",
    "attempts",
    "notifications",
    "webhook_stats",
    "portal_links",
    "portal_sessions",
    "invitations",
    "password_resets",
    "hookline_meta",
];

/// One stored value, as SQLite holds it.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    Null,
    Int(i64),
    Real(f64),
    Text(String),
    Blob(Vec<u8>),
}

/// What the reading side sends.
#[derive(Debug)]
pub enum Batch {
    /// The next rows of `table` (columns named in `columns`, in that order).
    Rows {
        table: &'static str,
        columns: Vec<String>,
        rows: Vec<Vec<Cell>>,
    },
    /// The table is done: how many rows it has, and the sum of their ids (0 without an
    /// `id` column), read in the same snapshot, for the check after the copy.
    End {
        table: &'static str,
        rows: i64,
        id_sum: i64,
    },
}

/// One table as copied: what the source held and what the target holds after the copy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Copied {
    pub table: &'static str,
    pub source_rows: i64,
    pub source_id_sum: i64,
    pub target_rows: i64,
    pub target_id_sum: i64,
}

impl Copied {
    pub fn matches(&self) -> bool {
        self.source_rows == self.target_rows && self.source_id_sum == self.target_id_sum
    }
}
