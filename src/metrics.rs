//! Prometheus metrics (`GET /metrics`, OpenMetrics text) with the `prometheus-client` crate.
//! Counters and histograms are updated where things happen; queue gauges are set at scrape
//! time from what the delivery queue counts. Set `HOOKLINE_METRICS_TOKEN` to require
//! `Authorization: Bearer <token>`.

use std::sync::OnceLock;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabel {
    pub outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct LaneLabel {
    pub lane: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ClassLabel {
    pub class: &'static str,
}

/// What the queue gauges show (read from the database at scrape time).
#[derive(Debug, Clone, Copy, Default)]
pub struct QueueFigures {
    pub due: i64,
    pub scheduled: i64,
    pub in_flight: i64,
    pub oldest_due_seconds: i64,
    pub inactive_webhooks: i64,
}

pub struct Metrics {
    registry: Registry,
    pub events_published: Counter,
    /// Deliveries that reached a final state: succeeded, failed.
    pub deliveries: Family<OutcomeLabel, Counter>,
    /// Attempts by response class: 2xx, 3xx, 4xx, 5xx, or the error kind.
    pub attempts: Family<ClassLabel, Counter>,
    pub attempt_seconds: Histogram,
    /// From the event's creation to a successful delivery.
    pub publish_to_delivery_seconds: Histogram,
    pub webhooks_disabled: Counter,
    /// Attempt results not recorded because their lease had passed to another node (a shared
    /// store only): the delivery is attempted again, at least once.
    pub stale_results: Counter,
    pub db_commit_seconds: Histogram,
    pub db_batch_jobs: Histogram,
    /// From a write job's arrival at the writer until it starts, by lane.
    pub db_write_wait_seconds: Family<LaneLabel, Histogram>,
    /// From a write job's arrival at the writer until its transaction committed, by lane:
    /// what the caller waits for.
    pub db_write_seconds: Family<LaneLabel, Histogram>,
    pub queue_due: Gauge,
    pub queue_scheduled: Gauge,
    pub queue_in_flight: Gauge,
    pub oldest_due_seconds: Gauge,
    pub webhooks_inactive: Gauge,
}

/// 50 µs to about 1.6 s.
fn write_buckets() -> Histogram {
    Histogram::new(exponential_buckets(0.00005, 2.0, 16))
}

impl Metrics {
    fn new() -> Metrics {
        let mut registry = Registry::with_prefix("hookline");
        let m = Metrics {
            events_published: Counter::default(),
            deliveries: Family::default(),
            attempts: Family::default(),
            attempt_seconds: Histogram::new(exponential_buckets(0.001, 2.0, 17)),
            publish_to_delivery_seconds: Histogram::new(exponential_buckets(0.001, 2.0, 22)),
            webhooks_disabled: Counter::default(),
            stale_results: Counter::default(),
            db_commit_seconds: Histogram::new(exponential_buckets(0.0001, 2.0, 16)),
            db_batch_jobs: Histogram::new(exponential_buckets(1.0, 2.0, 11)),
            db_write_wait_seconds: Family::new_with_constructor(write_buckets),
            db_write_seconds: Family::new_with_constructor(write_buckets),
            queue_due: Gauge::default(),
            queue_scheduled: Gauge::default(),
            queue_in_flight: Gauge::default(),
            oldest_due_seconds: Gauge::default(),
            webhooks_inactive: Gauge::default(),
            registry: Registry::default(),
        };
        registry.register(
            "events_published",
            "Events accepted by the API",
            m.events_published.clone(),
        );
        registry.register(
            "deliveries",
            "Deliveries that reached a final state, by outcome",
            m.deliveries.clone(),
        );
        registry.register(
            "attempts",
            "Delivery attempts by response class or error kind",
            m.attempts.clone(),
        );
        registry.register(
            "attempt_duration_seconds",
            "Duration of delivery attempts",
            m.attempt_seconds.clone(),
        );
        registry.register(
            "publish_to_delivery_seconds",
            "Time from publishing an event to its successful delivery",
            m.publish_to_delivery_seconds.clone(),
        );
        registry.register(
            "webhooks_disabled",
            "Webhooks disabled automatically (410 Gone, days of failures)",
            m.webhooks_disabled.clone(),
        );
        registry.register(
            "stale_results",
            "Attempt results not recorded because another node had taken over the delivery's lease",
            m.stale_results.clone(),
        );
        registry.register(
            "db_commit_duration_seconds",
            "Duration of a group commit",
            m.db_commit_seconds.clone(),
        );
        registry.register(
            "db_commit_batch_jobs",
            "Write jobs folded into one commit",
            m.db_batch_jobs.clone(),
        );
        registry.register(
            "db_write_wait_seconds",
            "Time a write job waits for the writer, by lane (prompt: publishes, changes, claims, small batches of attempt results; background: larger batches, bulk work)",
            m.db_write_wait_seconds.clone(),
        );
        registry.register(
            "db_write_seconds",
            "Time from a write job's arrival at the writer until its commit, by lane",
            m.db_write_seconds.clone(),
        );
        registry.register(
            "queue_due",
            "Deliveries due now and not in flight",
            m.queue_due.clone(),
        );
        registry.register(
            "queue_scheduled",
            "Deliveries scheduled for later",
            m.queue_scheduled.clone(),
        );
        registry.register(
            "queue_in_flight",
            "Deliveries claimed and in flight",
            m.queue_in_flight.clone(),
        );
        registry.register(
            "queue_oldest_due_age_seconds",
            "Age of the oldest due delivery",
            m.oldest_due_seconds.clone(),
        );
        registry.register(
            "webhooks_inactive",
            "Webhooks switched off (by people or automatically)",
            m.webhooks_inactive.clone(),
        );
        Metrics { registry, ..m }
    }

    /// The OpenMetrics text.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }

    /// The same metrics in the Prometheus text format 0.0.4, for scrapers that do not ask
    /// for OpenMetrics.
    pub fn encode_prometheus(&self) -> String {
        openmetrics_to_prometheus(&self.encode())
    }

    /// Sets the queue gauges to figures read at scrape time.
    pub fn set_queue(&self, q: QueueFigures) {
        self.queue_due.set(q.due);
        self.queue_scheduled.set(q.scheduled);
        self.queue_in_flight.set(q.in_flight);
        self.oldest_due_seconds.set(q.oldest_due_seconds);
        self.webhooks_inactive.set(q.inactive_webhooks);
    }

    /// Records one attempt's outcome.
    pub fn attempt(&self, status: Option<u16>, error_kind: Option<&'static str>, seconds: f64) {
        let class = match (status, error_kind) {
            (_, Some(kind)) => kind,
            (Some(s), None) if (200..300).contains(&s) => "2xx",
            (Some(s), None) if (300..400).contains(&s) => "3xx",
            (Some(s), None) if (400..500).contains(&s) => "4xx",
            (Some(_), None) => "5xx",
            (None, None) => "other",
        };
        self.attempts.get_or_create(&ClassLabel { class }).inc();
        self.attempt_seconds.observe(seconds);
    }
}

static METRICS: OnceLock<Metrics> = OnceLock::new();

/// The process-wide metrics.
pub fn global() -> &'static Metrics {
    METRICS.get_or_init(Metrics::new)
}

/// The two text formats `/metrics` speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    OpenMetrics,
    /// The classic Prometheus text format, version 0.0.4.
    Prometheus,
}

impl Format {
    pub fn content_type(self) -> &'static str {
        match self {
            Format::OpenMetrics => "application/openmetrics-text; version=1.0.0; charset=utf-8",
            Format::Prometheus => "text/plain; version=0.0.4; charset=utf-8",
        }
    }

    /// Content negotiation on `Accept`: OpenMetrics when the client asks for it at least as
    /// much as for plain text (Prometheus itself sends
    /// `application/openmetrics-text;…;q=0.5,…,text/plain;version=0.0.4;q=0.3,*/*;q=0.2`);
    /// the Prometheus text otherwise, also with no `Accept` at all.
    pub fn negotiate(accept: Option<&str>) -> Format {
        let Some(accept) = accept else {
            return Format::Prometheus;
        };
        let (mut om, mut text) = (0.0f32, 0.0f32);
        for range in accept.split(',') {
            let mut parts = range.split(';').map(str::trim);
            let media = parts.next().unwrap_or("").to_ascii_lowercase();
            let q = parts
                .filter_map(|p| p.split_once('='))
                .find(|(k, _)| k.trim().eq_ignore_ascii_case("q"))
                .and_then(|(_, v)| v.trim().parse::<f32>().ok())
                .unwrap_or(1.0)
                .clamp(0.0, 1.0);
            match media.as_str() {
                "application/openmetrics-text" => om = om.max(q),
                "text/plain" | "text/*" | "*/*" => text = text.max(q),
                _ => {}
            }
        }
        if om > 0.0 && om >= text {
            Format::OpenMetrics
        } else {
            Format::Prometheus
        }
    }
}

/// Rewrites OpenMetrics text (as `prometheus-client` writes it) into the Prometheus text
/// format 0.0.4: a counter family is named after its `_total` samples (OpenMetrics names the
/// family without the suffix, which classic parsers read as a counter with no samples beside
/// an untyped `_total` metric), `unknown` is `untyped`, `info` is a gauge named `_info`,
/// `# UNIT` and `# EOF` lines go, and exemplars are dropped from samples.
pub fn openmetrics_to_prometheus(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut help: Option<(&str, &str)> = None;
    for line in text.lines() {
        if line == "# EOF" || line.starts_with("# UNIT ") {
            continue;
        }
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let (name, doc) = rest.split_once(' ').unwrap_or((rest, ""));
            help = Some((name, doc));
            continue;
        }
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap_or((rest, "unknown"));
            let (name, kind) = match kind {
                "counter" if !name.ends_with("_total") => (format!("{name}_total"), "counter"),
                "info" => (format!("{name}_info"), "gauge"),
                "unknown" => (name.to_string(), "untyped"),
                "stateset" => (name.to_string(), "gauge"),
                "gaugehistogram" => (name.to_string(), "histogram"),
                k => (name.to_string(), k),
            };
            if let Some((_, doc)) = help.take() {
                out.push_str(&format!("# HELP {name} {doc}\n"));
            }
            out.push_str(&format!("# TYPE {name} {kind}\n"));
            continue;
        }
        if let Some((h, doc)) = help.take() {
            out.push_str(&format!("# HELP {h} {doc}\n"));
        }
        // A sample, perhaps with an exemplar after " # ".
        let sample = match line.find(" # ") {
            Some(i) if !line.starts_with('#') => &line[..i],
            _ => line,
        };
        out.push_str(sample);
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_headers_choose_the_format() {
        use Format::*;
        for (accept, want) in [
            (None, Prometheus),
            (Some(""), Prometheus),
            (Some("*/*"), Prometheus),
            (Some("text/plain; version=0.0.4"), Prometheus),
            (Some("text/plain;version=0.0.4;q=0.9,application/openmetrics-text;q=0.5"), Prometheus),
            (Some("application/openmetrics-text"), OpenMetrics),
            (Some("application/openmetrics-text; version=1.0.0; charset=utf-8"), OpenMetrics),
            (
                Some("application/openmetrics-text;version=1.0.0;q=0.5,application/openmetrics-text;version=0.0.1;q=0.4,text/plain;version=0.0.4;q=0.3,*/*;q=0.2"),
                OpenMetrics,
            ),
            (Some("application/openmetrics-text;q=0"), Prometheus),
            (Some("Application/OpenMetrics-Text"), OpenMetrics),
            (Some("application/json"), Prometheus),
            (Some("application/openmetrics-text;q=nonsense"), OpenMetrics),
        ] {
            assert_eq!(Format::negotiate(accept), want, "{accept:?}");
        }
    }

    #[test]
    fn openmetrics_becomes_prometheus_text() {
        let om = "# HELP a_events Events.\n# TYPE a_events counter\na_events_total 3\n\
                  # HELP b Bytes.\n# TYPE b gauge\n# UNIT b bytes\nb 1\n\
                  # HELP c Calls.\n# TYPE c counter\nc_total{x=\"1\"} 2 # {trace=\"t\"} 1.0\n\
                  # TYPE d unknown\nd 4\n# HELP e Build.\n# TYPE e info\ne_info{v=\"1\"} 1\n# EOF\n";
        assert_eq!(
            openmetrics_to_prometheus(om),
            "# HELP a_events_total Events.\n# TYPE a_events_total counter\na_events_total 3\n\
             # HELP b Bytes.\n# TYPE b gauge\nb 1\n\
             # HELP c_total Calls.\n# TYPE c_total counter\nc_total{x=\"1\"} 2\n\
             # TYPE d untyped\nd 4\n# HELP e_info Build.\n# TYPE e_info gauge\ne_info{v=\"1\"} 1\n"
        );
    }
}
