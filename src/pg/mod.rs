//! The PostgreSQL backend of the store (issue 19), being built step by step after
//! `docs/design/postgres.md`. What is here: the connection (a `postgres://` URL with libpq's
//! `sslmode`, over rustls), the pool, and the schema with its migrator, which runs once even
//! when several nodes start together. The store's methods on Postgres come next (plan steps
//! 9-13); until then `serve` does not offer Postgres.

use std::sync::Arc;
use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use tokio_postgres::config::SslMode;
use tokio_postgres::Client;

mod events;
mod history;
mod housekeeping;
mod import;
pub use import::import;
mod jobs;
mod meta;
mod node;
mod people;
mod queue;
mod store;
mod throttle;
mod webhooks;
pub use store::PgStore;

/// Every schema version, oldest first: version N is `MIGRATIONS[N - BASELINE]`. The baseline is
/// SQLite's version 6, so the numbers are shared: a later change ships as a file for both.
const MIGRATIONS: &[(usize, &str)] = &[
    (6, include_str!("migrations/0006_baseline.sql")),
    (7, include_str!("migrations/0007_meta.sql")),
    (8, include_str!("migrations/0008_status_check.sql")),
    (9, include_str!("migrations/0009_time_windows_by_id.sql")),
    (
        10,
        include_str!("migrations/0010_status_index_for_failures.sql"),
    ),
];

/// The schema version this binary writes.
pub fn latest_version() -> usize {
    MIGRATIONS.last().map(|m| m.0).unwrap_or(0)
}

/// The advisory lock migrations run under (any 64-bit number no other app on the database
/// uses; these are the bytes of "hookmigr").
const MIGRATE_LOCK: i64 = 0x686f_6f6b_6d69_6772;

#[derive(Debug, thiserror::Error)]
pub enum PgError {
    #[error("HOOKLINE_DATABASE_URL: {0}")]
    Url(String),
    #[error("cannot connect to PostgreSQL at {target}: {source}")]
    Connect {
        target: String,
        source: tokio_postgres::Error,
    },
    #[error("PostgreSQL {found} is too old: Hookline needs PostgreSQL 14 or newer")]
    TooOld { found: String },
    #[error(
        "the database has schema version {found}, but this hookline {version} knows only up to {known}: \
         it was written by a newer Hookline. Run that newer binary, or restore a backup made by this version."
    )]
    TooNew {
        found: usize,
        known: usize,
        version: &'static str,
    },
    #[error("PostgreSQL: {0}")]
    Db(#[from] tokio_postgres::Error),
    #[error("PostgreSQL pool: {0}")]
    Pool(String),
}

/// A parsed `HOOKLINE_DATABASE_URL`: the connection settings, and how to secure it.
#[derive(Clone)]
pub struct Target {
    config: tokio_postgres::Config,
    /// `None`: `sslmode=disable`.
    tls: Option<tokio_postgres_rustls::MakeRustlsConnect>,
    /// `host:port/dbname`, for messages (never the password).
    shown: String,
}

impl std::fmt::Debug for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Target").field("at", &self.shown).finish()
    }
}

impl Target {
    /// Parses a `postgres://user:password@host:port/dbname?sslmode=…&sslrootcert=…` URL.
    ///
    /// `sslmode`: `disable` (no TLS), `prefer` (the default: TLS when the server offers it),
    /// `require` and `verify-full` (TLS required, and the server's certificate verified
    /// against the system's roots and `sslrootcert`, if given). `verify-ca` is refused: rustls
    /// always checks the host name too, so write `verify-full`. Unlike libpq, `require` here
    /// verifies the certificate.
    pub fn parse(url: &str) -> Result<Target, PgError> {
        let bad = |m: String| PgError::Url(m);
        let mut parsed = url::Url::parse(url.trim()).map_err(|e| {
            bad(format!(
                "not a URL ({e}); write it like postgres://hookline:secret@db.example.com:5432/hookline?sslmode=verify-full"
            ))
        })?;
        if !matches!(parsed.scheme(), "postgres" | "postgresql") {
            return Err(bad(format!(
                "the scheme is '{}', but only postgres:// (or postgresql://) is supported; leave the setting out to use SQLite in the data directory",
                parsed.scheme()
            )));
        }
        if parsed.host_str().is_none_or(str::is_empty) {
            return Err(bad(
                "the URL names no host; write it like postgres://user:password@host:5432/dbname"
                    .into(),
            ));
        }
        // sslmode and sslrootcert are read here (tokio-postgres knows no verify-full), the
        // rest of the query goes to tokio-postgres.
        let (mut sslmode, mut rootcert) = ("prefer".to_string(), None::<String>);
        let rest: Vec<(String, String)> = parsed
            .query_pairs()
            .filter_map(|(k, v)| match k.as_ref() {
                "sslmode" => {
                    sslmode = v.to_string();
                    None
                }
                "sslrootcert" => {
                    rootcert = Some(v.to_string());
                    None
                }
                _ => Some((k.to_string(), v.to_string())),
            })
            .collect();
        parsed.set_query(None);
        if !rest.is_empty() {
            parsed.query_pairs_mut().extend_pairs(rest);
        }
        let shown = format!(
            "{}:{}{}",
            parsed.host_str().unwrap_or_default(),
            parsed.port().unwrap_or(5432),
            parsed.path()
        );
        let mut config: tokio_postgres::Config = parsed
            .as_str()
            .parse()
            .map_err(|e| bad(format!("{e} (in {shown})")))?;
        config.application_name("hookline");
        config.connect_timeout(Duration::from_secs(10));
        config.keepalives_idle(Duration::from_secs(30));
        let (mode, tls) = match sslmode.as_str() {
            "disable" => (SslMode::Disable, None),
            "prefer" | "allow" => (SslMode::Prefer, Some(tls(rootcert.as_deref())?)),
            "require" | "verify-full" => (SslMode::Require, Some(tls(rootcert.as_deref())?)),
            "verify-ca" => {
                return Err(bad(
                    "sslmode=verify-ca is not supported: Hookline always checks the server's name too; write sslmode=verify-full".into(),
                ))
            }
            other => {
                return Err(bad(format!(
                    "sslmode={other} is not known; write disable, prefer, require or verify-full"
                )))
            }
        };
        config.ssl_mode(mode);
        Ok(Target { config, tls, shown })
    }

    /// Where it connects, without the password.
    pub fn shown(&self) -> &str {
        &self.shown
    }

    /// One connection of its own (for migrations, `LISTEN` and session advisory locks, which
    /// a pooled connection must never hold).
    pub async fn connect(&self) -> Result<Client, PgError> {
        self.connect_with(None).await
    }

    /// [`Target::connect`], whose connection also passes the channel names of `NOTIFY`s it
    /// hears (after a `LISTEN`) to `notes`.
    pub async fn connect_listening(
        &self,
        notes: tokio::sync::mpsc::UnboundedSender<String>,
    ) -> Result<Client, PgError> {
        self.connect_with(Some(notes)).await
    }

    async fn connect_with(
        &self,
        notes: Option<tokio::sync::mpsc::UnboundedSender<String>>,
    ) -> Result<Client, PgError> {
        let failed = |source| PgError::Connect {
            target: self.shown.clone(),
            source,
        };
        let client = match &self.tls {
            None => {
                let (client, conn) = self
                    .config
                    .connect(tokio_postgres::NoTls)
                    .await
                    .map_err(failed)?;
                tokio::spawn(drive(conn, notes));
                client
            }
            Some(tls) => {
                let (client, conn) = self.config.connect(tls.clone()).await.map_err(failed)?;
                tokio::spawn(drive(conn, notes));
                client
            }
        };
        let version: String = client
            .query_one("SHOW server_version_num", &[])
            .await?
            .get(0);
        if version.trim().parse::<u32>().unwrap_or(0) < 140_000 {
            let found: String = client.query_one("SHOW server_version", &[]).await?.get(0);
            return Err(PgError::TooOld { found });
        }
        Ok(client)
    }

    /// A pool of up to `size` connections.
    pub fn pool(&self, size: usize) -> Result<Pool, PgError> {
        let mgr_config = ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        };
        let manager = match &self.tls {
            None => Manager::from_config(self.config.clone(), tokio_postgres::NoTls, mgr_config),
            Some(tls) => Manager::from_config(self.config.clone(), tls.clone(), mgr_config),
        };
        Pool::builder(manager)
            .max_size(size)
            .build()
            .map_err(|e| PgError::Pool(e.to_string()))
    }
}

/// Runs a dedicated connection until it ends, passing on the channels of the notifications it
/// hears.
async fn drive<S, T>(
    mut conn: tokio_postgres::Connection<S, T>,
    notes: Option<tokio::sync::mpsc::UnboundedSender<String>>,
) where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    loop {
        match std::future::poll_fn(|cx| conn.poll_message(cx)).await {
            Some(Ok(tokio_postgres::AsyncMessage::Notification(n))) => {
                if let Some(tx) = &notes {
                    let _ = tx.send(n.channel().to_string());
                }
            }
            Some(Ok(_)) => {}
            Some(Err(e)) => {
                tracing::warn!(error = %e, "PostgreSQL connection ended");
                break;
            }
            None => break,
        }
    }
}

/// TLS with the system's roots and, when given, the CA file `sslrootcert` names.
fn tls(rootcert: Option<&str>) -> Result<tokio_postgres_rustls::MakeRustlsConnect, PgError> {
    let mut roots = rustls::RootCertStore::empty();
    let found = rustls_native_certs::load_native_certs();
    for cert in found.certs {
        let _ = roots.add(cert);
    }
    if let Some(path) = rootcert {
        let pem = std::fs::read(path)
            .map_err(|e| PgError::Url(format!("sslrootcert={path}: cannot read it ({e})")))?;
        let mut any = false;
        use rustls::pki_types::pem::PemObject;
        for cert in rustls::pki_types::CertificateDer::pem_slice_iter(&pem) {
            let cert = cert.map_err(|e| {
                PgError::Url(format!("sslrootcert={path}: not PEM certificates ({e})"))
            })?;
            roots
                .add(cert)
                .map_err(|e| PgError::Url(format!("sslrootcert={path}: {e}")))?;
            any = true;
        }
        if !any {
            return Err(PgError::Url(format!(
                "sslrootcert={path}: the file holds no PEM certificate"
            )));
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| PgError::Url(format!("TLS: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(tokio_postgres_rustls::MakeRustlsConnect::new(config))
}

/// Brings the schema up to date, under an advisory lock so nodes that start together migrate
/// once (the others wait, then find it current). Each version is applied in a transaction of
/// its own. Returns the version the database is at.
pub async fn migrate(client: &mut Client) -> Result<usize, PgError> {
    client.batch_execute("SET lock_timeout = '5min'").await?;
    client
        .execute("SELECT pg_advisory_lock($1)", &[&MIGRATE_LOCK])
        .await?;
    let result = migrate_locked(client).await;
    let unlocked = client
        .execute("SELECT pg_advisory_unlock($1)", &[&MIGRATE_LOCK])
        .await;
    let version = result?;
    unlocked?;
    Ok(version)
}

async fn migrate_locked(client: &mut Client) -> Result<usize, PgError> {
    client
        .batch_execute(
            "CREATE TABLE IF NOT EXISTS hookline_schema_version (
                 version BIGINT NOT NULL, applied_at BIGINT NOT NULL)",
        )
        .await?;
    let found: Option<i64> = client
        .query_one("SELECT max(version) FROM hookline_schema_version", &[])
        .await?
        .get(0);
    let found = found.unwrap_or(0) as usize;
    if found > latest_version() {
        return Err(PgError::TooNew {
            found,
            known: latest_version(),
            version: crate::VERSION,
        });
    }
    for (version, sql) in MIGRATIONS.iter().filter(|m| m.0 > found) {
        let tx = client.transaction().await?;
        tx.batch_execute(sql).await?;
        tx.execute(
            "INSERT INTO hookline_schema_version (version, applied_at) VALUES ($1, db_now_ms())",
            &[&(*version as i64)],
        )
        .await?;
        tx.commit().await?;
        tracing::info!(version, "PostgreSQL schema migrated");
    }
    Ok(found.max(latest_version()))
}

/// Serialization failures and deadlocks: the transaction can simply run again.
pub(crate) fn retryable(e: &tokio_postgres::Error) -> bool {
    use tokio_postgres::error::SqlState;
    matches!(
        e.code(),
        Some(&SqlState::T_R_DEADLOCK_DETECTED) | Some(&SqlState::T_R_SERIALIZATION_FAILURE)
    )
}

/// How a statement or transaction that lost a deadlock or a serialization check runs again:
/// up to three more times, each after 5–25 ms so the two sides do not meet again at once.
/// ```ignore
/// let mut retries = Retries::default();
/// loop {
///     match run_it(&mut c).await {
///         Err(e) if retries.again(&e) => retries.pause().await,
///         Err(e) => return Err(e.into()),
///         Ok(v) => return Ok(v),
///     }
/// }
/// ```
pub(crate) struct Retries {
    left: u32,
}

impl Default for Retries {
    fn default() -> Self {
        Retries { left: 3 }
    }
}

impl Retries {
    /// Whether to run again after `e` (and counts this time).
    pub(crate) fn again(&mut self, e: &tokio_postgres::Error) -> bool {
        let again = retryable(e) && self.left > 0;
        self.left -= u32::from(again);
        again
    }

    pub(crate) async fn pause(&self) {
        let jitter = rand::random::<u64>() % 20;
        tokio::time::sleep(std::time::Duration::from_millis(5 + jitter)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_parsed_with_sslmode_and_refused_with_a_reason() {
        let t =
            Target::parse("postgres://u:secret@db.example.com:6543/hl?sslmode=disable").unwrap();
        assert_eq!(t.shown(), "db.example.com:6543/hl");
        assert!(t.tls.is_none());
        assert!(!format!("{t:?}").contains("secret"));
        let t = Target::parse("postgresql://u@db.example.com/hl").unwrap();
        assert!(t.tls.is_some(), "prefer is the default");
        assert_eq!(t.shown(), "db.example.com:5432/hl");
        let t = Target::parse(
            "postgres://u@db.example.com/hl?sslmode=verify-full&application_name=x&connect_timeout=3",
        )
        .unwrap();
        assert!(t.tls.is_some());
        for (url, says) in [
            ("mysql://u@h/db", "only postgres://"),
            ("postgres:///db", "no host"),
            ("not a url", "not a URL"),
            ("postgres://u@h/db?sslmode=verify-ca", "verify-full"),
            ("postgres://u@h/db?sslmode=sometimes", "not known"),
            (
                "postgres://u@h/db?sslrootcert=/nonexistent/ca.pem",
                "cannot read",
            ),
        ] {
            let e = Target::parse(url).unwrap_err().to_string();
            assert!(e.contains(says), "{url}: {e}");
            assert!(e.starts_with("HOOKLINE_DATABASE_URL"), "{e}");
        }
    }
}
