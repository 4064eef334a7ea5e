//! The operations the REST API and the settings UI both perform, once: they take a
//! workspace the caller was already allowed into (scopes and roles are the edges' business),
//! parse what needs parsing with the domain types, call storage, and wake the engine. Each
//! returns a [`ServiceError`], which `api::ApiError` and `ui::UiError` map to their answers.

pub mod api_keys;
pub mod deliveries;
pub mod events;
pub mod jobs;
pub mod portal;
pub mod stats;
pub mod webhooks;
pub mod workspaces;

use crate::crypto::CryptoError;
use crate::domain::{ValidationError, ValidationErrors};
use crate::store::StoreError as DbError;

#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// No such thing in this workspace (what: `webhook`, `delivery`, …).
    #[error("{0} not found")]
    NotFound(&'static str),
    /// The input does not fit: every field's problem.
    #[error("{0}")]
    Invalid(ValidationErrors),
    /// The request conflicts with what is stored.
    #[error("{0}")]
    Conflict(String),
    /// The workspace's plan does not include this feature (seed 004's feature flag).
    #[error("{0}")]
    FeatureDisabled(String),
    /// The workspace's plan caps this (`field`: the setting that sets the cap).
    #[error("{message}")]
    LimitReached {
        field: &'static str,
        message: String,
    },
    #[error(transparent)]
    Db(#[from] DbError),
    #[error(transparent)]
    Crypto(#[from] CryptoError),
}

impl From<ValidationErrors> for ServiceError {
    fn from(e: ValidationErrors) -> Self {
        ServiceError::Invalid(e)
    }
}

impl From<ValidationError> for ServiceError {
    fn from(e: ValidationError) -> Self {
        ServiceError::Invalid(e.into())
    }
}

impl From<crate::delivery::engine::EngineError> for ServiceError {
    fn from(e: crate::delivery::engine::EngineError) -> Self {
        use crate::delivery::engine::EngineError;
        match e {
            EngineError::Db(e) => ServiceError::Db(e),
            EngineError::Crypto(e) => ServiceError::Crypto(e),
            EngineError::Vanished => ServiceError::NotFound("webhook"),
        }
    }
}

pub type ServiceResult<T> = Result<T, ServiceError>;

/// Who makes a change, as it is recorded on what changed ("changed by" on a webhook's page):
/// an account's email, the email a portal link was made for (else "via <brand>"), or an
/// API key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor(pub String);

impl Actor {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}
