//! One-time messages across a redirect (POST → 303 → GET): a cookie sealed with the instance's
//! secret key, bound to the page it is for, and removed when that page shows it. Secrets
//! shown "once" (a new webhook secret, a new API key) travel this way instead of in a URL.

use actix_web::cookie::{time::Duration as CookieDuration, Cookie, SameSite};
use actix_web::{HttpRequest, HttpResponse};
use base64::Engine;
use serde::{Deserialize, Serialize};

use crate::state::AppState;

pub const FLASH_COOKIE: &str = "hookline_flash";
const MAX_AGE_SECS: i64 = 120;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum Flash {
    /// A plain confirmation ("Webhook saved.").
    Notice(String),
    /// Something went wrong, said in a sentence.
    Error(String),
    /// A webhook's signing secret, shown once.
    Secret {
        webhook_id: i64,
        secret: String,
        rotated: bool,
    },
    /// A new API key, shown once.
    ApiKey { id: i64, key: String },
    /// An invitation link that was not emailed (no SMTP, or the send failed), shown once
    /// for the inviter to pass on; `why` says why it was not emailed.
    Invitation {
        email: String,
        link: String,
        why: String,
    },
    /// The outcome of Send Test.
    Test(TestResult),
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TestResult {
    pub webhook_id: i64,
    pub delivery_id: i64,
    pub event_type: String,
    pub success: bool,
    pub response_status: Option<u16>,
    pub duration_ms: i64,
    pub error: Option<String>,
    pub response_body: String,
}

#[derive(Serialize, Deserialize)]
struct Sealed {
    path: String,
    flash: Flash,
}

/// Sets `flash` for the next view of `path` on `resp` (a redirect to it).
pub fn set(resp: &mut HttpResponse, state: &AppState, path: &str, flash: Flash) {
    let json = serde_json::to_string(&Sealed {
        path: path.to_string(),
        flash,
    })
    .unwrap_or_default();
    let value = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(state.secrets.seal(&json));
    let cookie = Cookie::build(FLASH_COOKIE, value)
        .path("/")
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(state.config.https())
        .max_age(CookieDuration::seconds(MAX_AGE_SECS))
        .finish();
    let _ = resp.add_cookie(&cookie);
}

/// A redirect to `to` carrying `flash`.
pub fn redirect_with(state: &AppState, to: &str, flash: Flash) -> HttpResponse {
    let mut resp = super::redirect(to);
    let path = to.split('?').next().unwrap_or(to);
    set(&mut resp, state, path, flash);
    resp
}

/// The flash meant for this request's page, if any. Call [`clear`] on the response then.
pub fn take(req: &HttpRequest, state: &AppState) -> Option<Flash> {
    let c = req.cookie(FLASH_COOKIE)?;
    let sealed = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(c.value())
        .ok()?;
    let json = state.secrets.open(&sealed).ok()?;
    let s: Sealed = serde_json::from_str(&json).ok()?;
    (s.path == req.path()).then_some(s.flash)
}

/// Removes the flash cookie (it has been shown).
pub fn clear(mut resp: HttpResponse, state: &AppState) -> HttpResponse {
    let cookie = Cookie::build(FLASH_COOKIE, "")
        .path("/")
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(state.config.https())
        .max_age(CookieDuration::ZERO)
        .finish();
    let _ = resp.add_removal_cookie(&cookie);
    resp
}

/// Shows a page that may have consumed a flash: clears the cookie when one was there.
pub fn finish(resp: HttpResponse, state: &AppState, had_flash: bool) -> HttpResponse {
    if had_flash {
        clear(resp, state)
    } else {
        resp
    }
}

/// Splits a flash into the frame's notice and the page-specific rest.
pub fn notice_of(f: &Option<Flash>) -> Option<super::Notice> {
    match f {
        Some(Flash::Notice(t)) => Some(super::Notice {
            ok: true,
            text: t.clone(),
        }),
        Some(Flash::Error(t)) => Some(super::Notice {
            ok: false,
            text: t.clone(),
        }),
        _ => None,
    }
}
