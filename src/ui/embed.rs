//! Embedding: the headers that let portal pages live inside the vendor's iframe, and keep
//! every other page out of frames.
//!
//! A handler (through the [`super::Visitor`] extractor or the portal link page) marks its
//! request as a [`PortalPage`]; [`finish`] then answers `Content-Security-Policy:
//! frame-ancestors <HOOKLINE_EMBED_ORIGINS>` without `X-Frame-Options`, and, over https,
//! turns the page's cookies (the flash message) into `SameSite=None; Secure; Partitioned`
//! ones, which Chromium keeps in a third-party frame even with third-party cookies blocked.
//! Every other response gets `frame-ancestors 'none'` and `X-Frame-Options: DENY`.

use actix_web::dev::ServiceResponse;
use actix_web::http::header::{HeaderName, HeaderValue, SET_COOKIE};
use actix_web::HttpMessage;

use crate::state::AppState;

/// Request marker: the response is a portal page.
#[derive(Debug, Clone, Copy)]
pub struct PortalPage;

const POLICY: &str =
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
     form-action 'self'; base-uri 'none'; object-src 'none'";

/// The `Content-Security-Policy` of a page; `frame_ancestors` empty: no frames at all.
pub fn content_security_policy(frame_ancestors: &[String]) -> String {
    if frame_ancestors.is_empty() {
        format!("{POLICY}; frame-ancestors 'none'")
    } else {
        format!("{POLICY}; frame-ancestors {}", frame_ancestors.join(" "))
    }
}

/// Sets the security headers of every response (a handler's own CSP, like the sandbox of
/// raw bodies, is kept).
pub fn finish<B>(res: &mut ServiceResponse<B>, state: &AppState) {
    let portal = res.request().extensions().get::<PortalPage>().is_some();
    let framable = portal && !state.config.embed_origins.is_empty();
    let https = state.config.https();
    let headers = res.headers_mut();
    let csp = HeaderName::from_static("content-security-policy");
    if !headers.contains_key(&csp) {
        let origins: &[String] = if framable {
            &state.config.embed_origins
        } else {
            &[]
        };
        if let Ok(v) = HeaderValue::from_str(&content_security_policy(origins)) {
            headers.insert(csp, v);
        }
    }
    if !framable {
        headers.insert(
            HeaderName::from_static("x-frame-options"),
            HeaderValue::from_static("DENY"),
        );
    }
    for (name, value) in [
        ("x-content-type-options", "nosniff"),
        ("referrer-policy", "same-origin"),
    ] {
        let name = HeaderName::from_static(name);
        if !headers.contains_key(&name) {
            headers.insert(name, HeaderValue::from_static(value));
        }
    }
    if framable && https {
        let cookies: Vec<HeaderValue> = headers.get_all(SET_COOKIE).cloned().collect();
        if !cookies.is_empty() {
            headers.remove(SET_COOKIE);
            for c in cookies {
                let v = c
                    .to_str()
                    .ok()
                    .map(partitioned)
                    .and_then(|s| HeaderValue::from_str(&s).ok())
                    .unwrap_or(c);
                headers.append(SET_COOKIE, v);
            }
        }
    }
}

/// A `Set-Cookie` value made usable in a third-party frame: `SameSite=None; Secure;
/// Partitioned`.
pub fn partitioned(cookie: &str) -> String {
    let mut parts: Vec<String> = cookie
        .split(';')
        .map(|p| p.trim().to_string())
        .filter(|p| {
            let l = p.to_ascii_lowercase();
            !(l.starts_with("samesite") || l == "secure" || l == "partitioned")
        })
        .collect();
    parts.push("Secure".into());
    parts.push("SameSite=None".into());
    parts.push("Partitioned".into());
    parts.join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_become_partitioned_once() {
        assert_eq!(
            partitioned("hookline_flash=abc; HttpOnly; SameSite=Lax; Path=/; Max-Age=120"),
            "hookline_flash=abc; HttpOnly; Path=/; Max-Age=120; Secure; SameSite=None; Partitioned"
        );
        let once = partitioned("a=b; Secure; SameSite=None; Partitioned");
        assert_eq!(partitioned(&once), once);
    }

    #[test]
    fn frame_ancestors_are_the_embed_origins_or_none() {
        assert!(content_security_policy(&[]).ends_with("frame-ancestors 'none'"));
        let p =
            content_security_policy(&["https://a.example".into(), "https://b.example:8443".into()]);
        assert!(
            p.ends_with("frame-ancestors https://a.example https://b.example:8443"),
            "{p}"
        );
    }
}
