//! A delivery's lifecycle state, and the filters people look at deliveries through.

use std::fmt;

use super::{EventTypeName, ValidationError, ValidationErrors};

/// Where a delivery stands: `pending` (no attempt yet) → `succeeded` or `failed`, with
/// `retrying` while an attempt failed and another is scheduled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DeliveryStatus {
    Pending,
    Retrying,
    Succeeded,
    Failed,
}

impl DeliveryStatus {
    pub const ALL: [DeliveryStatus; 4] = [
        DeliveryStatus::Pending,
        DeliveryStatus::Retrying,
        DeliveryStatus::Succeeded,
        DeliveryStatus::Failed,
    ];

    /// The stable lowercase name, as stored and as the API and the UI show it.
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryStatus::Pending => "pending",
            DeliveryStatus::Retrying => "retrying",
            DeliveryStatus::Succeeded => "succeeded",
            DeliveryStatus::Failed => "failed",
        }
    }

    /// A status name (surrounding whitespace ignored).
    pub fn parse(s: &str) -> Result<DeliveryStatus, ValidationError> {
        let s = s.trim();
        DeliveryStatus::ALL
            .into_iter()
            .find(|st| st.as_str() == s)
            .ok_or_else(|| {
                ValidationError::new("status", "use one of pending, retrying, succeeded, failed")
            })
    }

    /// Still waiting for an attempt (its next one is scheduled).
    pub fn is_waiting(self) -> bool {
        matches!(self, DeliveryStatus::Pending | DeliveryStatus::Retrying)
    }
}

impl fmt::Display for DeliveryStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A filter on the HTTP status of a delivery's last answer: one code, or a class (`4xx`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HttpStatusFilter {
    Exact(u16),
    /// `4` for `4xx`: 400 to 499.
    Class(u16),
}

impl HttpStatusFilter {
    pub fn parse(s: &str) -> Result<HttpStatusFilter, ValidationError> {
        let s = s.trim().to_ascii_lowercase();
        let err = || {
            ValidationError::new(
                "http_status",
                "use a status code from 100 to 599 (e.g. 503), or a class: 1xx, 2xx, 3xx, 4xx or 5xx",
            )
        };
        if let Some(class) = s.strip_suffix("xx") {
            return match class.parse::<u16>() {
                Ok(c @ 1..=5) if class.len() == 1 => Ok(HttpStatusFilter::Class(c)),
                _ => Err(err()),
            };
        }
        match s.parse::<u16>() {
            Ok(code @ 100..=599) if s.len() == 3 => Ok(HttpStatusFilter::Exact(code)),
            _ => Err(err()),
        }
    }

    /// The codes it matches, inclusive.
    pub fn range(self) -> (i64, i64) {
        match self {
            HttpStatusFilter::Exact(c) => (c as i64, c as i64),
            HttpStatusFilter::Class(c) => (c as i64 * 100, c as i64 * 100 + 99),
        }
    }
}

/// Which deliveries to list: every filter is optional; together they all must hold.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeliveryFilter {
    pub status: Option<DeliveryStatus>,
    pub event_type: Option<EventTypeName>,
    /// Workspace-wide lists only (a webhook's own list is already one webhook's).
    pub webhook_id: Option<i64>,
    pub http_status: Option<HttpStatusFilter>,
    /// Created at or after (unix ms).
    pub since: Option<i64>,
    /// Created before (unix ms).
    pub until: Option<i64>,
    /// The event's public id (`evt_…`).
    pub event_id: Option<String>,
}

/// The raw query-string values of a delivery search.
#[derive(Debug, Clone, Copy, Default)]
pub struct DeliveryFilterInput<'a> {
    pub status: Option<&'a str>,
    pub event_type: Option<&'a str>,
    pub webhook_id: Option<&'a str>,
    pub http_status: Option<&'a str>,
    pub since: Option<&'a str>,
    pub until: Option<&'a str>,
    pub event_id: Option<&'a str>,
}

/// An RFC 3339 time (`2026-12-03T06:00:00Z`, any offset) as unix milliseconds.
pub fn parse_time(field: &str, s: &str) -> Result<i64, ValidationError> {
    time::OffsetDateTime::parse(s.trim(), &time::format_description::well_known::Rfc3339)
        .map(|t| (t.unix_timestamp_nanos() / 1_000_000) as i64)
        .map_err(|_| {
            ValidationError::new(
                field,
                "use an RFC 3339 time such as 2026-12-03T06:00:00Z (or with an offset, +01:00)",
            )
        })
}

impl DeliveryFilter {
    /// The filters from a query string; empty values mean "any". Reports both fields'
    /// problems at once.
    pub fn parse(
        status: Option<&str>,
        event_type: Option<&str>,
    ) -> Result<DeliveryFilter, ValidationErrors> {
        let mut errors = ValidationErrors::default();
        let given = |v: Option<&str>| {
            v.map(str::trim)
                .filter(|v| !v.is_empty())
                .map(str::to_string)
        };
        let status = given(status).and_then(|s| errors.take(DeliveryStatus::parse(&s)));
        let event_type = given(event_type).and_then(|t| {
            errors.take(
                EventTypeName::parse(&t).map_err(|e| ValidationError::new("event_type", e.message)),
            )
        });
        if errors.is_empty() {
            Ok(DeliveryFilter {
                status,
                event_type,
                ..Default::default()
            })
        } else {
            Err(errors)
        }
    }

    /// Every filter of a search, with every problem at once.
    pub fn parse_all(input: DeliveryFilterInput) -> Result<DeliveryFilter, ValidationErrors> {
        let given = |v: Option<&str>| {
            v.map(str::trim)
                .filter(|v| !v.is_empty())
                .map(str::to_string)
        };
        let (mut errors, base) = match DeliveryFilter::parse(input.status, input.event_type) {
            Ok(f) => (ValidationErrors::default(), f),
            Err(e) => (e, DeliveryFilter::default()),
        };
        let webhook_id = given(input.webhook_id).and_then(|w| {
            errors.take(super::parse_id(&w).ok_or_else(|| {
                ValidationError::new("webhook_id", "use a webhook's id, a positive whole number")
            }))
        });
        let http_status =
            given(input.http_status).and_then(|h| errors.take(HttpStatusFilter::parse(&h)));
        let since = given(input.since).and_then(|t| errors.take(parse_time("since", &t)));
        let until = given(input.until).and_then(|t| errors.take(parse_time("until", &t)));
        if let (Some(s), Some(u)) = (since, until) {
            if u <= s {
                errors.push(ValidationError::new(
                    "until",
                    "until must be later than since",
                ));
            }
        }
        let event_id = given(input.event_id).and_then(|e| {
            let ok = e.starts_with("evt_")
                && e.len() <= 64
                && e[4..].chars().all(|c| c.is_ascii_alphanumeric());
            errors.take(if ok {
                Ok(e)
            } else {
                Err(ValidationError::new(
                    "event_id",
                    "use an event id as returned when it was published (evt_ followed by letters and digits)",
                ))
            })
        });
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(DeliveryFilter {
            webhook_id,
            http_status,
            since,
            until,
            event_id,
            ..base
        })
    }
}

/// Why a webhook must be switched off after a failed attempt, if it must: the receiver said
/// `410 Gone`, or every delivery has failed since `failing_since` for `auto_disable_after`.
pub fn disable_reason(
    gone: bool,
    failing_since: Option<i64>,
    now_ms: i64,
    auto_disable_after_ms: i64,
) -> Option<String> {
    if gone {
        return Some("the receiver answered 410 Gone".to_string());
    }
    let since = failing_since?;
    (now_ms - since >= auto_disable_after_ms).then(|| {
        let days = auto_disable_after_ms / (24 * 3600 * 1000);
        if days >= 1 && auto_disable_after_ms % (24 * 3600 * 1000) == 0 {
            format!("every delivery failed for {days} days")
        } else {
            format!("every delivery failed for {}", human(auto_disable_after_ms))
        }
    })
}

/// `90 minutes`, `3 hours` — for the rare auto-disable periods shorter than whole days.
fn human(ms: i64) -> String {
    let minutes = ms / 60_000;
    if minutes >= 60 && minutes % 60 == 0 {
        format!("{} hours", minutes / 60)
    } else if minutes >= 1 {
        format!("{minutes} minutes")
    } else {
        format!("{} seconds", ms / 1000)
    }
}

/// A claimed delivery with what is needed to send it.
#[derive(Debug, Clone)]
pub struct Claimed {
    pub delivery_id: i64,
    pub webhook_id: i64,
    pub event_public_id: String,
    pub event_type: String,
    /// The exact bytes to sign and send.
    pub body: bytes::Bytes,
    /// Attempts made before this one.
    pub attempt_count: i64,
    /// When the event was published (unix ms), for the publish-to-delivery metric.
    pub created_at: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_status_filters_take_codes_and_classes() {
        assert_eq!(
            HttpStatusFilter::parse("503"),
            Ok(HttpStatusFilter::Exact(503))
        );
        assert_eq!(
            HttpStatusFilter::parse("5xx"),
            Ok(HttpStatusFilter::Class(5))
        );
        assert_eq!(
            HttpStatusFilter::parse(" 4XX "),
            Ok(HttpStatusFilter::Class(4))
        );
        assert_eq!(HttpStatusFilter::Class(4).range(), (400, 499));
        for bad in [
            "", "6xx", "0xx", "xx", "99", "600", "5x", "50", "+503", "0503", "abc", "5xxx",
        ] {
            assert!(HttpStatusFilter::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_search_reports_every_problem() {
        let e = DeliveryFilter::parse_all(DeliveryFilterInput {
            status: Some("lost"),
            event_type: Some("a b"),
            webhook_id: Some("-1"),
            http_status: Some("7xx"),
            since: Some("yesterday"),
            until: Some("2026-13-01T00:00:00Z"),
            event_id: Some("nope"),
        })
        .unwrap_err();
        let fields: Vec<&str> = e.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "status",
                "event_type",
                "webhook_id",
                "http_status",
                "since",
                "until",
                "event_id"
            ]
        );
        let f = DeliveryFilter::parse_all(DeliveryFilterInput {
            since: Some("2026-12-03T00:00:00Z"),
            until: Some("2026-12-03T06:00:00+01:00"),
            http_status: Some("5xx"),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(f.until.unwrap() - f.since.unwrap(), 5 * 3600 * 1000);
        let e = DeliveryFilter::parse_all(DeliveryFilterInput {
            since: Some("2026-12-03T06:00:00Z"),
            until: Some("2026-12-03T06:00:00Z"),
            ..Default::default()
        })
        .unwrap_err();
        assert_eq!(e.first().unwrap().field, "until");
    }

    #[test]
    fn statuses_round_trip_and_refuse_others() {
        for s in DeliveryStatus::ALL {
            assert_eq!(DeliveryStatus::parse(s.as_str()), Ok(s));
        }
        assert_eq!(
            DeliveryStatus::parse(" failed "),
            Ok(DeliveryStatus::Failed)
        );
        for bad in ["", "Failed", "done", "retry"] {
            assert_eq!(DeliveryStatus::parse(bad).unwrap_err().field, "status");
        }
        assert!(DeliveryStatus::Retrying.is_waiting() && !DeliveryStatus::Failed.is_waiting());
    }

    #[test]
    fn filters_report_both_problems() {
        assert_eq!(
            DeliveryFilter::parse(None, Some("  ")),
            Ok(DeliveryFilter::default())
        );
        let f = DeliveryFilter::parse(Some("failed"), Some("a.b")).unwrap();
        assert_eq!(f.status, Some(DeliveryStatus::Failed));
        let e = DeliveryFilter::parse(Some("nope"), Some("not a type")).unwrap_err();
        let fields: Vec<&str> = e.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["status", "event_type"]);
    }

    #[test]
    fn gone_and_long_failure_disable() {
        let day = 24 * 3600 * 1000;
        assert_eq!(
            disable_reason(true, None, 0, 5 * day).as_deref(),
            Some("the receiver answered 410 Gone")
        );
        assert_eq!(disable_reason(false, None, 10 * day, 5 * day), None);
        assert_eq!(disable_reason(false, Some(0), 5 * day - 1, 5 * day), None);
        assert_eq!(
            disable_reason(false, Some(0), 5 * day, 5 * day).as_deref(),
            Some("every delivery failed for 5 days")
        );
        assert_eq!(
            disable_reason(false, Some(0), day, 90 * 60_000).as_deref(),
            Some("every delivery failed for 90 minutes")
        );
    }
}
