//! At-least-once across a crash: SIGKILL the real server with deliveries in flight, start it
//! again, and every acknowledged event reaches the receiver. On the backend of the pass:
//! SQLite in the data directory, or with `HOOKLINE_TEST_BACKEND=postgres` a database of its
//! own on the test cluster (the restarted process is a new node, which takes over the dead
//! one's leases once its heartbeat is 15 s old).

use std::collections::HashSet;
use std::time::{Duration, Instant};

use crate::helpers::{cli_workspace_env, postgres_backend, start_server};
use crate::pg_cluster::{admin_url, TestDb};
use crate::receiver::Receiver;
use serde_json::json;

#[tokio::test]
async fn kill_9_with_deliveries_in_flight_loses_no_acknowledged_event() {
    let dir = tempfile::tempdir().unwrap();
    // A slow receiver (one worker, 20 ms a request, 6 s for the 300) so deliveries are in
    // flight at the kill, after the 300 publishes. At 5 ms a request the receiver had all 300
    // before the kill when the machine was busy and the publishes slow.
    let rx = Receiver::start(|_| {
        std::thread::sleep(Duration::from_millis(20));
        (200, vec![])
    })
    .await;
    let pg = match postgres_backend() {
        true => Some(TestDb::new(&admin_url().expect("HOOKLINE_TEST_DATABASE_URL")).await),
        false => None,
    };
    let mut env = vec![
        ("HOOKLINE_ALLOW_HTTP", "true"),
        ("HOOKLINE_ALLOWED_NETWORKS", "127.0.0.0/8"),
    ];
    if let Some(db) = &pg {
        env.push(("HOOKLINE_DATABASE_URL", db.url.as_str()));
    }
    let key = cli_workspace_env(dir.path(), &env, &["order.paid"], "webhooks,events");
    let mut server = start_server(dir.path(), &env);
    let http = crate::helpers::client().build().unwrap();
    let r = http
        .post(format!("{}/api/v1/webhooks", server.base))
        .bearer_auth(&key)
        .json(&json!({"url": rx.url, "events": ["*"], "retry_schedule": [1, 1, 1]}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);

    let mut acked = HashSet::new();
    for i in 0..300 {
        let r = http
            .post(format!("{}/api/v1/events", server.base))
            .bearer_auth(&key)
            .json(&json!({"type": "order.paid", "data": {"i": i}}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 202);
        let b: serde_json::Value = r.json().await.unwrap();
        acked.insert(b["data"]["id"].as_str().unwrap().to_string());
    }
    // Kill it mid-flight.
    let deadline = Instant::now() + Duration::from_secs(20);
    while rx.count() < 20 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    server.child.kill().unwrap(); // SIGKILL
    server.child.wait().unwrap();
    let killed_at = Instant::now();
    let before = rx.count();
    assert!(
        before < 300,
        "the kill came too late to test anything ({before} delivered)"
    );

    let _server = start_server(dir.path(), &env);
    // PostgreSQL: the dead node's leases wait for its heartbeat to be 15 s old.
    let deadline = Instant::now() + Duration::from_secs(if pg.is_some() { 60 } else { 30 });
    loop {
        let got: HashSet<String> = rx
            .all()
            .into_iter()
            .map(|r| r.headers["webhook-id"].clone())
            .collect();
        if acked.is_subset(&got) {
            let total = rx.count();
            eprintln!(
                "crash test: {} events acknowledged, {} requests received, {} duplicates",
                acked.len(),
                total,
                total - got.len()
            );
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{} acknowledged events never arrived",
            acked.difference(&got).count()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Every delivery ends succeeded: none is left leased to the dead process. (Those in
    // flight at the kill arrived, but their results were lost with the process: they are
    // sent again, on PostgreSQL once the dead node's leases are taken over, within 30 s.)
    let unfinished = "SELECT count(*) FROM deliveries WHERE status <> 'succeeded'";
    let deadline = killed_at + Duration::from_secs(if pg.is_some() { 45 } else { 15 });
    loop {
        let left: i64 = match &pg {
            Some(db) => crate::pg_cluster::connect_raw(&db.url)
                .await
                .query_one(unfinished, &[])
                .await
                .unwrap()
                .get(0),
            None => rusqlite::Connection::open(hookline::db::db_path(dir.path()))
                .unwrap()
                .query_row(unfinished, [], |r| r.get(0))
                .unwrap(),
        };
        if left == 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{left} deliveries still unfinished {:?} after the kill",
            killed_at.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    if pg.is_none() {
        let conn = rusqlite::Connection::open(hookline::db::db_path(dir.path())).unwrap();
        let check: String = conn
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .unwrap();
        assert_eq!(check, "ok");
    }
}
