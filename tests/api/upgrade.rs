//! Upgrades: every released schema has a fixture data directory in `tests/fixtures/schema-vN/`
//! (database with data in it, its secret.key, and the credentials in `fixture.json`). The
//! current binary must open each, migrate it (backing it up first), and keep everything.

use std::path::{Path, PathBuf};

use crate::helpers::*;
use reqwest::Method;
use serde_json::{json, Value};

fn fixtures() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(&root)
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("schema-v")
        })
        .collect();
    dirs.sort();
    dirs
}

#[tokio::test]
async fn every_released_schema_upgrades_with_its_data() {
    let all = fixtures();
    assert!(!all.is_empty(), "no fixtures in tests/fixtures");
    for fixture in all {
        let meta: Value =
            serde_json::from_str(&std::fs::read_to_string(fixture.join("fixture.json")).unwrap())
                .unwrap();
        let dir = tempfile::tempdir().unwrap();
        for f in ["hookline.db", "secret.key"] {
            std::fs::copy(fixture.join(f), dir.path().join(f)).unwrap();
        }
        let app = spawn_app_in(dir, |_| {}).await;
        let key = meta["api_key"].as_str().unwrap();
        let (s, w) = app
            .api(
                Method::GET,
                &format!("/api/v1/webhooks/{}", meta["webhook_id"]),
                Some(key),
                None,
            )
            .await;
        assert_eq!(s, 200, "{}: {w}", fixture.display());
        assert_eq!(
            w["data"]["secret"],
            meta["secret"],
            "{}: the secret still decrypts",
            fixture.display()
        );
        for id in meta["event_ids"].as_array().unwrap() {
            let (s, _) = app
                .api(
                    Method::GET,
                    &format!("/api/v1/events/{}", id.as_str().unwrap()),
                    Some(key),
                    None,
                )
                .await;
            assert_eq!(s, 200, "{}: event {id}", fixture.display());
        }
        let b = app.browser();
        let r = app
            .login(
                &b,
                meta["email"].as_str().unwrap(),
                meta["password"].as_str().unwrap(),
            )
            .await;
        assert_eq!(
            r.status(),
            303,
            "{}: the user still logs in",
            fixture.display()
        );
        // And it keeps working: publish one more.
        let (s, _) = app
            .api(
                Method::POST,
                "/api/v1/events",
                Some(key),
                Some(json!({"type": "order.paid", "data": {"after": "upgrade"}})),
            )
            .await;
        assert_eq!(s, 202);
    }
}

/// Writes the fixture of the current schema. Run when releasing a new schema version:
/// `cargo nextest run --test api --run-ignored only write_fixture_for_current_schema`.
#[tokio::test]
#[ignore]
async fn write_fixture_for_current_schema() {
    let version = hookline::db::latest_version();
    let out =
        Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("tests/fixtures/schema-v{version}"));
    assert!(
        !out.exists(),
        "{} exists: fixtures of released schemas never change",
        out.display()
    );
    let app = spawn_app().await;
    let ws = app.workspace("acme").await;
    let (email, password) = ("owner@acme.example", "fixture password one");
    app.user(
        email,
        password,
        false,
        Some((ws, hookline::domain::Role::Owner)),
    )
    .await;
    let admin = app.api_key(None, "webhooks,events").await;
    app.api(
        Method::POST,
        "/api/v1/event-types",
        Some(&admin),
        Some(json!({"name": "order.paid", "example": {"order_id": 1}})),
    )
    .await;
    let key = app.api_key(Some(ws), "webhooks,events").await;
    let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSwMfKQ9r8G";
    let (_, w) = app
        .api(
            Method::POST,
            "/api/v1/webhooks",
            Some(&key),
            Some(json!({"url": "https://receiver.example/hook", "events": ["*"], "name": "Fixture", "secret": secret, "is_active": false,
                        "headers": {"X-Api-Key": "k"}, "retry_schedule": [60, 600], "notification_email": "ops@acme.example"})),
        )
        .await;
    let mut event_ids = Vec::new();
    for i in 0..5 {
        let (_, e) = app
            .api(
                Method::POST,
                "/api/v1/events",
                Some(&key),
                Some(json!({"type": "order.paid", "data": {"i": i}})),
            )
            .await;
        event_ids.push(e["data"]["id"].clone());
    }
    let db = app.db.clone();
    tokio::task::spawn_blocking(move || db.close())
        .await
        .unwrap();
    std::fs::create_dir_all(&out).unwrap();
    for f in ["hookline.db", "secret.key"] {
        std::fs::copy(app.data_path().join(f), out.join(f)).unwrap();
    }
    let meta = json!({
        "schema_version": version, "api_key": key, "secret": secret, "webhook_id": w["data"]["id"],
        "event_ids": event_ids, "email": email, "password": password,
    });
    std::fs::write(
        out.join("fixture.json"),
        serde_json::to_string_pretty(&meta).unwrap(),
    )
    .unwrap();
}
