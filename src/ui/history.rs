//! Deliveries → the workspace's whole delivery history (every webhook), with the API's
//! filters: webhook, status, event type, HTTP status, time window, event id.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use serde::Deserialize;

use super::deliveries::DeliveryView;
use super::webhooks::title_of;
use super::workspace::WsCtx;
use super::{flash, render_status, url_encode, Chrome, UiError, Visitor};
use crate::domain::{cursor, DeliveryFilter, DeliveryFilterInput, DeliveryStatus};
use crate::service::{deliveries, webhooks};
use crate::state::AppState;

const PAGE_SIZE: usize = 50;

/// The filters as typed (kept on the page, also when one is wrong).
#[derive(Deserialize, Default, Clone)]
pub struct HistoryQuery {
    #[serde(default)]
    webhook_id: String,
    #[serde(default)]
    status: String,
    #[serde(default)]
    event_type: String,
    #[serde(default)]
    http_status: String,
    #[serde(default)]
    since: String,
    #[serde(default)]
    until: String,
    #[serde(default)]
    event_id: String,
    cursor: Option<String>,
}

impl HistoryQuery {
    fn input(&self) -> DeliveryFilterInput<'_> {
        DeliveryFilterInput {
            status: Some(&self.status),
            event_type: Some(&self.event_type),
            webhook_id: Some(&self.webhook_id),
            http_status: Some(&self.http_status),
            since: Some(&self.since),
            until: Some(&self.until),
            event_id: Some(&self.event_id),
        }
    }
    fn any(&self) -> bool {
        [
            &self.webhook_id,
            &self.status,
            &self.event_type,
            &self.http_status,
            &self.since,
            &self.until,
            &self.event_id,
        ]
        .iter()
        .any(|v| !v.trim().is_empty())
    }
    /// This page's URL with `cursor`.
    fn link(&self, here: &str, cursor: Option<String>) -> String {
        let mut parts = Vec::new();
        for (k, v) in [
            ("webhook_id", &self.webhook_id),
            ("status", &self.status),
            ("event_type", &self.event_type),
            ("http_status", &self.http_status),
            ("since", &self.since),
            ("until", &self.until),
            ("event_id", &self.event_id),
        ] {
            if !v.trim().is_empty() {
                parts.push(format!("{k}={}", url_encode(v.trim())));
            }
        }
        if let Some(c) = cursor {
            parts.push(format!("cursor={}", url_encode(&c)));
        }
        if parts.is_empty() {
            here.to_string()
        } else {
            format!("{here}?{}", parts.join("&"))
        }
    }
}

pub struct Row {
    pub d: DeliveryView,
    pub webhook_id: i64,
    pub webhook: String,
}

#[derive(Template)]
#[template(path = "ws/history.html")]
struct HistoryPage {
    chrome: Chrome,
    base: String,
    q: HistoryQuery,
    webhooks: Vec<(i64, String)>,
    statuses: Vec<&'static str>,
    event_types: Vec<String>,
    /// (field, message) of each filter that does not parse.
    errors: Vec<(String, String)>,
    rows: Vec<Row>,
    filtered: bool,
    older: Option<String>,
    newest: Option<String>,
}

impl HistoryPage {
    fn error_of(&self, field: &str) -> Option<&str> {
        self.errors
            .iter()
            .find(|(f, _)| f == field)
            .map(|(_, m)| m.as_str())
    }
    fn is_webhook(&self, id: &i64) -> bool {
        self.q.webhook_id.trim() == id.to_string()
    }
    fn is_status(&self, s: &str) -> bool {
        self.q.status.trim() == s
    }
    fn is_type(&self, t: &str) -> bool {
        self.q.event_type.trim() == t
    }
}

/// `GET /w/{slug}/deliveries`.
pub async fn list(
    req: HttpRequest,
    state: web::Data<AppState>,
    user: Visitor,
    slug: web::Path<String>,
    q: web::Query<HistoryQuery>,
) -> Result<HttpResponse, UiError> {
    let ctx = WsCtx::load(&state, user, &slug).await?;
    let q = q.into_inner();
    let ws = ctx.id();
    let hooks = webhooks::list(&state, ws, 0, 1000).await?;
    let webhook_names: Vec<(i64, String)> = hooks.iter().map(|w| (w.id, title_of(w))).collect();
    let types = state.store.event_types_all().await?;
    let mut event_types: Vec<String> = types.into_iter().map(|t| t.name).collect();
    event_types.push("webhook.test".into());
    let here = ctx.path("/deliveries");
    let mut page = HistoryPage {
        chrome: ctx.chrome("deliveries"),
        base: ctx.path(""),
        q: q.clone(),
        webhooks: webhook_names.clone(),
        statuses: DeliveryStatus::ALL.iter().map(|s| s.as_str()).collect(),
        event_types,
        errors: Vec::new(),
        rows: Vec::new(),
        filtered: q.any(),
        older: None,
        newest: None,
    };
    let filter = match DeliveryFilter::parse_all(q.input()) {
        Ok(f) => f,
        Err(errors) => {
            page.errors = errors.into_iter().map(|e| (e.field, e.message)).collect();
            return Ok(render_status(StatusCode::UNPROCESSABLE_ENTITY, &page));
        }
    };
    let before = match q.cursor.as_deref().filter(|c| !c.is_empty()) {
        None => i64::MAX,
        Some(c) => cursor::decode_id(c).map_err(|e| UiError::BadRequest(e.message))?,
    };
    let found = deliveries::search_page(&state, ws, None, filter, before, PAGE_SIZE + 1).await?;
    let mut rows = found.rows;
    let next = if rows.len() > PAGE_SIZE {
        rows.truncate(PAGE_SIZE);
        rows.last().map(|r| r.id)
    } else {
        found.resume_before
    };
    page.older = next.map(|id| q.link(&here, Some(cursor::encode_id(id))));
    page.newest = (before != i64::MAX).then(|| q.link(&here, None));
    page.rows = rows
        .into_iter()
        .map(|d| {
            let webhook_id = d.webhook_id;
            let webhook = webhook_names
                .iter()
                .find(|(id, _)| *id == webhook_id)
                .map(|(_, t)| t.clone())
                .unwrap_or_else(|| format!("webhook {webhook_id}"));
            Row {
                d: DeliveryView::from_row(d),
                webhook_id,
                webhook,
            }
        })
        .collect();
    let fl = flash::take(&req, &state);
    page.chrome.notice = flash::notice_of(&fl);
    Ok(flash::finish(
        render_status(StatusCode::OK, &page),
        &state,
        fl.is_some(),
    ))
}
