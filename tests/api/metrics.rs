//! `GET /metrics`: OpenMetrics or Prometheus text with delivery, attempt, queue and database
//! metrics, read back with Prometheus's own Python parsers.

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

/// Events counted by this process so far (the registry is process-wide).
fn published_so_far() -> f64 {
    hookline::metrics::global()
        .encode()
        .lines()
        .find_map(|l| l.strip_prefix("hookline_events_published_total "))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
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
    // Counters are process-wide: compare with what they were before this test's events.
    let published_before = published_so_far();
    let since = hookline::clock::rfc3339(hookline::clock::now_ms() - 60_000);
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
    // A replay of the three to the first webhook: a job, whose batches are written in the
    // writer's background lane.
    let (s, b) = f
        .app
        .api(
            reqwest::Method::POST,
            &format!("/api/v1/webhooks/{}/replay", w1["id"]),
            Some(&f.key),
            Some(json!({"since": since})),
        )
        .await;
    assert_eq!(s, 202, "{b}");
    f.wait_deliveries(w1["id"].as_i64().unwrap(), |l| {
        l.len() == 6 && l.iter().all(|d| d["status"] == "succeeded")
    })
    .await;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;

    let r = f.app.http.get(f.app.url("/metrics")).send().await.unwrap();
    assert_eq!(r.status(), 401, "the token is required when set");
    let r = f
        .app
        .http
        .get(f.app.url("/metrics"))
        .bearer_auth("s3cret-metrics")
        .header("accept", "application/openmetrics-text; version=1.0.0")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/openmetrics-text"));
    let text = r.text().await.unwrap();
    assert_eq!(
        value(&text, "hookline_events_published_total") - published_before,
        3.0
    );
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
    if f.app.pg_url.is_none() {
        // SQLite's writer thread: its commits, and its two lanes.
        assert!(value(&text, "hookline_db_commit_duration_seconds_count") >= 1.0);
        // Publishes (three) and small batches of attempt results wait in the prompt lane,
        // the replay job's batches in the background one; a job's wait is observed when it
        // starts, its write when it has committed.
        for (lane, least) in [("prompt", 3.0), ("background", 1.0)] {
            let count = |name: &str| value(&text, &format!("{name}_count{{lane=\"{lane}\"}}"));
            let (waited, written) = (
                count("hookline_db_write_wait_seconds"),
                count("hookline_db_write_seconds"),
            );
            assert!(written >= least, "{lane}: {text}");
            assert!(waited >= written, "{lane}: {text}");
        }
    } else {
        // One node: nothing was taken over, so no late result was thrown away.
        assert_eq!(value(&text, "hookline_stale_results_total"), 0.0, "{text}");
    }
    assert!(text.contains("hookline_queue_oldest_due_age_seconds"));
    assert!(text.trim_end().ends_with("# EOF"));
}

/// Reads `text` with `prometheus_client`'s parser for `format` (`classic` or `openmetrics`)
/// and returns every family as JSON: `[{"name", "type", "samples": [[name, labels, value]]}]`.
fn parsed_by_python(py: &str, format: &str, text: &str) -> serde_json::Value {
    use std::io::Write;
    let script = r#"
import json, sys
if sys.argv[1] == "classic":
    from prometheus_client.parser import text_string_to_metric_families
else:
    from prometheus_client.openmetrics.parser import text_string_to_metric_families
out = []
for f in text_string_to_metric_families(sys.stdin.read()):
    out.append({"name": f.name, "type": f.type,
                "samples": [[s.name, s.labels, s.value] for s in f.samples]})
print(json.dumps(out))
"#;
    let mut child = std::process::Command::new(py)
        .args(["-c", script, format])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "the {format} parser refused the text: {}\n{text}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// The family that holds `sample`, as (family type, value).
fn family_of(families: &serde_json::Value, sample: &str) -> (String, f64) {
    for f in families.as_array().unwrap() {
        for s in f["samples"].as_array().unwrap() {
            if s[0] == sample {
                return (
                    f["type"].as_str().unwrap().to_string(),
                    s[2].as_f64().unwrap(),
                );
            }
        }
    }
    panic!("no sample {sample} in {families}");
}

/// `/metrics` negotiates: OpenMetrics when asked for it (as Prometheus asks), the classic
/// text format 0.0.4 otherwise. Each is read back by `prometheus_client`'s parser for that
/// format, and counters come out as counters with their values in both.
#[tokio::test]
async fn metrics_speak_both_text_formats_to_their_parsers() {
    let Some(py) = crate::helpers::python_with(&["prometheus_client"]) else {
        return;
    };
    let f = fixture_with(|r| {
        r.allow_http = Some("true".into());
        r.allowed_networks = Some("127.0.0.0/8".into());
    })
    .await;
    let ok = Receiver::start(Receiver::always(200)).await;
    let w = f
        .create_webhook(json!({"url": ok.url, "events": ["*"]}))
        .await;
    let published_before = published_so_far();
    for i in 0..2 {
        f.publish("project.created", json!({"i": i})).await;
    }
    f.wait_deliveries(w["id"].as_i64().unwrap(), |l| {
        l.len() == 2 && l.iter().all(|d| d["status"] == "succeeded")
    })
    .await;
    let prometheus_accept = "application/openmetrics-text;version=1.0.0;q=0.5,application/openmetrics-text;version=0.0.1;q=0.4,text/plain;version=0.0.4;q=0.3,*/*;q=0.2";
    for (accept, content_type, parser) in [
        (None, "text/plain; version=0.0.4", "classic"),
        (
            Some("text/plain;version=0.0.4"),
            "text/plain; version=0.0.4",
            "classic",
        ),
        (Some("*/*"), "text/plain; version=0.0.4", "classic"),
        (
            Some("application/openmetrics-text; version=1.0.0"),
            "application/openmetrics-text",
            "openmetrics",
        ),
        (
            Some(prometheus_accept),
            "application/openmetrics-text",
            "openmetrics",
        ),
    ] {
        let mut req = f.app.http.get(f.app.url("/metrics"));
        if let Some(a) = accept {
            req = req.header("accept", a);
        }
        let r = req.send().await.unwrap();
        assert_eq!(r.status(), 200);
        let ct = r.headers()["content-type"].to_str().unwrap().to_string();
        assert!(ct.starts_with(content_type), "Accept {accept:?} gave {ct}");
        let text = r.text().await.unwrap();
        assert_eq!(
            text.contains("# EOF"),
            parser == "openmetrics",
            "{accept:?}"
        );
        let families = parsed_by_python(&py, parser, &text);
        let (kind, published) = family_of(&families, "hookline_events_published_total");
        assert_eq!(
            (kind.as_str(), published - published_before),
            ("counter", 2.0),
            "{parser}"
        );
        let (kind, n) = family_of(&families, "hookline_deliveries_total");
        assert_eq!(kind, "counter", "{parser}");
        assert!(n >= 2.0);
        let (kind, _) = family_of(&families, "hookline_attempt_duration_seconds_bucket");
        assert_eq!(kind, "histogram", "{parser}");
        let (kind, _) = family_of(&families, "hookline_queue_due");
        assert_eq!(kind, "gauge", "{parser}");
        for fam in families.as_array().unwrap() {
            assert!(
                !matches!(fam["type"].as_str(), Some("unknown" | "untyped")),
                "{parser}: {} read as {}",
                fam["name"],
                fam["type"]
            );
        }
    }
}
