//! Server-side sessions (random token in an `HttpOnly` cookie, stored hashed), CSRF tokens and
//! the `Origin` check.

use std::future::Future;
use std::pin::Pin;

use actix_web::cookie::{time::Duration as CookieDuration, Cookie, SameSite};
use actix_web::{web, FromRequest, HttpRequest};

use super::UiError;
use crate::auth::{token_hash, tokens_equal};
use crate::db::repo;
use crate::state::AppState;

pub const SESSION_COOKIE: &str = "hookline_session";
/// Double-submit CSRF cookie for the forms shown before login (login, setup).
pub const CSRF_COOKIE: &str = "hookline_csrf";
pub const SESSION_TTL_MS: i64 = 7 * 24 * 3600 * 1000;

/// The logged-in user of a UI request.
#[derive(Debug, Clone)]
pub struct CurrentUser {
    pub id: i64,
    pub email: String,
    pub is_instance_admin: bool,
    pub csrf: String,
    pub session_id: i64,
}

impl CurrentUser {
    /// Refuses a form whose CSRF token is missing or not this session's.
    pub fn check_csrf(&self, token: &str) -> Result<(), UiError> {
        if tokens_equal(token, &self.csrf) {
            Ok(())
        } else {
            Err(csrf_error())
        }
    }
}

pub fn csrf_error() -> UiError {
    UiError::Forbidden("This form has expired or was sent from another site. Go back, reload the page and try again.".into())
}

impl FromRequest for CurrentUser {
    type Error = UiError;
    type Future = Pin<Box<dyn Future<Output = Result<CurrentUser, UiError>>>>;

    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let next = match req.query_string() {
                "" => req.path().to_string(),
                q => format!("{}?{q}", req.path()),
            };
            let Some(cookie) = req.cookie(SESSION_COOKIE) else {
                return Err(UiError::LoginRequired(next));
            };
            let state = req
                .app_data::<web::Data<AppState>>()
                .expect("state")
                .clone();
            let hash = token_hash(cookie.value());
            let found = state
                .db
                .read(move |c| {
                    let Some(s) = repo::session_by_hash(c, &hash)? else {
                        return Ok(None);
                    };
                    Ok(repo::user_by_id(c, s.user_id)?.map(|u| (s, u)))
                })
                .await?;
            let Some((s, u)) = found else {
                return Err(UiError::LoginRequired(next));
            };
            Ok(CurrentUser {
                id: u.id,
                email: u.email,
                is_instance_admin: u.is_instance_admin,
                csrf: s.csrf_token,
                session_id: s.id,
            })
        })
    }
}

pub fn session_cookie(state: &AppState, token: String) -> Cookie<'static> {
    Cookie::build(SESSION_COOKIE, token)
        .path("/")
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(state.config.https())
        .max_age(CookieDuration::milliseconds(SESSION_TTL_MS))
        .finish()
}

pub fn expired_cookie(state: &AppState, name: &'static str) -> Cookie<'static> {
    Cookie::build(name, "")
        .path("/")
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(state.config.https())
        .max_age(CookieDuration::ZERO)
        .finish()
}

/// The pre-login CSRF token: the cookie's if present, else a new one to set.
pub fn anonymous_csrf(req: &HttpRequest, state: &AppState) -> (String, Option<Cookie<'static>>) {
    if let Some(c) = req.cookie(CSRF_COOKIE) {
        if c.value().len() >= 32 {
            return (c.value().to_string(), None);
        }
    }
    let token = crate::auth::new_token();
    let cookie = Cookie::build(CSRF_COOKIE, token.clone())
        .path("/")
        .http_only(true)
        .same_site(SameSite::Strict)
        .secure(state.config.https())
        .finish();
    (token, Some(cookie))
}

/// Checks a pre-login form's token against its cookie.
pub fn check_anonymous_csrf(req: &HttpRequest, token: &str) -> Result<(), UiError> {
    match req.cookie(CSRF_COOKIE) {
        Some(c) if tokens_equal(c.value(), token) => Ok(()),
        _ => Err(csrf_error()),
    }
}

/// Refuses a state-changing request whose `Origin` header names another site.
pub fn check_origin(req: &HttpRequest, state: &AppState) -> Result<(), UiError> {
    let Some(origin) = req.headers().get(actix_web::http::header::ORIGIN) else {
        return Ok(());
    };
    let origin = origin.to_str().unwrap_or("");
    let ci = req.connection_info();
    let own = format!("{}://{}", ci.scheme(), ci.host());
    let public = state.origin();
    if origin == own || origin == public {
        Ok(())
    } else {
        Err(UiError::Forbidden(format!(
            "Requests from {origin} are not accepted here."
        )))
    }
}

/// The client's address, for login throttling.
pub fn client_address(req: &HttpRequest) -> String {
    let Some(peer) = req.peer_addr().map(|a| a.ip()) else {
        return "unknown".into();
    };
    let trusted = req
        .app_data::<web::Data<AppState>>()
        .map(|s| s.config.trusted_proxies.clone())
        .unwrap_or_default();
    client_ip(
        peer,
        req.headers()
            .get("x-forwarded-for")
            .and_then(|v| v.to_str().ok()),
        &trusted,
    )
    .to_string()
}

/// The client behind trusted proxies: walk `X-Forwarded-For` from the right while the hop is a
/// trusted proxy; the first untrusted address is the client. Headers from untrusted peers are
/// ignored, so nobody can choose the address they are throttled under.
pub fn client_ip(
    peer: std::net::IpAddr,
    forwarded_for: Option<&str>,
    trusted: &[ipnet::IpNet],
) -> std::net::IpAddr {
    let is_trusted = |ip: &std::net::IpAddr| trusted.iter().any(|n| n.contains(ip));
    if !is_trusted(&peer) {
        return peer;
    }
    let mut client = peer;
    for hop in forwarded_for.unwrap_or("").rsplit(',').map(str::trim) {
        match hop.parse::<std::net::IpAddr>() {
            Ok(ip) => {
                client = ip;
                if !is_trusted(&ip) {
                    break;
                }
            }
            Err(_) => break,
        }
    }
    client
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forwarded_for_counts_only_behind_trusted_proxies() {
        let proxy: std::net::IpAddr = "127.0.0.1".parse().unwrap();
        let trusted = vec![
            "127.0.0.0/8".parse().unwrap(),
            "10.0.0.0/8".parse().unwrap(),
        ];
        let ip = |s: &str| s.parse::<std::net::IpAddr>().unwrap();
        assert_eq!(
            client_ip(proxy, Some("203.0.113.9"), &trusted),
            ip("203.0.113.9")
        );
        assert_eq!(
            client_ip(proxy, Some("198.51.100.1, 203.0.113.9, 10.1.1.1"), &trusted),
            ip("203.0.113.9"),
            "rightmost untrusted hop"
        );
        assert_eq!(client_ip(proxy, None, &trusted), proxy);
        assert_eq!(client_ip(proxy, Some("garbage"), &trusted), proxy);
        assert_eq!(
            client_ip(ip("203.0.113.50"), Some("1.2.3.4"), &trusted),
            ip("203.0.113.50"),
            "untrusted peers cannot choose"
        );
        assert_eq!(
            client_ip(proxy, Some("1.2.3.4"), &[]),
            proxy,
            "no trusted proxies configured"
        );
    }
}
