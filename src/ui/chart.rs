//! The health chart on a webhook's page: server-rendered SVG (no JavaScript), stacked bars
//! of succeeded and failed attempts per hour or day, and a p95 response-time line on its own
//! scale. The geometry is computed here; the template only draws it.

use crate::service::stats::{Health, Window};

/// The drawing's coordinate space (`viewBox`); the SVG scales to its box's width.
pub const WIDTH: f64 = 720.0;
pub const HEIGHT: f64 = 200.0;
const LEFT: f64 = 44.0;
const RIGHT: f64 = 44.0;
const TOP: f64 = 10.0;
const BOTTOM: f64 = 24.0;

pub struct Bar {
    pub x: String,
    pub width: String,
    pub ok_y: String,
    pub ok_h: String,
    pub fail_y: String,
    pub fail_h: String,
    /// For the bar's `<title>`: "14:00 UTC: 120 succeeded, 3 failed, p95 84 ms".
    pub label: String,
}

pub struct Tick {
    pub x: String,
    pub label: String,
}

pub struct Chart {
    pub window: &'static str,
    pub bars: Vec<Bar>,
    /// `x,y x,y …` of the p95 line; empty without response times.
    pub p95_points: String,
    pub ticks: Vec<Tick>,
    /// The top of the attempts scale, and of the p95 scale (ms).
    pub max_attempts: i64,
    pub max_p95: i64,
    /// "98.2 %", or `None` without attempts.
    pub success_rate: Option<String>,
    pub attempts: i64,
    pub failed: i64,
    /// One sentence for screen readers and the SVG's `<title>`.
    pub summary: String,
}

fn f(v: f64) -> String {
    format!("{v:.1}")
}

impl Chart {
    pub fn new(h: &Health) -> Chart {
        let n = h.buckets.len().max(1) as f64;
        let plot_w = WIDTH - LEFT - RIGHT;
        let plot_h = HEIGHT - TOP - BOTTOM;
        let slot = plot_w / n;
        let bar_w = (slot * 0.7).max(1.0);
        let max_attempts = h
            .buckets
            .iter()
            .map(|b| b.stats.attempts)
            .max()
            .unwrap_or(0)
            .max(1);
        let p95s: Vec<Option<i64>> = h.buckets.iter().map(|b| b.stats.percentile(0.95)).collect();
        let max_p95 = p95s.iter().flatten().copied().max().unwrap_or(0).max(1);
        let day = h.window == Window::Day;
        let time = |ms: i64| {
            let t = time::OffsetDateTime::from_unix_timestamp(ms.div_euclid(1000))
                .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
            if day {
                format!("{:02}:00", t.hour())
            } else {
                format!("{} {}", t.day(), &format!("{}", t.month())[..3])
            }
        };
        let mut bars = Vec::new();
        let mut points = Vec::new();
        let mut ticks = Vec::new();
        for (i, b) in h.buckets.iter().enumerate() {
            let x = LEFT + slot * i as f64 + (slot - bar_w) / 2.0;
            let scale = |v: i64| v as f64 / max_attempts as f64 * plot_h;
            let ok_h = scale(b.stats.succeeded);
            let fail_h = scale(b.stats.failed);
            let base = TOP + plot_h;
            let p95 = p95s[i];
            bars.push(Bar {
                x: f(x),
                width: f(bar_w),
                ok_y: f(base - ok_h),
                ok_h: f(ok_h),
                fail_y: f(base - ok_h - fail_h),
                fail_h: f(fail_h),
                label: format!(
                    "{}{}: {} succeeded, {} failed{}",
                    time(b.start),
                    if day { " UTC" } else { "" },
                    b.stats.succeeded,
                    b.stats.failed,
                    p95.map(|p| format!(", p95 {p} ms")).unwrap_or_default()
                ),
            });
            if let Some(p) = p95 {
                let y = TOP + plot_h - p as f64 / max_p95 as f64 * plot_h;
                points.push(format!("{},{}", f(x + bar_w / 2.0), f(y)));
            }
            let every = if day { 6 } else { 1 };
            if i % every == 0 {
                ticks.push(Tick {
                    x: f(x + bar_w / 2.0),
                    label: time(b.start),
                });
            }
        }
        let success_rate = h.success_rate().map(|r| format!("{:.1} %", r * 100.0));
        let span = if day { "24 hours" } else { "7 days" };
        let summary = match &success_rate {
            None => format!("No attempts in the last {span}."),
            Some(rate) => format!(
                "Last {span}: {} attempts, {} failed, {rate} succeeded{}.",
                h.total.attempts,
                h.total.failed,
                h.total
                    .percentile(0.95)
                    .map(|p| format!(", p95 response time {p} ms"))
                    .unwrap_or_default()
            ),
        };
        Chart {
            window: h.window.as_str(),
            bars,
            p95_points: points.join(" "),
            ticks,
            max_attempts,
            max_p95,
            success_rate,
            attempts: h.total.attempts,
            failed: h.total.failed,
            summary,
        }
    }

    pub fn is_day(&self) -> bool {
        self.window == "24h"
    }
}
