//! `GET /portal/{token}`: a one-time portal link, made by the vendor's backend
//! (`POST /api/v1/portal-links`) or `hookline portal-link`. Opening it once starts a portal
//! session (see [`super::Visitor`]) and lands on the workspace's Webhooks page. A used, an
//! expired or an unknown link gets a page that sends the visitor back to the vendor's app:
//! never a login form (the visitor has no account here), never a 500.

use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;

use super::session::{mark_portal, portal_cookie};
use super::{redirect, render_status, url_encode, Chrome, UiError};
use crate::auth::{new_token, token_hash};
use crate::clock::now_ms;
use crate::state::AppState;
use crate::store::types::{NewSession, Redeemed};

pub async fn open(
    req: HttpRequest,
    state: web::Data<AppState>,
    token: web::Path<String>,
) -> Result<HttpResponse, UiError> {
    mark_portal(&req);
    let token = token.into_inner();
    // Tokens are 43 URL-safe characters; anything else was never one of ours.
    let plausible = (20..=100).contains(&token.len())
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !plausible {
        return Err(unknown());
    }
    let link_hash = token_hash(&token);
    let session_token = new_token();
    let session_hash = token_hash(&session_token);
    let csrf = new_token();
    let idle_ms = state.config.portal_session_minutes as i64 * 60_000;
    let now = now_ms();
    let outcome = state
        .store
        .portal_link_redeem(
            link_hash,
            NewSession {
                token_hash: session_hash,
                csrf_token: csrf,
                now,
                idle_ms,
            },
        )
        .await?;
    match outcome {
        Redeemed::Opened { workspace_slug } => {
            let mut resp = redirect(&format!("/w/{}/webhooks", url_encode(&workspace_slug)));
            if let Ok(v) = header::HeaderValue::from_str(&portal_cookie(&state, &session_token)) {
                resp.headers_mut().append(header::SET_COOKIE, v);
            }
            resp.headers_mut().insert(
                header::CACHE_CONTROL,
                header::HeaderValue::from_static("no-store"),
            );
            tracing::info!(workspace = %workspace_slug, "portal link opened");
            Ok(resp)
        }
        Redeemed::Used => Err(UiError::PortalLink(
            StatusCode::GONE,
            "This link was already used",
            "Each link into the webhook settings works once, and this one has been opened before."
                .into(),
        )),
        Redeemed::Expired => Err(UiError::PortalLink(
            StatusCode::GONE,
            "This link has expired",
            "Links into the webhook settings work for a few minutes only, and this one is too old."
                .into(),
        )),
        Redeemed::Unknown => Err(unknown()),
    }
}

fn unknown() -> UiError {
    UiError::PortalLink(
        StatusCode::FORBIDDEN,
        "This link is not valid",
        "The link is incomplete or was never valid.".into(),
    )
}

#[derive(Template)]
#[template(path = "portal_gone.html")]
struct GonePage<'a> {
    chrome: Chrome,
    title: &'a str,
    message: &'a str,
}

/// The page of [`UiError::PortalEnded`] and [`UiError::PortalLink`].
pub fn gone_page(e: &UiError) -> HttpResponse {
    let (status, title, message) = match e {
        UiError::PortalLink(status, title, message) => (*status, *title, message.as_str()),
        _ => (
            StatusCode::FORBIDDEN,
            "Your session has ended",
            "You were away for a while, so this session into the webhook settings has ended.",
        ),
    };
    render_status(
        status,
        &GonePage {
            chrome: Chrome::anonymous(String::new()),
            title,
            message,
        },
    )
}
