//! An event as it is stored, signed and sent: `{"id","type","timestamp","data"}`.

use crate::clock::{random_id, rfc3339, ALPHABET};

/// A new public event id for an event made at `created_at` (ms since the epoch): `evt_` + 27
/// characters of `[0-9A-Za-z]` (no `.`): the time in the first 8, then 19 random ones (about
/// 113 bits).
///
/// The time first makes ids of later events sort after earlier ones, as bytes, so the index
/// that finds an event by its id grows at its end, as the events table does. With 27 random
/// characters each new event's entry landed on a random page of that index: a group commit
/// of 30 single publishes rewrote some 30 of its pages, and read those not cached.
pub fn new_event_id(created_at: i64) -> String {
    let mut id = String::with_capacity(31);
    id.push_str("evt_");
    push_time(&mut id, created_at);
    id.push_str(&random_id(19));
    id
}

/// Appends `ms` (clamped to 0..62^8, about 6,900 years) as 8 base-62 digits.
fn push_time(out: &mut String, ms: i64) {
    const DIGITS: usize = 8;
    let mut v = ms.clamp(0, 62_i64.pow(DIGITS as u32) - 1) as u64;
    let mut digits = [b'0'; DIGITS];
    for d in digits.iter_mut().rev() {
        *d = ALPHABET[(v % 62) as usize];
        v /= 62;
    }
    out.extend(digits.iter().map(|&b| b as char));
}

/// The exact bytes that are stored, signed and sent for an event. `data` is the published
/// JSON, byte for byte.
pub fn event_body(id: &str, event_type: &str, created_at: i64, data: &str) -> String {
    // `id` is alphanumeric and `event_type` a checked name: neither needs JSON escaping.
    format!(
        r#"{{"id":"{id}","type":"{event_type}","timestamp":"{}","data":{data}}}"#,
        rfc3339(created_at)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn time_part(id: &str) -> &str {
        &id[4..12]
    }

    #[test]
    fn event_ids_are_evt_and_27_alphanumerics() {
        for at in [0, 1, 1_764_000_000_000, i64::MAX, -5] {
            let id = new_event_id(at);
            assert_eq!(id.len(), 31, "{id}");
            assert!(id.starts_with("evt_"), "{id}");
            assert!(id[4..].bytes().all(|b| b.is_ascii_alphanumeric()), "{id}");
        }
        assert_eq!(time_part(&new_event_id(0)), "00000000");
        assert_eq!(time_part(&new_event_id(-5)), "00000000");
        assert_eq!(time_part(&new_event_id(61)), "0000000z");
        assert_eq!(time_part(&new_event_id(62)), "00000010");
        assert_eq!(time_part(&new_event_id(i64::MAX)), "zzzzzzzz");
    }

    #[test]
    fn later_events_sort_after_earlier_ones_and_ids_of_one_millisecond_differ() {
        let times = [
            0,
            1,
            61,
            62,
            3_843,
            3_844,
            1_764_000_000_000,
            1_764_000_000_001,
            1_764_000_086_400,
            4_102_444_800_000,
        ];
        let ids: Vec<String> = times.iter().map(|&t| new_event_id(t)).collect();
        for w in ids.windows(2) {
            assert!(w[0] < w[1], "{} !< {}", w[0], w[1]);
        }
        let same: std::collections::HashSet<String> =
            (0..1000).map(|_| new_event_id(1_764_000_000_000)).collect();
        assert_eq!(same.len(), 1000);
    }
}
