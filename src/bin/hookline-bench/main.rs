//! hookline-bench: measures Hookline end to end on this machine.
//!
//! It starts the real `hookline` binary (from the same directory as this one) on a temporary
//! data directory, a fast receiver on 127.0.0.1, creates workspaces, event types and webhooks,
//! publishes over the real HTTP API and waits for every delivery. Every scenario is bounded in
//! count and time. Prints a table and writes JSON (`--json PATH`, default
//! `bench-results/latest.json`).
//!
//!     cargo build --release && target/release/hookline-bench [--quick] [--skip-million]
//!
//! `--only NAME[,NAME…]` runs some scenarios only (for profiling one of them): `baseline`,
//! `single`, `batch`, `fanout10`, `latency`, `noisy`, `cold`, `million`. Each scenario but
//! million runs `--runs N` times (default 3); the table shows the median and the spread. `--fanout10-events N` sets how many
//! events the fan-out-10 scenario publishes (default 10,000). `--quick` divides the counts by
//! 5, `--smoke` by 100 (the test suite runs that to keep every scenario working). A ratio to
//! the baseline divides each run by a baseline measured around it (see
//! `scenarios::baseline`). At the end it compares each result with the targets for the
//! 2-core machine; `--check` makes a missed target exit with status 1.
//!
//! Layout: this file parses the options and runs the scenarios in order; `harness` has the
//! receiver, the `hookline` process and the helpers they share; `results` the table, the JSON
//! and the targets; `scenarios` one module per scenario.

mod harness;
mod results;
mod scenarios;

use std::path::PathBuf;
use std::sync::Arc;

use clap::{Parser, ValueEnum};
use serde_json::json;

use harness::{setup, start_receiver, wait_drained, Hookline, Reply, Sink};
use results::{row, Results};
use scenarios::{Ctx, Server};

/// Measures Hookline end to end on this machine and compares the results with the targets for
/// the 2-core machine.
#[derive(Parser)]
#[command(
    name = "hookline-bench",
    args_override_self = true,
    after_help = "Build first: cargo build --release (the bench starts the hookline binary beside it)."
)]
struct Args {
    /// Divide the counts by 5.
    #[arg(long)]
    quick: bool,
    /// Divide the counts by 100: only proves that every scenario still runs (the test suite
    /// uses it).
    #[arg(long, conflicts_with = "quick")]
    smoke: bool,
    /// Skip the `million` scenario.
    #[arg(long)]
    skip_million: bool,
    /// Exit with status 1 when a target is missed.
    #[arg(long)]
    check: bool,
    /// Run only these scenarios (for profiling one of them).
    #[arg(long, value_enum, value_delimiter = ',', value_name = "NAME")]
    only: Option<Vec<Scenario>>,
    /// How many events the fan-out-10 scenario publishes [default: 10,000, divided like the
    /// other counts].
    #[arg(long, value_name = "N")]
    fanout10_events: Option<usize>,
    /// How often to run each scenario but million: the table shows the median, with the
    /// spread of the runs.
    #[arg(long, value_name = "N", default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=20))]
    runs: u32,
    /// Where to write the results as JSON.
    #[arg(long, value_name = "PATH", default_value = "bench-results/latest.json")]
    json: PathBuf,
    /// Run on this PostgreSQL database instead of SQLite (give it an empty one; the bench
    /// leaves its workspaces there). noisy and cold run each phase on a database of their own
    /// beside it (`<db>_noisy_drain`, `<db>_cold`, …, dropped after; the role needs
    /// CREATEDB), on one node; million stays SQLite-only (it measures SQLite's files).
    #[arg(long, value_name = "URL")]
    database_url: Option<String>,
    /// With --database-url: how many `hookline serve` nodes share the database (publishes go
    /// to the first; every node delivers).
    #[arg(long, value_name = "N", default_value_t = 1, requires = "database_url",
          value_parser = clap::value_parser!(u32).range(1..=4))]
    nodes: u32,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Scenario {
    /// The HTTP client straight to the receiver.
    Baseline,
    /// Single publishes, fan-out 1.
    Single,
    /// Batch publishes, fan-out 1.
    Batch,
    /// Batch publishes, fan-out 10.
    #[value(name = "fanout10")]
    Fanout10,
    /// Latency at 200 events/s.
    Latency,
    /// A quiet tenant at 200 events/s beside a noisy one's 100,000 deliveries.
    Noisy,
    /// A start on 1,000,000 pending deliveries across 1,000 webhooks.
    Cold,
    /// 1,000,000 pending deliveries and stored attempts.
    Million,
}

impl Args {
    /// Parses the command line; on a mistake, prints it prefixed `hookline-bench:` with the
    /// usage and exits with status 2 rather than run the whole benchmark with a typo ignored.
    fn parse_or_exit() -> Args {
        Args::try_parse().unwrap_or_else(|e| {
            if !e.use_stderr() {
                e.exit(); // --help: on stdout, status 0.
            }
            let msg = e.render().to_string();
            eprint!(
                "hookline-bench: {}",
                msg.strip_prefix("error: ").unwrap_or(&msg)
            );
            std::process::exit(2);
        })
    }

    /// What every count is divided by.
    fn scale(&self) -> usize {
        if self.smoke {
            100
        } else if self.quick {
            5
        } else {
            1
        }
    }

    fn runs(&self, scenario: Scenario) -> bool {
        self.only.as_ref().is_none_or(|o| o.contains(&scenario))
    }
}

/// Runs `$body` `$runs` times with the table quiet, then prints each metric's median and
/// spread (see [`Results::collapse`]).
macro_rules! repeated {
    ($runs:expr, $results:expr, $body:expr) => {{
        let from = $results.rows.len();
        $results.quiet = $runs > 1;
        for _ in 0..$runs {
            $body;
        }
        $results.collapse(from);
    }};
}

#[tokio::main]
async fn main() {
    let args = Args::parse_or_exit();
    let command = std::env::args().skip(1).collect::<Vec<_>>().join(" ");
    let scale = args.scale();
    let bin = std::env::current_exe().unwrap().with_file_name("hookline");
    assert!(
        bin.exists(),
        "build the hookline binary first: cargo build --release"
    );
    let tmp = tempfile::tempdir().unwrap();
    let mut results = Results::for_this_machine();
    println!("hookline-bench on {}\n", results.machine);
    let pg = match &args.database_url {
        Some(url) => {
            // Every `hookline` the bench starts (servers and CLI) uses it.
            std::env::set_var("HOOKLINE_DATABASE_URL", url);
            let target = hookline::pg::Target::parse(url).unwrap_or_else(|e| {
                eprintln!("hookline-bench: --database-url: {e}");
                std::process::exit(2);
            });
            println!(
                "on PostgreSQL ({}) with {} node(s); noisy and cold on one node, each phase on a database of its own; million on SQLite only\n",
                target.shown(),
                args.nodes
            );
            Some(target)
        }
        None => None,
    };
    // Idle connections are dropped well before the server's keep-alive (actix's 5 s) would
    // close them: otherwise a request sent after a pause between scenarios can meet a
    // connection closing under it (`IncompleteMessage`), which failed a smoke run.
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(256)
        .pool_idle_timeout(std::time::Duration::from_secs(2))
        .build()
        .unwrap();
    let sink = Arc::new(Sink::default());
    let (rx_url, _rx) = start_receiver(sink.clone(), Reply::Fast).await;
    let cx = Ctx {
        http: &http,
        sink: &sink,
        rx_url: &rx_url,
        scale,
    };

    let runs = args.runs as usize;
    if args.runs(Scenario::Baseline) {
        repeated!(
            runs,
            results,
            scenarios::baseline::run(&cx, &mut results).await
        );
    }

    // One server for the next four, with workspace "one": one webhook to the receiver. On
    // PostgreSQL, more nodes join it, reading the first one's secret key.
    let (h, _) = Hookline::start(&bin, &tmp.path().join("data")).await;
    let mut others = Vec::new();
    for i in 1..args.nodes {
        let key = tmp.path().join("data").join("secret.key");
        let key = key.to_str().unwrap();
        let (n, _) = Hookline::start_with(
            &bin,
            &tmp.path().join(format!("node-{i}")),
            &[("HOOKLINE_SECRET_KEY_FILE", key)],
        )
        .await;
        others.push(n);
    }
    h.cli(&["event-type", "create", "bench.event"]);
    let one = setup(&h, "one", 1, &rx_url, &http).await;
    let server = Server {
        hookline: &h,
        others: &others,
        pg: pg.as_ref(),
        key: &one.key,
    };
    // Each run starts from a drained queue (nothing due or in flight from the one before).
    // Those with a ratio measure the baseline right before the run and right after it, each
    // time on a drained queue.
    let drained = || wait_drained(&http, &h.base);
    let baseline = || async {
        drained().await;
        scenarios::baseline::measure(&cx).await
    };
    if args.runs(Scenario::Single) {
        repeated!(runs, results, {
            let before = baseline().await;
            scenarios::single::run(&cx, &server, &mut results).await;
            let after = baseline().await;
            scenarios::baseline::ratio(&mut results, "single", before, after)
        });
    }
    if args.runs(Scenario::Batch) {
        repeated!(runs, results, {
            let before = baseline().await;
            scenarios::batch::run(&cx, &server, &mut results).await;
            let after = baseline().await;
            scenarios::baseline::ratio(&mut results, "batch", before, after)
        });
    }
    if args.runs(Scenario::Fanout10) {
        let events = args.fanout10_events.unwrap_or(10_000 / scale);
        repeated!(runs, results, {
            let before = baseline().await;
            scenarios::fanout10::run(&cx, &server, &mut results, events).await;
            let after = baseline().await;
            scenarios::baseline::ratio(&mut results, "fanout10", before, after)
        });
    }
    if args.runs(Scenario::Latency) {
        repeated!(runs, results, {
            drained().await;
            scenarios::latency::run(&cx, &server, &mut results).await
        });
    }
    row(
        &mut results,
        "rss",
        "peak_mib",
        "peak RSS of hookline so far (MiB)",
        json!(h.rss_kib("VmHWM:") as f64 / 1024.0),
    );
    h.stop().await;
    for n in others {
        n.stop().await;
    }
    // noisy and cold start servers of their own, each on a fresh store (on PostgreSQL a
    // database of its own beside the given one).
    let url = args.database_url.as_deref();
    if args.runs(Scenario::Noisy) {
        repeated!(
            runs,
            results,
            scenarios::noisy::run(&bin, tmp.path(), &http, &mut results, scale, url).await
        );
    }
    if args.runs(Scenario::Cold) {
        let warm = results
            .get("fanout10", "deliveries_per_s")
            .unwrap_or(f64::NAN);
        repeated!(
            runs,
            results,
            scenarios::cold::run(&bin, tmp.path(), &http, &mut results, scale, warm, url).await
        );
    }
    // million measures SQLite's files and queries on a million stored attempts.
    if pg.is_none() && !args.skip_million && args.runs(Scenario::Million) {
        scenarios::million::run(&bin, tmp.path(), &http, &mut results, scale).await;
    }

    let missed = results::finish(&results, &command, &args.json, scale == 1 && pg.is_none());
    if args.check && missed > 0 {
        eprintln!("{missed} target(s) missed");
        std::process::exit(1);
    }
}
