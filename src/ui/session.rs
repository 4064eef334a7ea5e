//! Server-side sessions (random token in an `HttpOnly` cookie, stored hashed), CSRF tokens and
//! the `Origin` check.

use std::future::Future;
use std::pin::Pin;

use actix_web::cookie::{time::Duration as CookieDuration, Cookie, SameSite};
use actix_web::{web, FromRequest, HttpMessage, HttpRequest};

use super::UiError;
use crate::auth::{token_hash, tokens_equal};
use crate::clock::now_ms;
use crate::domain::Role;
use crate::state::AppState;

pub const SESSION_COOKIE: &str = "hookline_session";
/// The session a portal link opens (see [`Visitor::Portal`]).
pub const PORTAL_COOKIE: &str = "hookline_portal";
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
        check_token(token, &self.csrf)
    }
}

/// Refuses a form whose token is not `expected` (the session's).
pub fn check_token(token: &str, expected: &str) -> Result<(), UiError> {
    if tokens_equal(token, expected) {
        Ok(())
    } else {
        Err(csrf_error())
    }
}

pub fn csrf_error() -> UiError {
    UiError::Forbidden("This form has expired or was sent from another site. Go back, reload the page and try again.".into())
}

/// Whom the cookies of a request name: an account's session, a portal session, or both (a
/// browser may hold both), and whether a portal cookie was sent that no longer works.
struct Identified {
    account: Option<CurrentUser>,
    portal: Option<PortalVisitor>,
    portal_ended: bool,
}

async fn identify(req: &HttpRequest) -> Result<Identified, UiError> {
    let state = req
        .app_data::<web::Data<AppState>>()
        .expect("state")
        .clone();
    let account_hash = req.cookie(SESSION_COOKIE).map(|c| token_hash(c.value()));
    let portal_hash = req.cookie(PORTAL_COOKIE).map(|c| token_hash(c.value()));
    if account_hash.is_none() && portal_hash.is_none() {
        return Ok(Identified {
            account: None,
            portal: None,
            portal_ended: false,
        });
    }
    let had_portal = portal_hash.is_some();
    let now = now_ms();
    let (account, portal) = state.store.identify(account_hash, portal_hash, now).await?;
    let account = account.map(|(s, u)| CurrentUser {
        id: u.id,
        email: u.email,
        is_instance_admin: u.is_instance_admin,
        csrf: s.csrf_token,
        session_id: s.id,
    });
    let portal_ended = had_portal && portal.is_none();
    let portal = portal.map(|p| {
        // An idle session ends after HOOKLINE_PORTAL_SESSION_MINUTES; each use moves that end
        // forward (written at most every 30 s, off the request's path).
        let idle_ms = state.config.portal_session_minutes as i64 * 60_000;
        if now - p.last_seen_at > 30_000 {
            let store = state.store.clone();
            let id = p.id;
            tokio::spawn(async move {
                let _ = store.portal_session_touch(id, now, idle_ms).await;
            });
        }
        PortalVisitor {
            session_id: p.id,
            workspace_id: p.workspace_id,
            workspace_slug: p.workspace_slug,
            role: p.role,
            email: p.email,
            csrf: p.csrf_token,
        }
    });
    Ok(Identified {
        account,
        portal,
        portal_ended,
    })
}

/// Is `path` inside the settings of workspace `slug` (`/w/{slug}` or below)?
fn inside_workspace(path: &str, slug: &str) -> bool {
    let prefix = format!("/w/{}", super::url_encode(slug));
    path == prefix || path.starts_with(&format!("{prefix}/"))
}

fn next_of(req: &HttpRequest) -> String {
    match req.query_string() {
        "" => req.path().to_string(),
        q => format!("{}?{q}", req.path()),
    }
}

/// Marks the response of this request as a portal page: framable by the embedding origins,
/// its cookies partitioned (see [`super::embed`]).
pub fn mark_portal(req: &HttpRequest) {
    req.extensions_mut().insert(super::embed::PortalPage);
}

impl FromRequest for CurrentUser {
    type Error = UiError;
    type Future = Pin<Box<dyn Future<Output = Result<CurrentUser, UiError>>>>;

    /// Accounts only: a portal session never reaches account or instance-admin pages.
    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let id = identify(&req).await?;
            match id {
                Identified {
                    account: Some(u), ..
                } => Ok(u),
                Identified {
                    portal: Some(_), ..
                } => {
                    mark_portal(&req);
                    Err(UiError::Forbidden(
                        "This page is not part of the webhook settings you were given. Use the Webhooks tab above.".into(),
                    ))
                }
                Identified {
                    portal_ended: true, ..
                } => {
                    mark_portal(&req);
                    Err(UiError::PortalEnded)
                }
                _ => Err(UiError::LoginRequired(next_of(&req))),
            }
        })
    }
}

/// A portal visitor: came in through a one-time portal link, sees one workspace with the
/// link's role, and has no account.
#[derive(Debug, Clone)]
pub struct PortalVisitor {
    pub session_id: i64,
    pub workspace_id: i64,
    pub workspace_slug: String,
    pub role: Role,
    /// The email the link was made for, if the vendor gave one.
    pub email: Option<String>,
    pub csrf: String,
}

/// Whoever is looking at a workspace page: an account, or a portal visitor.
#[derive(Debug, Clone)]
pub enum Visitor {
    Account(CurrentUser),
    Portal(PortalVisitor),
}

impl Visitor {
    pub fn csrf(&self) -> &str {
        match self {
            Visitor::Account(u) => &u.csrf,
            Visitor::Portal(p) => &p.csrf,
        }
    }
    pub fn account(&self) -> Option<&CurrentUser> {
        match self {
            Visitor::Account(u) => Some(u),
            Visitor::Portal(_) => None,
        }
    }
    pub fn portal(&self) -> Option<&PortalVisitor> {
        match self {
            Visitor::Account(_) => None,
            Visitor::Portal(p) => Some(p),
        }
    }
    pub fn is_instance_admin(&self) -> bool {
        self.account().is_some_and(|u| u.is_instance_admin)
    }
    /// Who this is, as the header shows it and changes record it: the account's email, the
    /// portal link's email, else "via <brand>".
    pub fn display_name(&self, brand: &str) -> String {
        match self {
            Visitor::Account(u) => u.email.clone(),
            Visitor::Portal(PortalVisitor { email: Some(e), .. }) => e.clone(),
            Visitor::Portal(_) => format!("via {brand}"),
        }
    }
}

impl FromRequest for Visitor {
    type Error = UiError;
    type Future = Pin<Box<dyn Future<Output = Result<Visitor, UiError>>>>;

    /// A portal session counts inside its own workspace; elsewhere an account session of the
    /// same browser (if any) does. A portal visitor outside their workspace sees 404, as for
    /// any workspace they cannot see.
    fn from_request(req: &HttpRequest, _: &mut actix_web::dev::Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let id = identify(&req).await?;
            match (id.account, id.portal) {
                (account, Some(p))
                    if account.is_none() || inside_workspace(req.path(), &p.workspace_slug) =>
                {
                    mark_portal(&req);
                    Ok(Visitor::Portal(p))
                }
                (Some(u), _) => Ok(Visitor::Account(u)),
                (None, _) if id.portal_ended => {
                    mark_portal(&req);
                    Err(UiError::PortalEnded)
                }
                (None, _) => Err(UiError::LoginRequired(next_of(&req))),
            }
        })
    }
}

/// The portal session cookie: `HttpOnly`, and over https `SameSite=None; Secure;
/// Partitioned` so it works inside the vendor's iframe with third-party cookies blocked
/// (CHIPS). Built by hand: actix-web's cookie crate predates `Partitioned`.
pub fn portal_cookie(state: &AppState, token: &str) -> String {
    let max_age = state.config.portal_session_minutes as i64 * 60;
    if state.config.https() && !state.config.embed_origins.is_empty() {
        format!(
            "{PORTAL_COOKIE}={token}; Path=/; HttpOnly; Secure; SameSite=None; Partitioned; Max-Age={max_age}"
        )
    } else {
        let secure = if state.config.https() { "; Secure" } else { "" };
        format!(
            "{PORTAL_COOKIE}={token}; Path=/; HttpOnly{secure}; SameSite=Lax; Max-Age={max_age}"
        )
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
