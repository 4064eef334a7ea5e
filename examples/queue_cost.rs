//! Where the SQLite writer's time goes per delivery, without HTTP: the queue's own statements
//! (publish, claim, record) run on one thread against a fresh data directory, with the
//! writer's settings (WAL, `synchronous=FULL`) and its batching (one transaction per publish
//! batch, claim round and record batch). Prints CPU microseconds per delivery for each stage.
//!
//! ```sh
//! cargo run --release --example queue_cost -- [EVENTS] [FANOUT]
//! IDLE_WEBHOOKS=1000 cargo run --release --example queue_cost    # beside 1,000 idle webhooks
//! ```

use std::time::Instant;

use hookline::db::hooks::NewEvent;
use hookline::db::queue::{self, AttemptResult, RecordRules};
use rusqlite::Connection;

fn thread_cpu_us() -> f64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: a valid pointer to a timespec.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    ts.tv_sec as f64 * 1e6 + ts.tv_nsec as f64 / 1e3
}

struct Stage {
    name: &'static str,
    cpu_us: f64,
    wall: std::time::Duration,
}

impl Stage {
    fn add(&mut self, other: &Stage) {
        self.cpu_us += other.cpu_us;
        self.wall += other.wall;
    }
}

fn timed(name: &'static str, f: impl FnOnce()) -> Stage {
    let (cpu, wall) = (thread_cpu_us(), Instant::now());
    f();
    Stage {
        name,
        cpu_us: thread_cpu_us() - cpu,
        wall: wall.elapsed(),
    }
}

fn main() {
    let mut args = std::env::args().skip(1);
    let events: usize = args.next().map_or(10_000, |a| a.parse().expect("EVENTS"));
    let fanout: i64 = args.next().map_or(10, |a| a.parse().expect("FANOUT"));
    let dir = tempfile::tempdir().unwrap();
    let c: Connection = hookline::db::open_and_migrate(dir.path()).unwrap();
    let now = hookline::clock::now_ms();
    if let Ok(drop) = std::env::var("DROP_INDEXES") {
        for ix in drop.split(',').filter(|s| !s.is_empty()) {
            c.execute_batch(&format!("DROP INDEX {ix}")).unwrap();
        }
    }
    c.execute(
        "INSERT INTO workspaces (id, slug, name, created_at) VALUES (1, 'a', 'a', 0)",
        [],
    )
    .unwrap();
    c.execute(
        "INSERT INTO event_types (name, created_at) VALUES ('order.created', 0)",
        [],
    )
    .unwrap();
    for w in 1..=fanout {
        c.execute(
            "INSERT INTO webhooks (id, workspace_id, url, events, retry_schedule, retry_count, secret_enc, created_at, updated_at)
             VALUES (?1, 1, 'https://x.io', '[\"*\"]', '[60,300]', 2, x'00', 0, 0)",
            [w],
        )
        .unwrap();
    }
    // Webhooks of other customers with nothing to send (`IDLE_WEBHOOKS`, default 0).
    let idle: i64 = std::env::var("IDLE_WEBHOOKS").map_or(0, |v| v.parse().expect("IDLE_WEBHOOKS"));
    for w in fanout + 1..=fanout + idle {
        c.execute(
            "INSERT INTO webhooks (id, workspace_id, url, events, retry_schedule, retry_count, secret_enc, created_at, updated_at)
             VALUES (?1, 1, 'https://x.io', '[\"other.type\"]', '[60,300]', 2, x'00', 0, 0)",
            [w],
        )
        .unwrap();
    }
    let deliveries = events * fanout as usize;
    let body = format!(
        "{{\"id\":\"evt_{}\",\"type\":\"order.created\",\"timestamp\":\"2026-12-04T10:00:00.000Z\",\"data\":{{\"order_id\":12345,\"amount\":4200,\"currency\":\"EUR\",\"customer\":\"cus_8f3a2b\"}}}}",
        "x".repeat(26)
    );
    let mut stages = Vec::new();
    stages.push(timed("publish (batches of 500)", || {
        for chunk in 0..events.div_ceil(500) {
            c.execute_batch("BEGIN IMMEDIATE").unwrap();
            let mut enq = queue::Enqueuer::new(&c, 1, None).unwrap();
            for i in chunk * 500..((chunk + 1) * 500).min(events) {
                let id = format!("evt_{i:026}");
                enq.insert(
                    &c,
                    &NewEvent {
                        public_id: &id,
                        event_type: "order.created",
                        body: &body,
                        created_at: now,
                    },
                )
                .unwrap();
            }
            enq.finish(&c, None).unwrap().stage();
            c.execute_batch("COMMIT").unwrap();
        }
    }));
    let round: usize =
        std::env::var("CLAIM_ROUND").map_or(512, |v| v.parse().expect("CLAIM_ROUND"));
    let record_batch: usize =
        std::env::var("RECORD_BATCH").map_or(512, |v| v.parse().expect("RECORD_BATCH"));
    let mut ledger = hookline::domain::fair::Ledger::default();
    let leases = hookline::db::leases::Leases::default();
    let rules = RecordRules {
        auto_disable_after_ms: 5 * 24 * 3600 * 1000,
        notices: hookline::domain::notice::NoticeSettings {
            public_url: "http://127.0.0.1".into(),
            smtp_configured: false,
            interval_ms: 3600 * 1000,
        },
    };
    let request_headers = serde_json::json!({
        "content-type": "application/json",
        "user-agent": "Hookline/0.1.0",
        "webhook-id": "evt_2b1f3c4d5e6f7a8b9c0d1e2f3a",
        "webhook-timestamp": "1764842400",
        "webhook-signature": "v1,K5oZfzN95Z9UVu1EsfQmfVNQhnkZ2pj9o9NDN/H/pI4=",
        "X-Hookline-Signature": "3f2a9c1d7e5b4a6f8c0d2e4f6a8b0c1d3e5f7a9b1c3d5e7f9a1b3c5d7e9f1a3b",
        "X-Hookline-Event": "order.created",
        "X-Hookline-Delivery": "123456",
    })
    .to_string();
    // Claim rounds and the recording of what they claimed alternate, as in the server
    // (where the dispatcher holds a few rounds' worth at a time); each stage's time is summed.
    let mut claim_stage = timed("claim", || ());
    let mut record_stage = timed("record success", || ());
    let mut claimed = 0;
    loop {
        let mut round_jobs = Vec::new();
        let s = timed("claim", || {
            c.execute_batch("BEGIN IMMEDIATE").unwrap();
            let r = queue::claim(
                &c,
                &queue::ClaimRequest {
                    now: now + 1,
                    budget: round,
                    room: round,
                    start: claimed,
                    ..Default::default()
                },
                &mut ledger,
                &leases,
            )
            .unwrap();
            c.execute_batch("COMMIT").unwrap();
            leases.committed(true);
            round_jobs = r.jobs;
        });
        claim_stage.add(&s);
        if round_jobs.is_empty() {
            break;
        }
        claimed += round_jobs.len();
        let s = timed("record success", || {
            for batch in round_jobs.chunks(record_batch) {
                c.execute_batch("BEGIN IMMEDIATE").unwrap();
                let mut recording = queue::Recording::new(&c).unwrap();
                let mut tally = hookline::db::stats::Tally::default();
                for j in batch {
                    tally.attempt(j.webhook_id, now, true, Some(3));
                    let r = AttemptResult {
                        delivery_id: j.delivery_id,
                        webhook_id: j.webhook_id,
                        attempt_number: 1,
                        started_at: now,
                        request_headers_json: request_headers.clone(),
                        response_headers_json: Some(
                            "{\"content-length\":\"0\",\"date\":\"Fri, 04 Dec 2026 10:00:00 GMT\"}"
                                .into(),
                        ),
                        error: None,
                        status: Some(204),
                        duration_ms: 3,
                        response_body: Vec::new(),
                        success: true,
                        next_attempt_at: None,
                        final_attempt: false,
                    };
                    recording.record(r, &rules).unwrap();
                }
                drop(recording);
                hookline::db::stats::write(&tally, &c).unwrap();
                leases.let_go(batch.iter().map(|j| j.delivery_id));
                c.execute_batch("COMMIT").unwrap();
                leases.committed(true);
            }
        });
        record_stage.add(&s);
    }
    assert_eq!(claimed, deliveries, "every delivery claimed once");
    stages.push(claim_stage);
    stages.push(record_stage);
    let wal = std::fs::metadata(dir.path().join("hookline.db-wal")).map_or(0, |m| m.len());
    println!("{events} events × fan-out {fanout} = {deliveries} deliveries; {idle} idle webhooks; claim rounds of {round}, record batches of {record_batch}");
    let mut total = 0.0;
    for s in &stages {
        total += s.cpu_us;
        println!(
            "  {:<34} {:>6.2} µs CPU per delivery  ({:.0} ms wall)",
            s.name,
            s.cpu_us / deliveries as f64,
            s.wall.as_secs_f64() * 1000.0
        );
    }
    println!(
        "  {:<34} {:>6.2} µs CPU per delivery; WAL file {:.1} MiB",
        "all",
        total / deliveries as f64,
        wal as f64 / (1 << 20) as f64
    );
}
