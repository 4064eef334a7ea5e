//! SQLite storage. One writer thread owns the only write connection and commits queued jobs
//! together (group commit); a small pool of read-only connections serves reads. No SQLite call
//! ever runs on the async executor's threads.

mod by_time;
mod callers;
pub mod export;
pub mod handoff;
pub mod hooks;
mod housekeeping;
pub mod invites;
pub mod jobs;
pub mod leases;
mod meta;
pub mod notices;
pub mod people;
mod pool;
pub mod portal;
pub mod publish;
pub mod queue;
pub mod repo;
pub mod stats;
pub mod subscribers;
#[cfg(test)]
mod test_support;
pub mod triggered;
pub mod workspaces;

pub use pool::{Db, DbError};

use std::path::{Path, PathBuf};

use rusqlite::Connection;
use rusqlite_migration::{Migrations, M};

pub const DB_FILE: &str = "hookline.db";

/// A UNIQUE (or other constraint) violation: the create functions report it as `Ok(None)`.
pub(crate) fn is_unique_violation(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(rusqlite::ErrorCode::ConstraintViolation)
    )
}

/// Every schema version this binary knows, oldest first. Never edit a released migration:
/// add a new one.
pub fn migrations() -> Migrations<'static> {
    Migrations::new(all_migrations())
}

fn all_migrations() -> Vec<M<'static>> {
    vec![
        M::up(include_str!("migrations/0001_init.sql")),
        M::up(include_str!("migrations/0002_due_index_without_leased.sql")),
        M::up(include_str!("migrations/0003_deferred_notices.sql")),
        M::up(include_str!("migrations/0004_portal_plans_invitations.sql")),
        M::up(include_str!("migrations/0005_history_jobs.sql")),
        M::up(include_str!("migrations/0006_drop_attempts_started.sql")),
        M::up(include_str!("migrations/0007_meta.sql")),
        M::up_with_hook(
            include_str!("migrations/0008_status_check.sql"),
            status_check_without_in_list,
        ),
        M::up(include_str!("migrations/0009_time_windows_by_id.sql")),
        M::up(include_str!(
            "migrations/0010_status_index_for_failures.sql"
        )),
    ]
}

/// The schema version this binary writes.
pub fn latest_version() -> usize {
    all_migrations().len()
}

/// `deliveries.status`'s CHECK, as written in 0001 and as it is from version 8 on.
const STATUS_CHECK_IN: &str = "CHECK (status IN ('pending', 'retrying', 'succeeded', 'failed'))";
const STATUS_CHECK_OR: &str = "CHECK (status = 'pending' OR status = 'retrying' OR status = 'succeeded' OR status = 'failed')";

/// Migration 8: the same CHECK on `deliveries.status`, written with `OR` instead of `IN`.
/// SQLite evaluates a CHECK's `IN` list of three or more values by building a temporary
/// b-tree of the list for every row inserted or whose status changes: 2.3 µs each time,
/// twice per delivery (13% of the writer's CPU per delivery in fan-out 10). The `OR` form
/// costs nothing measurable.
///
/// A CHECK cannot be altered, and rebuilding the table would copy every delivery; the
/// constraint accepts exactly the same rows, so this takes SQLite's documented procedure for
/// changes that leave the stored rows as they are (ALTER TABLE, "Making Other Kinds Of Table
/// Schema Changes"): rewrite the table's definition in `sqlite_schema` and bump the schema
/// version, in the migration's transaction.
fn status_check_without_in_list(tx: &rusqlite::Transaction) -> rusqlite_migration::HookResult {
    let sql: String = tx.query_row(
        "SELECT sql FROM sqlite_schema WHERE type = 'table' AND name = 'deliveries'",
        [],
        |r| r.get(0),
    )?;
    if !sql.contains(STATUS_CHECK_IN) {
        // Not as 0001 wrote it: leave it alone (this is about speed, not meaning).
        tracing::warn!("deliveries.status's CHECK is not as Hookline wrote it; left as it is");
        return Ok(());
    }
    let version: i64 = tx.pragma_query_value(None, "schema_version", |r| r.get(0))?;
    tx.pragma_update(None, "writable_schema", true)?;
    let rewritten = tx
        .execute(
            "UPDATE sqlite_schema SET sql = ?1 WHERE type = 'table' AND name = 'deliveries'",
            [sql.replace(STATUS_CHECK_IN, STATUS_CHECK_OR)],
        )
        .and_then(|_| tx.pragma_update(None, "schema_version", version + 1));
    // Off again whatever happened, and this connection (which lives on) reads the
    // definition anew: RESET is OFF plus a reload of the schema.
    tx.pragma_update(None, "writable_schema", "RESET")?;
    rewritten?;
    Ok(())
}

pub fn db_path(data_dir: &Path) -> PathBuf {
    data_dir.join(DB_FILE)
}

/// Prepared statements each connection keeps. rusqlite's default is 16, fewer than the
/// writer's hot path uses (a publish, a claim round and a batch of attempt results need
/// about 20 between them), so with it the least recently used were parsed again on every
/// cycle.
const STATEMENT_CACHE: usize = 128;

/// Pragmas for every connection: WAL, full fsync, foreign keys, and a busy timeout so the CLI
/// and a running server can share the file.
pub fn configure(conn: &Connection) -> rusqlite::Result<()> {
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    conn.pragma_update(None, "temp_store", "MEMORY")?;
    stable_plans(conn)?;
    Ok(())
}

/// Process-wide SQLite settings; call before the first connection opens (later, it does
/// nothing). Turns off SQLite's memory statistics, which take a global mutex around every
/// allocation SQLite makes and which Hookline never reads.
pub fn tune_process() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // SAFETY: sqlite3_config is called with an option that takes one int, before
        // sqlite3_initialize (or it returns SQLITE_MISUSE and changes nothing).
        unsafe {
            rusqlite::ffi::sqlite3_config(
                rusqlite::ffi::SQLITE_CONFIG_MEMSTATUS,
                0 as std::ffi::c_int,
            );
        }
    });
}

/// Turns on the query planner stability guarantee. Without it SQLite re-prepares a cached
/// statement whenever a bound value that could change its plan changes (a `LIMIT ?`, for
/// one): profiling the delivery engine's claim showed 5% of the writer thread re-preparing.
/// No query here depends on value-specific plans (no ANALYZE data, no `LIKE ?`).
pub fn stable_plans(conn: &Connection) -> rusqlite::Result<()> {
    conn.set_db_config(
        rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG,
        true,
    )?;
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
    // SQLite gives the -wal and -shm files the database file's mode: make that owner-only
    // before the first connection creates them, and tighten files an older version left open.
    private_file(&path).map_err(|e| OpenError::DataDir(path.clone(), e))?;
    let mut conn = Connection::open(&path).map_err(|e| OpenError::Open(path.clone(), e))?;
    configure(&conn).map_err(|e| OpenError::Open(path.clone(), e))?;
    for suffix in ["-wal", "-shm"] {
        let side = data_dir.join(format!("{DB_FILE}{suffix}"));
        if side.exists() {
            private_file(&side).map_err(|e| OpenError::DataDir(side.clone(), e))?;
        }
    }
    migrate_with(&mut conn, data_dir, &migrations(), latest_version())?;
    Ok(conn)
}

/// Where automatic pre-migration backups go.
pub const BACKUP_DIR: &str = "backups";

/// Brings `conn` to `latest` with `migrations`. A database already in use (schema > 0) that
/// needs migrating is first copied to `<data-dir>/backups/pre-migration-v<old>-to-v<new>-<ts>.db`,
/// so an upgrade can always be undone by restoring it with the older binary.
fn migrate_with(
    conn: &mut Connection,
    data_dir: &Path,
    migrations: &Migrations,
    latest: usize,
) -> Result<(), OpenError> {
    let path = db_path(data_dir);
    let found: usize = conn
        .pragma_query_value(None, "user_version", |r| r.get::<_, i64>(0))
        .map_err(|e| OpenError::Open(path.clone(), e))? as usize;
    if found > latest {
        return Err(OpenError::TooNew {
            path,
            found,
            known: latest,
            version: crate::VERSION,
        });
    }
    if found > 0 && found < latest {
        let dir = data_dir.join(BACKUP_DIR);
        std::fs::create_dir_all(&dir).map_err(|e| OpenError::DataDir(dir.clone(), e))?;
        restrict_permissions(&dir);
        let stamp = crate::clock::rfc3339(crate::clock::now_ms()).replace([':', '.'], "-");
        let dest = dir.join(format!("pre-migration-v{found}-to-v{latest}-{stamp}.db"));
        new_private_file(&dest).map_err(|e| OpenError::DataDir(dest.clone(), e))?;
        let dest_str = dest.to_string_lossy().to_string();
        if let Err(e) = conn.execute("VACUUM INTO ?1", [dest_str]) {
            let _ = std::fs::remove_file(&dest);
            return Err(OpenError::Open(dest, e));
        }
        tracing::info!(backup = %dest.display(), from = found, to = latest, "backed up the database before migrating it");
    }
    migrations
        .to_latest(conn)
        .map_err(|e| OpenError::Migrate(path.clone(), e))
}

/// Makes `path` a file only its owner may read and write (mode 0600): creates it empty if
/// it is missing, and takes group and other permissions away from one that exists.
pub fn private_file(path: &Path) -> std::io::Result<()> {
    match new_private_file(path) {
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        other => return other,
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path)?.permissions().mode();
        if mode & 0o077 != 0 {
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode & 0o700))?;
        }
    }
    Ok(())
}

/// Creates `path` as a new, empty file with mode 0600; fails if it exists. SQLite's
/// `VACUUM INTO` writes into an empty file it finds there, keeping its mode.
pub fn new_private_file(path: &Path) -> std::io::Result<()> {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    opts.open(path).map(drop)
}

/// Hookline's files hold password hashes, API-key hashes, payloads and sealed secrets: make
/// every file the process creates owner-only (umask 077), whoever started it. Called first
/// by the binary; the files the library creates itself are made private explicitly too.
pub fn private_umask() {
    #[cfg(unix)]
    // SAFETY: umask only sets the process's file-creation mask; it cannot fail.
    unsafe {
        libc::umask(0o077);
    }
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
    let conn = Connection::open_with_flags(&src, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
        .with_context(|| format!("opening {}", src.display()))?;
    // Created first, owner-only and empty, so the copy of the secrets is never readable by
    // others, not even while it is written; an existing file is never overwritten.
    match new_private_file(dest) {
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => anyhow::bail!(
            "{} already exists; choose a new file name so no backup is overwritten",
            dest.display()
        ),
        other => other.with_context(|| format!("creating {}", dest.display()))?,
    }
    conn.busy_timeout(std::time::Duration::from_secs(30))?;
    let dest_str = dest
        .to_str()
        .context("the backup path must be valid UTF-8")?;
    if let Err(e) = conn.execute("VACUUM INTO ?1", [dest_str]) {
        let _ = std::fs::remove_file(dest);
        return Err(e).with_context(|| format!("writing the backup to {}", dest.display()));
    }
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
    fn a_migration_of_a_used_database_backs_it_up_first() {
        let dir = tempfile::tempdir().unwrap();
        let v1 = [M::up(
            "CREATE TABLE a (x INTEGER); INSERT INTO a VALUES (42);",
        )];
        let v2 = [
            M::up("CREATE TABLE a (x INTEGER); INSERT INTO a VALUES (42);"),
            M::up("ALTER TABLE a ADD COLUMN y TEXT;"),
        ];
        let mut conn = Connection::open(db_path(dir.path())).unwrap();
        // A fresh database (schema 0) is not backed up.
        migrate_with(&mut conn, dir.path(), &Migrations::from_slice(&v1), 1).unwrap();
        assert!(!dir.path().join(BACKUP_DIR).exists());
        migrate_with(&mut conn, dir.path(), &Migrations::from_slice(&v2), 2).unwrap();
        let backups: Vec<_> = std::fs::read_dir(dir.path().join(BACKUP_DIR))
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        assert_eq!(backups.len(), 1);
        assert!(backups[0]
            .file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with("pre-migration-v1-to-v2-"));
        let old = Connection::open(&backups[0]).unwrap();
        let version: i64 = old
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .unwrap();
        assert_eq!(version, 1, "the backup is the database as it was before");
        let x: i64 = old.query_row("SELECT x FROM a", [], |r| r.get(0)).unwrap();
        assert_eq!(x, 42);
        assert!(old.prepare("SELECT y FROM a").is_err());
        conn.prepare("SELECT y FROM a").unwrap();
        // Up to date: no further backups.
        migrate_with(&mut conn, dir.path(), &Migrations::from_slice(&v2), 2).unwrap();
        assert_eq!(
            std::fs::read_dir(dir.path().join(BACKUP_DIR))
                .unwrap()
                .count(),
            1
        );
    }

    /// Whether SQLite runs `sql` with a temporary b-tree (`OpenEphemeral` in its program).
    fn builds_temporary_btree(conn: &Connection, sql: &str) -> bool {
        let mut st = conn.prepare(&format!("EXPLAIN {sql}")).unwrap();
        let ops: Vec<String> = st
            .query_map([], |r| r.get(1))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        ops.iter().any(|op| op == "OpenEphemeral")
    }

    const INSERT_DELIVERY: &str = "INSERT INTO deliveries (workspace_id, webhook_id, event_id, event_type, status, next_attempt_at, created_at, updated_at)
         VALUES (1, 1, 1, 'invoice.paid', 'pending', 0, 0, 0)";

    #[test]
    fn storing_a_delivery_builds_no_temporary_table_per_row() {
        let dir = tempfile::tempdir().unwrap();
        let conn = open_and_migrate(dir.path()).unwrap();
        for sql in [
            INSERT_DELIVERY,
            "UPDATE deliveries SET status = 'succeeded', next_attempt_at = NULL WHERE id = 1",
        ] {
            assert!(
                !builds_temporary_btree(&conn, sql),
                "{sql} builds a temporary b-tree for every row"
            );
        }
    }

    #[test]
    fn a_version_7_database_keeps_its_deliveries_and_their_status_check() {
        let dir = tempfile::tempdir().unwrap();
        let mut conn = Connection::open(db_path(dir.path())).unwrap();
        configure(&conn).unwrap();
        let v7: Vec<M> = all_migrations().into_iter().take(7).collect();
        Migrations::new(v7).to_latest(&mut conn).unwrap();
        conn.execute_batch(
            "INSERT INTO workspaces (id, slug, name, created_at) VALUES (1, 'acme', 'Acme', 0);
             INSERT INTO webhooks (id, workspace_id, name, description, url, events, headers, retry_schedule,
                 retry_count, timeout_seconds, secret_enc, created_at, updated_at)
             VALUES (1, 1, 'n', '', 'https://example.com/hook', '[\"*\"]', '{}', '[]', 5, 30, x'00', 0, 0);
             INSERT INTO events (id, public_id, workspace_id, type, body, created_at)
             VALUES (1, 'evt_1', 1, 'invoice.paid', '{}', 0);",
        )
        .unwrap();
        conn.execute(INSERT_DELIVERY, []).unwrap();
        assert!(builds_temporary_btree(&conn, INSERT_DELIVERY));
        drop(conn);

        let conn = open_and_migrate(dir.path()).unwrap();
        let version: i64 = conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .unwrap();
        assert_eq!(version as usize, latest_version());
        let check: String = conn
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .unwrap();
        assert_eq!(check, "ok");
        let status: String = conn
            .query_row("SELECT status FROM deliveries WHERE id = 1", [], |r| {
                r.get(0)
            })
            .unwrap();
        assert_eq!(status, "pending");
        assert!(!builds_temporary_btree(&conn, INSERT_DELIVERY));
        // The same statuses are allowed, and only they.
        for ok in ["retrying", "succeeded", "failed", "pending"] {
            conn.execute("UPDATE deliveries SET status = ?1 WHERE id = 1", [ok])
                .unwrap();
        }
        for bad in ["done", "", "PENDING", "pending "] {
            let err = conn
                .execute("UPDATE deliveries SET status = ?1 WHERE id = 1", [bad])
                .unwrap_err();
            assert!(
                err.to_string().contains("CHECK constraint failed"),
                "{bad:?}: {err}"
            );
        }
        // A new connection reads the rewritten definition too.
        let other = Connection::open(db_path(dir.path())).unwrap();
        assert!(other
            .execute("UPDATE deliveries SET status = 'done' WHERE id = 1", [])
            .is_err());
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
