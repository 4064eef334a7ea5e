//! Keyset pagination: `limit` (1–100) and an opaque `cursor`.

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

/// The opaque cursors (see [`crate::domain::cursor`]), with the API's 422 for a bad one.
pub fn encode_cursor(id: i64) -> String {
    crate::domain::cursor::encode_id(id)
}

pub fn decode_cursor(c: &str) -> Result<i64, ApiError> {
    Ok(crate::domain::cursor::decode_id(c)?)
}

pub fn encode_name_cursor(name: &str) -> String {
    crate::domain::cursor::encode_name(name)
}

pub fn decode_name_cursor(c: &str) -> Result<String, ApiError> {
    Ok(crate::domain::cursor::decode_name(c)?)
}

/// Cuts a page read with `limit + 1` rows back to `limit`, and returns the cursor of the
/// next page (made by `cursor` from the page's last row) when there was one more row.
pub fn next_page<T>(
    rows: &mut Vec<T>,
    limit: usize,
    cursor: impl Fn(&T) -> String,
) -> Option<String> {
    if rows.len() <= limit {
        return None;
    }
    rows.truncate(limit);
    rows.last().map(cursor)
}
