//! The opaque cursors of keyset pagination (`meta.next_cursor`, and the UI's "Older" links):
//! the key of the last row of a page, tagged by the kind of list it belongs to, in URL-safe
//! base64. A cursor of one kind of list is refused by another.

use base64::Engine;

use super::ValidationError;

fn bad_cursor() -> ValidationError {
    ValidationError::new(
        "cursor",
        "this cursor is not valid; pass meta.next_cursor from the previous page as it is",
    )
}

fn decode_tagged(c: &str, tag: char) -> Option<String> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(c)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .and_then(|s| s.strip_prefix(tag).map(str::to_string))
}

/// A cursor for lists ordered by row id.
pub fn encode_id(id: i64) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("k{id}"))
}

pub fn decode_id(c: &str) -> Result<i64, ValidationError> {
    decode_tagged(c, 'k')
        .and_then(|n| n.parse().ok())
        .ok_or_else(bad_cursor)
}

/// A cursor for lists ordered by a name (event types): the last name of the page.
pub fn encode_name(name: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("n{name}"))
}

pub fn decode_name(c: &str) -> Result<String, ValidationError> {
    decode_tagged(c, 'n')
        .filter(|n| !n.is_empty())
        .ok_or_else(bad_cursor)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_do_not_mix() {
        assert_eq!(decode_id(&encode_id(42)).unwrap(), 42);
        assert_eq!(decode_name(&encode_name("a.b")).unwrap(), "a.b");
        assert!(decode_name(&encode_id(42)).is_err());
        assert!(decode_id(&encode_name("a.b")).is_err());
        for bad in ["", "!!", "k1", "n%"] {
            assert!(decode_id(bad).is_err(), "{bad}");
            assert!(decode_name(bad).is_err(), "{bad}");
        }
    }
}
