//! Domain types. Input is parsed into these once, at the edge (API, UI, CLI); the rest of
//! the code can rely on them being valid.

pub mod cursor;
pub mod delivery;
pub mod event;
pub mod event_type;
pub mod fair;
pub mod health;
pub mod jobs;
mod names;
pub mod notice;
mod people;
pub mod secret;
pub mod stats;
pub mod tenancy;
pub mod webhook;

pub use delivery::{DeliveryFilter, DeliveryFilterInput, DeliveryStatus, HttpStatusFilter};
pub use event_type::NewEventType;
pub use jobs::{BulkRetryRequest, ReplayRequest};
pub use names::{EventTypeName, Slug};
pub use people::{
    check_member_change, Email, MemberRefusal, Password, Role, Scope, Scopes, INVITATION_TTL_MS,
    RESET_TTL_MS,
};
pub use secret::WebhookSecret;
pub use tenancy::{plan_refusal, NewWorkspace, PlanRefusal, PortalLinkRequest};
pub use webhook::{EventFilter, WebhookDraft, WebhookRules, WebhookSettings, WebhookUrl};

/// A map keyed by row ids (webhooks, deliveries, events, workspaces), hashed with FxHash:
/// these keys are our own numbers, never chosen by someone who could aim at collisions, and
/// the claim rounds and the dispatcher look them up thousands of times a round (SipHash, the
/// standard maps' hasher, was about a fifth of a claim round over 1,000 webhooks).
pub type IdMap<V> = std::collections::HashMap<i64, V, rustc_hash::FxBuildHasher>;

/// A set of row ids (see [`IdMap`]).
pub type IdSet = std::collections::HashSet<i64, rustc_hash::FxBuildHasher>;

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

/// Every problem found in one input, in the order of its fields. Parsers of whole inputs
/// (a form, a request body) collect into this instead of stopping at the first error, so a
/// form can mark every wrong field at once.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ValidationErrors(Vec<ValidationError>);

impl ValidationErrors {
    pub fn push(&mut self, e: ValidationError) {
        self.0.push(e);
    }
    /// The value, or `None` with its error kept.
    pub fn take<T>(&mut self, r: Result<T, ValidationError>) -> Option<T> {
        r.map_err(|e| self.push(e)).ok()
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    pub fn len(&self) -> usize {
        self.0.len()
    }
    pub fn iter(&self) -> std::slice::Iter<'_, ValidationError> {
        self.0.iter()
    }
    /// The first problem (for answers that name one field).
    pub fn first(&self) -> Option<&ValidationError> {
        self.0.first()
    }
}

impl IntoIterator for ValidationErrors {
    type Item = ValidationError;
    type IntoIter = std::vec::IntoIter<ValidationError>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

impl From<ValidationError> for ValidationErrors {
    fn from(e: ValidationError) -> Self {
        ValidationErrors(vec![e])
    }
}

impl std::fmt::Display for ValidationErrors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let parts: Vec<String> = self.0.iter().map(|e| e.to_string()).collect();
        f.write_str(&parts.join("; "))
    }
}

impl std::error::Error for ValidationErrors {}

/// A row id taken from a URL path: a positive integer written the one way ids are written
/// (digits, no sign, no leading zero), or `None` (callers answer 404). `01` or `+1` would
/// otherwise name id 1 too, and one thing would have many URLs.
pub fn parse_id(raw: &str) -> Option<i64> {
    let canonical =
        !raw.is_empty() && raw.bytes().all(|b| b.is_ascii_digit()) && !raw.starts_with('0');
    raw.parse::<i64>().ok().filter(|i| canonical && *i > 0)
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
