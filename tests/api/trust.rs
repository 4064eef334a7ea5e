//! The real binary delivering over HTTPS to a receiver whose certificate comes from a private
//! CA: trusted when the CA is in the system's trust store (here `SSL_CERT_FILE`, which is how
//! the system store is found, as after `update-ca-certificates`) or in
//! `HOOKLINE_EXTRA_CA_FILE`, refused otherwise; and `HOOKLINE_SIGNATURE_HEADER` branding the
//! hex signature header that arrives. The receiver's copy is checked with the
//! `standardwebhooks` package from PyPI.

use std::time::Duration;

use serde_json::{json, Value};

use crate::helpers::*;
use crate::tls_receiver::TlsReceiver;

async fn call(
    base: &str,
    key: &str,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut r = reqwest::Client::new()
        .request(method, format!("{base}{path}"))
        .bearer_auth(key);
    if let Some(b) = body {
        r = r.json(&b);
    }
    let r = r.send().await.unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

/// Publishes one event and waits for its delivery to leave `pending`; returns the delivery.
async fn deliver_one(base: &str, key: &str, webhook: i64) -> Value {
    let (s, e) = call(
        base,
        key,
        reqwest::Method::POST,
        "/api/v1/events",
        Some(json!({"type": "order.paid", "data": {"total": "19.90"}})),
    )
    .await;
    assert_eq!(s, 202, "{e}");
    let event = e["data"]["id"].as_str().unwrap().to_string();
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    loop {
        let (_, l) = call(
            base,
            key,
            reqwest::Method::GET,
            &format!("/api/v1/webhooks/{webhook}/deliveries?limit=10"),
            None,
        )
        .await;
        if let Some(d) = l["data"]
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["event_id"] == event && d["attempts"].as_i64().unwrap_or(0) > 0)
        {
            let (_, full) = call(
                base,
                key,
                reqwest::Method::GET,
                &format!("/api/v1/deliveries/{}", d["id"]),
                None,
            )
            .await;
            return full["data"].clone();
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no attempt was made: {l}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn https_receivers_are_trusted_through_the_system_store_or_the_extra_ca_file() {
    let Some(py) = python_with(&["standardwebhooks"]) else {
        return;
    };
    let rx = TlsReceiver::start().await;
    let dir = tempfile::tempdir().unwrap();
    let key = cli_workspace(dir.path(), &["order.paid"], "webhooks,events");
    let ca = dir.path().join("test-ca.pem");
    std::fs::write(&ca, &rx.ca_pem).unwrap();
    let empty = dir.path().join("no-certs");
    std::fs::create_dir(&empty).unwrap();
    let (ca, empty) = (ca.to_str().unwrap(), empty.to_str().unwrap());
    let common = [
        ("HOOKLINE_ALLOWED_NETWORKS", "127.0.0.0/8"),
        ("HOOKLINE_SIGNATURE_HEADER", "X-Acme-Signature"),
    ];

    // The system's store holds the test CA: delivered, with the branded header.
    let env: Vec<(&str, &str)> = common
        .iter()
        .copied()
        .chain([("SSL_CERT_FILE", ca), ("SSL_CERT_DIR", empty)])
        .collect();
    let server = start_server(dir.path(), &env);
    let (s, w) = call(
        &server.base,
        &key,
        reqwest::Method::POST,
        "/api/v1/webhooks",
        Some(json!({"url": rx.url, "events": ["*"], "retry_schedule": []})),
    )
    .await;
    assert_eq!(s, 201, "{w}");
    let (webhook, secret) = (
        w["data"]["id"].as_i64().unwrap(),
        w["data"]["secret"].as_str().unwrap().to_string(),
    );
    let d = deliver_one(&server.base, &key, webhook).await;
    assert_eq!(d["status"], "succeeded", "{d}");
    let got = rx.all();
    assert_eq!(got.len(), 1);
    let hex = got[0]
        .headers
        .get("x-acme-signature")
        .expect("the branded header arrives");
    assert_eq!(
        hex,
        &hookline::delivery::hex_signature(&secret, got[0].body.as_bytes())
    );
    assert!(
        !got[0].headers.contains_key("x-hookline-signature"),
        "only the branded name"
    );
    // The receiver verifies the Standard Webhooks signature with the PyPI package.
    let verify = std::process::Command::new(&py)
        .args([
            "-c",
            "import json, sys\nfrom standardwebhooks.webhooks import Webhook\nh = json.loads(sys.argv[3])\nWebhook(sys.argv[1]).verify(sys.argv[2], h)\nprint('verified')",
            &secret,
            &got[0].body,
            &serde_json::to_string(&got[0].headers).unwrap(),
        ])
        .output()
        .unwrap();
    assert!(
        verify.status.success(),
        "{}",
        String::from_utf8_lossy(&verify.stderr)
    );
    drop(server);

    // The machine's own store, which does not hold the test CA: a TLS failure.
    let server = start_server(dir.path(), &common);
    let d = deliver_one(&server.base, &key, webhook).await;
    assert_eq!(d["status"], "failed", "{d}");
    let error = d["attempts"][0]["error"].as_str().unwrap_or_default();
    assert!(error.starts_with("TLS"), "{error}");
    assert_eq!(rx.all().len(), 1);
    drop(server);

    // HOOKLINE_EXTRA_CA_FILE trusts it beside the system's roots.
    let env: Vec<(&str, &str)> = common
        .iter()
        .copied()
        .chain([("HOOKLINE_EXTRA_CA_FILE", ca)])
        .collect();
    let server = start_server(dir.path(), &env);
    let d = deliver_one(&server.base, &key, webhook).await;
    assert_eq!(d["status"], "succeeded", "{d}");
    assert_eq!(rx.all().len(), 2);
}
