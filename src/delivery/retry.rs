//! The retry rules, as pure functions: when a failed delivery is tried again, and when a
//! webhook is switched off. No database, no clock of their own: the recorder passes `now`.
//!
//! - A webhook's `retry_schedule` lists the seconds to wait after each failed attempt; when
//!   it is used up (or the attempt was a one-off Send Test, or the receiver answered
//!   `410 Gone`) the delivery is final.
//! - Each wait gets up to 10% random jitter on top, so retries of a burst spread out.
//! - `Retry-After` (on 429 and 503) may lengthen a wait up to the schedule's longest step,
//!   never beyond it, jitter included, and never shortens one.
//!
//! When failures switch a webhook off is [`crate::domain::delivery::disable_reason`].

use std::time::Duration;

use rand::Rng;

/// The wait before the next attempt after attempt `attempt_number` (1 for the first) failed,
/// or `None` when `schedule` has no step left for it.
pub fn next_delay(
    schedule: &[u32],
    attempt_number: i64,
    retry_after: Option<Duration>,
    rng: &mut impl Rng,
) -> Option<Duration> {
    let index = usize::try_from(attempt_number.checked_sub(1)?).ok()?;
    let step_ms = u64::from(*schedule.get(index)?) * 1000;
    let longest_ms = u64::from(schedule.iter().copied().max().unwrap_or(0)) * 1000;
    let asked_ms = retry_after
        .map(|ra| {
            u64::try_from(ra.as_millis())
                .unwrap_or(u64::MAX)
                .min(longest_ms)
        })
        .filter(|&ra| ra > step_ms);
    let base_ms = asked_ms.unwrap_or(step_ms);
    let jitter_ms = rng.gen_range(0..=base_ms / 10);
    let delay_ms = match asked_ms {
        // The receiver asked for this wait: honour it, jitter and all, within the schedule.
        Some(_) => (base_ms + jitter_ms).min(longest_ms),
        None => base_ms + jitter_ms,
    };
    Some(Duration::from_millis(delay_ms))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    const DEFAULT: [u32; 4] = [60, 300, 1800, 7200];

    fn secs(d: Option<Duration>) -> Option<f64> {
        d.map(|d| d.as_secs_f64())
    }

    #[test]
    fn each_step_waits_its_time_plus_at_most_ten_percent() {
        let mut rng = StdRng::seed_from_u64(7);
        for (attempt, step) in [(1, 60.0), (2, 300.0), (3, 1800.0), (4, 7200.0)] {
            let (mut low, mut high) = (f64::MAX, 0.0f64);
            for _ in 0..2000 {
                let d = secs(next_delay(&DEFAULT, attempt, None, &mut rng)).unwrap();
                assert!(d >= step && d <= step * 1.1, "attempt {attempt}: {d}");
                low = low.min(d);
                high = high.max(d);
            }
            // The jitter really spreads retries: both ends of the range are reached.
            assert!(
                low < step * 1.01 && high > step * 1.09,
                "{attempt}: {low}..{high}"
            );
        }
    }

    #[test]
    fn the_schedule_ends() {
        let mut rng = StdRng::seed_from_u64(1);
        assert_eq!(next_delay(&DEFAULT, 5, None, &mut rng), None);
        assert_eq!(next_delay(&[], 1, None, &mut rng), None);
        assert_eq!(next_delay(&DEFAULT, 0, None, &mut rng), None);
        assert_eq!(next_delay(&DEFAULT, -3, None, &mut rng), None);
        let ninth = next_delay(&[360; 9], 9, None, &mut rng).unwrap();
        assert!(ninth >= Duration::from_secs(360));
        assert_eq!(next_delay(&[360; 9], 10, None, &mut rng), None);
    }

    #[test]
    fn retry_after_lengthens_a_wait_within_the_longest_step_jitter_included() {
        let mut rng = StdRng::seed_from_u64(3);
        for _ in 0..2000 {
            // Asked for 10 minutes after the first attempt (step 1 min): at least 10 minutes,
            // at most 10% more, and never past the longest step (2 h).
            let d = secs(next_delay(
                &DEFAULT,
                1,
                Some(Duration::from_secs(600)),
                &mut rng,
            ));
            let d = d.unwrap();
            assert!((600.0..=660.0).contains(&d), "{d}");
            // Asked for a day, or for the longest step itself: exactly the longest step.
            for ask in [86_400, 7200, 7199] {
                let d = secs(next_delay(
                    &DEFAULT,
                    2,
                    Some(Duration::from_secs(ask)),
                    &mut rng,
                ));
                let d = d.unwrap();
                assert!(d <= 7200.0, "asked {ask}: {d}");
                assert!(d >= (ask as f64).min(7200.0), "asked {ask}: {d}");
            }
            // Retry-After never shortens a wait.
            let d = secs(next_delay(&DEFAULT, 3, Some(Duration::ZERO), &mut rng)).unwrap();
            assert!((1800.0..=1980.0).contains(&d), "{d}");
            let d = secs(next_delay(
                &DEFAULT,
                3,
                Some(Duration::from_secs(5)),
                &mut rng,
            ));
            assert!(d.unwrap() >= 1800.0);
            // An absurd Retry-After saturates to the longest step.
            let d = next_delay(&DEFAULT, 1, Some(Duration::from_secs(u64::MAX)), &mut rng);
            assert_eq!(d, Some(Duration::from_secs(7200)));
        }
    }
}
