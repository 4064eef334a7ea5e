//! "Forgot password?": a one-time link, emailed, that sets a new password within an hour.
//! Offered only when SMTP is configured; without it every route here is a 404 (see
//! [`smtp_configured`]).
//!
//! The request page answers the same, at once, whether or not an account has the address:
//! the lookup, the link and the email happen in a background task, so neither the answer nor
//! its timing tells who has an account. Requests are limited per address and per client, as
//! each may send an email. Setting the password spends the link and every other one of the
//! account, and ends every session of it; the user then logs in with the new password (which
//! also lets their browser's password manager store it).

use actix_web::guard::GuardContext;
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;

use super::auth_pages::with_cookie;
use super::flash::{self, Flash};
use super::form::{AnonymousPost, Errors};
use super::session::{anonymous_csrf, client_address};
use super::{render_status, Chrome, UiError};
use crate::auth::{new_token, password, token_hash};
use crate::clock::now_ms;
use crate::domain::RESET_TTL_MS;
use crate::domain::{Email, Password};
use crate::state::AppState;
use crate::store::types::LinkState;

/// Reset requests allowed per address within an hour.
pub const PER_ADDRESS: u32 = 5;
/// Reset requests allowed per client address within an hour.
pub const PER_CLIENT: u32 = 20;

/// Route guard: the reset pages exist only when links can be emailed.
pub fn smtp_configured(ctx: &GuardContext) -> bool {
    ctx.app_data::<web::Data<AppState>>()
        .is_some_and(|s| s.mailer.configured())
}

#[derive(Template)]
#[template(path = "password_forgot.html")]
struct ForgotPage {
    chrome: Chrome,
    email: String,
    errors: Errors,
    /// After a request: the address the (possible) email went to.
    sent_to: Option<String>,
}

#[derive(Template)]
#[template(path = "password_reset.html")]
struct ResetPage {
    chrome: Chrome,
    token: String,
    email: String,
    errors: Errors,
}

#[derive(Template)]
#[template(path = "message.html")]
struct MessagePage<'a> {
    chrome: Chrome,
    title: &'a str,
    message: &'a str,
    link: Option<(&'a str, &'a str)>,
}

pub async fn forgot_form(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let (csrf, cookie) = anonymous_csrf(&req, &state);
    let page = ForgotPage {
        chrome: Chrome::anonymous(csrf),
        email: String::new(),
        errors: Errors::default(),
        sent_to: None,
    };
    with_cookie(render_status(StatusCode::OK, &page), cookie)
}

pub async fn forgot(
    req: HttpRequest,
    state: web::Data<AppState>,
    post: AnonymousPost,
) -> Result<HttpResponse, UiError> {
    let f = &post.form;
    let chrome = Chrome::anonymous(f.get("csrf").to_string());
    let email_in = f.get("email").trim();
    let email = match Email::parse(email_in) {
        Ok(e) => e,
        Err(e) => {
            let mut errors = Errors::default();
            errors.push(e);
            let page = ForgotPage {
                chrome,
                email: super::truncate(email_in, 254),
                errors,
                sent_to: None,
            };
            return Ok(render_status(StatusCode::UNPROCESSABLE_ENTITY, &page));
        }
    };
    let addr = client_address(&req);
    let (by_email, by_client) = (format!("e:{email}"), format!("i:{addr}"));
    if !state
        .reset_limit
        .allow(&[(&by_email, PER_ADDRESS), (&by_client, PER_CLIENT)])
        .await
    {
        tracing::warn!(client = %addr, "password reset requests throttled");
        return Err(UiError::TooManyRequests(
            "Too many password reset requests. Wait an hour and try again, or ask an owner or admin of your workspace to help.".into(),
        ));
    }
    let st = state.clone();
    let to = email.clone();
    tokio::spawn(async move {
        if let Err(e) = send_link(&st, to).await {
            tracing::warn!(error = %e, "password reset link not sent");
        }
    });
    let page = ForgotPage {
        chrome,
        email: String::new(),
        errors: Errors::default(),
        sent_to: Some(email.to_string()),
    };
    Ok(render_status(StatusCode::OK, &page))
}

/// Makes and emails a reset link if an account has the address; otherwise does nothing.
async fn send_link(state: &AppState, email: Email) -> Result<(), String> {
    let Some(user) = state
        .store
        .user_by_email(email.as_str())
        .await
        .map_err(|e| e.to_string())?
    else {
        tracing::info!("password reset asked for an address without an account; nothing sent");
        return Ok(());
    };
    let token = new_token();
    let hash = token_hash(&token);
    let uid = user.id;
    state
        .store
        .password_reset_create(hash, uid, now_ms(), RESET_TTL_MS)
        .await
        .map_err(|e| e.to_string())?;
    let link = format!("{}/password/reset/{token}", state.public_url);
    let body = format!(
        "Someone, hopefully you, asked to reset the password of the {} account {}.\n\n\
         Open this link within 1 hour to choose a new password:\n\n{link}\n\n\
         The link works once. If you did not ask for it, ignore this email: your password stays as it is.\n",
        state.config.brand.name, user.email
    );
    state
        .mailer
        .send(&user.email, "[Hookline] Reset your password", body)
        .await?;
    tracing::info!(user = %user.email, "password reset link emailed");
    Ok(())
}

/// The page for a reset link that cannot be used: 404 for one that never existed, 410 for a
/// used or expired one.
fn unavailable<T>(state: LinkState<T>) -> HttpResponse {
    let (status, title, message) = match state {
        LinkState::Expired => (
            StatusCode::GONE,
            "Reset link expired",
            "This password reset link has expired: links work for 1 hour. Ask for a new one.",
        ),
        LinkState::Used | LinkState::Revoked => (
            StatusCode::GONE,
            "Reset link already used",
            "This password reset link was used already, or the password was set with another link since. Log in, or ask for a new link.",
        ),
        LinkState::Unknown | LinkState::Valid(_) => (
            StatusCode::NOT_FOUND,
            "Reset link not valid",
            "This password reset link is not valid. Open the whole link from the newest email, or ask for a new one.",
        ),
    };
    render_status(
        status,
        &MessagePage {
            chrome: Chrome::anonymous(String::new()),
            title,
            message,
            link: Some(("/password/forgot", "Ask for a new link")),
        },
    )
}

/// The account's email for a usable link, or the page to show.
async fn lookup(state: &AppState, token: &str) -> Result<Result<String, HttpResponse>, UiError> {
    let hash = token_hash(token);
    let st = state.store.password_reset_state(hash, now_ms()).await?;
    Ok(match st {
        LinkState::Valid(email) => Ok(email),
        other => Err(unavailable(other)),
    })
}

pub async fn reset_form(
    req: HttpRequest,
    state: web::Data<AppState>,
    token: web::Path<String>,
) -> Result<HttpResponse, UiError> {
    let email = match lookup(&state, &token).await? {
        Ok(e) => e,
        Err(resp) => return Ok(resp),
    };
    let (csrf, cookie) = anonymous_csrf(&req, &state);
    let page = ResetPage {
        chrome: Chrome::anonymous(csrf),
        token: token.into_inner(),
        email,
        errors: Errors::default(),
    };
    Ok(with_cookie(render_status(StatusCode::OK, &page), cookie))
}

pub async fn reset(
    state: web::Data<AppState>,
    post: AnonymousPost,
    token: web::Path<String>,
) -> Result<HttpResponse, UiError> {
    let email = match lookup(&state, &token).await? {
        Ok(e) => e,
        Err(resp) => return Ok(resp),
    };
    let f = &post.form;
    let mut errors = Errors::default();
    let new = match Password::parse(f.get("new_password")) {
        Ok(p) => Some(p),
        Err(e) => {
            errors.add("new_password", e.message);
            None
        }
    };
    if new.is_some() && f.get("new_password") != f.get("new_password_confirm") {
        errors.add(
            "new_password_confirm",
            "the two new passwords differ; type the same one twice",
        );
    }
    let (Some(new), true) = (new, errors.is_empty()) else {
        let page = ResetPage {
            chrome: Chrome::anonymous(f.get("csrf").to_string()),
            token: token.into_inner(),
            email,
            errors,
        };
        return Ok(render_status(StatusCode::UNPROCESSABLE_ENTITY, &page));
    };
    let hash = password::hash(new).await;
    let token_h = token_hash(&token);
    let applied = state
        .store
        .password_reset_apply(token_h, hash, now_ms())
        .await?;
    if applied.is_none() {
        let st = state
            .store
            .password_reset_state(token_hash(&token), now_ms())
            .await?;
        return Ok(unavailable(st));
    }
    // Whoever locked the account out with wrong guesses, its owner just proved control of
    // the mailbox: let them log in now.
    state.throttle.forget_account(&email).await;
    tracing::info!(user = %email, "password reset through an emailed link; every session ended");
    Ok(flash::redirect_with(
        &state,
        "/login",
        Flash::Notice(
            "Your password was changed and you were logged out everywhere. Log in with the new password.".into(),
        ),
    ))
}
