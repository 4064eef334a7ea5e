//! A webhook's health over a window: attempts that succeeded and failed, and response
//! times, by hour (24 h) or by day (7 d, UTC days), from `db::stats`.

use crate::clock::now_ms;
use crate::state::AppState;
use crate::store::types::{HourStats, HOUR_MS};

use super::{ServiceError, ServiceResult};

/// The windows the health chart offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Window {
    Day,
    Week,
}

impl Window {
    pub fn parse(s: Option<&str>) -> Result<Window, crate::domain::ValidationError> {
        match s.map(str::trim).unwrap_or("24h") {
            "24h" | "" => Ok(Window::Day),
            "7d" => Ok(Window::Week),
            _ => Err(crate::domain::ValidationError::new(
                "window",
                "use 24h (by hour) or 7d (by day)",
            )),
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Window::Day => "24h",
            Window::Week => "7d",
        }
    }
    /// Bucket length and count.
    fn buckets(self) -> (i64, i64) {
        match self {
            Window::Day => (HOUR_MS, 24),
            Window::Week => (24 * HOUR_MS, 7),
        }
    }
}

/// One bar of the chart.
#[derive(Debug, Clone)]
pub struct Bucket {
    /// Unix ms of its start.
    pub start: i64,
    pub stats: HourStats,
}

pub struct Health {
    pub window: Window,
    /// `hour` or `day`.
    pub bucket_ms: i64,
    pub buckets: Vec<Bucket>,
    pub total: HourStats,
}

impl Health {
    /// Succeeded attempts out of all, 0–1; `None` without attempts.
    pub fn success_rate(&self) -> Option<f64> {
        (self.total.attempts > 0).then(|| self.total.succeeded as f64 / self.total.attempts as f64)
    }
}

/// The webhook's buckets up to now, oldest first; the last one is the current hour or day.
pub async fn health(
    state: &AppState,
    ws: i64,
    webhook: i64,
    window: Window,
) -> ServiceResult<Health> {
    let now = now_ms();
    let (len, n) = window.buckets();
    let last = now.div_euclid(len) * len;
    let from = last - (n - 1) * len;
    let to = last + len;
    let hours = state
        .store
        .webhook_hours(ws, webhook, from, to)
        .await?
        .ok_or(ServiceError::NotFound("webhook"))?;
    let mut buckets: Vec<Bucket> = (0..n)
        .map(|i| Bucket {
            start: from + i * len,
            stats: HourStats::default(),
        })
        .collect();
    let mut total = HourStats::default();
    for (hour, s) in hours {
        let i = ((hour - from) / len) as usize;
        if let Some(b) = buckets.get_mut(i) {
            b.stats.add(&s);
            total.add(&s);
        }
    }
    Ok(Health {
        window,
        bucket_ms: len,
        buckets,
        total,
    })
}
