//! A workspace's API keys, as the provisioning API manages them: create (the key is shown
//! once; only its hash is stored), list, revoke.

use crate::auth::new_api_key;
use crate::domain::{Scopes, ValidationError, ValidationErrors};
use crate::state::AppState;
use crate::store::types::{ApiKeyRow, NewApiKey};

use super::{ServiceError, ServiceResult};

/// A new key's name: at most 100 characters, no control characters.
pub fn key_name(s: &str) -> Result<String, ValidationError> {
    let s = s.trim();
    if s.chars().count() > 100 || s.chars().any(char::is_control) {
        return Err(ValidationError::new(
            "name",
            "use at most 100 characters, without control characters",
        ));
    }
    Ok(s.to_string())
}

/// Creates a key of workspace `ws`; returns it with the key itself (shown once).
pub async fn create(
    state: &AppState,
    ws: i64,
    name: &str,
    scopes: Result<Scopes, ValidationError>,
    created_by: Option<i64>,
) -> ServiceResult<(ApiKeyRow, String)> {
    let mut errors = ValidationErrors::default();
    let scopes = errors.take(scopes.and_then(Scopes::for_workspace_key));
    let name = errors.take(key_name(name));
    let (Some(scopes), Some(name)) = (scopes, name) else {
        return Err(errors.into());
    };
    let key = new_api_key();
    let row = state
        .store
        .api_key_create(NewApiKey {
            workspace_id: Some(ws),
            name,
            prefix: key.prefix,
            hash: key.hash,
            scopes,
            created_by,
        })
        .await?;
    Ok((row, key.key))
}

pub async fn list(
    state: &AppState,
    ws: i64,
    after: i64,
    limit: usize,
) -> ServiceResult<Vec<ApiKeyRow>> {
    Ok(state.store.api_keys_page(ws, after, limit).await?)
}

/// Revokes a key of the workspace; it stops working at once. Returns it as revoked.
pub async fn revoke(state: &AppState, ws: i64, id: i64) -> ServiceResult<ApiKeyRow> {
    state
        .store
        .api_key_revoke(Some(ws), id)
        .await?
        .ok_or(ServiceError::NotFound("API key"))
}
