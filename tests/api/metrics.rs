//! `GET /metrics`: OpenMetrics text with delivery, attempt, queue and database metrics.

use crate::receiver::Receiver;
use crate::webhooks_api::fixture_with;
use serde_json::json;

fn value(text: &str, series: &str) -> f64 {
    text.lines()
        .find(|l| l.starts_with(series))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no series {series} in:\n{text}"))
}

#[tokio::test]
async fn metrics_count_deliveries_attempts_and_the_queue() {
    let f = fixture_with(|r| {
        r.allow_http = Some("true".into());
        r.allowed_networks = Some("127.0.0.0/8".into());
        r.metrics_token = Some("s3cret-metrics".into());
    })
    .await;
    let ok = Receiver::start(Receiver::always(200)).await;
    let bad = Receiver::start(Receiver::always(500)).await;
    let w1 = f
        .create_webhook(json!({"url": ok.url, "events": ["*"]}))
        .await;
    f.create_webhook(json!({"url": bad.url, "events": ["*"], "retry_schedule": [600]}))
        .await;
    for i in 0..3 {
        f.publish("project.created", json!({"i": i})).await;
    }
    f.wait_deliveries(w1["id"].as_i64().unwrap(), |l| {
        l.len() == 3 && l.iter().all(|d| d["status"] == "succeeded")
    })
    .await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while bad.count() < 3 && std::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;

    let r = f.app.http.get(f.app.url("/metrics")).send().await.unwrap();
    assert_eq!(r.status(), 401, "the token is required when set");
    let r = f
        .app
        .http
        .get(f.app.url("/metrics"))
        .bearer_auth("s3cret-metrics")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/openmetrics-text"));
    let text = r.text().await.unwrap();
    assert_eq!(value(&text, "hookline_events_published_total"), 3.0);
    assert!(value(&text, "hookline_attempts_total{class=\"2xx\"}") >= 3.0);
    assert!(value(&text, "hookline_attempts_total{class=\"5xx\"}") >= 3.0);
    assert!(value(&text, "hookline_deliveries_total{outcome=\"succeeded\"}") >= 3.0);
    assert!(value(&text, "hookline_publish_to_delivery_seconds_count") >= 3.0);
    assert!(value(&text, "hookline_attempt_duration_seconds_count") >= 6.0);
    assert_eq!(
        value(&text, "hookline_queue_scheduled"),
        3.0,
        "three retries wait ten minutes"
    );
    assert_eq!(value(&text, "hookline_queue_due"), 0.0);
    assert!(value(&text, "hookline_db_commit_duration_seconds_count") >= 1.0);
    assert!(text.contains("hookline_queue_oldest_due_age_seconds"));
    assert!(text.trim_end().ends_with("# EOF"));
}
