//! What a bulk retry or a replay is asked to work through: a time window (`since`, and
//! `until`, by default now), with the status and event types, every problem reported at once.

use super::delivery::parse_time;
use super::{DeliveryStatus, EventTypeName, ValidationError, ValidationErrors};

/// A bulk retry: the webhook's deliveries in `status` (failed, by default; or retrying, to
/// pull their next attempt forward) created in the window, of one event type if given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BulkRetryRequest {
    pub status: DeliveryStatus,
    pub since: i64,
    pub until: i64,
    pub event_type: Option<EventTypeName>,
}

/// A replay: the workspace's events published in the window that the webhook subscribes
/// to, of these types if given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplayRequest {
    pub since: i64,
    pub until: i64,
    pub event_types: Vec<EventTypeName>,
}

fn window(
    errors: &mut ValidationErrors,
    since: Option<&str>,
    until: Option<&str>,
    now: i64,
) -> Option<(i64, i64)> {
    let since = match since.map(str::trim).filter(|s| !s.is_empty()) {
        None => {
            errors.push(ValidationError::new(
                "since",
                "give the window's start as an RFC 3339 time, e.g. 2026-12-03T00:00:00Z",
            ));
            None
        }
        Some(s) => errors.take(parse_time("since", s)),
    };
    let until = match until.map(str::trim).filter(|s| !s.is_empty()) {
        None => Some(now),
        Some(u) => errors.take(parse_time("until", u)),
    };
    let (since, until) = (since?, until?);
    if until <= since {
        errors.push(ValidationError::new(
            "until",
            "until must be later than since (it is now when left out)",
        ));
        return None;
    }
    Some((since, until))
}

impl BulkRetryRequest {
    pub fn parse(
        status: Option<&str>,
        since: Option<&str>,
        until: Option<&str>,
        event_type: Option<&str>,
        now: i64,
    ) -> Result<BulkRetryRequest, ValidationErrors> {
        let mut errors = ValidationErrors::default();
        let status = match status.map(str::trim).filter(|s| !s.is_empty()) {
            None => Some(DeliveryStatus::Failed),
            Some(s) => match DeliveryStatus::parse(s) {
                Ok(st @ (DeliveryStatus::Failed | DeliveryStatus::Retrying)) => Some(st),
                _ => {
                    errors.push(ValidationError::new(
                        "status",
                        "use failed (deliveries that gave up) or retrying (pull their next attempt forward)",
                    ));
                    None
                }
            },
        };
        let w = window(&mut errors, since, until, now);
        let event_type = match event_type.map(str::trim).filter(|s| !s.is_empty()) {
            None => None,
            Some(t) => errors.take(
                EventTypeName::parse(t).map_err(|e| ValidationError::new("event_type", e.message)),
            ),
        };
        match (status, w) {
            (Some(status), Some((since, until))) if errors.is_empty() => Ok(BulkRetryRequest {
                status,
                since,
                until,
                event_type,
            }),
            _ => Err(errors),
        }
    }
}

impl ReplayRequest {
    pub fn parse(
        since: Option<&str>,
        until: Option<&str>,
        event_types: &[String],
        now: i64,
    ) -> Result<ReplayRequest, ValidationErrors> {
        let mut errors = ValidationErrors::default();
        let w = window(&mut errors, since, until, now);
        if event_types.len() > 100 {
            errors.push(ValidationError::new(
                "event_types",
                "name at most 100 event types",
            ));
        }
        let mut types = Vec::new();
        for t in event_types.iter().take(100) {
            match EventTypeName::parse(t) {
                Ok(t) if !types.contains(&t) => types.push(t),
                Ok(_) => {}
                Err(e) => {
                    errors.push(ValidationError::new("event_types", e.message));
                    break;
                }
            }
        }
        match w {
            Some((since, until)) if errors.is_empty() => Ok(ReplayRequest {
                since,
                until,
                event_types: types,
            }),
            _ => Err(errors),
        }
    }
}

/// Does a replay send an event of `event_type`: the webhook subscribes to it now, and the
/// job's `chosen` types (if any) include it.
pub fn replay_takes(subscribed: &[String], chosen: &[String], event_type: &str) -> bool {
    subscribed.iter().any(|t| t == "*" || t == event_type)
        && (chosen.is_empty() || chosen.iter().any(|t| t == event_type))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_replay_takes_what_the_webhook_subscribes_to_within_the_chosen_types() {
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        assert!(replay_takes(&s(&["*"]), &[], "order.paid"));
        assert!(replay_takes(&s(&["order.paid"]), &[], "order.paid"));
        assert!(!replay_takes(&s(&["order.paid"]), &[], "user.created"));
        assert!(replay_takes(&s(&["*"]), &s(&["order.paid"]), "order.paid"));
        assert!(!replay_takes(
            &s(&["*"]),
            &s(&["order.paid"]),
            "user.created"
        ));
        // A chosen type the webhook does not take is not sent.
        assert!(!replay_takes(
            &s(&["order.paid"]),
            &s(&["user.created"]),
            "user.created"
        ));
    }

    const NOW: i64 = 1_780_000_000_000;

    #[test]
    fn windows_need_a_start_and_end_after_it() {
        let r =
            BulkRetryRequest::parse(None, Some("2026-01-01T00:00:00Z"), None, None, NOW).unwrap();
        assert_eq!((r.status, r.until), (DeliveryStatus::Failed, NOW));
        let e = BulkRetryRequest::parse(Some("succeeded"), None, Some("x"), Some("a b"), NOW)
            .unwrap_err();
        let fields: Vec<&str> = e.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["status", "since", "until", "event_type"]);
        assert!(BulkRetryRequest::parse(
            None,
            Some("2026-01-02T00:00:00Z"),
            Some("2026-01-01T00:00:00Z"),
            None,
            NOW
        )
        .is_err());
        assert_eq!(
            BulkRetryRequest::parse(
                Some("retrying"),
                Some("2026-01-01T00:00:00Z"),
                None,
                None,
                NOW
            )
            .unwrap()
            .status,
            DeliveryStatus::Retrying
        );
    }

    #[test]
    fn replays_take_known_shapes_of_types() {
        let types = vec!["a.b".to_string(), "a.b".to_string(), "c".to_string()];
        let r = ReplayRequest::parse(Some("2026-01-01T00:00:00Z"), None, &types, NOW).unwrap();
        assert_eq!(r.event_types.len(), 2, "duplicates folded");
        let bad = vec!["a b".to_string()];
        assert_eq!(
            ReplayRequest::parse(Some("2026-01-01T00:00:00Z"), None, &bad, NOW)
                .unwrap_err()
                .first()
                .unwrap()
                .field,
            "event_types"
        );
        let many: Vec<String> = (0..101).map(|n| format!("t{n}")).collect();
        assert!(ReplayRequest::parse(Some("2026-01-01T00:00:00Z"), None, &many, NOW).is_err());
    }
}
