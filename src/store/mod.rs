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
//! in `src/db/*`.

pub mod types;

mod access;
mod events;
mod history;
mod jobs;
mod people;
mod queue;
mod webhooks;
mod workspaces;

use crate::db::Db;

/// What a store method can fail with.
pub use crate::db::DbError as StoreError;
pub type StoreResult<T> = Result<T, StoreError>;

/// The shared store: cheap to clone.
#[derive(Clone)]
pub enum Store {
    /// The embedded default: one SQLite file in the data directory.
    Sqlite(Db),
}

impl Store {
    /// Opens the SQLite database in `data_dir`, running migrations first.
    pub fn open_sqlite(data_dir: &std::path::Path) -> Result<Store, crate::db::OpenError> {
        Db::open(data_dir).map(Store::Sqlite)
    }

    /// The SQLite handle, for what does not go through the store yet (the delivery engine, the
    /// CLI and the tests' raw SQL; see the plan's steps 5 to 7).
    pub fn sqlite(&self) -> &Db {
        match self {
            Store::Sqlite(db) => db,
        }
    }

    /// Answers when the store does (for `/healthz`).
    pub async fn ping(&self) -> StoreResult<()> {
        match self {
            Store::Sqlite(db) => db.ping().await,
        }
    }

    /// Writes a consistent copy of the whole database to `dest`, a new file (blocking; for
    /// `hookline backup` and the admin's download).
    pub fn backup(&self, dest: &std::path::Path) -> anyhow::Result<()> {
        match self {
            Store::Sqlite(db) => {
                let dir = db.path().parent().unwrap_or(std::path::Path::new("."));
                crate::db::backup(dir, dest)
            }
        }
    }

    /// Stops taking work; what is queued finishes.
    pub fn close(&self) {
        match self {
            Store::Sqlite(db) => db.close(),
        }
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
                    }
                }
            )*
        }
    };
}
use store_methods;
