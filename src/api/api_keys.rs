//! `/api/v1/api-keys`: a workspace's API keys, managed by the vendor's backend (an instance
//! key with the `workspaces` scope, acting in the workspace named by `Hookline-Workspace`).

use actix_web::http::StatusCode;
use actix_web::web;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::extract::path_id;
use super::pagination::{decode_cursor, encode_cursor, next_page, parse_limit, ListQuery};
use super::responses::{BodyErrors, ScopeErrors, WorkspaceHeader};
use super::{envelope, page, ApiError, ApiJson, ApiResult, Caller, Envelope, ErrorEnvelope, Page};
use crate::clock::rfc3339;
use crate::domain::{Scopes, ValidationError};
use crate::service::api_keys;
use crate::state::AppState;
use crate::store::types::{ApiKeyRow, Workspace};

/// An API key of a workspace. The key itself is shown once, in the answer that creates it.
#[derive(Serialize, ToSchema)]
pub struct ApiKeyOut {
    #[schema(example = 7)]
    pub id: i64,
    pub name: String,
    /// The key's first characters, to recognise it by.
    #[schema(example = "hk_Ab3dEf9h")]
    pub prefix: String,
    #[schema(example = json!(["webhooks", "events"]))]
    pub scopes: Vec<&'static str>,
    /// The key (`hk_…`): only in the answer to its creation; store it now.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// RFC 3339.
    #[schema(format = DateTime)]
    pub created_at: String,
    /// RFC 3339, to the minute.
    #[schema(required = true, format = DateTime)]
    pub last_used_at: Option<String>,
    /// RFC 3339; a revoked key no longer works.
    #[schema(required = true, format = DateTime)]
    pub revoked_at: Option<String>,
}

impl ApiKeyOut {
    fn from_row(r: ApiKeyRow, key: Option<String>) -> ApiKeyOut {
        ApiKeyOut {
            id: r.id,
            name: r.name,
            prefix: r.prefix,
            scopes: r.scopes.list(),
            key,
            created_at: rfc3339(r.created_at),
            last_used_at: r.last_used_at.map(rfc3339),
            revoked_at: r.revoked_at.map(rfc3339),
        }
    }
}

/// The body of `POST /api-keys`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ApiKeyIn {
    /// Any of `webhooks` (manage webhooks, read deliveries), `events` (publish), `portal`
    /// (make portal links); at least one.
    #[schema(example = json!(["webhooks", "events"]))]
    pub scopes: Option<Vec<String>>,
    /// At most 100 characters.
    #[schema(example = "Acme's backend", max_length = 100)]
    pub name: Option<String>,
}

/// The workspace a key route acts in: provisioning rights, and a named workspace.
fn workspace(caller: &Caller) -> Result<&Workspace, ApiError> {
    caller.require_provisioning()?;
    caller.workspace.as_ref().ok_or_else(|| {
        ApiError::bad_request(format!(
            "name the workspace whose keys these are: send the {} header with its slug",
            super::extract::WORKSPACE_HEADER
        ))
        .with_field(super::extract::WORKSPACE_HEADER)
    })
}

/// Creates an API key of the workspace. The answer carries the key, once.
#[utoipa::path(
    post,
    path = "/api/v1/api-keys",
    tag = "api-keys",
    operation_id = "create_api_key",
    params(WorkspaceHeader),
    request_body = ApiKeyIn,
    responses(
        (status = 201, description = "Created; `key` is included this once", body = Envelope<ApiKeyOut>),
        (status = 404, description = "The workspace named by `Hookline-Workspace` does not exist", body = ErrorEnvelope),
        (status = 422, description = "`scopes` missing, empty or unknown, or `name` too long (`validation_failed`, with `field`)", body = ErrorEnvelope),
        ScopeErrors,
        BodyErrors,
    )
)]
pub async fn create(
    caller: Caller,
    state: web::Data<AppState>,
    body: ApiJson<ApiKeyIn>,
) -> ApiResult {
    let ws = workspace(&caller)?.id;
    let b = body.value;
    let scopes = match &b.scopes {
        None => Err(ValidationError::new(
            "scopes",
            "list the key's scopes, e.g. [\"webhooks\", \"events\"]",
        )),
        Some(names) => Scopes::from_names(names.iter().map(String::as_str)),
    };
    let (row, key) =
        api_keys::create(&state, ws, b.name.as_deref().unwrap_or(""), scopes, None).await?;
    tracing::info!(key_id = row.id, workspace_id = ws, by = %caller.key.label, "API key created over the API");
    Ok(envelope(
        StatusCode::CREATED,
        ApiKeyOut::from_row(row, Some(key)),
    ))
}

/// Lists the workspace's API keys (revoked ones too), oldest first.
#[utoipa::path(
    get,
    path = "/api/v1/api-keys",
    tag = "api-keys",
    operation_id = "list_api_keys",
    params(ListQuery, WorkspaceHeader),
    responses(
        (status = 200, description = "A page of keys, without the keys themselves", body = Page<ApiKeyOut>),
        (status = 404, description = "The workspace named by `Hookline-Workspace` does not exist", body = ErrorEnvelope),
        (status = 422, description = "`limit` out of range or `cursor` not valid (`validation_failed`, with `field`)", body = ErrorEnvelope),
        ScopeErrors,
    )
)]
pub async fn list(
    caller: Caller,
    state: web::Data<AppState>,
    q: web::Query<ListQuery>,
) -> ApiResult {
    let ws = workspace(&caller)?.id;
    let limit = parse_limit(q.limit)?;
    let after = match &q.cursor {
        Some(c) => decode_cursor(c)?,
        None => 0,
    };
    let mut rows = api_keys::list(&state, ws, after, limit + 1).await?;
    let next = next_page(&mut rows, limit, |r| encode_cursor(r.id));
    Ok(page(
        rows.into_iter()
            .map(|r| ApiKeyOut::from_row(r, None))
            .collect(),
        next,
    ))
}

/// Revokes an API key of the workspace: it stops working at once.
#[utoipa::path(
    delete,
    path = "/api/v1/api-keys/{id}",
    tag = "api-keys",
    operation_id = "revoke_api_key",
    params(("id" = i64, Path, description = "The key's id", minimum = 1), WorkspaceHeader),
    responses(
        (status = 200, description = "Revoked (also when it was already)", body = Envelope<ApiKeyOut>),
        (status = 404, description = "No such key in this workspace, or the workspace named by `Hookline-Workspace` does not exist", body = ErrorEnvelope),
        ScopeErrors,
    )
)]
pub async fn revoke(
    caller: Caller,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> ApiResult {
    let ws = workspace(&caller)?.id;
    let id = path_id(&id, "API key")?;
    let row = api_keys::revoke(&state, ws, id).await?;
    tracing::info!(key_id = id, workspace_id = ws, by = %caller.key.label, "API key revoked over the API");
    Ok(envelope(StatusCode::OK, ApiKeyOut::from_row(row, None)))
}
