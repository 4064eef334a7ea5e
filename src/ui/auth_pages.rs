//! Login, logout and first-run setup.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use serde::Deserialize;

use super::flash;
use super::session::{
    self, anonymous_csrf, check_anonymous_csrf, check_origin, client_address, CurrentUser,
};
use super::{redirect, render, render_status, safe_next, Chrome, UiError};
use crate::auth::{new_token, password, token_hash};
use crate::domain::{Email, Password};
use crate::state::AppState;
use crate::store::types::{NewAccountSession, SetupOutcome, SetupTokenState};

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    chrome: Chrome,
    email: String,
    next: String,
    error: Option<String>,
    /// Offer "Forgot password?": only when reset links can be emailed.
    can_reset: bool,
}

#[derive(Deserialize)]
pub struct NextQuery {
    next: Option<String>,
}

pub async fn login_form(
    req: HttpRequest,
    state: web::Data<AppState>,
    q: web::Query<NextQuery>,
) -> HttpResponse {
    let (csrf, cookie) = anonymous_csrf(&req, &state);
    // A notice after a password reset ("log in with the new password").
    let fl = flash::take(&req, &state);
    let mut chrome = Chrome::anonymous(csrf);
    chrome.notice = flash::notice_of(&fl);
    let page = LoginPage {
        chrome,
        email: String::new(),
        next: safe_next(q.next.as_deref()),
        error: None,
        can_reset: state.mailer.configured(),
    };
    flash::finish(with_cookie(render(&page), cookie), &state, fl.is_some())
}

pub(super) fn with_cookie(
    mut resp: HttpResponse,
    cookie: Option<actix_web::cookie::Cookie<'static>>,
) -> HttpResponse {
    if let Some(c) = cookie {
        let _ = resp.add_cookie(&c);
    }
    resp
}

#[derive(Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    next: String,
}

pub async fn login(
    req: HttpRequest,
    state: web::Data<AppState>,
    form: web::Form<LoginForm>,
) -> Result<HttpResponse, UiError> {
    check_origin(&req, &state)?;
    check_anonymous_csrf(&req, &form.csrf)?;
    let form = form.into_inner();
    let addr = client_address(&req);
    let email = form.email.trim().to_lowercase();
    let next = safe_next(Some(&form.next));
    let fail = |status: StatusCode, msg: String| {
        let page = LoginPage {
            chrome: Chrome::anonymous(form.csrf.clone()),
            email: email.clone(),
            next: next.clone(),
            error: Some(msg),
            can_reset: state.mailer.configured(),
        };
        Ok(render_status(status, &page))
    };
    // Reserved before any hashing, so concurrent guesses cannot outrun the limit.
    let Ok(attempt) = state.throttle.begin(&email, &addr).await else {
        return fail(
            StatusCode::TOO_MANY_REQUESTS,
            "Too many failed logins. Wait 15 minutes and try again, or ask an admin to reset your password.".into(),
        );
    };
    let user = state.store.user_by_email(&email).await?;
    // Spend the same time whether or not the account exists.
    let stored = user
        .as_ref()
        .map(|u| u.password_hash.clone())
        .unwrap_or_else(|| password::DUMMY_HASH.to_string());
    let ok = password::verify(form.password.clone(), stored).await;
    let Some(user) = user.filter(|_| ok) else {
        attempt.failed();
        return fail(StatusCode::UNAUTHORIZED, "Wrong email or password.".into());
    };
    attempt.succeeded();
    let cookie = start_session(&state, &req, user.id).await?;
    let mut resp = redirect(&next);
    let _ = resp.add_cookie(&cookie);
    let _ = resp.add_removal_cookie(&session::expired_cookie(&state, session::CSRF_COOKIE));
    Ok(resp)
}

/// Creates a session for `user_id` and returns its cookie.
pub(super) async fn start_session(
    state: &AppState,
    req: &HttpRequest,
    user_id: i64,
) -> Result<actix_web::cookie::Cookie<'static>, UiError> {
    let token = new_token();
    let hash = token_hash(&token);
    let csrf = new_token();
    let ip = client_address(req);
    let ua: Option<String> = req
        .headers()
        .get(actix_web::http::header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(|s| s.chars().take(200).collect());
    state
        .store
        .session_create(NewAccountSession {
            token_hash: hash,
            user_id,
            csrf_token: csrf,
            ttl_ms: session::SESSION_TTL_MS,
            ip: Some(ip),
            user_agent: ua,
        })
        .await?;
    Ok(session::session_cookie(state, token))
}

#[derive(Deserialize)]
pub struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

pub async fn logout(
    req: HttpRequest,
    state: web::Data<AppState>,
    user: CurrentUser,
    form: web::Form<CsrfForm>,
) -> Result<HttpResponse, UiError> {
    check_origin(&req, &state)?;
    user.check_csrf(&form.csrf)?;
    if let Some(c) = req.cookie(session::SESSION_COOKIE) {
        let hash = token_hash(c.value());
        state.store.session_delete(hash).await?;
    }
    let mut resp = redirect("/login");
    let _ = resp.add_removal_cookie(&session::expired_cookie(&state, session::SESSION_COOKIE));
    Ok(resp)
}

#[derive(Template)]
#[template(path = "setup.html")]
struct SetupPage {
    chrome: Chrome,
    token: String,
    email: String,
    errors: Vec<(String, String)>,
}

#[derive(Template)]
#[template(path = "message.html")]
struct MessagePage<'a> {
    chrome: Chrome,
    title: &'a str,
    message: &'a str,
    link: Option<(&'a str, &'a str)>,
}

#[derive(Deserialize)]
pub struct SetupQuery {
    #[serde(default)]
    token: String,
}

/// What to show for a setup link that cannot be used.
fn setup_unavailable(state: SetupTokenState, users_exist: bool) -> HttpResponse {
    let chrome = Chrome::anonymous(String::new());
    if users_exist {
        return render(&MessagePage {
            chrome,
            title: "Setup is complete",
            message: "An admin already exists. Log in with your account.",
            link: Some(("/login", "Log in")),
        });
    }
    let (status, message) = match state {
        SetupTokenState::Expired => (
            StatusCode::GONE,
            "This setup link has expired (links last 30 minutes). Restart hookline serve to print a new one, \
             or run: hookline user create --email you@example.com --password-stdin --instance-admin",
        ),
        _ => (
            StatusCode::NOT_FOUND,
            "This setup link is not valid. Use the newest link hookline serve printed, or restart it to get a new one.",
        ),
    };
    render_status(
        status,
        &MessagePage {
            chrome,
            title: "Setup link not valid",
            message,
            link: None,
        },
    )
}

pub async fn setup_form(
    req: HttpRequest,
    state: web::Data<AppState>,
    q: web::Query<SetupQuery>,
) -> Result<HttpResponse, UiError> {
    let hash = token_hash(&q.token);
    let (st, users) = state.store.setup_state(hash).await?;
    if users > 0 || st != SetupTokenState::Valid {
        return Ok(setup_unavailable(st, users > 0));
    }
    let (csrf, cookie) = anonymous_csrf(&req, &state);
    let page = SetupPage {
        chrome: Chrome::anonymous(csrf),
        token: q.token.clone(),
        email: String::new(),
        errors: vec![],
    };
    Ok(with_cookie(render(&page), cookie))
}

#[derive(Deserialize)]
pub struct SetupForm {
    #[serde(default)]
    token: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    password_confirm: String,
    #[serde(default)]
    csrf: String,
}

pub async fn setup(
    req: HttpRequest,
    state: web::Data<AppState>,
    form: web::Form<SetupForm>,
) -> Result<HttpResponse, UiError> {
    check_origin(&req, &state)?;
    check_anonymous_csrf(&req, &form.csrf)?;
    let form = form.into_inner();
    let mut errors = Vec::new();
    let email = Email::parse(&form.email)
        .map_err(|e| errors.push((e.field, e.message)))
        .ok();
    let pw = Password::parse(&form.password)
        .map_err(|e| errors.push((e.field, e.message)))
        .ok();
    if pw.is_some() && form.password != form.password_confirm {
        errors.push(("password_confirm".into(), "the two passwords differ".into()));
    }
    let (Some(email), Some(pw), true) = (email, pw, errors.is_empty()) else {
        let page = SetupPage {
            chrome: Chrome::anonymous(form.csrf),
            token: form.token,
            email: form.email,
            errors,
        };
        return Ok(render_status(StatusCode::UNPROCESSABLE_ENTITY, &page));
    };
    let hash = password::hash(pw).await;
    let token = token_hash(&form.token);
    let outcome = state.store.setup_first_admin(token, email, hash).await?;
    match outcome {
        SetupOutcome::Unavailable(st, users) => Ok(setup_unavailable(st, users)),
        SetupOutcome::Created(user_id) => {
            tracing::info!(
                user_id,
                "first instance admin created through the setup link"
            );
            let cookie = start_session(&state, &req, user_id).await?;
            let mut resp = redirect("/");
            let _ = resp.add_cookie(&cookie);
            Ok(resp)
        }
    }
}
