//! An event as it is stored, signed and sent: `{"id","type","timestamp","data"}`.

use crate::clock::{random_id, rfc3339};

/// A new public event id: `evt_` + 27 random characters (no `.`).
pub fn new_event_id() -> String {
    format!("evt_{}", random_id(27))
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
