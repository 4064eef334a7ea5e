//! What the OpenAPI document says once and every operation refers to: the error responses
//! (as components, and grouped for operations with [`KeyErrors`], [`ScopeErrors`] and
//! [`BodyErrors`]) and the request headers operations share.

use utoipa::{IntoParams, IntoResponses, ToResponse};

use super::error::ErrorEnvelope;

// Reusable error responses. Each is the error envelope; the description says when it is sent.

/// Bad request (`bad_request` or `malformed_json`): the body is empty or not valid JSON, the
/// query string cannot be parsed, or an instance key did not name a workspace with the
/// `Hookline-Workspace` header (or sent it as non-text).
#[derive(ToResponse)]
pub struct BadRequest(pub ErrorEnvelope);

/// Missing, malformed, revoked or mistyped API key (`unauthorized`).
#[derive(ToResponse)]
pub struct Unauthorized(pub ErrorEnvelope);

/// The API key lacks the scope this operation needs, or the operation needs an instance key
/// (`forbidden`).
#[derive(ToResponse)]
pub struct Forbidden(pub ErrorEnvelope);

/// The path exists but not with this method (`method_not_allowed`). Sent for any method a
/// path does not document.
#[derive(ToResponse)]
pub struct MethodNotAllowed(pub ErrorEnvelope);

/// The request body, or an event's `data`, is larger than the limit (`payload_too_large`).
#[derive(ToResponse)]
pub struct PayloadTooLarge(pub ErrorEnvelope);

/// The database cannot take the request now: the disk is full (`storage_full`) or Hookline is
/// shutting down (`shutting_down`). Nothing was stored; retry later.
#[derive(ToResponse)]
pub struct Unavailable(pub ErrorEnvelope);

/// An unexpected internal error (`internal`), logged on the server.
#[derive(ToResponse)]
pub struct Internal(pub ErrorEnvelope);

/// The `Hookline-Workspace` header of operations that act in a workspace.
#[derive(IntoParams)]
#[into_params(parameter_in = Header)]
pub struct WorkspaceHeader {
    /// With an instance key: the slug of the workspace to act in (required then). With a
    /// workspace key: optional, and it must be that key's workspace. An unknown workspace
    /// answers 404.
    #[param(rename = "Hookline-Workspace", required = false, example = "acme")]
    pub workspace: String,
}

/// The `Idempotency-Key` header of the publishing operations.
#[derive(IntoParams)]
#[into_params(parameter_in = Header)]
pub struct IdempotencyHeader {
    /// 1–255 visible characters. The same key with the same body within 24 hours returns the
    /// first answer again (with `Idempotent-Replayed: true`); the same key with another body
    /// is a 422.
    #[param(
        rename = "Idempotency-Key",
        required = false,
        max_length = 255,
        min_length = 1
    )]
    pub idempotency_key: String,
}

/// The errors of every operation that takes an API key: 400, 401, 500, 503.
#[derive(IntoResponses)]
pub enum KeyErrors {
    #[response(status = 400)]
    BadRequest(#[ref_response] BadRequest),
    #[response(status = 401)]
    Unauthorized(#[ref_response] Unauthorized),
    #[response(status = 500)]
    Internal(#[ref_response] Internal),
    #[response(status = 503)]
    Unavailable(#[ref_response] Unavailable),
}

/// The errors of an operation that needs a scope: [`KeyErrors`] and 403.
#[derive(IntoResponses)]
pub enum ScopeErrors {
    #[response(status = 400)]
    BadRequest(#[ref_response] BadRequest),
    #[response(status = 401)]
    Unauthorized(#[ref_response] Unauthorized),
    #[response(status = 403)]
    Forbidden(#[ref_response] Forbidden),
    #[response(status = 500)]
    Internal(#[ref_response] Internal),
    #[response(status = 503)]
    Unavailable(#[ref_response] Unavailable),
}

/// The error of an operation that reads a request body: 413.
#[derive(IntoResponses)]
pub enum BodyErrors {
    #[response(status = 413)]
    PayloadTooLarge(#[ref_response] PayloadTooLarge),
}
