//! The receiver guides in `examples/` (Python, Node, Rust), each run against real Hookline
//! deliveries: every signature verifies, a tampered body is refused.

use std::process::{Command, Stdio};
use std::time::Duration;

use crate::helpers::{csrf_of, run_cli, start_server};
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

/// The README's vendor backend ("Put webhooks in your product"), run as it is against the real
/// binary: it provisions the customer's workspace, hands out a portal link in an iframe and as
/// a redirect, and through that link the customer's admin adds a webhook and sees its
/// deliveries, with nothing typed by an operator.
#[tokio::test]
async fn readme_vendor_backend_puts_webhooks_in_the_vendors_page() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let block = readme
        .split("<!-- vendor-example:start -->")
        .nth(1)
        .and_then(|r| r.split("<!-- vendor-example:end -->").next())
        .expect("README has the vendor-example block");
    let code: String = block
        .lines()
        .filter(|l| !l.starts_with("```"))
        .map(|l| format!("{l}\n"))
        .collect();
    let file = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/examples/python/vendor_backend.py"
    ))
    .unwrap();
    assert_eq!(
        code.trim(),
        file.trim(),
        "the README shows examples/python/vendor_backend.py"
    );
    let Some(python) = crate::helpers::python_with(&["json"]) else {
        return;
    };

    // The operator's one step: an instance key for the vendor's backend.
    let dir = tempfile::tempdir().unwrap();
    let ok = |args: &[&str]| {
        let out = run_cli(dir.path(), args, None);
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    };
    ok(&["event-type", "create", "project.created"]);
    let key = ok(&[
        "api-key",
        "create",
        "--instance",
        "--scopes",
        "workspaces,portal,events",
    ]);
    let server = start_server(dir.path(), &[("HOOKLINE_DEV", "true")]);
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let script = dir.path().join("vendor_backend.py");
    std::fs::write(&script, &code).unwrap();
    let mut vendor = Command::new(&python)
        .arg(&script)
        .env("HOOKLINE_URL", &server.base)
        .env("HOOKLINE_KEY", &key)
        .env("PORT", port.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    struct Kill(std::process::Child);
    impl Drop for Kill {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let vendor_url = format!("http://127.0.0.1:{port}");
    let http = crate::helpers::client()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    let page = loop {
        if let Ok(r) = http
            .get(format!("{vendor_url}/settings/webhooks"))
            .send()
            .await
        {
            break r.text().await.unwrap();
        }
        if let Ok(Some(status)) = vendor.try_wait() {
            let mut err = String::new();
            std::io::Read::read_to_string(vendor.stderr.as_mut().unwrap(), &mut err).unwrap();
            panic!("the vendor backend exited ({status}): {err}");
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the vendor backend did not start"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let vendor = Kill(vendor);

    // The vendor's page frames a fresh portal link.
    let src = page
        .split("<iframe src=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .unwrap_or_else(|| panic!("no iframe: {page}"))
        .to_string();
    assert!(
        src.starts_with(&format!("{}/portal/", server.base)),
        "{src}"
    );
    let admin = crate::helpers::client()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let r = admin.get(&src).send().await.unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()["location"], "/w/acme/webhooks");
    let html = admin
        .get(format!("{}/w/acme/webhooks", server.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("ann@acme.example"), "{html}");

    // The admin adds a webhook to their own receiver, inside the portal.
    let receiver = crate::receiver::Receiver::start(crate::receiver::Receiver::always(200)).await;
    let form = admin
        .get(format!("{}/w/acme/webhooks/new", server.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let csrf = csrf_of(&form);
    let r = admin
        .post(format!("{}/w/acme/webhooks", server.base))
        .form(&[
            ("csrf", csrf.as_str()),
            ("url", receiver.url.as_str()),
            ("name", "Acme CRM"),
            ("events_mode", "all"),
            ("secret_mode", "auto"),
            ("retry_preset", "default"),
            ("timeout_seconds", "10"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303, "{}", r.text().await.unwrap());
    let webhook_page = r.headers()["location"].to_str().unwrap().to_string();

    // The vendor's app publishes; the admin sees the delivery in the portal.
    let r = http
        .post(format!("{}/api/v1/events", server.base))
        .bearer_auth(&key)
        .header("Hookline-Workspace", "acme")
        .json(&serde_json::json!({"type": "project.created", "data": {"id": 7}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let html = admin
            .get(format!("{}{webhook_page}/deliveries", server.base))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        if html.contains("data-status=\"succeeded\"") {
            assert!(html.contains("project.created"));
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no delivery shown: {html}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(receiver.count(), 1);

    // The redirect variant: a fresh link each time, and the first one stays spent.
    let r = http
        .get(format!("{vendor_url}/settings/webhooks?open=tab"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let location = r.headers()["location"].to_str().unwrap().to_string();
    assert!(location.starts_with(&format!("{}/portal/", server.base)) && location != src);
    let r = http.get(&src).send().await.unwrap();
    assert_eq!(r.status(), 410);
    drop(vendor);
}
