//! The API's error type and response envelope. Every answer under `/api/v1` — including the
//! framework's own errors — is `{"data": …, "meta": {"request_id": …}}` or
//! `{"error": {"code", "message", "field"?}, "meta": {…}}`.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;
use utoipa::ToSchema;

use crate::domain::ValidationError;
use crate::store::StoreError as DbError;

tokio::task_local! {
    /// The id of the request being served, set by the request-id middleware.
    pub static REQUEST_ID: String;
}

/// The current request id, or a fresh one outside a request.
pub fn request_id() -> String {
    REQUEST_ID
        .try_with(|id| id.clone())
        .unwrap_or_else(|_| new_request_id())
}

pub fn new_request_id() -> String {
    format!("req_{}", crate::clock::random_id(20))
}

#[derive(Debug, Clone, thiserror::Error)]
#[error("{code}: {message}")]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub field: Option<String>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            field: None,
        }
    }
    pub fn with_field(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into());
        self
    }
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
    }
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", message)
    }
    pub fn not_found(what: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("{what} not found"),
        )
    }
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }
    pub fn unprocessable(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
            message,
        )
        .with_field(field)
    }
    /// A 500 whose cause has been logged.
    pub fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "an internal error occurred; it has been logged",
        )
    }
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, "conflict", message)
    }
}

/// The API names one field per error: the first of several.
impl From<crate::domain::ValidationErrors> for ApiError {
    fn from(e: crate::domain::ValidationErrors) -> Self {
        match e.into_iter().next() {
            Some(first) => first.into(),
            None => ApiError::unprocessable("body", "the input is not valid"),
        }
    }
}

impl From<ValidationError> for ApiError {
    fn from(e: ValidationError) -> Self {
        ApiError::unprocessable(e.field, e.message)
    }
}

impl From<DbError> for ApiError {
    fn from(e: DbError) -> Self {
        match e {
            DbError::Full => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "storage_full",
                "the disk holding Hookline's database is full; nothing was stored. Free space and retry.",
            ),
            DbError::Closed => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "shutting_down",
                "Hookline is shutting down; retry in a moment",
            ),
            DbError::Unavailable(e) => {
                tracing::error!(error = %e, "the database cannot be reached");
                ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "storage_unavailable",
                    "Hookline cannot reach its database right now; nothing was stored. Retry in a moment.",
                )
            }
            e @ (DbError::Sqlite(_)
            | DbError::Corrupt(_)
            | DbError::Task(_)
            | DbError::Backend(_)) => {
                tracing::error!(error = %e, "database error");
                ApiError::internal()
            }
        }
    }
}

impl From<crate::service::ServiceError> for ApiError {
    fn from(e: crate::service::ServiceError) -> Self {
        use crate::service::ServiceError;
        match e {
            ServiceError::NotFound(what) => ApiError::not_found(what),
            ServiceError::Invalid(errors) => errors.into(),
            ServiceError::Conflict(m) => ApiError::conflict(m),
            ServiceError::FeatureDisabled(m) => {
                ApiError::new(StatusCode::FORBIDDEN, "feature_disabled", m)
            }
            ServiceError::LimitReached { field, message } => {
                ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "limit_reached", message)
                    .with_field(field)
            }
            ServiceError::Db(e) => e.into(),
            ServiceError::Crypto(e) => e.into(),
        }
    }
}

impl From<crate::crypto::CryptoError> for ApiError {
    fn from(e: crate::crypto::CryptoError) -> Self {
        tracing::error!(error = %e, "secret error");
        ApiError::internal()
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.status
    }
    fn error_response(&self) -> HttpResponse {
        HttpResponse::build(self.status).json(ErrorEnvelope {
            error: ErrorBody {
                code: self.code.to_string(),
                message: self.message.clone(),
                field: self.field.clone(),
            },
            meta: Meta::now(),
        })
    }
}

// The envelopes below are what every answer is serialized through, and also what the
// OpenAPI document describes: the two cannot disagree.

/// Metadata of every answer.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Meta {
    /// The id of this request (`req_…`), also sent as the `X-Request-Id` header.
    #[schema(example = "req_3kTMd9xYpQ2vN7bL1sWz")]
    pub request_id: String,
}

impl Meta {
    pub fn now() -> Meta {
        Meta {
            request_id: request_id(),
        }
    }
}

/// Metadata of a page of a list.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PageMeta {
    /// The id of this request (`req_…`), also sent as the `X-Request-Id` header.
    #[schema(example = "req_3kTMd9xYpQ2vN7bL1sWz")]
    pub request_id: String,
    /// Pass as `cursor` to get the next page; `null` on the last page.
    #[schema(required = true)]
    pub next_cursor: Option<String>,
}

/// A successful answer: `{"data": …, "meta": {"request_id": …}}`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Envelope<T> {
    pub data: T,
    pub meta: Meta,
}

/// A page of a list: `{"data": [...], "meta": {"request_id": …, "next_cursor": …}}`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Page<T> {
    pub data: Vec<T>,
    pub meta: PageMeta,
}

/// What went wrong.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ErrorBody {
    /// A stable machine-readable code, e.g. `validation_failed`, `not_found`, `unauthorized`.
    #[schema(example = "validation_failed")]
    pub code: String,
    /// A human-readable explanation that says what to do instead.
    #[schema(example = "use a timeout from 1 to 60 seconds")]
    pub message: String,
    /// The input at fault (a body field path such as `events[2].type`, a query parameter or a
    /// header name), when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = "timeout_seconds")]
    pub field: Option<String>,
}

/// Every error answer: `{"error": {"code", "message", "field"?}, "meta": {"request_id": …}}`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ErrorEnvelope {
    pub error: ErrorBody,
    pub meta: Meta,
}

/// `{"data": data, "meta": {"request_id": …}}` with the given status.
pub fn envelope<T: Serialize>(status: StatusCode, data: T) -> HttpResponse {
    HttpResponse::build(status).json(Envelope {
        data,
        meta: Meta::now(),
    })
}

/// A page of a list, with `meta.next_cursor` when there is more.
pub fn page<T: Serialize>(data: Vec<T>, next_cursor: Option<String>) -> HttpResponse {
    HttpResponse::Ok().json(Page {
        data,
        meta: PageMeta {
            request_id: request_id(),
            next_cursor,
        },
    })
}

pub type ApiResult = Result<HttpResponse, ApiError>;
