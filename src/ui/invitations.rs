//! `/invite/{token}`: accepting an invitation into a workspace. The page is for someone not
//! logged in (pre-login CSRF token, `Origin` check).
//!
//! Who has no account yet chooses a password and gets an account. Who already has one (an
//! account with the invited address existed, or was made since the invitation) proves it
//! with that account's password instead, throttled like a login: the link alone must not be
//! a way into an account. Either way the membership is added with the invited role (an
//! existing membership keeps its role), the invitation is spent, and the browser is logged in
//! and sent to the workspace.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;

use super::auth_pages::{start_session, with_cookie};
use super::flash::{self, Flash};
use super::form::{AnonymousPost, Errors};
use super::session::{self, anonymous_csrf, client_address};
use super::{render_status, Chrome, UiError};
use crate::auth::{password, token_hash};
use crate::clock::now_ms;
use crate::domain::{Email, Password};
use crate::state::AppState;
use crate::store::types::{AcceptRefused, Invitation, LinkState};

#[derive(Template)]
#[template(path = "invite.html")]
struct AcceptPage {
    chrome: Chrome,
    token: String,
    workspace: String,
    email: String,
    role: &'static str,
    /// An account with the invited address exists: the form asks for its password.
    has_account: bool,
    can_reset: bool,
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

/// The page for a link that cannot be used: 404 for one that never existed, 410 for one that
/// did (used, expired, withdrawn), each saying what to do instead.
fn unavailable<T>(state: LinkState<T>) -> HttpResponse {
    let (status, title, message, link) = match state {
        LinkState::Expired => (
            StatusCode::GONE,
            "Invitation expired",
            "This invitation has expired: invitation links work for 7 days. Ask an owner or admin of the workspace to invite you again.",
            None,
        ),
        LinkState::Used => (
            StatusCode::GONE,
            "Invitation already used",
            "This invitation was accepted already, and a link works only once. Log in with your account.",
            Some(("/login", "Log in")),
        ),
        LinkState::Revoked => (
            StatusCode::GONE,
            "Invitation withdrawn",
            "This invitation was withdrawn, or replaced by a newer one. Use the link of the newest invitation email, or ask an owner or admin of the workspace to invite you again.",
            None,
        ),
        LinkState::Unknown | LinkState::Valid(_) => (
            StatusCode::NOT_FOUND,
            "Invitation not found",
            "This invitation link is not valid. Check that you opened the whole link, or ask the person who invited you to send a new one.",
            None,
        ),
    };
    render_status(
        status,
        &MessagePage {
            chrome: Chrome::anonymous(String::new()),
            title,
            message,
            link,
        },
    )
}

/// The invitation of this link and whether its address has an account, or the page to show.
async fn lookup(
    state: &AppState,
    token: &str,
) -> Result<Result<(Invitation, bool), HttpResponse>, UiError> {
    let hash = token_hash(token);
    Ok(match state.store.invitation_lookup(hash, now_ms()).await? {
        LinkState::Valid(found) => Ok(found),
        other => Err(unavailable(other)),
    })
}

fn page(
    state: &AppState,
    csrf: String,
    token: &str,
    inv: &Invitation,
    has_account: bool,
    errors: Errors,
) -> AcceptPage {
    AcceptPage {
        chrome: Chrome::anonymous(csrf),
        token: token.to_string(),
        workspace: inv.workspace_name.clone(),
        email: inv.email.clone(),
        role: inv.role.as_str(),
        has_account,
        can_reset: state.mailer.configured(),
        errors,
    }
}

pub async fn accept_form(
    req: HttpRequest,
    state: web::Data<AppState>,
    token: web::Path<String>,
) -> Result<HttpResponse, UiError> {
    let (inv, has_account) = match lookup(&state, &token).await? {
        Ok(found) => found,
        Err(resp) => return Ok(resp),
    };
    let (csrf, cookie) = anonymous_csrf(&req, &state);
    let p = page(&state, csrf, &token, &inv, has_account, Errors::default());
    Ok(with_cookie(render_status(StatusCode::OK, &p), cookie))
}

pub async fn accept(
    req: HttpRequest,
    state: web::Data<AppState>,
    post: AnonymousPost,
    token: web::Path<String>,
) -> Result<HttpResponse, UiError> {
    let (inv, has_account) = match lookup(&state, &token).await? {
        Ok(found) => found,
        Err(resp) => return Ok(resp),
    };
    let f = &post.form;
    let csrf = f.get("csrf").to_string();
    let fail = |status: StatusCode, has_account: bool, errors: Errors| {
        Ok(render_status(
            status,
            &page(&state, csrf.clone(), &token, &inv, has_account, errors),
        ))
    };
    let mut errors = Errors::default();
    let hash = token_hash(&token);
    let now = now_ms();
    let outcome = if has_account {
        let Some(user) = state.store.user_by_email(&inv.email).await? else {
            errors.add(
                "new_password",
                format!(
                    "the account of {} was deleted meanwhile; choose a password for a new one",
                    inv.email
                ),
            );
            return fail(StatusCode::CONFLICT, false, errors);
        };
        let addr = client_address(&req);
        let Ok(attempt) = state.throttle.begin(&inv.email, &addr).await else {
            return Err(UiError::TooManyRequests(
                "Too many wrong passwords. Wait 15 minutes and try again, or reset your password from the login page.".into(),
            ));
        };
        if !password::verify(f.get("account_password").to_string(), user.password_hash).await {
            attempt.failed();
            errors.add(
                "account_password",
                format!(
                    "this is not the password of {}; enter the password you log in with",
                    inv.email
                ),
            );
            return fail(StatusCode::UNPROCESSABLE_ENTITY, true, errors);
        }
        attempt.succeeded();
        let uid = user.id;
        state
            .store
            .invitation_accept_existing(hash, uid, now)
            .await?
            .map(|inv| (uid, inv))
    } else {
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
                "the two passwords differ; type the same one twice",
            );
        }
        let (Some(new), true) = (new, errors.is_empty()) else {
            return fail(StatusCode::UNPROCESSABLE_ENTITY, false, errors);
        };
        let pw_hash = password::hash(new).await;
        let email = Email::stored(inv.email.clone());
        state
            .store
            .invitation_accept_new(hash, email, pw_hash, now)
            .await?
    };
    let (uid, accepted) = match outcome {
        Ok(done) => done,
        Err(AcceptRefused::Gone) => {
            let st = state
                .store
                .invitation_state(token_hash(&token), now_ms())
                .await?;
            return Ok(unavailable(st));
        }
        Err(AcceptRefused::AccountExists) => {
            errors.add(
                "account_password",
                format!(
                    "an account for {} was just made; enter its password to join",
                    inv.email
                ),
            );
            return fail(StatusCode::CONFLICT, true, errors);
        }
    };
    tracing::info!(workspace = %accepted.workspace_slug, member = %accepted.email, role = accepted.role.as_str(), new_account = !has_account, "invitation accepted");
    let cookie = start_session(&state, &req, uid).await?;
    let mut resp = flash::redirect_with(
        &state,
        &format!(
            "/w/{}/webhooks",
            super::url_encode(&accepted.workspace_slug)
        ),
        Flash::Notice(format!(
            "Welcome to {}: you joined as {}.",
            accepted.workspace_name,
            accepted.role.as_str()
        )),
    );
    let _ = resp.add_cookie(&cookie);
    let _ = resp.add_removal_cookie(&session::expired_cookie(&state, session::CSRF_COOKIE));
    Ok(resp)
}
