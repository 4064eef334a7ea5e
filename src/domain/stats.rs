//! A webhook's health by the hour: attempts that succeeded and failed, and their response
//! times counted in fixed buckets (`webhook_stats` on every backend). Pure: each backend adds
//! a batch's [`Tally`] to its table in the write that records the attempts.

use std::collections::BTreeMap;

pub const HOUR_MS: i64 = 3_600_000;

/// Upper bounds (ms, inclusive) of the response-time buckets; a last bucket holds the rest.
pub const LATENCY_BOUNDS: [i64; 13] = [
    5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10_000, 30_000, 60_000,
];
pub const BUCKETS: usize = LATENCY_BOUNDS.len() + 1;

/// One hour of one webhook.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HourStats {
    pub succeeded: i64,
    pub failed: i64,
    pub attempts: i64,
    pub latency: [i64; BUCKETS],
}

impl HourStats {
    pub fn add(&mut self, other: &HourStats) {
        self.succeeded += other.succeeded;
        self.failed += other.failed;
        self.attempts += other.attempts;
        for (a, b) in self.latency.iter_mut().zip(other.latency) {
            *a += b;
        }
    }

    /// The response time under which `q` (0–1) of the attempts answered, interpolated
    /// within its bucket; `None` without attempts.
    pub fn percentile(&self, q: f64) -> Option<i64> {
        let total: i64 = self.latency.iter().sum();
        if total == 0 {
            return None;
        }
        let rank = q * total as f64;
        let mut below = 0i64;
        for (i, &n) in self.latency.iter().enumerate() {
            if n > 0 && (below + n) as f64 >= rank {
                let lo = if i == 0 { 0 } else { LATENCY_BOUNDS[i - 1] };
                let hi = LATENCY_BOUNDS.get(i).copied().unwrap_or(lo * 2);
                let within = ((rank - below as f64) / n as f64).clamp(0.0, 1.0);
                return Some(lo + ((hi - lo) as f64 * within).round() as i64);
            }
            below += n;
        }
        LATENCY_BOUNDS.last().copied()
    }
}

pub fn bucket_of(ms: i64) -> usize {
    LATENCY_BOUNDS
        .iter()
        .position(|&b| ms <= b)
        .unwrap_or(LATENCY_BOUNDS.len())
}

/// What a batch of attempts adds, by (webhook, hour).
#[derive(Debug, Default)]
pub struct Tally(BTreeMap<(i64, i64), HourStats>);

impl Tally {
    pub fn attempt(
        &mut self,
        webhook_id: i64,
        started_at: i64,
        success: bool,
        duration_ms: Option<i64>,
    ) {
        let hour = started_at.div_euclid(HOUR_MS) * HOUR_MS;
        let s = self.0.entry((webhook_id, hour)).or_default();
        s.attempts += 1;
        if success {
            s.succeeded += 1;
        } else {
            s.failed += 1;
        }
        if let Some(ms) = duration_ms {
            s.latency[bucket_of(ms.max(0))] += 1;
        }
    }

    /// What the batch adds, by (webhook, hour start).
    pub fn rows(&self) -> impl Iterator<Item = (&(i64, i64), &HourStats)> {
        self.0.iter()
    }
}
