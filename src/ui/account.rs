//! `/account/password`: change your own password. Every other session of the account ends.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;

use super::flash::{self, Flash};
use super::form::{Errors, Post};
use super::session::client_address;
use super::{render, render_status, Chrome, CurrentUser, UiError};
use crate::auth::password;
use crate::domain::Password;
use crate::state::AppState;

#[derive(Template)]
#[template(path = "account_password.html")]
struct PasswordPage {
    chrome: Chrome,
    errors: Errors,
}

pub async fn password_form(
    req: HttpRequest,
    state: web::Data<AppState>,
    user: CurrentUser,
) -> Result<HttpResponse, UiError> {
    let fl = flash::take(&req, &state);
    let mut chrome = Chrome::for_user(&user);
    chrome.notice = flash::notice_of(&fl);
    let page = PasswordPage {
        chrome,
        errors: Errors::default(),
    };
    Ok(flash::finish(render(&page), &state, fl.is_some()))
}

pub async fn change_password(
    req: HttpRequest,
    state: web::Data<AppState>,
    post: Post,
) -> Result<HttpResponse, UiError> {
    let user = post.user;
    let f = &post.form;
    let addr = client_address(&req);
    let Ok(attempt) = state.throttle.begin(&user.email, &addr).await else {
        return Err(UiError::TooManyRequests(
            "Too many wrong passwords. Wait 15 minutes and try again.".into(),
        ));
    };
    let mut errors = Errors::default();
    let uid = user.id;
    let stored = state
        .store
        .user_by_id(uid)
        .await?
        .ok_or_else(|| UiError::LoginRequired("/account/password".into()))?
        .password_hash;
    if password::verify(f.get("current_password").to_string(), stored).await {
        attempt.succeeded();
    } else {
        attempt.failed();
        errors.add("current_password", "this is not your current password");
    }
    let new = match Password::parse(f.get("new_password")) {
        Ok(p) => Some(p),
        Err(e) => {
            errors.add("new_password", e.message);
            None
        }
    };
    if new.is_some() && f.get("new_password") != f.get("new_password_confirm") {
        errors.add("new_password_confirm", "the two new passwords differ");
    }
    let (Some(new), true) = (new, errors.is_empty()) else {
        let page = PasswordPage {
            chrome: Chrome::for_user(&user),
            errors,
        };
        return Ok(render_status(StatusCode::UNPROCESSABLE_ENTITY, &page));
    };
    let hash = password::hash(new).await;
    let keep = user.session_id;
    // Also voids reset links mailed before the change: they must not undo it.
    state
        .store
        .password_change(uid, hash, Some(keep), crate::clock::now_ms())
        .await?;
    tracing::info!(user = %user.email, "password changed; other sessions ended");
    Ok(flash::redirect_with(
        &state,
        "/account/password",
        Flash::Notice(
            "Password changed. You were logged out everywhere else; this session stays.".into(),
        ),
    ))
}
