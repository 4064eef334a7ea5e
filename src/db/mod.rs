//! SQLite storage. One writer thread owns the only write connection and commits queued jobs
//! together (group commit); a small pool of read-only connections serves reads. No SQLite call
//! ever runs on the async executor's threads.

pub mod hooks;
mod pool;
pub mod repo;

pub use pool::{Db, DbError};

use std::path::{Path, PathBuf};

use rusqlite::Connection;
use rusqlite_migration::{Migrations, M};

pub const DB_FILE: &str = "hookline.db";

/// Every schema version this binary knows, oldest first. Never edit a released migration:
/// add a new one.
pub fn migrations() -> Migrations<'static> {
    Migrations::from_slice(MIGRATIONS)
}
const MIGRATIONS: &[M<'static>] = &[M::up(include_str!("migrations/0001_init.sql"))];

/// The schema version this binary writes.
pub fn latest_version() -> usize {
    MIGRATIONS.len()
}

pub fn db_path(data_dir: &Path) -> PathBuf {
    data_dir.join(DB_FILE)
}

/// Pragmas for every connection: WAL, full fsync, foreign keys, and a busy timeout so the CLI
/// and a running server can share the file.
pub fn configure(conn: &Connection) -> rusqlite::Result<()> {
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    conn.pragma_update(None, "temp_store", "MEMORY")?;
    Ok(())
}

#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("cannot create the data directory {0}: {1}")]
    DataDir(PathBuf, std::io::Error),
    #[error("cannot open the database {0}: {1}")]
    Open(PathBuf, rusqlite::Error),
    #[error(
        "the database {path} has schema version {found}, but this hookline {version} knows only up to {known}: \
         it was written by a newer Hookline. Run that newer binary, or restore a backup made by this version."
    )]
    TooNew {
        path: PathBuf,
        found: usize,
        known: usize,
        version: &'static str,
    },
    #[error("cannot migrate the database {0}: {1}")]
    Migrate(PathBuf, rusqlite_migration::Error),
}

/// Opens (creating if needed) the database in `data_dir` and brings its schema up to date in
/// one transaction. A database newer than this binary is refused.
pub fn open_and_migrate(data_dir: &Path) -> Result<Connection, OpenError> {
    std::fs::create_dir_all(data_dir).map_err(|e| OpenError::DataDir(data_dir.to_path_buf(), e))?;
    restrict_permissions(data_dir);
    let path = db_path(data_dir);
    let mut conn = Connection::open(&path).map_err(|e| OpenError::Open(path.clone(), e))?;
    configure(&conn).map_err(|e| OpenError::Open(path.clone(), e))?;
    let found: usize = conn
        .pragma_query_value(None, "user_version", |r| r.get::<_, i64>(0))
        .map_err(|e| OpenError::Open(path.clone(), e))? as usize;
    if found > latest_version() {
        return Err(OpenError::TooNew {
            path,
            found,
            known: latest_version(),
            version: crate::VERSION,
        });
    }
    migrations()
        .to_latest(&mut conn)
        .map_err(|e| OpenError::Migrate(path.clone(), e))?;
    Ok(conn)
}

#[cfg(unix)]
fn restrict_permissions(dir: &Path) {
    use std::os::unix::fs::PermissionsExt;
    // The directory holds password hashes and the secret-encryption key: owner only.
    let _ = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700));
}
#[cfg(not(unix))]
fn restrict_permissions(_dir: &Path) {}

/// Writes a consistent copy of the database to `dest` while others may be writing, using
/// SQLite's `VACUUM INTO` (a single read transaction: a point-in-time snapshot).
pub fn backup(data_dir: &Path, dest: &Path) -> anyhow::Result<()> {
    use anyhow::Context;
    let src = db_path(data_dir);
    if !src.exists() {
        anyhow::bail!("no database at {}; check --data-dir", src.display());
    }
    if dest.exists() {
        anyhow::bail!(
            "{} already exists; choose a new file name so no backup is overwritten",
            dest.display()
        );
    }
    let conn = Connection::open_with_flags(&src, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
        .with_context(|| format!("opening {}", src.display()))?;
    conn.busy_timeout(std::time::Duration::from_secs(30))?;
    let dest_str = dest
        .to_str()
        .context("the backup path must be valid UTF-8")?;
    conn.execute("VACUUM INTO ?1", [dest_str])
        .with_context(|| format!("writing the backup to {}", dest.display()))?;
    let copy = Connection::open(dest)?;
    let check: String = copy.query_row("PRAGMA integrity_check", [], |r| r.get(0))?;
    if check != "ok" {
        anyhow::bail!(
            "the backup at {} failed its integrity check: {check}",
            dest.display()
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrations_are_valid() {
        migrations().validate().unwrap();
    }

    #[test]
    fn newer_database_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        drop(open_and_migrate(dir.path()).unwrap());
        let conn = Connection::open(db_path(dir.path())).unwrap();
        conn.pragma_update(None, "user_version", 999).unwrap();
        drop(conn);
        let err = open_and_migrate(dir.path()).unwrap_err().to_string();
        assert!(err.contains("newer Hookline"), "{err}");
    }

    #[test]
    fn pragmas_are_set() {
        let dir = tempfile::tempdir().unwrap();
        let conn = open_and_migrate(dir.path()).unwrap();
        let mode: String = conn
            .pragma_query_value(None, "journal_mode", |r| r.get(0))
            .unwrap();
        let sync: i64 = conn
            .pragma_query_value(None, "synchronous", |r| r.get(0))
            .unwrap();
        let fk: i64 = conn
            .pragma_query_value(None, "foreign_keys", |r| r.get(0))
            .unwrap();
        assert_eq!((mode.as_str(), sync, fk), ("wal", 2, 1));
    }
}
