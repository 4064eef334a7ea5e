//! Keyset pagination: `limit` (1–100) and an opaque `cursor`.

use base64::Engine;

use super::ApiError;

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

pub fn decode_cursor(c: &str) -> Result<i64, ApiError> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(c)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .and_then(|s| s.strip_prefix('k').and_then(|n| n.parse().ok()))
        .ok_or_else(|| {
            ApiError::unprocessable(
                "cursor",
                "this cursor is not valid; pass meta.next_cursor from the previous page as it is",
            )
        })
}
