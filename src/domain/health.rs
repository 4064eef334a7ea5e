//! A webhook's health as a batch of attempts moves it: failure counts, `failing_since`,
//! auto-disable and which attempts leave a notice. Pure, so a backend that reads the webhook's
//! row once per batch (PostgreSQL, under the row's lock) applies exactly the rules SQLite's
//! attempt-by-attempt record applies (`db::queue::Recording::record`).

use super::delivery::disable_reason;
use super::notice::NoticeKind;

/// The health columns of a webhook's row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Health {
    pub failure_count: i64,
    pub failing_since: Option<i64>,
    pub last_success_at: Option<i64>,
    pub last_failure_at: Option<i64>,
    pub is_active: bool,
}

/// What one attempt came to, as far as its webhook's health goes.
#[derive(Debug, Clone, Copy)]
pub struct Outcome {
    pub success: bool,
    /// The receiver answered 410 Gone.
    pub gone: bool,
    /// The delivery failed for good (no attempt follows).
    pub gives_up: bool,
    /// Send Test: never a notice of its own.
    pub final_attempt: bool,
}

/// Where a batch left the webhook.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthChange {
    pub health: Health,
    /// The webhook was switched off by this batch, and why.
    pub disabled: Option<String>,
    /// (index into the batch's outcomes, notice kind): the attempts that leave a notice.
    pub notices: Vec<(usize, NoticeKind)>,
}

impl HealthChange {
    /// Whether the row needs writing.
    pub fn changed(&self, before: &Health) -> bool {
        self.health != *before
    }
}

/// Applies the outcomes, in the order they arrived, to `before`. A success clears the
/// failures (rewriting `last_success_at` at most once a second); a failure counts, starts
/// `failing_since`, and switches the webhook off on `410 Gone` or after
/// `auto_disable_after_ms` of failures; the attempt that switched it off leaves a
/// "disabled" notice, one that gave up a "failed" one.
pub fn apply(
    before: &Health,
    outcomes: &[Outcome],
    now: i64,
    auto_disable_after_ms: i64,
) -> HealthChange {
    let mut h = before.clone();
    let mut disabled = None;
    let mut notices = Vec::new();
    for (i, o) in outcomes.iter().enumerate() {
        if o.success {
            if h.failure_count != 0
                || h.failing_since.is_some()
                || h.last_success_at.is_none_or(|t| t < now - 1000)
            {
                h.failure_count = 0;
                h.failing_since = None;
                h.last_success_at = Some(now);
            }
            continue;
        }
        h.last_failure_at = Some(now);
        h.failure_count += 1;
        h.failing_since.get_or_insert(now);
        let reason = disable_reason(o.gone, h.failing_since, now, auto_disable_after_ms);
        match reason {
            Some(reason) if h.is_active => {
                h.is_active = false;
                disabled = Some(reason);
                notices.push((i, NoticeKind::WebhookDisabled));
            }
            _ if o.gives_up && !o.final_attempt => notices.push((i, NoticeKind::DeliveryFailed)),
            _ => {}
        }
    }
    HealthChange {
        health: h,
        disabled,
        notices,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: i64 = 24 * 3600 * 1000;

    fn healthy() -> Health {
        Health {
            failure_count: 0,
            failing_since: None,
            last_success_at: None,
            last_failure_at: None,
            is_active: true,
        }
    }

    fn ok() -> Outcome {
        Outcome {
            success: true,
            gone: false,
            gives_up: false,
            final_attempt: false,
        }
    }

    fn failed(gives_up: bool) -> Outcome {
        Outcome {
            success: false,
            gone: false,
            gives_up,
            final_attempt: false,
        }
    }

    #[test]
    fn the_last_success_in_a_batch_clears_the_failures_before_it() {
        let now = 100 * DAY;
        let c = apply(&healthy(), &[ok(), failed(false), ok()], now, DAY);
        assert_eq!(c.health.failure_count, 0);
        assert_eq!(c.health.failing_since, None);
        assert_eq!(c.health.last_success_at, Some(now));
        assert_eq!(c.health.last_failure_at, Some(now));
        let c = apply(&healthy(), &[ok(), failed(false)], now, DAY);
        assert_eq!(
            (c.health.failure_count, c.health.failing_since),
            (1, Some(now))
        );
        assert!(c.notices.is_empty(), "a retry left leaves no notice");
    }

    #[test]
    fn a_recent_success_is_not_rewritten() {
        let now = 100 * DAY;
        let before = Health {
            last_success_at: Some(now - 500),
            ..healthy()
        };
        let c = apply(&before, &[ok(), ok()], now, DAY);
        assert!(!c.changed(&before));
        let before = Health {
            last_success_at: Some(now - 5000),
            ..healthy()
        };
        assert!(apply(&before, &[ok()], now, DAY).changed(&before));
    }

    #[test]
    fn failing_long_enough_or_gone_switches_off_once_with_one_notice() {
        let now = 100 * DAY;
        let before = Health {
            failure_count: 40,
            failing_since: Some(now - 2 * DAY),
            ..healthy()
        };
        let c = apply(&before, &[failed(true), failed(true)], now, DAY);
        assert!(!c.health.is_active);
        assert_eq!(
            c.disabled.as_deref(),
            Some("every delivery failed for 1 days")
        );
        assert_eq!(
            c.notices,
            vec![
                (0, NoticeKind::WebhookDisabled),
                (1, NoticeKind::DeliveryFailed)
            ],
            "the second gave up on a webhook already off"
        );
        let gone = Outcome {
            gone: true,
            ..failed(true)
        };
        let c = apply(&healthy(), &[ok(), gone, ok()], now, DAY);
        assert!(
            !c.health.is_active,
            "a success after 410 does not switch it on"
        );
        assert_eq!(c.notices, vec![(1, NoticeKind::WebhookDisabled)]);
        let off = Health {
            is_active: false,
            ..healthy()
        };
        let c = apply(&off, &[gone], now, DAY);
        assert_eq!(c.disabled, None, "already off");
        assert_eq!(c.notices, vec![(0, NoticeKind::DeliveryFailed)]);
        let test = Outcome {
            final_attempt: true,
            ..failed(true)
        };
        assert!(apply(&healthy(), &[test], now, DAY).notices.is_empty());
    }
}
