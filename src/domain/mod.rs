//! Domain types. Input is parsed into these once, at the edge (API, UI, CLI); the rest of
//! the code can rely on them being valid.

mod names;
mod people;
pub mod webhook;

pub use names::{EventTypeName, Slug};
pub use people::{Email, Password, Role, Scope, Scopes};
pub use webhook::{EventFilter, WebhookSecret, WebhookUrl};

/// Input that does not fit a domain type. `field` names the offending input field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct ValidationError {
    pub field: String,
    pub message: String,
}

impl ValidationError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        ValidationError {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// A row id taken from a URL path: a positive integer, or `None` (callers answer 404).
pub fn parse_id(raw: &str) -> Option<i64> {
    raw.parse::<i64>().ok().filter(|i| *i > 0)
}

/// Headers Hookline sets itself on every delivery; custom webhook headers may not override
/// them, and the signature header may not be named like one of them.
pub const RESERVED_HEADERS: &[&str] = &[
    "host",
    "content-length",
    "content-type",
    "transfer-encoding",
    "connection",
    "user-agent",
    "webhook-id",
    "webhook-timestamp",
    "webhook-signature",
    "x-hookline-event",
    "x-hookline-delivery",
    "x-hookline-signature",
    "te",
    "trailer",
    "upgrade",
    "keep-alive",
    "proxy-authorization",
    "expect",
];
