//! `/api/v1/workspaces`: provisioning of workspaces by the vendor's backend (instance keys
//! with the `workspaces` scope), including their plan (seed 004's feature flag and cap).

use actix_web::http::StatusCode;
use actix_web::web;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::pagination::{
    decode_name_cursor, encode_name_cursor, next_page, parse_limit, ListQuery,
};
use super::responses::{BodyErrors, ScopeErrors};
use super::{envelope, page, ApiError, ApiJson, ApiResult, Caller, Envelope, ErrorEnvelope, Page};
use crate::clock::rfc3339;
use crate::domain::tenancy::{max_webhooks, workspace_name};
use crate::domain::{NewWorkspace, ValidationError, ValidationErrors};
use crate::service::workspaces;
use crate::state::AppState;
use crate::store::types::{Workspace, WorkspaceChange};

/// A workspace (tenant): one customer of the vendor.
#[derive(Serialize, ToSchema)]
pub struct WorkspaceOut {
    /// Its identifier in URLs and the `Hookline-Workspace` header.
    #[schema(example = "acme")]
    pub slug: String,
    #[schema(example = "Acme Corp")]
    pub name: String,
    /// Whether the plan includes webhooks. Without them, webhook writes answer 403
    /// `feature_disabled`; reads and existing deliveries go on.
    pub webhooks_enabled: bool,
    /// The plan's cap on webhooks, or `null` for none.
    #[schema(required = true, example = 10)]
    pub max_webhooks: Option<i64>,
    /// RFC 3339.
    #[schema(format = DateTime)]
    pub created_at: String,
    /// RFC 3339.
    #[schema(format = DateTime)]
    pub updated_at: String,
}

impl From<Workspace> for WorkspaceOut {
    fn from(w: Workspace) -> Self {
        WorkspaceOut {
            slug: w.slug,
            name: w.name,
            webhooks_enabled: w.webhooks_enabled,
            max_webhooks: w.max_webhooks,
            created_at: rfc3339(w.created_at),
            updated_at: rfc3339(w.updated_at),
        }
    }
}

/// The body of `POST /workspaces`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WorkspaceIn {
    /// 1–63 lowercase letters, digits and dashes, not starting or ending with a dash.
    #[schema(example = "acme", max_length = 63)]
    pub slug: Option<String>,
    /// At most 100 characters; the slug when left out.
    #[schema(example = "Acme Corp", max_length = 100)]
    pub name: Option<String>,
    /// Default `true`.
    pub webhooks_enabled: Option<bool>,
    /// 0–100000, or `null` (the default) for no cap.
    #[schema(maximum = 100000, minimum = 0)]
    pub max_webhooks: Option<i64>,
}

/// The body of `PATCH /workspaces/{slug}`: only the fields to change.
#[derive(Deserialize, Default, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WorkspacePatch {
    #[schema(max_length = 100)]
    pub name: Option<String>,
    pub webhooks_enabled: Option<bool>,
    /// 0–100000; `null` removes the cap.
    #[serde(default, deserialize_with = "super::extract::double_option")]
    #[schema(value_type = Option<i64>, maximum = 100000, minimum = 0)]
    pub max_webhooks: Option<Option<i64>>,
}

/// Creates a workspace.
#[utoipa::path(
    post,
    path = "/api/v1/workspaces",
    tag = "workspaces",
    operation_id = "create_workspace",
    request_body = WorkspaceIn,
    responses(
        (status = 201, description = "Created", body = Envelope<WorkspaceOut>),
        (status = 409, description = "A workspace with this slug exists (`conflict`)", body = ErrorEnvelope),
        (status = 422, description = "A field is missing, unknown or invalid (`validation_failed`, with `field`)", body = ErrorEnvelope),
        ScopeErrors,
        BodyErrors,
    )
)]
pub async fn create(
    caller: Caller,
    state: web::Data<AppState>,
    body: ApiJson<WorkspaceIn>,
) -> ApiResult {
    caller.require_provisioning()?;
    let b = body.value;
    let new = NewWorkspace::parse(
        b.slug.as_deref(),
        b.name.as_deref(),
        b.webhooks_enabled,
        b.max_webhooks,
    )?;
    let ws = workspaces::create(&state, new).await?;
    tracing::info!(workspace = %ws.slug, by = %caller.key.label, "workspace created over the API");
    Ok(envelope(StatusCode::CREATED, WorkspaceOut::from(ws)))
}

/// Lists workspaces by slug.
#[utoipa::path(
    get,
    path = "/api/v1/workspaces",
    tag = "workspaces",
    operation_id = "list_workspaces",
    params(ListQuery),
    responses(
        (status = 200, description = "A page of workspaces, by slug", body = Page<WorkspaceOut>),
        (status = 422, description = "`limit` out of range or `cursor` not valid (`validation_failed`, with `field`)", body = ErrorEnvelope),
        ScopeErrors,
    )
)]
pub async fn list(
    caller: Caller,
    state: web::Data<AppState>,
    q: web::Query<ListQuery>,
) -> ApiResult {
    caller.require_provisioning()?;
    let limit = parse_limit(q.limit)?;
    let after = q.cursor.as_deref().map(decode_name_cursor).transpose()?;
    let mut rows = workspaces::list(&state, after, limit + 1).await?;
    let next = next_page(&mut rows, limit, |r| encode_name_cursor(r.slug.as_str()));
    Ok(page(
        rows.into_iter().map(WorkspaceOut::from).collect(),
        next,
    ))
}

/// Reads one workspace.
#[utoipa::path(
    get,
    path = "/api/v1/workspaces/{slug}",
    tag = "workspaces",
    operation_id = "get_workspace",
    params(("slug" = String, Path, description = "The workspace's slug")),
    responses(
        (status = 200, description = "The workspace", body = Envelope<WorkspaceOut>),
        (status = 404, description = "No such workspace", body = ErrorEnvelope),
        ScopeErrors,
    )
)]
pub async fn get(caller: Caller, state: web::Data<AppState>, slug: web::Path<String>) -> ApiResult {
    caller.require_provisioning()?;
    let ws = workspaces::get(&state, &slug).await?;
    Ok(envelope(StatusCode::OK, WorkspaceOut::from(ws)))
}

/// Changes a workspace's name or plan; absent fields keep their value.
#[utoipa::path(
    patch,
    path = "/api/v1/workspaces/{slug}",
    tag = "workspaces",
    operation_id = "update_workspace",
    params(("slug" = String, Path, description = "The workspace's slug")),
    request_body = WorkspacePatch,
    responses(
        (status = 200, description = "The changed workspace", body = Envelope<WorkspaceOut>),
        (status = 404, description = "No such workspace", body = ErrorEnvelope),
        (status = 422, description = "A field is unknown or invalid (`validation_failed`, with `field`); the slug cannot change", body = ErrorEnvelope),
        ScopeErrors,
        BodyErrors,
    )
)]
pub async fn update(
    caller: Caller,
    state: web::Data<AppState>,
    slug: web::Path<String>,
    body: ApiJson<serde_json::Value>,
) -> ApiResult {
    caller.require_provisioning()?;
    if body.value.get("slug").is_some() {
        return Err(ApiError::unprocessable(
            "slug",
            "a workspace's slug cannot change (keys, links and URLs name it); create a new workspace instead",
        ));
    }
    let p: WorkspacePatch = super::extract::parse_json(&body.raw)?;
    let mut errors = ValidationErrors::default();
    let name = match p.name.as_deref().map(workspace_name) {
        None => None,
        Some(Ok(n)) if n.is_empty() => {
            errors.push(ValidationError::new(
                "name",
                "a workspace's name cannot be empty; leave the field out to keep it",
            ));
            None
        }
        Some(Ok(n)) => Some(n),
        Some(Err(e)) => {
            errors.push(e);
            None
        }
    };
    let max = match p.max_webhooks {
        None => None,
        Some(m) => match max_webhooks(m) {
            Ok(v) => Some(v),
            Err(e) => {
                errors.push(e);
                None
            }
        },
    };
    if !errors.is_empty() {
        return Err(errors.into());
    }
    let ws = workspaces::update(
        &state,
        &slug,
        WorkspaceChange {
            name,
            webhooks_enabled: p.webhooks_enabled,
            max_webhooks: max,
        },
    )
    .await?;
    Ok(envelope(StatusCode::OK, WorkspaceOut::from(ws)))
}

/// The answer to a workspace's deletion.
#[derive(Serialize, ToSchema)]
pub struct WorkspaceDeletedOut {
    pub slug: String,
    /// Always `true`.
    pub deleted: bool,
}

/// Deletes a workspace and everything in it: webhooks, events, deliveries, attempts, API
/// keys, memberships, portal links and sessions. It is gone at once (its slug is free again,
/// its keys stop working, its webhooks stop); its history is removed in the background in
/// small batches, so other workspaces' deliveries never stall.
#[utoipa::path(
    delete,
    path = "/api/v1/workspaces/{slug}",
    tag = "workspaces",
    operation_id = "delete_workspace",
    params(("slug" = String, Path, description = "The workspace's slug")),
    responses(
        (status = 200, description = "Deleted", body = Envelope<WorkspaceDeletedOut>),
        (status = 404, description = "No such workspace", body = ErrorEnvelope),
        ScopeErrors,
    )
)]
pub async fn delete(
    caller: Caller,
    state: web::Data<AppState>,
    slug: web::Path<String>,
) -> ApiResult {
    caller.require_provisioning()?;
    let ws = workspaces::delete(&state, &slug).await?;
    tracing::info!(workspace = %ws.slug, by = %caller.key.label, "workspace deleted over the API");
    Ok(envelope(
        StatusCode::OK,
        WorkspaceDeletedOut {
            slug: ws.slug,
            deleted: true,
        },
    ))
}
