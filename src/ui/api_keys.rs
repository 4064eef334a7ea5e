//! A workspace's API keys: listed by prefix, created (the key is shown once), revoked.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;

use super::flash::{self, Flash};
use super::form::{Errors, Post};
use super::workspace::WsCtx;
use super::{path_id, render, render_status, Chrome, Ts, UiError, Visitor};
use crate::domain::Scopes;
use crate::state::AppState;

pub struct KeyView {
    pub id: i64,
    pub name: String,
    pub prefix: String,
    pub scopes: String,
    pub created: Ts,
    pub last_used: Option<Ts>,
    pub revoked: Option<Ts>,
}

#[derive(Template)]
#[template(path = "ws/api_keys.html")]
struct KeysPage {
    chrome: Chrome,
    base: String,
    can_manage: bool,
    keys: Vec<KeyView>,
    new_key: Option<String>,
    name: String,
    scope_webhooks: bool,
    scope_events: bool,
    scope_portal: bool,
    errors: Errors,
}

async fn page(
    state: &AppState,
    ctx: &WsCtx,
    new_key: Option<String>,
    name: String,
    scopes: Scopes,
    errors: Errors,
) -> Result<KeysPage, UiError> {
    let ws = ctx.id();
    let rows = state.store.api_keys_all(Some(ws)).await?;
    Ok(KeysPage {
        chrome: ctx.chrome("api-keys"),
        base: ctx.path(""),
        can_manage: ctx.can_manage(),
        keys: rows
            .into_iter()
            .map(|k| KeyView {
                id: k.id,
                name: k.name,
                prefix: k.prefix,
                scopes: k.scopes.list().join(", "),
                created: Ts::new(k.created_at),
                last_used: Ts::opt(k.last_used_at),
                revoked: Ts::opt(k.revoked_at),
            })
            .collect(),
        new_key,
        name,
        scope_webhooks: scopes.webhooks,
        scope_events: scopes.events,
        scope_portal: scopes.portal,
        errors,
    })
}

pub async fn list(
    req: HttpRequest,
    state: web::Data<AppState>,
    user: Visitor,
    slug: web::Path<String>,
) -> Result<HttpResponse, UiError> {
    let ctx = WsCtx::load(&state, user, &slug).await?;
    let fl = flash::take(&req, &state);
    let new_key = match &fl {
        Some(Flash::ApiKey { key, .. }) if ctx.can_manage() => Some(key.clone()),
        _ => None,
    };
    let mut p = page(
        &state,
        &ctx,
        new_key,
        String::new(),
        Scopes {
            webhooks: true,
            events: true,
            ..Scopes::default()
        },
        Errors::default(),
    )
    .await?;
    p.chrome.notice = flash::notice_of(&fl);
    Ok(flash::finish(render(&p), &state, fl.is_some()))
}

pub async fn create(
    state: web::Data<AppState>,
    post: Post<Visitor>,
    slug: web::Path<String>,
) -> Result<HttpResponse, UiError> {
    let ctx = WsCtx::load(&state, post.user, &slug).await?;
    ctx.require_manage()?;
    let f = &post.form;
    let name = f.get("name").trim().to_string();
    let chosen = f.all("scopes");
    let checked = Scopes {
        webhooks: chosen.iter().any(|s| s == "webhooks"),
        events: chosen.iter().any(|s| s == "events"),
        portal: chosen.iter().any(|s| s == "portal"),
        workspaces: false,
    };
    let scopes = Scopes::from_names(chosen.iter().map(String::as_str));
    let uid = ctx.visitor.account().map(|u| u.id);
    let (row, key) =
        match crate::service::api_keys::create(&state, ctx.id(), &name, scopes, uid).await {
            Ok(made) => made,
            Err(crate::service::ServiceError::Invalid(e)) => {
                let mut errors = Errors::default();
                errors.extend(e);
                let p = page(&state, &ctx, None, name, checked, errors).await?;
                return Ok(render_status(StatusCode::UNPROCESSABLE_ENTITY, &p));
            }
            Err(e) => return Err(e.into()),
        };
    let id = row.id;
    tracing::info!(key_id = id, workspace = %ctx.ws.slug, user = %ctx.who(), "API key created in the UI");
    Ok(flash::redirect_with(
        &state,
        &ctx.path("/api-keys"),
        Flash::ApiKey { id, key },
    ))
}

pub async fn revoke(
    state: web::Data<AppState>,
    post: Post<Visitor>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, UiError> {
    let (slug, id) = path.into_inner();
    let id = path_id(&id)?;
    let ctx = WsCtx::load(&state, post.user, &slug).await?;
    let ws = ctx.id();
    let exists = state
        .store
        .api_key_get(ws, id)
        .await?
        .ok_or(UiError::NotFound)?;
    ctx.require_manage()?;
    if exists.revoked_at.is_none() {
        state.store.api_key_revoke(Some(ws), id).await?;
    }
    tracing::info!(key_id = id, workspace = %ctx.ws.slug, user = %ctx.who(), "API key revoked in the UI");
    Ok(flash::redirect_with(
        &state,
        &ctx.path("/api-keys"),
        Flash::Notice(format!(
            "Key {}… revoked: requests with it now get 401.",
            exists.prefix
        )),
    ))
}
