//! The PostgreSQL backend against a real server: the throwaway cluster `scripts/test.sh`
//! starts (`scripts/pg-throwaway.sh`), named by `HOOKLINE_TEST_DATABASE_URL` (an admin URL).
//! Each test makes a database of its own and drops it. With `CI=true` a missing server fails
//! loudly; on a developer's machine without PostgreSQL the tests say they did not run.

use std::collections::{BTreeMap, BTreeSet};

use hookline::pg::{self, PgError, Target};

#[path = "common/pg.rs"]
mod pg_cluster;
use pg_cluster::{admin_url, TestDb};

/// One version number across backends: the PostgreSQL baseline is SQLite's latest version.
#[test]
fn the_schema_versions_are_shared() {
    assert_eq!(pg::latest_version(), hookline::db::latest_version());
}

#[tokio::test]
async fn nodes_that_start_together_migrate_once() {
    let Some(admin) = admin_url() else { return };
    let db = TestDb::new(&admin).await;
    let target = Target::parse(&db.url).unwrap();
    let mut nodes = tokio::task::JoinSet::new();
    for _ in 0..4 {
        let target = target.clone();
        nodes.spawn(async move {
            let mut client = target.connect().await.unwrap();
            pg::migrate(&mut client).await.unwrap()
        });
    }
    while let Some(version) = nodes.join_next().await {
        assert_eq!(version.unwrap(), pg::latest_version());
    }
    let client = target.connect().await.unwrap();
    let applied: i64 = client
        .query_one("SELECT count(*) FROM hookline_schema_version", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(applied, 1, "the baseline was applied once");
    // A later start finds it current and changes nothing.
    let mut again = target.connect().await.unwrap();
    assert_eq!(pg::migrate(&mut again).await.unwrap(), pg::latest_version());
    db.drop().await;
}

#[tokio::test]
async fn a_schema_written_by_a_newer_hookline_is_refused() {
    let Some(admin) = admin_url() else { return };
    let db = TestDb::new(&admin).await;
    let target = Target::parse(&db.url).unwrap();
    let mut client = target.connect().await.unwrap();
    pg::migrate(&mut client).await.unwrap();
    client
        .batch_execute("INSERT INTO hookline_schema_version VALUES (99, 0)")
        .await
        .unwrap();
    let e = pg::migrate(&mut client).await.unwrap_err();
    assert!(matches!(e, PgError::TooNew { found: 99, .. }), "{e}");
    assert!(e.to_string().contains("newer Hookline"), "{e}");
    // The lock was let go: another node is refused the same way instead of waiting forever.
    let mut other = target.connect().await.unwrap();
    let waited = tokio::time::timeout(std::time::Duration::from_secs(10), pg::migrate(&mut other))
        .await
        .expect("the migration lock was released");
    assert!(matches!(waited, Err(PgError::TooNew { .. })));
    db.drop().await;
}

/// Every SQLite table and column exists on PostgreSQL with the same name, so each store method
/// can be written against the same schema; the Postgres-only parts are the ones listed.
#[tokio::test]
async fn the_schema_has_every_sqlite_table_and_column() {
    let Some(admin) = admin_url() else { return };
    let db = TestDb::new(&admin).await;
    let mut client = Target::parse(&db.url).unwrap().connect().await.unwrap();
    pg::migrate(&mut client).await.unwrap();
    let mut on_pg: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for row in client
        .query(
            "SELECT table_name::text, column_name::text FROM information_schema.columns
             WHERE table_schema = 'public'",
            &[],
        )
        .await
        .unwrap()
    {
        on_pg.entry(row.get(0)).or_default().insert(row.get(1));
    }
    let dir = tempfile::tempdir().unwrap();
    let sqlite = hookline::db::open_and_migrate(dir.path()).unwrap();
    let tables: Vec<String> = sqlite
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert!(tables.len() >= 15, "read SQLite's tables: {tables:?}");
    for table in &tables {
        let columns: BTreeSet<String> = sqlite
            .prepare(&format!("SELECT name FROM pragma_table_info('{table}')"))
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        let pg_columns = on_pg
            .remove(table)
            .unwrap_or_else(|| panic!("table {table} is missing on PostgreSQL"));
        let missing: Vec<_> = columns.difference(&pg_columns).collect();
        assert!(
            missing.is_empty(),
            "{table}: columns missing on PostgreSQL: {missing:?}"
        );
        let extra: Vec<_> = pg_columns.difference(&columns).collect();
        let allowed: &[&str] = if table == "deliveries" {
            &["lease_owner"]
        } else {
            &[]
        };
        assert!(
            extra.iter().all(|c| allowed.contains(&c.as_str())),
            "{table}: columns only on PostgreSQL: {extra:?}"
        );
    }
    let only_pg: BTreeSet<&str> = on_pg.keys().map(String::as_str).collect();
    assert_eq!(
        only_pg,
        BTreeSet::from([
            "hookline_nodes",
            "hookline_schema_version",
            "login_attempts",
            "rate_events"
        ]),
        "tables only on PostgreSQL"
    );
    db.drop().await;
}

#[tokio::test]
async fn connection_failures_name_the_server_but_not_the_password() {
    let Some(admin) = admin_url() else { return };
    // A port nothing listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let e = Target::parse(&format!(
        "postgres://hookline:s3cret-pw@127.0.0.1:{port}/x?sslmode=disable"
    ))
    .unwrap()
    .connect()
    .await
    .unwrap_err()
    .to_string();
    assert!(e.contains(&format!("127.0.0.1:{port}/x")), "{e}");
    assert!(!e.contains("s3cret-pw"), "{e}");
    // The throwaway server has no TLS: sslmode=require must not fall back to plain text.
    let mut url = url::Url::parse(&admin).unwrap();
    url.set_query(Some("sslmode=require"));
    let e = Target::parse(url.as_str())
        .unwrap()
        .connect()
        .await
        .unwrap_err()
        .to_string();
    assert!(e.contains("cannot connect"), "{e}");
}
