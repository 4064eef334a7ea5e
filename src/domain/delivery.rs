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

/// Which deliveries of a webhook to list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeliveryFilter {
    pub status: Option<DeliveryStatus>,
    pub event_type: Option<EventTypeName>,
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
            Ok(DeliveryFilter { status, event_type })
        } else {
            Err(errors)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
