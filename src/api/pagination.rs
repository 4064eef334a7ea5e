//! Keyset pagination: `limit` (1–100) and an opaque `cursor`.

use base64::Engine;
use serde::Deserialize;
use utoipa::IntoParams;

use super::ApiError;

/// Pagination of a list.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Page size, 1–100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<i64>,
    /// `meta.next_cursor` of the previous page, as it is.
    pub cursor: Option<String>,
}

pub const DEFAULT_LIMIT: usize = 20;
pub const MAX_LIMIT: usize = 100;

pub fn parse_limit(limit: Option<i64>) -> Result<usize, ApiError> {
    match limit {
        None => Ok(DEFAULT_LIMIT),
        Some(l) if (1..=MAX_LIMIT as i64).contains(&l) => Ok(l as usize),
        Some(_) => Err(ApiError::unprocessable(
            "limit",
            format!("use a limit from 1 to {MAX_LIMIT}"),
        )),
    }
}

pub fn encode_cursor(id: i64) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("k{id}"))
}

fn bad_cursor() -> ApiError {
    ApiError::unprocessable(
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

pub fn decode_cursor(c: &str) -> Result<i64, ApiError> {
    decode_tagged(c, 'k')
        .and_then(|n| n.parse().ok())
        .ok_or_else(bad_cursor)
}

/// A cursor for lists ordered by a name (event types): the last name of the page.
pub fn encode_name_cursor(name: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("n{name}"))
}

pub fn decode_name_cursor(c: &str) -> Result<String, ApiError> {
    decode_tagged(c, 'n')
        .filter(|n| !n.is_empty())
        .ok_or_else(bad_cursor)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_do_not_mix() {
        assert_eq!(decode_cursor(&encode_cursor(42)).unwrap(), 42);
        assert_eq!(
            decode_name_cursor(&encode_name_cursor("a.b")).unwrap(),
            "a.b"
        );
        assert!(decode_name_cursor(&encode_cursor(42)).is_err());
        assert!(decode_cursor(&encode_name_cursor("a.b")).is_err());
        for bad in ["", "!!", "k1", "n%"] {
            assert!(decode_cursor(bad).is_err(), "{bad}");
            assert!(decode_name_cursor(bad).is_err(), "{bad}");
        }
    }
}
