//! `static/`, embedded in the binary and served with ETags and cache headers.

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use rust_embed::RustEmbed;

use crate::state::AppState;

#[derive(RustEmbed)]
#[folder = "static/"]
struct Static;

pub async fn serve(req: HttpRequest, path: web::Path<String>) -> HttpResponse {
    let Some(file) = Static::get(path.as_str()) else {
        return not_found();
    };
    let etag = format!("\"{}\"", hex::encode(&file.metadata.sha256_hash()[..16]));
    let mime = mime_guess::from_path(path.as_str()).first_or_octet_stream();
    cached(&req, etag, mime.as_ref(), file.data.into_owned())
}

fn not_found() -> HttpResponse {
    HttpResponse::NotFound()
        .content_type("text/plain")
        .body("not found")
}

/// A response with an ETag: 304 when the browser has these bytes already.
fn cached(req: &HttpRequest, etag: String, content_type: &str, body: Vec<u8>) -> HttpResponse {
    let matches = req
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*"));
    if matches {
        return HttpResponse::NotModified()
            .insert_header((header::ETAG, etag))
            .finish();
    }
    HttpResponse::Ok()
        .content_type(content_type)
        .insert_header((header::ETAG, etag))
        .insert_header((
            header::CACHE_CONTROL,
            "public, max-age=3600, must-revalidate",
        ))
        .body(body)
}

/// `/static/brand.css`: the brand's colours (`HOOKLINE_BRAND_COLOR`) over `app.css`.
pub async fn brand_css(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let css = state.config.brand.stylesheet();
    let etag = format!(
        "\"{}\"",
        hex::encode(&<sha2::Sha256 as sha2::Digest>::digest(css.as_bytes())[..16])
    );
    cached(&req, etag, "text/css; charset=utf-8", css.into_bytes())
}

/// `/brand/logo`: the logo of `HOOKLINE_BRAND_LOGO`, read once at start. An SVG is sent
/// with a CSP of its own, so a script inside it never runs.
pub async fn brand_logo(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let Some(logo) = &state.config.brand.logo else {
        return not_found();
    };
    let mut resp = cached(
        &req,
        logo.etag.clone(),
        logo.content_type,
        logo.bytes.clone(),
    );
    if let Ok(v) =
        header::HeaderValue::from_str("default-src 'none'; style-src 'unsafe-inline'; sandbox")
    {
        resp.headers_mut()
            .insert(header::CONTENT_SECURITY_POLICY, v);
    }
    resp
}
