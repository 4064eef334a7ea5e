//! The server-rendered settings UI. Works without JavaScript; every form carries a CSRF token
//! and every state change is a POST whose `Origin` (when sent) must be our own.

mod assets;
mod auth_pages;
mod session;

use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpResponse, ResponseError};
use askama::Template;

pub use session::{CurrentUser, SESSION_COOKIE};

use crate::db::DbError;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/static/{path:.*}", web::get().to(assets::serve))
        .route("/login", web::get().to(auth_pages::login_form))
        .route("/login", web::post().to(auth_pages::login))
        .route("/logout", web::post().to(auth_pages::logout))
        .route("/setup", web::get().to(auth_pages::setup_form))
        .route("/setup", web::post().to(auth_pages::setup))
        .route("/", web::get().to(auth_pages::home))
        .default_service(web::to(not_found_page));
}

/// Everything a page needs for the frame around it.
pub struct Chrome {
    pub user_email: Option<String>,
    pub csrf: String,
    pub is_instance_admin: bool,
}

impl Chrome {
    pub fn anonymous(csrf: String) -> Chrome {
        Chrome {
            user_email: None,
            csrf,
            is_instance_admin: false,
        }
    }
    pub fn for_user(u: &CurrentUser) -> Chrome {
        Chrome {
            user_email: Some(u.email.clone()),
            csrf: u.csrf.clone(),
            is_instance_admin: u.is_instance_admin,
        }
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    chrome: Chrome,
    title: &'a str,
    message: &'a str,
}

/// Errors of the UI layer, each rendered as a page.
#[derive(Debug, thiserror::Error)]
pub enum UiError {
    #[error("redirect to login")]
    LoginRequired(String),
    #[error("not found")]
    NotFound,
    #[error("forbidden: {0}")]
    Forbidden(String),
    #[error("bad request: {0}")]
    BadRequest(String),
    #[error("too many attempts")]
    TooManyRequests(String),
    #[error(transparent)]
    Db(#[from] DbError),
}

impl ResponseError for UiError {
    fn status_code(&self) -> StatusCode {
        match self {
            UiError::LoginRequired(_) => StatusCode::SEE_OTHER,
            UiError::NotFound => StatusCode::NOT_FOUND,
            UiError::Forbidden(_) => StatusCode::FORBIDDEN,
            UiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            UiError::TooManyRequests(_) => StatusCode::TOO_MANY_REQUESTS,
            UiError::Db(DbError::Full | DbError::Closed) => StatusCode::SERVICE_UNAVAILABLE,
            UiError::Db(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
    fn error_response(&self) -> HttpResponse {
        if let UiError::LoginRequired(next) = self {
            let to = format!("/login?next={}", url_encode(next));
            return HttpResponse::SeeOther()
                .insert_header((header::LOCATION, to))
                .finish();
        }
        let (title, message) = match self {
            UiError::NotFound => (
                "Not found",
                "There is nothing here, or you have no access to it.".to_string(),
            ),
            UiError::Forbidden(m) => ("Not allowed", m.clone()),
            UiError::BadRequest(m) => ("Bad request", m.clone()),
            UiError::TooManyRequests(m) => ("Too many attempts", m.clone()),
            UiError::Db(DbError::Full) => (
                "Disk full",
                "The disk holding Hookline's database is full. Nothing was saved.".into(),
            ),
            UiError::Db(DbError::Closed) => (
                "Shutting down",
                "Hookline is restarting. Try again in a moment.".into(),
            ),
            UiError::Db(e) => {
                tracing::error!(error = %e, "database error in the UI");
                (
                    "Something went wrong",
                    "An internal error occurred; it has been logged.".into(),
                )
            }
            UiError::LoginRequired(_) => unreachable!(),
        };
        render_status(
            self.status_code(),
            &ErrorPage {
                chrome: Chrome::anonymous(String::new()),
                title,
                message: &message,
            },
        )
    }
}

pub fn render(t: &impl Template) -> HttpResponse {
    render_status(StatusCode::OK, t)
}

pub fn render_status(status: StatusCode, t: &impl Template) -> HttpResponse {
    match t.render() {
        Ok(body) => HttpResponse::build(status)
            .content_type("text/html; charset=utf-8")
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .body(body),
        Err(e) => {
            tracing::error!(error = %e, "template rendering failed");
            HttpResponse::InternalServerError().body("template error")
        }
    }
}

pub fn redirect(to: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, to))
        .finish()
}

async fn not_found_page() -> Result<HttpResponse, UiError> {
    Err(UiError::NotFound)
}

pub fn url_encode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// Only same-site, absolute-path redirects after login (no `//evil.example`).
pub fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n) if n.starts_with('/') && !n.starts_with("//") && !n.starts_with("/\\") => {
            n.to_string()
        }
        _ => "/".to_string(),
    }
}
