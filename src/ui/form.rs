//! Form bodies: `application/x-www-form-urlencoded` with repeated keys (checkboxes, header
//! rows), the [`Post`] extractor that refuses any form without this session's CSRF token, and
//! per-field validation errors.

use std::future::Future;
use std::pin::Pin;

use actix_web::{web, FromRequest, HttpRequest};
use futures_util::StreamExt;

use super::session::{check_anonymous_csrf, check_origin, CurrentUser, Visitor};
use super::UiError;
use crate::domain::ValidationError;
use crate::state::AppState;

/// Largest form body accepted (an event type's example payload is the biggest field).
pub const FORM_LIMIT: usize = 256 * 1024;

/// The fields of a submitted form, in order, keys repeated as sent.
#[derive(Debug, Default, Clone)]
pub struct FormData(Vec<(String, String)>);

impl FormData {
    pub fn parse(body: &[u8]) -> FormData {
        FormData(
            url::form_urlencoded::parse(body)
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        )
    }
    /// The first value of `key`, or `""`.
    pub fn get(&self, key: &str) -> &str {
        self.opt(key).unwrap_or("")
    }
    pub fn opt(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
    /// Every value of `key`, in order.
    pub fn all(&self, key: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
            .collect()
    }
}

/// Whoever may send forms: an account ([`CurrentUser`], the default: account pages) or any
/// visitor of a workspace page ([`Visitor`]).
pub trait FormSender: FromRequest<Error = UiError> + Sized + 'static {
    fn csrf(&self) -> &str;
}

impl FormSender for CurrentUser {
    fn csrf(&self) -> &str {
        &self.csrf
    }
}

impl FormSender for Visitor {
    fn csrf(&self) -> &str {
        Visitor::csrf(self)
    }
}

/// A form POST of a session: the session, the `Origin` and the CSRF token are checked before
/// a handler sees it.
pub struct Post<U: FormSender = CurrentUser> {
    pub user: U,
    pub form: FormData,
}

impl<U: FormSender> FromRequest for Post<U> {
    type Error = UiError;
    type Future = Pin<Box<dyn Future<Output = Result<Post<U>, UiError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut actix_web::dev::Payload) -> Self::Future {
        let req = req.clone();
        let mut payload = payload.take();
        Box::pin(async move {
            let user = U::extract(&req).await?;
            let state = req
                .app_data::<web::Data<AppState>>()
                .expect("state")
                .clone();
            check_origin(&req, &state)?;
            let form = read_form(&mut payload).await?;
            super::session::check_token(form.get("csrf"), user.csrf())?;
            Ok(Post { user, form })
        })
    }
}

/// Reads a form body of at most [`FORM_LIMIT`] bytes.
async fn read_form(payload: &mut actix_web::dev::Payload) -> Result<FormData, UiError> {
    let mut body = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| UiError::BadRequest(format!("{e}")))?;
        if body.len() + chunk.len() > FORM_LIMIT {
            return Err(UiError::BadRequest(format!(
                "The form is larger than {} KiB.",
                FORM_LIMIT / 1024
            )));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(FormData::parse(&body))
}

/// A form POST from someone not logged in (accepting an invitation, resetting a password):
/// the `Origin` and the pre-login CSRF token (cookie and field must match) are checked
/// before a handler sees it.
pub struct AnonymousPost {
    pub form: FormData,
}

impl FromRequest for AnonymousPost {
    type Error = UiError;
    type Future = Pin<Box<dyn Future<Output = Result<AnonymousPost, UiError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut actix_web::dev::Payload) -> Self::Future {
        let req = req.clone();
        let mut payload = payload.take();
        Box::pin(async move {
            let state = req
                .app_data::<web::Data<AppState>>()
                .expect("state")
                .clone();
            check_origin(&req, &state)?;
            let form = read_form(&mut payload).await?;
            check_anonymous_csrf(&req, form.get("csrf"))?;
            Ok(AnonymousPost { form })
        })
    }
}

/// Validation errors by form field, shown next to the fields and summed up at the top.
#[derive(Debug, Default, Clone)]
pub struct Errors(pub Vec<(String, String)>);

impl Errors {
    pub fn add(&mut self, field: impl Into<String>, message: impl Into<String>) {
        let field = field.into();
        if !self.has(&field) {
            self.0.push((field, message.into()));
        }
    }
    /// Replaces the field's message (or adds it).
    pub fn set(&mut self, field: &str, message: impl Into<String>) {
        self.0.retain(|(f, _)| f != field);
        self.add(field, message);
    }
    pub fn push(&mut self, e: ValidationError) {
        self.add(e.field, e.message)
    }
    /// Every error of a whole input.
    pub fn extend(&mut self, errors: crate::domain::ValidationErrors) {
        for e in errors {
            self.push(e);
        }
    }
    pub fn get(&self, field: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(f, _)| f == field)
            .map(|(_, m)| m.as_str())
    }
    pub fn has(&self, field: &str) -> bool {
        self.get(field).is_some()
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    /// (field id, human label, message) for the summary at the top of a form.
    pub fn items(&self) -> Vec<(String, String, String)> {
        self.0
            .iter()
            .map(|(f, m)| (f.clone(), label_of(f).to_string(), m.clone()))
            .collect()
    }
}

/// The label a form shows for a field.
pub fn label_of(field: &str) -> &str {
    match field {
        "url" => "Endpoint URL",
        "name" => "Name",
        "description" => "Description",
        "events" => "Events",
        "secret" => "Signing secret",
        "headers" => "Custom headers",
        "retry_schedule" => "Retries",
        "timeout_seconds" => "Timeout",
        "notification_email" => "Notification email",
        "email" => "Email",
        "password" => "Initial password",
        "role" => "Role",
        "scopes" => "Scopes",
        "slug" => "Slug",
        "example" => "Example payload",
        "current_password" => "Current password",
        "new_password" => "New password",
        "new_password_confirm" => "Repeat the new password",
        "invite_email" => "Email",
        "invite_role" => "Role",
        "account_password" => "Your password",
        other => other,
    }
}
