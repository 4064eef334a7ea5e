//! The benchmark program keeps working: a `--smoke` run (every scenario, counts divided by
//! 100) against the real binary, writing its JSON. Speed is not judged here (debug build,
//! shared machine); `hookline-bench` itself reports the targets on a release build.

use std::process::Command;

use serde_json::Value;

#[test]
fn every_bench_scenario_runs_and_reports() {
    let dir = tempfile::tempdir().unwrap();
    let json_path = dir.path().join("bench.json");
    let out = Command::new(env!("CARGO_BIN_EXE_hookline-bench"))
        .args(["--smoke", "--runs", "2", "--json"])
        .arg(&json_path)
        .output()
        .expect("run hookline-bench");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "hookline-bench --smoke failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("targets (2-core machine"), "{stdout}");
    let v: Value = serde_json::from_str(&std::fs::read_to_string(&json_path).unwrap()).unwrap();
    let s = &v["scenarios"];
    for (scenario, metric) in [
        ("baseline", "requests_per_s"),
        ("single", "publish_events_per_s"),
        ("single", "deliveries_per_s"),
        ("batch", "publish_events_per_s"),
        ("batch", "deliveries_per_s"),
        ("single", "ratio_to_baseline"),
        ("single", "baseline_requests_per_s"),
        ("batch", "ratio_to_baseline"),
        ("batch", "baseline_requests_per_s"),
        ("batch", "latency_p99_ms"),
        ("batch", "cpu_us_per_delivery"),
        ("fanout10", "deliveries_per_s"),
        ("fanout10", "ratio_to_baseline"),
        ("fanout10", "baseline_requests_per_s"),
        ("fanout10", "cpu_in_client_requests"),
        ("fanout10", "baseline_client_cpu_us_per_request"),
        ("single", "cpu_in_client_requests"),
        ("batch", "cpu_in_client_requests"),
        ("latency", "p50_ms"),
        ("latency", "p99_ms"),
        ("latency", "ack_p99_ms"),
        ("latency", "after_burst_p99_ms"),
        ("rss", "peak_mib"),
        ("million", "startup_ms"),
        ("million", "rss_mib"),
        ("million", "api_list_page1_ms"),
        ("million", "api_list_page1000_ms"),
        ("million", "ui_list_page1_ms"),
        ("million", "ui_list_page1000_ms"),
        ("million", "api_filters_max_ms"),
        ("million", "api_stats_ms"),
        ("million", "ui_filters_max_ms"),
        ("million", "ui_chart_ms"),
        ("noisy", "alone_p99_ms"),
        ("noisy", "drain_p99_ms"),
        ("noisy", "drain_ack_p99_ms"),
        ("noisy", "spread_p99_ms"),
        ("noisy", "failing_p99_ms"),
        ("noisy", "bulkretry_p99_ms"),
        ("noisy", "bulkretry_job_s"),
        ("noisy", "bulkretry_noise_s"),
        ("noisy", "publishing_p99_ms"),
        ("noisy", "publishing_ack_p99_ms"),
        ("noisy", "publishing_noise_s"),
        ("fanout10", "cpu_us_per_delivery"),
        ("cold", "first_delivery_ms"),
        ("cold", "deliveries_per_s"),
        ("cold", "ratio_to_warm"),
    ] {
        let x = s[scenario][metric].as_f64();
        assert!(
            x.is_some_and(|x| x.is_finite() && x > 0.0),
            "{scenario}.{metric} = {:?} in {v}",
            s[scenario][metric]
        );
    }
    // Counts that may well be 0, but are there.
    for phase in [
        "alone",
        "drain",
        "spread",
        "failing",
        "bulkretry",
        "publishing",
    ] {
        let metric = format!("{phase}_commits_over_12ms");
        let x = s["noisy"][&metric].as_f64();
        assert!(
            x.is_some_and(|x| x.is_finite() && x >= 0.0),
            "noisy.{metric} = {:?} in {v}",
            s["noisy"][&metric]
        );
    }
    // A baseline measures for at least two seconds (/ 100 in a smoke run), not only its
    // 20,000 (/ 100) requests, which a fast host sends in a few milliseconds.
    let took = s["baseline"]["seconds"].as_f64().unwrap_or(0.0);
    assert!(
        (0.02..60.0).contains(&took),
        "baseline.seconds = {took} in {v}"
    );
    // The baseline's CPU per request, the client's and the receiver's: what Hookline's CPU
    // per delivery compares with. Both run, so both used some.
    for metric in ["client_cpu_us_per_request", "receiver_cpu_us_per_request"] {
        let x = s["baseline"][metric].as_f64();
        assert!(
            x.is_some_and(|x| x.is_finite() && x > 0.0 && x < 100_000.0),
            "baseline.{metric} = {:?} in {v}",
            s["baseline"][metric]
        );
    }
    // Fan-out 10 says how much of its run the publishes took and what share of its
    // deliveries had arrived by then: both shares (the second may be 0 in a short run).
    for (metric, lowest) in [
        ("publish_share", f64::MIN_POSITIVE),
        ("delivered_while_publishing", 0.0),
    ] {
        let x = s["fanout10"][metric].as_f64();
        assert!(
            x.is_some_and(|x| (lowest..=1.0).contains(&x)),
            "fanout10.{metric} = {:?} in {v}",
            s["fanout10"][metric]
        );
    }
    let targets = v["targets"].as_array().unwrap();
    assert_eq!(targets.len(), 25, "every target is compared: {v}");
    // Each scenario ran twice: every run's value is kept, the table holds the median.
    let runs = v["runs"].as_array().unwrap();
    let fanout = runs
        .iter()
        .find(|r| r["scenario"] == "fanout10" && r["metric"] == "deliveries_per_s")
        .expect("the fan-out runs");
    assert_eq!(fanout["values"].as_array().unwrap().len(), 2, "{fanout}");
    // Each run's ratio divides that run's rate by the baseline measured around it (the mean of one before and one after).
    for scenario in ["single", "batch", "fanout10"] {
        let values = |metric: &str| -> Vec<f64> {
            runs.iter()
                .find(|r| r["scenario"] == scenario && r["metric"] == metric)
                .unwrap_or_else(|| panic!("{scenario}.{metric} runs in {v}"))["values"]
                .as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_f64().unwrap())
                .collect()
        };
        let (rates, bases, ratios) = (
            values("deliveries_per_s"),
            values("baseline_requests_per_s"),
            values("ratio_to_baseline"),
        );
        // And its CPU per delivery by the client's CPU per request around it.
        let (cpus, clients, in_requests) = (
            values("cpu_us_per_delivery"),
            values("baseline_client_cpu_us_per_request"),
            values("cpu_in_client_requests"),
        );
        assert_eq!(ratios.len(), 2, "{scenario}");
        assert_eq!(in_requests.len(), 2, "{scenario}");
        for i in 0..2 {
            let expected = rates[i] / bases[i];
            assert!(
                (ratios[i] - expected).abs() <= 1e-9 * expected,
                "{scenario} run {i}: ratio {} against {} / {}",
                ratios[i],
                rates[i],
                bases[i]
            );
            let expected = cpus[i] / clients[i];
            assert!(
                (in_requests[i] - expected).abs() <= 1e-9 * expected,
                "{scenario} run {i}: {} client requests against {} / {}",
                in_requests[i],
                cpus[i],
                clients[i]
            );
        }
    }
}

/// Without the baseline scenario, the ratios are there all the same: each run measures the
/// baseline it is divided by.
#[test]
fn a_ratio_needs_no_baseline_scenario() {
    let dir = tempfile::tempdir().unwrap();
    let json_path = dir.path().join("bench.json");
    let out = Command::new(env!("CARGO_BIN_EXE_hookline-bench"))
        .args(["--smoke", "--runs", "1", "--only", "fanout10", "--json"])
        .arg(&json_path)
        .output()
        .expect("run hookline-bench");
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_str(&std::fs::read_to_string(&json_path).unwrap()).unwrap();
    assert!(v["scenarios"]["baseline"].is_null(), "{v}");
    let ratio = v["scenarios"]["fanout10"]["ratio_to_baseline"].as_f64();
    assert!(ratio.is_some_and(|x| x.is_finite() && x > 0.0), "{v}");
}

#[test]
fn bench_refuses_arguments_it_does_not_know() {
    for args in [
        &["--fanout", "3"][..],
        &["--only", "fanout"],
        &["--only"],
        &["--runs", "0"],
        &["--runs", "x"],
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_hookline-bench"))
            .args(args)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("hookline-bench:"), "{args:?}: {err}");
    }
    let help = Command::new(env!("CARGO_BIN_EXE_hookline-bench"))
        .arg("--help")
        .output()
        .unwrap();
    assert!(help.status.success());
    assert!(String::from_utf8_lossy(&help.stdout).contains("--only"));
}

/// On PostgreSQL with two nodes, the shared-server scenarios run and report what the
/// README's PostgreSQL paragraph quotes: deliveries/s, CPU per delivery over every node, and
/// PostgreSQL transactions per delivery; noisy and cold run each phase on a database of its
/// own beside the given one, and drop it after.
#[tokio::test]
async fn the_bench_runs_on_postgres_with_two_nodes() {
    let Some(admin) = crate::pg_cluster::admin_url() else {
        return;
    };
    let db = crate::pg_cluster::TestDb::new(&admin).await;
    let dir = tempfile::tempdir().unwrap();
    let json_path = dir.path().join("bench.json");
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_hookline-bench"))
        .args([
            "--smoke",
            "--runs",
            "1",
            "--nodes",
            "2",
            "--database-url",
            &db.url,
        ])
        .args([
            "--only",
            "baseline,single,fanout10,latency,noisy,cold",
            "--json",
        ])
        .arg(&json_path)
        .env_remove("HOOKLINE_DATABASE_URL")
        .output()
        .await
        .expect("run hookline-bench");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "hookline-bench --database-url failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("with 2 node(s)"), "{stdout}");
    let v: Value = serde_json::from_str(&std::fs::read_to_string(&json_path).unwrap()).unwrap();
    let s = &v["scenarios"];
    for (scenario, metric) in [
        ("single", "deliveries_per_s"),
        ("fanout10", "deliveries_per_s"),
        ("fanout10", "cpu_us_per_delivery"),
        ("fanout10", "pg_transactions_per_delivery"),
        ("latency", "p99_ms"),
        ("noisy", "drain_p99_ms"),
        ("noisy", "bulkretry_p99_ms"),
        ("noisy", "publishing_p99_ms"),
        ("cold", "first_delivery_ms"),
        ("cold", "deliveries_per_s"),
    ] {
        assert!(
            s[scenario][metric].as_f64().is_some_and(|x| x > 0.0),
            "{scenario}.{metric} missing: {s}"
        );
    }
    let name = url::Url::parse(&db.url).unwrap().path()[1..].to_string();
    let left: i64 = crate::pg_cluster::connect_raw(&admin)
        .await
        .query_one(
            "SELECT count(*) FROM pg_database WHERE datname LIKE $1 || '\\_%'",
            &[&name],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(left, 0, "the scenarios' own databases are dropped");
    // A second node without --database-url is refused before anything runs.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_hookline-bench"))
        .args(["--nodes", "2"])
        .env_remove("HOOKLINE_DATABASE_URL")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--database-url"));
    db.drop().await;
}
