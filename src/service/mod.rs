//! The operations the REST API and the settings UI both perform, once: they take a
//! workspace the caller was already allowed into (scopes and roles are the edges' business),
//! parse what needs parsing with the domain types, call storage, and wake the engine. Each
//! returns a [`ServiceError`], which `api::ApiError` and `ui::UiError` map to their answers.

pub mod deliveries;
pub mod events;
pub mod webhooks;

use crate::crypto::CryptoError;
use crate::db::DbError;
use crate::domain::{ValidationError, ValidationErrors};

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
