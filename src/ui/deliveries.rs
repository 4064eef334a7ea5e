//! A webhook's Deliveries tab, the delivery page (every attempt's request and response) and
//! its Retry button.

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use serde::Deserialize;

use super::body_view::{self, Shown};
use super::flash::{self, Flash};
use super::form::Post;
use super::webhooks::title_of;
use super::workspace::WsCtx;
use super::{path_id, render, truncate, url_encode, Chrome, Ts, UiError, Visitor};
use crate::domain::{cursor, DeliveryFilter, DeliveryStatus, EventTypeName};
use crate::service::{deliveries, webhooks};
use crate::state::AppState;
use crate::store::types::{AttemptRow, DeliveryRow, PREVIEW_HEAD};

const PAGE_SIZE: usize = 50;

pub struct DeliveryView {
    pub replay: bool,
    pub id: i64,
    pub created: Ts,
    pub event_id: String,
    pub event_type: String,
    pub status: String,
    pub attempts: i64,
    pub code: Option<i64>,
    pub duration_ms: Option<i64>,
    pub error: Option<String>,
    pub next_attempt: Option<Ts>,
    /// When the next attempt starts, relative to now ("in 4 min"), for waiting deliveries.
    pub next_in: Option<String>,
    pub preview: String,
}

/// A wait read at a glance, rounded up (an attempt is never sooner than it says): `now`,
/// `in 45 s`, `in 4 min`, `in 2 h 5 min`, `in 3 days`.
fn relative(ms: i64) -> String {
    let s = (ms.max(0) + 999) / 1000;
    if s == 0 {
        return "now".to_string();
    }
    if s < 60 {
        return format!("in {s} s");
    }
    let minutes = (s + 59) / 60;
    match minutes {
        ..=59 => format!("in {minutes} min"),
        60..=1439 => match minutes % 60 {
            0 => format!("in {} h", minutes / 60),
            m => format!("in {} h {m} min", minutes / 60),
        },
        _ => match minutes / 1440 {
            1 => "in 1 day".to_string(),
            d => format!("in {d} days"),
        },
    }
}

impl DeliveryView {
    pub fn from_row(d: DeliveryRow) -> DeliveryView {
        let waiting = d.status.is_waiting();
        let next_in = d
            .next_attempt_at
            .filter(|_| waiting)
            .map(|t| relative(t - crate::clock::now_ms()));
        DeliveryView {
            next_in,
            replay: d.job_id.is_some(),
            id: d.id,
            created: Ts::new(d.created_at),
            preview: preview_of(&d.preview),
            event_id: d.event_public_id,
            event_type: d.event_type,
            status: d.status.as_str().to_string(),
            attempts: d.attempt_count,
            code: d.last_status_code,
            duration_ms: d.last_duration_ms,
            error: d.last_error,
            next_attempt: Ts::opt(d.next_attempt_at),
        }
    }
}

/// Most characters of `data` a table cell shows.
const PREVIEW_CHARS: usize = 120;

/// The start of an event's `data`, for a table cell: always a prefix of the `data` JSON as
/// published (marked `…` when cut). `head` is the body's first [`PREVIEW_HEAD`]
/// characters, plus one when there is more. A body is
/// `{"id":…,"type":…,"timestamp":…,"data":<data>}` (ids and type names hold no quotes), so a
/// whole body ends with the one `}` that closes it, which is not part of `data`.
fn preview_of(head: &str) -> String {
    let Some(i) = head.find(r#""data":"#) else {
        return String::new();
    };
    let whole = head.chars().count() <= PREVIEW_HEAD;
    let data = &head[i + 7..];
    if whole {
        return truncate(data.strip_suffix('}').unwrap_or(data), PREVIEW_CHARS);
    }
    // The body goes on past the head: the preview is cut either way.
    let shown = truncate(data, PREVIEW_CHARS);
    if shown.ends_with('…') {
        shown
    } else {
        format!("{shown}…")
    }
}

#[derive(Deserialize)]
pub struct ListQuery {
    status: Option<String>,
    event_type: Option<String>,
    cursor: Option<String>,
}

#[derive(Template)]
#[template(path = "ws/deliveries.html")]
struct ListPage {
    chrome: Chrome,
    base: String,
    webhook_id: i64,
    webhook_title: String,
    is_active: bool,
    rows: Vec<DeliveryView>,
    status: String,
    event_type: String,
    statuses: Vec<&'static str>,
    event_types: Vec<String>,
    filter_error: Option<String>,
    older: Option<String>,
    newest: Option<String>,
}

impl ListPage {
    fn is_status(&self, s: &str) -> bool {
        self.status == s
    }
    fn is_type(&self, t: &str) -> bool {
        self.event_type == t
    }
}

pub async fn list(
    req: HttpRequest,
    state: web::Data<AppState>,
    user: Visitor,
    path: web::Path<(String, String)>,
    q: web::Query<ListQuery>,
) -> Result<HttpResponse, UiError> {
    let (slug, id) = path.into_inner();
    let webhook = path_id(&id)?;
    let ctx = WsCtx::load(&state, user, &slug).await?;
    let q = q.into_inner();
    // A filter that does not parse is set aside with a notice; the other one still applies.
    let mut filter_error = None;
    let status = match q.status.as_deref().map(str::trim).unwrap_or("") {
        "" => None,
        s => match DeliveryStatus::parse(s) {
            Ok(st) => Some(st),
            Err(_) => {
                filter_error = Some(
                    "Unknown status: choose pending, retrying, succeeded or failed.".to_string(),
                );
                None
            }
        },
    };
    let event_type = match q.event_type.as_deref().map(str::trim).unwrap_or("") {
        "" => None,
        t => match EventTypeName::parse(t) {
            Ok(n) => Some(n),
            Err(e) => {
                filter_error = Some(format!("Event type: {}", e.message));
                None
            }
        },
    };
    let before = match q.cursor.as_deref().filter(|c| !c.is_empty()) {
        None => i64::MAX,
        Some(c) => cursor::decode_id(c).map_err(|e| UiError::BadRequest(e.message))?,
    };
    let ws = ctx.id();
    let filter = DeliveryFilter {
        status,
        event_type: event_type.clone(),
        ..Default::default()
    };
    let w = webhooks::get(&state, ws, webhook).await?;
    let mut rows = deliveries::list(&state, ws, webhook, filter, before, PAGE_SIZE + 1).await?;
    let types = state.store.event_types_all().await?;
    let event_type = event_type.map(|t| t.to_string());
    let here = ctx.path(&format!("/webhooks/{webhook}/deliveries"));
    let filters = |cursor: Option<String>| {
        let mut parts = vec![];
        if let Some(s) = &status {
            parts.push(format!("status={}", url_encode(s.as_str())));
        }
        if let Some(t) = &event_type {
            parts.push(format!("event_type={}", url_encode(t)));
        }
        if let Some(c) = cursor {
            parts.push(format!("cursor={}", url_encode(&c)));
        }
        if parts.is_empty() {
            here.clone()
        } else {
            format!("{here}?{}", parts.join("&"))
        }
    };
    let older = (rows.len() > PAGE_SIZE).then(|| {
        rows.truncate(PAGE_SIZE);
        filters(Some(cursor::encode_id(
            rows.last().map(|r| r.id).unwrap_or(0),
        )))
    });
    let newest = (before != i64::MAX).then(|| filters(None));
    let mut event_types: Vec<String> = types.into_iter().map(|t| t.name).collect();
    event_types.push("webhook.test".into());
    if let Some(t) = &event_type {
        if !event_types.contains(t) {
            event_types.push(t.clone());
        }
    }
    let fl = flash::take(&req, &state);
    let mut chrome = ctx.chrome("webhooks");
    chrome.notice = flash::notice_of(&fl);
    let page = ListPage {
        chrome,
        base: ctx.path(""),
        webhook_id: webhook,
        webhook_title: title_of(&w),
        is_active: w.is_active,
        rows: rows.into_iter().map(DeliveryView::from_row).collect(),
        status: status.map(|s| s.as_str().to_string()).unwrap_or_default(),
        event_type: event_type.unwrap_or_default(),
        statuses: DeliveryStatus::ALL.iter().map(|s| s.as_str()).collect(),
        event_types,
        filter_error,
        older,
        newest,
    };
    Ok(flash::finish(render(&page), &state, fl.is_some()))
}

/// Page budget, in bytes once HTML-escaped. Whatever a payload or a receiver holds, the
/// delivery page stays well under 1 MB: the payload gets up to [`PAYLOAD_BUDGET`], each
/// attempt's response body up to [`RESPONSE_BUDGET`] and its response headers up to
/// [`HEADERS_BUDGET`] and its request headers as much, for the newest [`ATTEMPTS_SHOWN`]
/// attempts. What does not fit is cut
/// with a notice and a link to the raw bytes.
const PAYLOAD_BUDGET: usize = 128 * 1024;
const RESPONSE_BUDGET: usize = 12 * 1024;
const HEADERS_BUDGET: usize = 4 * 1024;
const ATTEMPTS_SHOWN: usize = 25;
/// Payloads up to this (escaped) size are repeated under every attempt.
const INLINE_BUDGET: usize = 2048;

pub struct AttemptView {
    pub number: i64,
    pub started: Ts,
    pub duration_ms: Option<i64>,
    pub request_headers: Vec<(String, String)>,
    /// Request headers left out to keep the page small (the API lists them all).
    pub request_headers_hidden: usize,
    pub response_status: Option<i64>,
    pub response_headers: Vec<(String, String)>,
    /// Response headers left out to keep the page small.
    pub headers_hidden: usize,
    pub response_body: Shown,
    pub response_bytes: usize,
    pub error: Option<String>,
    pub ok: bool,
}

/// Header pairs until their escaped size reaches `budget`; the count of the rest.
fn bounded_headers(
    headers: impl IntoIterator<Item = (String, String)>,
    budget: usize,
) -> (Vec<(String, String)>, usize) {
    let (mut kept, mut hidden, mut left) = (Vec::new(), 0, budget);
    for (k, v) in headers {
        let v = truncate(&v, 512);
        let cost = body_view::escaped_size(&k) + body_view::escaped_size(&v);
        if hidden == 0 && cost <= left {
            left -= cost;
            kept.push((k, v));
        } else {
            hidden += 1;
        }
    }
    (kept, hidden)
}

impl AttemptView {
    fn from_row(a: AttemptRow) -> AttemptView {
        let ok = a.response_status.is_some_and(|s| (200..300).contains(&s));
        let body = a.response_body.unwrap_or_default();
        let (response_headers, headers_hidden) =
            bounded_headers(a.response_headers.unwrap_or_default(), HEADERS_BUDGET);
        let (request_headers, request_headers_hidden) =
            bounded_headers(a.request_headers, HEADERS_BUDGET);
        AttemptView {
            number: a.attempt_number,
            started: Ts::new(a.started_at),
            duration_ms: a.duration_ms,
            request_headers,
            request_headers_hidden,
            response_status: a.response_status,
            response_headers,
            headers_hidden,
            response_bytes: body.len(),
            response_body: body_view::show(&String::from_utf8_lossy(&body), RESPONSE_BUDGET),
            error: a.error,
            ok,
        }
    }
}

#[derive(Template)]
#[template(path = "ws/delivery.html")]
struct DeliveryPage {
    chrome: Chrome,
    base: String,
    can_manage: bool,
    d: DeliveryView,
    webhook_id: i64,
    webhook_title: String,
    payload: Shown,
    payload_bytes: usize,
    inline_body: bool,
    attempts: Vec<AttemptView>,
    /// Older attempts not shown.
    attempts_hidden: usize,
}

pub async fn show(
    req: HttpRequest,
    state: web::Data<AppState>,
    user: Visitor,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, UiError> {
    let (slug, id) = path.into_inner();
    let id = path_id(&id)?;
    let ctx = WsCtx::load(&state, user, &slug).await?;
    let ws = ctx.id();
    let detail = deliveries::get(&state, ws, id, Some(ATTEMPTS_SHOWN)).await?;
    let w = webhooks::get(&state, ws, detail.delivery.webhook_id).await?;
    let attempts_hidden = detail.attempts_total - detail.attempts.len();
    let (d, body, attempts) = (detail.delivery, detail.payload, detail.attempts);
    let fl = flash::take(&req, &state);
    let mut chrome = ctx.chrome("webhooks");
    chrome.notice = flash::notice_of(&fl);
    let payload = body_view::show(&body, PAYLOAD_BUDGET);
    let page = DeliveryPage {
        chrome,
        base: ctx.path(""),
        can_manage: ctx.can_manage(),
        webhook_id: w.id,
        webhook_title: title_of(&w),
        d: DeliveryView::from_row(d),
        inline_body: !payload.cut && body_view::show(&body, INLINE_BUDGET) == payload,
        payload,
        payload_bytes: body.len(),
        attempts: attempts.into_iter().map(AttemptView::from_row).collect(),
        attempts_hidden,
    };
    Ok(flash::finish(render(&page), &state, fl.is_some()))
}

#[derive(Deserialize)]
pub struct RawQuery {
    #[serde(default)]
    download: Option<String>,
}

/// Exact bytes as a plain-text view (or, with `?download=1`, an attachment), never run or
/// rendered by the browser: `text/plain`, `nosniff` and a sandbox CSP.
fn raw_bytes(bytes: Vec<u8>, filename: &str, download: bool) -> HttpResponse {
    let disposition = if download { "attachment" } else { "inline" };
    HttpResponse::Ok()
        .content_type(if download {
            "application/octet-stream"
        } else {
            "text/plain; charset=utf-8"
        })
        .insert_header((
            header::CONTENT_DISPOSITION,
            format!("{disposition}; filename=\"{filename}\""),
        ))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header(("Content-Security-Policy", "sandbox; default-src 'none'"))
        .body(bytes)
}

/// `GET /w/{slug}/deliveries/{id}/body`: the request body exactly as it was signed and
/// sent on every attempt (what a receiver must verify `webhook-signature` against).
pub async fn raw_body(
    state: web::Data<AppState>,
    user: Visitor,
    path: web::Path<(String, String)>,
    q: web::Query<RawQuery>,
) -> Result<HttpResponse, UiError> {
    let (slug, id) = path.into_inner();
    let id = path_id(&id)?;
    let ctx = WsCtx::load(&state, user, &slug).await?;
    let (event_id, body) = deliveries::payload(&state, ctx.id(), id).await?;
    Ok(raw_bytes(
        body.into_bytes(),
        &format!("{event_id}.json"),
        q.download.is_some(),
    ))
}

/// `GET /w/{slug}/deliveries/{id}/attempts/{n}/response`: the response body an attempt
/// stored (its first 64 KiB), byte for byte.
pub async fn raw_response(
    state: web::Data<AppState>,
    user: Visitor,
    path: web::Path<(String, String, String)>,
    q: web::Query<RawQuery>,
) -> Result<HttpResponse, UiError> {
    let (slug, id, n) = path.into_inner();
    let (id, n) = (path_id(&id)?, path_id(&n)?);
    let ctx = WsCtx::load(&state, user, &slug).await?;
    let body = deliveries::response_body(&state, ctx.id(), id, n).await?;
    Ok(raw_bytes(
        body,
        &format!("delivery-{id}-attempt-{n}-response.txt"),
        q.download.is_some(),
    ))
}

pub async fn retry(
    state: web::Data<AppState>,
    post: Post<Visitor>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, UiError> {
    let (slug, id) = path.into_inner();
    let id = path_id(&id)?;
    let ctx = WsCtx::load(&state, post.user, &slug).await?;
    // Another workspace's delivery is 404 before a viewer's 403.
    deliveries::find(&state, ctx.id(), id).await?;
    ctx.require_manage()?;
    deliveries::retry(&state, ctx.id(), id).await?;
    Ok(flash::redirect_with(
        &state,
        &ctx.path(&format!("/deliveries/{id}")),
        Flash::Notice("Retry scheduled: a new attempt starts now. Reload to see it.".into()),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_read_at_a_glance() {
        for (ms, want) in [
            (-5000, "now"),
            (0, "now"),
            (999, "in 1 s"),
            (1000, "in 1 s"),
            (45_000, "in 45 s"),
            (60_000, "in 1 min"),
            (61_000, "in 2 min"),
            (3_540_000, "in 59 min"),
            (3_599_000, "in 1 h"),
            (3_600_000, "in 1 h"),
            (7_199_500, "in 2 h"),
            (7_500_000, "in 2 h 5 min"),
            (86_400_000, "in 1 day"),
            (3 * 86_400_000, "in 3 days"),
        ] {
            assert_eq!(relative(ms), want, "{ms}");
        }
    }

    /// What the database hands the preview: the body's first PREVIEW_HEAD + 1 characters.
    fn head_of(body: &str) -> String {
        body.chars().take(PREVIEW_HEAD + 1).collect()
    }

    #[test]
    fn previews_show_the_data() {
        let body = crate::domain::event::event_body("evt_1", "a", 0, r#"{"project_id":7}"#);
        assert_eq!(preview_of(&head_of(&body)), r#"{"project_id":7}"#);
        let body = crate::domain::event::event_body("evt_1", "a", 0, "[]");
        assert_eq!(preview_of(&head_of(&body)), "[]");
        assert_eq!(preview_of("not an event body"), "");
    }

    /// Every preview, cut or whole, is a prefix of the published `data` (once its `…` is
    /// taken off), whatever the data and however long the body.
    #[test]
    fn previews_are_prefixes_of_the_data() {
        let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
        let mut next = move |n: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % n
        };
        let atoms = [
            "1",
            "-2.5e3",
            "true",
            "null",
            r#""}""#,
            r#""a\"}""#,
            r#""é€😀""#,
            "{}",
            "[]",
            r#""\"data\":""#,
            r#""}}}}""#,
        ];
        for round in 0..2000 {
            // A list of atoms, wrapped in up to three arrays or objects, sometimes long.
            let items = 1 + next(if round % 10 == 0 { 200 } else { 5 });
            let list: Vec<&str> = (0..items)
                .map(|_| atoms[next(atoms.len() as u64) as usize])
                .collect();
            let mut data = format!("[{}]", list.join(","));
            for _ in 0..next(4) {
                data = if next(2) == 0 {
                    format!("[{data}]")
                } else {
                    format!(r#"{{"k":{data}}}"#)
                };
            }
            serde_json::from_str::<serde_json::Value>(&data).expect("the test builds valid JSON");
            let event_type = "a".repeat(1 + next(150) as usize);
            let body = crate::domain::event::event_body("evt_1", &event_type, 0, &data);
            let preview = preview_of(&head_of(&body));
            let shown = preview.strip_suffix('…').unwrap_or(&preview);
            assert!(
                data.starts_with(shown),
                "preview {shown:?} is not a prefix of {data:?}"
            );
            // Marked as cut exactly when it is.
            assert_eq!(
                preview.ends_with('…'),
                shown != data,
                "{preview:?} of {data:?}"
            );
            if data.chars().count() <= PREVIEW_CHARS && body.chars().count() <= PREVIEW_HEAD {
                assert_eq!(shown, data, "a short body is shown whole");
            }
        }
    }
}
