//! The measurements: the table printed as they come, the JSON written at the end, and the
//! targets for the 2-core machine they are compared with.

use std::path::Path;

use serde_json::{json, Value};

use crate::harness::now_us;

#[derive(Default)]
pub struct Results {
    pub machine: String,
    /// (scenario, metric, value), in the order measured.
    pub rows: Vec<(String, String, Value)>,
    /// The label each (scenario, metric) is printed with.
    labels: std::collections::HashMap<(String, String), String>,
    /// Rows are kept but not printed (a scenario repeated; [`Results::collapse`] prints).
    pub quiet: bool,
    /// Each repeated metric's values, one per run: (scenario, metric, values).
    pub runs: Vec<(String, String, Vec<f64>)>,
}

impl Results {
    /// No results yet, on this machine: its core count and CPU model.
    pub fn for_this_machine() -> Results {
        let cores = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(0);
        let model = std::fs::read_to_string("/proc/cpuinfo")
            .ok()
            .and_then(|c| {
                let line = c.lines().find(|l| l.starts_with("model name"))?;
                Some(line.split(':').nth(1).unwrap_or("").trim().to_string())
            })
            .unwrap_or_default();
        Results {
            machine: format!("{cores} cores, {model}"),
            ..Default::default()
        }
    }

    /// The latest value of a metric (the run just measured, before [`Results::collapse`]).
    pub fn last(&self, scenario: &str, metric: &str) -> Option<f64> {
        self.rows
            .iter()
            .rev()
            .find(|(s, m, _)| s == scenario && m == metric)
            .and_then(|(_, _, v)| v.as_f64())
    }

    pub fn get(&self, scenario: &str, metric: &str) -> Option<f64> {
        self.rows
            .iter()
            .find(|(s, m, _)| s == scenario && m == metric)
            .and_then(|(_, _, v)| v.as_f64())
    }

    /// Replaces the rows added since `from` (the same scenario run several times) with the
    /// median of each metric, printed with the spread of the runs, and keeps every run's
    /// value for the JSON, in the order they ran.
    pub fn collapse(&mut self, from: usize) {
        let added: Vec<(String, String, Value)> = self.rows.drain(from..).collect();
        let mut order: Vec<(String, String)> = Vec::new();
        let mut values: std::collections::HashMap<(String, String), Vec<f64>> = Default::default();
        for (s, m, v) in added {
            let key = (s, m);
            if !values.contains_key(&key) {
                order.push(key.clone());
            }
            values.entry(key).or_default().extend(v.as_f64());
        }
        // A single run printed its rows as they came.
        let print = std::mem::take(&mut self.quiet);
        for key in order {
            // The runs stay in the order they ran (a run's metrics can be read together).
            let runs = values.remove(&key).unwrap_or_default();
            if runs.is_empty() {
                continue;
            }
            let mut v = runs.clone();
            v.sort_by(f64::total_cmp);
            let median = v[v.len() / 2];
            let label = self
                .labels
                .get(&key)
                .cloned()
                .unwrap_or_else(|| key.1.clone());
            if print && v.len() > 1 {
                let label = format!("{label} ·");
                println!(
                    "{label:<58} {:>12}  (of {}: {} – {})",
                    num(median),
                    v.len(),
                    num(v[0]),
                    num(v[v.len() - 1])
                );
            } else if print {
                println!("{label:<58} {:>12}", num(median));
            }
            self.rows
                .push((key.0.clone(), key.1.clone(), json!(median)));
            self.runs.push((key.0, key.1, runs));
        }
    }

    /// `{"scenario": {"metric": value, …}, …}`.
    pub fn scenarios(&self) -> Value {
        let mut out = serde_json::Map::new();
        for (s, m, v) in &self.rows {
            out.entry(s.clone())
                .or_insert_with(|| json!({}))
                .as_object_mut()
                .unwrap()
                .insert(m.clone(), v.clone());
        }
        Value::Object(out)
    }
}

/// A measurement as printed: two decimals below 10 (ratios), else one.
fn num(v: f64) -> String {
    if v.abs() < 10.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.1}")
    }
}

/// Prints one line of the table and keeps the value under `scenario.metric` for the JSON.
pub fn row(results: &mut Results, scenario: &str, metric: &str, label: &str, value: Value) {
    if !results.quiet {
        println!(
            "{label:<58} {}",
            value
                .as_f64()
                .map(|f| format!("{:>12}", num(f)))
                .unwrap_or_else(|| value.to_string())
        );
    }
    results.labels.insert(
        (scenario.to_string(), metric.to_string()),
        label.to_string(),
    );
    results
        .rows
        .push((scenario.to_string(), metric.to_string(), value));
}

/// The targets for the 2-core machine: (scenario, metric, what, at least?, bound).
pub const TARGETS: &[(&str, &str, &str, bool, f64)] = &[
    (
        "single",
        "deliveries_per_s",
        "end to end, one webhook (deliveries/s)",
        true,
        5_000.0,
    ),
    (
        "fanout10",
        "deliveries_per_s",
        "batch publish, fan-out 10 (deliveries/s)",
        true,
        20_000.0,
    ),
    (
        "single",
        "ratio_to_baseline",
        "single publishes, ratio to the baseline",
        true,
        0.25,
    ),
    (
        "fanout10",
        "ratio_to_baseline",
        "fan-out 10, ratio to the baseline",
        true,
        0.75,
    ),
    (
        "fanout10",
        "cpu_us_per_delivery",
        "fan-out 10, hookline CPU per delivery (µs)",
        false,
        20.0,
    ),
    (
        "latency",
        "p99_ms",
        "p99 publish-to-arrival at 200 events/s (ms)",
        false,
        20.0,
    ),
    (
        "noisy",
        "drain_p99_ms",
        "p99 at 200/s beside 100,000 draining (ms)",
        false,
        20.0,
    ),
    (
        "noisy",
        "drain_rate_drop_percent",
        "rate drop beside 100,000 draining (%)",
        false,
        10.0,
    ),
    (
        "noisy",
        "spread_p99_ms",
        "p99 at 200/s beside 100,000 draining over 50 webhooks (ms)",
        false,
        20.0,
    ),
    (
        "noisy",
        "spread_rate_drop_percent",
        "rate drop beside 100,000 draining over 50 webhooks (%)",
        false,
        10.0,
    ),
    (
        "noisy",
        "failing_p99_ms",
        "p99 at 200/s beside 100,000 failing (ms)",
        false,
        20.0,
    ),
    (
        "noisy",
        "failing_rate_drop_percent",
        "rate drop beside 100,000 failing (%)",
        false,
        10.0,
    ),
    (
        "noisy",
        "bulkretry_rate_drop_percent",
        "rate drop beside a bulk retry of 100,000 (%)",
        false,
        10.0,
    ),
    (
        "cold",
        "first_delivery_ms",
        "cold start on 1,000,000 pending: first delivery (ms)",
        false,
        100.0,
    ),
    (
        "cold",
        "ratio_to_warm",
        "cold backlog drain, ratio to warm fan-out 10",
        true,
        0.8,
    ),
    (
        "million",
        "rss_mib",
        "RSS with 1,000,000 pending (MiB)",
        false,
        100.0,
    ),
    (
        "million",
        "startup_ms",
        "start-up on that database (ms)",
        false,
        1_000.0,
    ),
    (
        "million",
        "api_list_page1_ms",
        "API delivery list, page 1 (ms)",
        false,
        50.0,
    ),
    (
        "million",
        "api_list_page1000_ms",
        "API delivery list, page 1000 (ms)",
        false,
        50.0,
    ),
    (
        "million",
        "api_filters_max_ms",
        "API delivery search, slowest filter combination (ms)",
        false,
        50.0,
    ),
    (
        "million",
        "api_stats_ms",
        "API webhook stats over 1,000,000 attempts (ms)",
        false,
        50.0,
    ),
    (
        "million",
        "ui_filters_max_ms",
        "UI Deliveries page, slowest filter combination (ms)",
        false,
        50.0,
    ),
    (
        "million",
        "ui_chart_ms",
        "UI webhook page with its health chart (ms)",
        false,
        50.0,
    ),
    (
        "million",
        "ui_list_page1_ms",
        "UI delivery list, page 1 (ms)",
        false,
        50.0,
    ),
    (
        "million",
        "ui_list_page1000_ms",
        "UI delivery list, page 1000 (ms)",
        false,
        50.0,
    ),
];

/// Prints each target that this run measured, met or missed, and returns them for the JSON.
pub fn check_targets(results: &Results, full_size: bool) -> Value {
    println!(
        "
targets (2-core machine, synchronous=FULL):"
    );
    let mut out = Vec::new();
    for &(scenario, metric, what, at_least, bound) in TARGETS {
        let Some(v) = results.get(scenario, metric) else {
            continue;
        };
        let met = if at_least { v >= bound } else { v <= bound };
        let (cmp, verdict) = match (at_least, met) {
            (true, true) => ("≥", "met"),
            (true, false) => ("≥", "MISSED"),
            (false, true) => ("≤", "met"),
            (false, false) => ("≤", "MISSED"),
        };
        println!(
            "  {what:<50} {:>10}  target {cmp} {bound:<8} {verdict}",
            num(v)
        );
        out.push(json!({
            "scenario": scenario, "metric": metric, "what": what,
            "target": format!("{cmp} {bound}"), "measured": v, "met": met,
        }));
    }
    if !full_size {
        println!("  (--quick or --smoke: smaller counts than the targets assume)");
    }
    Value::Array(out)
}

/// Compares the results with the targets, writes everything as JSON to `path` (`command`:
/// the arguments this run was given) and returns how many targets were missed.
pub fn finish(results: &Results, command: &str, path: &Path, full_size: bool) -> usize {
    let targets = check_targets(results, full_size);
    let out = json!({
        "machine": results.machine,
        "command": command,
        "unix_time": now_us() / 1_000_000,
        "scenarios": results.scenarios(),
        "runs": results.runs.iter().map(|(s, m, v)| json!({"scenario": s, "metric": m, "values": v})).collect::<Vec<_>>(),
        "targets": targets,
    });
    if let Some(dir) = path.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    std::fs::write(path, serde_json::to_string_pretty(&out).unwrap()).unwrap();
    println!("\nwrote {}", path.display());
    out["targets"]
        .as_array()
        .map(|t| t.iter().filter(|t| t["met"] == false).count())
        .unwrap_or(0)
}
