//! At-least-once across a crash: SIGKILL the real server with deliveries in flight, start it
//! again, and every acknowledged event reaches the receiver.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use crate::helpers::{cli_workspace, start_server};
use crate::receiver::Receiver;
use serde_json::json;

#[tokio::test]
async fn kill_9_with_deliveries_in_flight_loses_no_acknowledged_event() {
    let dir = tempfile::tempdir().unwrap();
    // A slowish receiver (one worker, 5 ms a request) so deliveries are in flight at the kill.
    let rx = Receiver::start(|_| {
        std::thread::sleep(Duration::from_millis(5));
        (200, vec![])
    })
    .await;
    let key = cli_workspace(dir.path(), &["order.paid"], "webhooks,events");
    let env = [
        ("HOOKLINE_ALLOW_HTTP", "true"),
        ("HOOKLINE_ALLOWED_NETWORKS", "127.0.0.0/8"),
    ];
    let mut server = start_server(dir.path(), &env);
    let http = reqwest::Client::new();
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
    let before = rx.count();
    assert!(
        before < 300,
        "the kill came too late to test anything ({before} delivered)"
    );

    let _server = start_server(dir.path(), &env);
    let deadline = Instant::now() + Duration::from_secs(30);
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
    let conn = rusqlite::Connection::open(hookline::db::db_path(dir.path())).unwrap();
    let check: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(check, "ok");
}
