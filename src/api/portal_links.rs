//! `POST /api/v1/portal-links`: a one-time link into a workspace's settings, for the
//! vendor's backend to hand its customer's admin (redirect, or the `src` of an iframe).

use actix_web::http::StatusCode;
use actix_web::web;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::responses::{BodyErrors, ScopeErrors, WorkspaceHeader};
use super::{envelope, ApiJson, ApiResult, Caller, Envelope, ErrorEnvelope};
use crate::clock::rfc3339;
use crate::domain::{PortalLinkRequest, Scope};
use crate::service::portal;
use crate::state::AppState;

/// The body of `POST /portal-links`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PortalLinkIn {
    /// `admin` (may add, change and delete webhooks and keys) or `viewer` (reads only).
    #[schema(example = "admin")]
    pub role: Option<String>,
    /// Who the link is for: shown in the portal's header and recorded as "changed by".
    #[schema(example = "ann@acme.example", format = Email)]
    pub email: Option<String>,
    /// How long the link can be opened: 30–3600 seconds, default 300. Once opened, the
    /// session lasts while used (`HOOKLINE_PORTAL_SESSION_MINUTES` idle).
    #[schema(example = 300, minimum = 30, maximum = 3600)]
    pub ttl_seconds: Option<i64>,
}

/// A portal link, shown only now.
#[derive(Serialize, ToSchema)]
pub struct PortalLinkOut {
    /// Open once, before `expires_at`: it starts a session in the workspace's settings.
    #[schema(example = "https://hooks.example.com/portal/3q2-7wPZ…")]
    pub url: String,
    /// RFC 3339.
    #[schema(format = DateTime)]
    pub expires_at: String,
}

/// Makes a one-time portal link into the workspace's webhook settings.
#[utoipa::path(
    post,
    path = "/api/v1/portal-links",
    tag = "portal",
    operation_id = "create_portal_link",
    params(WorkspaceHeader),
    request_body = PortalLinkIn,
    responses(
        (status = 201, description = "The link", body = Envelope<PortalLinkOut>),
        (status = 404, description = "The workspace named by `Hookline-Workspace` does not exist", body = ErrorEnvelope),
        (status = 422, description = "`role` missing or not admin/viewer, `email` not an address, `ttl_seconds` out of 30–3600 (`validation_failed`, with `field`)", body = ErrorEnvelope),
        ScopeErrors,
        BodyErrors,
    )
)]
pub async fn create(
    caller: Caller,
    state: web::Data<AppState>,
    body: ApiJson<PortalLinkIn>,
) -> ApiResult {
    let ws = caller.workspace(Scope::Portal)?.id;
    let b = body.value;
    let req = PortalLinkRequest::parse(b.role.as_deref(), b.email.as_deref(), b.ttl_seconds)?;
    let base = state.public_url.clone();
    let key_id = caller.key.key_id;
    let link = portal::create_link(&state.store, &base, ws, &req, Some(key_id)).await?;
    Ok(envelope(
        StatusCode::CREATED,
        PortalLinkOut {
            url: link.url,
            expires_at: rfc3339(link.expires_at),
        },
    ))
}
