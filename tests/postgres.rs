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
    let applied = client
        .query_one(
            "SELECT count(*), count(DISTINCT version), min(version) FROM hookline_schema_version",
            &[],
        )
        .await
        .unwrap();
    let (rows, versions, first): (i64, i64, i64) = (applied.get(0), applied.get(1), applied.get(2));
    assert_eq!(rows, versions, "each version was applied once");
    assert_eq!(first, 6, "the baseline is SQLite's version 6");
    assert_eq!(versions as usize, pg::latest_version() - 5);
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

mod nodes {
    //! Several nodes on one database: leases have owners, the per-webhook limit counts every
    //! node's, a node declared dead loses its leases to the others and cannot record over
    //! them, and a publish on one node wakes the others.

    use std::sync::Arc;
    use std::time::Duration;

    use hookline::domain::fair::Ledger;
    use hookline::domain::{EventTypeName, NewEventType, NewWorkspace, Slug};
    use hookline::pg::{PgStore, Target};
    use hookline::store::types::{AttemptResult, ClaimRequest, Claimed, Draft, RecordRules};
    use tokio::sync::Notify;

    use super::pg_cluster::{admin_url, connect_raw, TestDb};

    /// A workspace with one webhook and `events` events published to it; (workspace, webhook).
    async fn seed(s: &PgStore, events: usize) -> (i64, i64) {
        let ws = s
            .workspace_create(NewWorkspace {
                slug: Slug::parse("acme").unwrap(),
                name: "Acme".into(),
                webhooks_enabled: true,
                max_webhooks: None,
            })
            .await
            .unwrap()
            .unwrap();
        s.event_type_create(NewEventType {
            name: EventTypeName::parse("order.paid").unwrap(),
            description: String::new(),
            example: None,
        })
        .await
        .unwrap();
        let hook = s
            .webhook_create(
                ws.id,
                hookline::domain::WebhookSettings {
                    name: String::new(),
                    description: String::new(),
                    url: hookline::domain::WebhookUrl::stored("https://a.example.com".into()),
                    events: hookline::domain::EventFilter::stored(vec!["*".into()]),
                    is_active: true,
                    headers: Default::default(),
                    retry_schedule: vec![5],
                    timeout_seconds: 15,
                    notification_email: None,
                },
                b"a".to_vec(),
                "t".into(),
            )
            .await
            .unwrap()
            .unwrap();
        publish(s, ws.id, events).await;
        (ws.id, hook.id)
    }

    async fn publish(s: &PgStore, ws: i64, events: usize) {
        let drafts = (0..events)
            .map(|_| {
                Draft::new(
                    &EventTypeName::parse("order.paid").unwrap(),
                    "{}",
                    "type".into(),
                )
            })
            .collect();
        s.publish(ws, drafts, None, |_| String::new())
            .await
            .unwrap();
    }

    fn ask(limit: usize) -> ClaimRequest {
        ClaimRequest {
            now: 0,
            budget: 100,
            budget_before_heavy: 100,
            room: 2 * limit,
            wider: Default::default(),
            in_flight_limit: limit,
            busy: Default::default(),
            start: 0,
            known: Default::default(),
            revisit: false,
            rescan: false,
        }
    }

    fn succeeded(c: &Claimed) -> AttemptResult {
        AttemptResult {
            delivery_id: c.delivery_id,
            webhook_id: c.webhook_id,
            attempt_number: c.attempt_count + 1,
            started_at: hookline::clock::now_ms(),
            request_headers_json: "{}".into(),
            response_headers_json: Some("{}".into()),
            error: None,
            status: Some(200),
            duration_ms: 1,
            response_body: Vec::new(),
            success: true,
            next_attempt_at: None,
            final_attempt: false,
        }
    }

    fn rules() -> Arc<RecordRules> {
        Arc::new(RecordRules {
            auto_disable_after_ms: 1 << 40,
            notices: hookline::domain::notice::NoticeSettings {
                public_url: "http://127.0.0.1".into(),
                smtp_configured: false,
                interval_ms: 3_600_000,
            },
        })
    }

    async fn node(target: &Target) -> (PgStore, Arc<Notify>) {
        let s = PgStore::open(target, 4).await.unwrap();
        let wake = Arc::new(Notify::new());
        s.queue_start(wake.clone()).await.unwrap();
        (s, wake)
    }

    /// A new database's queue tables get their first statistics from the heartbeat once they
    /// hold work (the planner misreads the lease indexes without them), not only when
    /// autovacuum comes round.
    #[tokio::test]
    async fn the_heartbeat_gives_a_new_databases_busy_tables_their_first_statistics() {
        let Some(admin) = admin_url() else { return };
        let db = TestDb::new(&admin).await;
        let target = Target::parse(&db.url).unwrap();
        let (a, _) = node(&target).await;
        let raw = connect_raw(&db.url).await;
        // Autovacuum stays out of it: this database's tables are the heartbeat's alone.
        for table in [
            "deliveries",
            "events",
            "attempts",
            "webhooks",
            "webhook_stats",
        ] {
            raw.batch_execute(&format!(
                "ALTER TABLE {table} SET (autovacuum_enabled = false)"
            ))
            .await
            .unwrap();
        }
        let analyzed = |table: &'static str| {
            let raw = &raw;
            async move {
                raw.query_one(
                    "SELECT count(*) FROM pg_stats WHERE schemaname = current_schema() AND tablename = $1",
                    &[&table],
                )
                .await
                .unwrap()
                .get::<_, i64>(0)
                    > 0
            }
        };
        let (ws, _) = seed(&a, 10).await;
        // A few rows are not worth it (the heartbeat comes every 5 s).
        tokio::time::sleep(Duration::from_secs(6)).await;
        assert!(!analyzed("deliveries").await);
        publish(&a, ws, 1_500).await;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
        while !(analyzed("deliveries").await && analyzed("events").await) {
            assert!(
                tokio::time::Instant::now() < deadline,
                "no statistics after three heartbeats"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        a.queue_stop().await.unwrap();
        db.drop().await;
    }

    #[tokio::test]
    async fn the_per_webhook_limit_counts_every_nodes_leases() {
        let Some(admin) = admin_url() else { return };
        let db = TestDb::new(&admin).await;
        let target = Target::parse(&db.url).unwrap();
        let (a, _) = node(&target).await;
        let (b, _) = node(&target).await;
        seed(&a, 10).await;
        let (ra, _) = a.claim(ask(4), Ledger::default()).await.unwrap();
        assert_eq!(ra.jobs.len(), 4);
        let (rb, _) = b.claim(ask(4), Ledger::default()).await.unwrap();
        assert!(rb.jobs.is_empty(), "node a holds the webhook's four");
        // Node a records two: node b may take two.
        a.record(ra.jobs[..2].iter().map(succeeded).collect(), rules())
            .await
            .unwrap();
        let (rb, _) = b.claim(ask(4), Ledger::default()).await.unwrap();
        assert_eq!(rb.jobs.len(), 2);
        let mine: std::collections::HashSet<i64> = ra.jobs.iter().map(|j| j.delivery_id).collect();
        assert!(rb.jobs.iter().all(|j| !mine.contains(&j.delivery_id)));
        // Node a stops: what it still leases goes back, for anyone.
        a.queue_stop().await.unwrap();
        let (rb, _) = b.claim(ask(8), Ledger::default()).await.unwrap();
        assert_eq!(
            rb.jobs.len(),
            6,
            "two held by b, two given back by a, four unclaimed"
        );
        b.queue_stop().await.unwrap();
        db.drop().await;
    }

    #[tokio::test]
    async fn a_dead_nodes_leases_go_to_another_and_its_late_results_are_not_recorded() {
        let Some(admin) = admin_url() else { return };
        let db = TestDb::new(&admin).await;
        let target = Target::parse(&db.url).unwrap();
        let (a, _) = node(&target).await;
        let (ws, _) = seed(&a, 3).await;
        let (ra, _) = a.claim(ask(16), Ledger::default()).await.unwrap();
        assert_eq!(ra.jobs.len(), 3);
        // Node a stops beating (as a SIGKILLed node would): 20 s of silence.
        let admin_c = connect_raw(&db.url).await;
        admin_c
            .execute(
                "UPDATE hookline_nodes SET heartbeat_at = heartbeat_at - 20000",
                &[],
            )
            .await
            .unwrap();
        // Node b starts: its first reap frees a's leases, and it claims them.
        let (b, _) = node(&target).await;
        let (rb, _) = b.claim(ask(16), Ledger::default()).await.unwrap();
        assert_eq!(rb.jobs.len(), 3);
        // Node a's results arrive late: fenced off, nothing changes.
        a.record(ra.jobs.iter().map(succeeded).collect(), rules())
            .await
            .unwrap();
        let attempts: i64 = admin_c
            .query_one("SELECT count(*) FROM attempts", &[])
            .await
            .unwrap()
            .get(0);
        assert_eq!(attempts, 0, "a's results were not recorded");
        let leased: i64 = admin_c
            .query_one(
                "SELECT count(*) FROM deliveries WHERE lease_until IS NOT NULL",
                &[],
            )
            .await
            .unwrap()
            .get(0);
        assert_eq!(leased, 3, "b's leases stand");
        b.record(rb.jobs.iter().map(succeeded).collect(), rules())
            .await
            .unwrap();
        for j in &rb.jobs {
            let d = b.delivery_get(ws, j.delivery_id).await.unwrap().unwrap();
            assert_eq!(
                (d.status, d.attempt_count),
                (hookline::domain::DeliveryStatus::Succeeded, 1)
            );
        }
        b.queue_stop().await.unwrap();
        db.drop().await;
    }

    /// Recording takes its webhooks' row locks before its deliveries', the order a webhook's
    /// delete takes them in (the row, then the cascade), so a delete and a record wait for
    /// each other instead of deadlocking. With the deliveries first, a delete retried three
    /// times while replays were being recorded and answered 500.
    #[tokio::test]
    async fn a_record_waits_for_its_webhooks_lock_before_taking_its_deliveries() {
        let Some(admin) = admin_url() else { return };
        let db = TestDb::new(&admin).await;
        let target = Target::parse(&db.url).unwrap();
        let (a, _) = node(&target).await;
        let (ws, hook) = seed(&a, 3).await;
        let (ra, _) = a.claim(ask(16), Ledger::default()).await.unwrap();
        assert_eq!(ra.jobs.len(), 3);
        // Another session holds the webhook's row, as a delete does before its cascade.
        let other = connect_raw(&db.url).await;
        other.batch_execute("BEGIN").await.unwrap();
        other
            .execute("SELECT 1 FROM webhooks WHERE id = $1 FOR UPDATE", &[&hook])
            .await
            .unwrap();
        let results: Vec<AttemptResult> = ra.jobs.iter().map(succeeded).collect();
        let a = Arc::new(a);
        let recording = tokio::spawn({
            let a = a.clone();
            async move { a.record(results, rules()).await }
        });
        let watch = connect_raw(&db.url).await;
        let waiting = async {
            loop {
                let n: i64 = watch
                    .query_one(
                        "SELECT count(*) FROM pg_stat_activity
                         WHERE datname = current_database() AND wait_event_type = 'Lock'",
                        &[],
                    )
                    .await
                    .unwrap()
                    .get(0);
                if n > 0 {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        };
        tokio::time::timeout(Duration::from_secs(10), waiting)
            .await
            .expect("the record waits for the webhook's row");
        // The record holds none of the deliveries while it waits: the cascade can take them.
        let locked = other
            .query(
                "SELECT id FROM deliveries WHERE webhook_id = $1 FOR UPDATE NOWAIT",
                &[&hook],
            )
            .await
            .expect("no delivery is locked by the waiting record");
        assert_eq!(locked.len(), 3);
        other.batch_execute("ROLLBACK").await.unwrap();
        recording.await.unwrap().unwrap();
        for j in &ra.jobs {
            let d = a.delivery_get(ws, j.delivery_id).await.unwrap().unwrap();
            assert_eq!(
                (d.status, d.attempt_count),
                (hookline::domain::DeliveryStatus::Succeeded, 1)
            );
        }
        a.queue_stop().await.unwrap();
        db.drop().await;
    }

    #[tokio::test]
    async fn a_publish_on_one_node_wakes_the_others() {
        let Some(admin) = admin_url() else { return };
        let db = TestDb::new(&admin).await;
        let target = Target::parse(&db.url).unwrap();
        let (a, _) = node(&target).await;
        let (b, wake_b) = node(&target).await;
        let (ws, _) = seed(&a, 0).await;
        // The listener's first wake (on connecting) may be pending: take it.
        let _ = tokio::time::timeout(Duration::from_secs(2), wake_b.notified()).await;
        let woken = wake_b.notified();
        publish(&a, ws, 1).await;
        tokio::time::timeout(Duration::from_secs(5), woken)
            .await
            .expect("node b heard of the publish on node a");
        a.queue_stop().await.unwrap();
        b.queue_stop().await.unwrap();
        db.drop().await;
    }

    #[tokio::test]
    async fn one_node_leads_each_role_and_another_takes_over_when_it_stops() {
        use hookline::store::lead::Role;
        use hookline::store::Store;
        let Some(admin) = admin_url() else { return };
        let db = TestDb::new(&admin).await;
        let target = Target::parse(&db.url).unwrap();
        let (a, _) = node(&target).await;
        let (b, _) = node(&target).await;
        let (sa, sb) = (Store::Postgres(a.clone()), Store::Postgres(b.clone()));
        let mut lead_a = sa.lead(Role::Notifier);
        tokio::time::timeout(Duration::from_secs(5), lead_a.acquired())
            .await
            .expect("the first node leads at once");
        let mut lead_b = sb.lead(Role::Notifier);
        let mut retention_b = sb.lead(Role::Retention);
        tokio::time::timeout(Duration::from_secs(5), retention_b.acquired())
            .await
            .expect("another role is another lock");
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(lead_a.holds() && !lead_b.holds(), "one notifier at a time");
        // Node a stops: its connection closes, and node b takes the role within its retry.
        a.queue_stop().await.unwrap();
        tokio::time::timeout(Duration::from_secs(12), lead_b.acquired())
            .await
            .expect("node b took over");
        assert!(!lead_a.holds());
        b.queue_stop().await.unwrap();
        db.drop().await;
    }

    #[tokio::test]
    async fn login_throttles_and_rate_limits_count_across_nodes() {
        use hookline::auth::throttle::{RateLimit, Throttle};
        use hookline::store::Store;
        let Some(admin) = admin_url() else { return };
        let db = TestDb::new(&admin).await;
        let target = Target::parse(&db.url).unwrap();
        let (a, b) = (
            Store::Postgres(PgStore::open(&target, 4).await.unwrap()),
            Store::Postgres(PgStore::open(&target, 4).await.unwrap()),
        );
        let (ta, tb) = (Throttle::for_store(&a), Throttle::for_store(&b));
        // Five wrong passwords, through both nodes in turn: the sixth is refused on either,
        // from another address too.
        for i in 0..5 {
            let t = if i % 2 == 0 { &ta } else { &tb };
            t.begin("ann@x.io", "1.1.1.1").await.unwrap().failed();
        }
        tokio::time::sleep(Duration::from_millis(300)).await; // outcomes are written behind
        assert!(tb.begin("ANN@x.io", "2.2.2.2").await.is_err());
        assert!(ta.begin("ann@x.io", "3.3.3.3").await.is_err());
        // Her owner resets the password: she may try again.
        ta.forget_account("ann@x.io").await;
        tb.begin("ann@x.io", "4.4.4.4").await.unwrap().succeeded();
        // Forty verifications at once on both nodes: at most five run.
        let mut running = Vec::new();
        let mut refused = 0;
        let tries = (0..40).map(|i| {
            let t = if i % 2 == 0 { &ta } else { &tb };
            t.begin("bob@x.io", "5.5.5.5")
        });
        for r in futures_util::future::join_all(tries).await {
            match r {
                Ok(attempt) => running.push(attempt),
                Err(_) => refused += 1,
            }
        }
        assert_eq!((running.len(), refused), (5, 35));
        drop(running);
        // A rate limit of three an hour, asked through both nodes.
        let (ra, rb) = (
            RateLimit::for_store(Duration::from_secs(3600), &a),
            RateLimit::for_store(Duration::from_secs(3600), &b),
        );
        assert!(ra.allow(&[("e:ann", 3)]).await);
        assert!(rb.allow(&[("e:ann", 3)]).await);
        assert!(ra.allow(&[("e:ann", 3), ("i:1", 10)]).await);
        assert!(
            !rb.allow(&[("e:ann", 3)]).await,
            "three used across the nodes"
        );
        assert!(rb.allow(&[("e:bob", 3)]).await);
        db.drop().await;
    }
}
