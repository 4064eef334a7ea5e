//! `GET /api/v1/webhooks/{id}/deliveries`, `GET /api/v1/deliveries/{id}`,
//! `POST /api/v1/deliveries/{id}/retry`.

use std::collections::BTreeMap;

use actix_web::http::StatusCode;
use actix_web::web;
use serde::{Deserialize, Serialize};

use super::pagination::{decode_cursor, encode_cursor, parse_limit};
use super::webhooks::path_id;
use super::{envelope, page, ApiError, ApiResult, Caller};
use crate::clock::rfc3339;
use crate::db::hooks::{self, AttemptRow, DeliveryRow, STATUSES};
use crate::domain::{EventTypeName, Scope};
use crate::startup::AppState;

#[derive(Serialize)]
pub struct DeliveryOut {
    pub id: i64,
    pub webhook_id: i64,
    pub event_id: String,
    pub event_type: String,
    pub status: String,
    pub attempts: i64,
    pub response_status: Option<i64>,
    pub response_time_ms: Option<i64>,
    pub last_error: Option<String>,
    pub next_attempt_at: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

impl From<DeliveryRow> for DeliveryOut {
    fn from(d: DeliveryRow) -> Self {
        DeliveryOut {
            id: d.id,
            webhook_id: d.webhook_id,
            event_id: d.event_public_id,
            event_type: d.event_type,
            status: d.status,
            attempts: d.attempt_count,
            response_status: d.last_status_code,
            response_time_ms: d.last_duration_ms,
            last_error: d.last_error,
            next_attempt_at: d.next_attempt_at.map(rfc3339),
            created_at: rfc3339(d.created_at),
            updated_at: rfc3339(d.updated_at),
        }
    }
}

#[derive(Deserialize)]
pub struct DeliveriesQuery {
    pub status: Option<String>,
    pub event_type: Option<String>,
    pub limit: Option<i64>,
    pub cursor: Option<String>,
}

pub async fn list(
    caller: Caller,
    state: web::Data<AppState>,
    id: web::Path<String>,
    q: web::Query<DeliveriesQuery>,
) -> ApiResult {
    let ws = caller.workspace(Scope::Webhooks)?.id;
    let webhook = path_id(&id, "webhook")?;
    let q = q.into_inner();
    let status = match q.status.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        None => None,
        Some(s) if STATUSES.contains(&s) => Some(s.to_string()),
        Some(_) => {
            return Err(ApiError::unprocessable(
                "status",
                "use one of pending, retrying, succeeded, failed",
            ))
        }
    };
    let event_type = match q
        .event_type
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        None => None,
        Some(t) => Some(
            EventTypeName::parse(t)
                .map_err(|e| ApiError::unprocessable("event_type", e.message))?
                .to_string(),
        ),
    };
    let limit = parse_limit(q.limit)?;
    let before = match &q.cursor {
        Some(c) => decode_cursor(c)?,
        None => i64::MAX,
    };
    let rows = state
        .db
        .read(move |c| {
            if hooks::get_webhook(c, ws, webhook)?.is_none() {
                return Ok(None);
            }
            Ok(Some(hooks::list_deliveries(
                c,
                ws,
                webhook,
                status.as_deref(),
                event_type.as_deref(),
                before,
                limit + 1,
            )?))
        })
        .await?;
    let mut rows = rows.ok_or_else(|| ApiError::not_found("webhook"))?;
    let next = (rows.len() > limit).then(|| {
        rows.truncate(limit);
        encode_cursor(rows.last().map(|r| r.id).unwrap_or(0))
    });
    Ok(page(
        rows.into_iter().map(DeliveryOut::from).collect(),
        next,
    ))
}

#[derive(Serialize)]
pub struct AttemptOut {
    pub attempt: i64,
    pub started_at: String,
    pub duration_ms: Option<i64>,
    pub request: RequestOut,
    pub response: Option<ResponseOut>,
    pub error: Option<String>,
}

#[derive(Serialize)]
pub struct RequestOut {
    pub headers: BTreeMap<String, String>,
}

#[derive(Serialize)]
pub struct ResponseOut {
    pub status: i64,
    pub headers: BTreeMap<String, String>,
    pub body: String,
}

impl From<AttemptRow> for AttemptOut {
    fn from(a: AttemptRow) -> Self {
        AttemptOut {
            attempt: a.attempt_number,
            started_at: rfc3339(a.started_at),
            duration_ms: a.duration_ms,
            request: RequestOut {
                headers: a.request_headers,
            },
            response: a.response_status.map(|status| ResponseOut {
                status,
                headers: a.response_headers.unwrap_or_default(),
                body: String::from_utf8_lossy(a.response_body.as_deref().unwrap_or_default())
                    .into_owned(),
            }),
            error: a.error,
        }
    }
}

#[derive(Serialize)]
struct DeliveryDetail {
    #[serde(flatten)]
    delivery: DeliveryOut,
    /// The request body sent on every attempt (byte-identical to what was signed).
    payload: String,
    attempts: Vec<AttemptOut>,
}

pub async fn get(caller: Caller, state: web::Data<AppState>, id: web::Path<String>) -> ApiResult {
    let ws = caller.workspace(Scope::Webhooks)?.id;
    let id = path_id(&id, "delivery")?;
    let found = state
        .db
        .read(move |c| {
            let Some(d) = hooks::get_delivery(c, ws, id)? else {
                return Ok(None);
            };
            let body = hooks::event_body(c, d.event_id)?.unwrap_or_default();
            let attempts = hooks::attempts_of(c, d.id)?;
            Ok(Some((d, body, attempts)))
        })
        .await?;
    let (d, payload, attempts) = found.ok_or_else(|| ApiError::not_found("delivery"))?;
    Ok(envelope(
        StatusCode::OK,
        DeliveryDetail {
            delivery: d.into(),
            payload,
            attempts: attempts.into_iter().map(AttemptOut::from).collect(),
        },
    ))
}

pub async fn retry(caller: Caller, state: web::Data<AppState>, id: web::Path<String>) -> ApiResult {
    let ws = caller.workspace(Scope::Webhooks)?.id;
    let id = path_id(&id, "delivery")?;
    let row = state
        .db
        .write(move |c| {
            if !hooks::schedule_retry_now(c, ws, id)? {
                return Ok(None);
            }
            hooks::get_delivery(c, ws, id)
        })
        .await?
        .ok_or_else(|| ApiError::not_found("delivery"))?;
    state.wake.notify_one();
    Ok(envelope(StatusCode::ACCEPTED, DeliveryOut::from(row)))
}
