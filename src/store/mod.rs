//! Storage as the API, the settings UI, the services and the engine see it: one method per
//! unit of work (one SQLite write job or read today; one Postgres transaction once that
//! backend exists), so callers never hold a connection or compose statements themselves.
//!
//! [`Store`] is an enum over the backends rather than a trait object: a call is a `match`,
//! inlined, with no boxed future, so the SQLite path costs what it did before (the plan is
//! `docs/design/postgres.md`). Each backend implements every method as an inherent `async fn`
//! with the same signature; [`store_methods!`] writes the dispatching methods, and the
//! exhaustive `match` makes every backend implement each new one.
//!
//! The SQLite backend is [`crate::db::Db`]: its units of work live beside the SQL they run,
//! in `src/db/*`. The PostgreSQL backend is [`crate::pg::PgStore`] (`src/pg/*`), shared by
//! every node of a cluster.

pub mod types;

mod access;
pub mod copy;
mod events;
mod history;
mod jobs;
pub mod lead;
mod meta;
mod people;
mod queue;
mod throttle;
mod webhooks;
mod workspaces;

use crate::db::Db;
use crate::pg::{PgStore, Target};

/// What a store method can fail with.
pub use crate::db::DbError as StoreError;
pub type StoreResult<T> = Result<T, StoreError>;

/// The shared store: cheap to clone.
#[derive(Clone)]
pub enum Store {
    /// The embedded default: one SQLite file in the data directory.
    Sqlite(Db),
    /// PostgreSQL 14 or newer (`HOOKLINE_DATABASE_URL`), shared by every node.
    Postgres(PgStore),
}

/// Where the data lives.
#[derive(Debug, Clone)]
pub enum Location {
    /// `hookline.db` in this data directory (the default).
    Sqlite(std::path::PathBuf),
    /// The database `HOOKLINE_DATABASE_URL` names.
    Postgres(Box<Target>),
}

impl Location {
    /// `HOOKLINE_DATABASE_URL` when given, else the data directory's SQLite file.
    pub fn new(data_dir: &std::path::Path, database: Option<&Target>) -> Location {
        match database {
            Some(t) => Location::Postgres(Box::new(t.clone())),
            None => Location::Sqlite(data_dir.to_path_buf()),
        }
    }
}

/// Connections each node keeps to PostgreSQL.
pub const PG_POOL_SIZE: usize = 16;

/// What `hookline backup` and the backup download answer on PostgreSQL.
pub const PG_BACKUP_REFUSAL: &str = "backup copies the SQLite database; on PostgreSQL use \
     pg_dump --format=custom \"$HOOKLINE_DATABASE_URL\" > hookline.dump, and keep the secret key \
     file (HOOKLINE_SECRET_KEY_FILE) with it";

impl Store {
    /// Opens the store at `at`, bringing its schema up to date first (on PostgreSQL under a
    /// lock, so nodes that start together migrate once).
    pub async fn open(at: &Location) -> anyhow::Result<Store> {
        match at {
            Location::Sqlite(dir) => {
                let dir = dir.clone();
                Ok(tokio::task::spawn_blocking(move || Db::open(&dir))
                    .await??
                    .into())
            }
            Location::Postgres(target) => {
                tracing::info!(
                    database = target.shown(),
                    "using PostgreSQL; take a pg_dump before upgrading Hookline"
                );
                Ok(Store::Postgres(PgStore::open(target, PG_POOL_SIZE).await?))
            }
        }
    }

    /// Whether several nodes may share this store (PostgreSQL): work can appear without this
    /// process having made it, and the queue's leases belong to nodes.
    pub fn is_shared(&self) -> bool {
        matches!(self, Store::Postgres(_))
    }

    /// On SQLite, where publishes lease deliveries straight to this process's dispatcher
    /// (`db::handoff`); PostgreSQL's nodes claim everything.
    pub fn handoff(&self) -> Option<std::sync::Arc<types::Handoff>> {
        match self {
            Store::Sqlite(db) => Some(db.handoff().clone()),
            Store::Postgres(_) => None,
        }
    }

    /// The backend's name, for logs and `/readyz`.
    pub fn backend(&self) -> &'static str {
        match self {
            Store::Sqlite(_) => "sqlite",
            Store::Postgres(_) => "postgres",
        }
    }

    /// On a shared store, when this node's heartbeat last reached the database (its clock,
    /// ms); `None` on SQLite, which needs none.
    pub fn heartbeat_at(&self) -> Option<i64> {
        match self {
            Store::Sqlite(_) => None,
            Store::Postgres(pg) => Some(pg.heartbeat_at()),
        }
    }

    /// Opens the SQLite database in `data_dir`, running migrations first.
    pub fn open_sqlite(data_dir: &std::path::Path) -> Result<Store, crate::db::OpenError> {
        Db::open(data_dir).map(Store::Sqlite)
    }

    /// The SQLite handle, for the tests' raw SQL. Panics on another backend.
    pub fn sqlite(&self) -> &Db {
        match self {
            Store::Sqlite(db) => db,
            Store::Postgres(_) => panic!("Store::sqlite() on a PostgreSQL store"),
        }
    }

    /// Answers when the store does (for `/healthz` on SQLite and `/readyz`).
    pub async fn ping(&self) -> StoreResult<()> {
        match self {
            Store::Sqlite(db) => db.ping().await,
            Store::Postgres(pg) => pg.ping().await,
        }
    }

    /// Writes a consistent copy of the whole database to `dest`, a new file (blocking; for
    /// `hookline backup` and the admin's download). SQLite only: PostgreSQL is backed up
    /// with `pg_dump` ([`PG_BACKUP_REFUSAL`]).
    pub fn backup(&self, dest: &std::path::Path) -> anyhow::Result<()> {
        match self {
            Store::Sqlite(db) => {
                let dir = db.path().parent().unwrap_or(std::path::Path::new("."));
                crate::db::backup(dir, dest)
            }
            Store::Postgres(_) => anyhow::bail!(PG_BACKUP_REFUSAL),
        }
    }

    /// Stops taking work; what is queued finishes (SQLite). The PostgreSQL pool's
    /// connections close as the last handle goes.
    pub fn close(&self) {
        match self {
            Store::Sqlite(db) => db.close(),
            Store::Postgres(_) => {}
        }
    }
}

impl From<Db> for Store {
    fn from(db: Db) -> Store {
        Store::Sqlite(db)
    }
}

/// Declares store methods that pass their arguments to the backend's method of the same name.
/// Each line is `fn name(&self, arg: Type, …) -> ReturnType;`, with doc comments.
macro_rules! store_methods {
    ($(
        $(#[$doc:meta])*
        fn $name:ident(&self $(, $arg:ident : $ty:ty)* $(,)?) -> $ret:ty;
    )*) => {
        impl $crate::store::Store {
            $(
                $(#[$doc])*
                pub async fn $name(&self $(, $arg: $ty)*) -> $ret {
                    match self {
                        $crate::store::Store::Sqlite(b) => b.$name($($arg),*).await,
                        $crate::store::Store::Postgres(b) => b.$name($($arg),*).await,
                    }
                }
            )*
        }
    };
}
use store_methods;
