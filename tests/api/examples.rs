//! The receiver guides in `examples/` (Python, Node, Rust), each run against real Hookline
//! deliveries: every signature verifies, a tampered body is refused.

use std::process::Command;
use std::time::Duration;

use crate::receiver::{python_with_standardwebhooks, PyReceiver};
use crate::webhooks_api::fixture_with;
use reqwest::Method;
use serde_json::json;

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSwMfKQ9r8G";

fn ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

/// Skips outside CI when a tool is missing; fails loudly in CI.
fn missing(what: &str) {
    if ci() {
        panic!(
            "CI=true but {what}: run scripts/test.sh, which installs the examples' dependencies"
        );
    }
    eprintln!("SKIPPED: {what}");
}

async fn exercise(receiver: PyReceiver) {
    let f = fixture_with(|r| {
        r.allow_http = Some("true".into());
        r.allowed_networks = Some("127.0.0.0/8".into());
    })
    .await;
    let w = f
        .create_webhook(json!({"url": receiver.url, "events": ["*"], "secret": SECRET}))
        .await;
    let id = w["id"].as_i64().unwrap();
    for i in 0..3 {
        f.publish(
            "project.created",
            json!({"i": i, "note": "ünïcödé ✓ \"quoted\""}),
        )
        .await;
    }
    f.wait_deliveries(id, |l| {
        l.len() == 3 && l.iter().all(|d| d["status"] == "succeeded")
    })
    .await;
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while receiver.lines.lock().unwrap().len() < 3 && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let lines = receiver.lines.lock().unwrap().clone();
    assert_eq!(lines.len(), 3, "{lines:?}");
    assert!(
        lines.iter().all(|l| l["ok"] == true && l["hex_ok"] == true),
        "{lines:?}"
    );
    // Replay one delivery with a changed body: refused.
    let (_, d) = f
        .call(
            Method::GET,
            &format!("/api/v1/webhooks/{id}/deliveries?limit=1"),
            None,
        )
        .await;
    let (_, detail) = f
        .call(
            Method::GET,
            &format!("/api/v1/deliveries/{}", d["data"][0]["id"]),
            None,
        )
        .await;
    let mut req = reqwest::Client::new().post(&receiver.url).body(
        detail["data"]["payload"]
            .as_str()
            .unwrap()
            .replace("\"i\":", "\"i\":9"),
    );
    for (k, v) in detail["data"]["attempts"][0]["request"]["headers"]
        .as_object()
        .unwrap()
    {
        req = req.header(k, v.as_str().unwrap());
    }
    assert_eq!(req.send().await.unwrap().status(), 400);
}

#[tokio::test]
async fn python_example_verifies_deliveries() {
    let Some(py) = python_with_standardwebhooks() else {
        return;
    };
    exercise(PyReceiver::start(&py, SECRET)).await;
}

#[tokio::test]
async fn node_example_verifies_deliveries() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/node");
    let node_ok = Command::new("node")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !node_ok
        || !std::path::Path::new(dir)
            .join("node_modules/standardwebhooks")
            .exists()
    {
        return missing("node or examples/node/node_modules (npm ci in examples/node)");
    }
    exercise(PyReceiver::spawn(
        Command::new("node").arg(format!("{dir}/receiver.mjs")),
        SECRET,
    ))
    .await;
}

#[tokio::test]
async fn rust_example_verifies_deliveries() {
    // Built by `cargo build --examples` (scripts/test.sh does it).
    let bin =
        std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("../debug/examples/rust_receiver");
    if !bin.exists() {
        return missing("target/debug/examples/rust_receiver (cargo build --examples)");
    }
    exercise(PyReceiver::spawn(&mut Command::new(bin), SECRET)).await;
}
