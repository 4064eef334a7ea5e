//! `/api/v1/webhooks`: create, list, read, update, delete, rotate the secret.

use std::collections::BTreeMap;

use actix_web::http::StatusCode;
use actix_web::web;
use serde::{Deserialize, Deserializer, Serialize};

use super::pagination::{decode_cursor, encode_cursor, parse_limit};
use super::{envelope, page, ApiError, ApiJson, ApiResult, Caller};
use crate::clock::{now_ms, rfc3339};
use crate::db::hooks::{self, WebhookRow, WebhookSettings};
use crate::db::repo;
use crate::domain::webhook::{self as wh, EventFilter, WebhookSecret, WebhookUrl};
use crate::domain::{Scope, ValidationError};
use crate::startup::AppState;

/// How long a rotated-out secret keeps signing.
pub const ROTATION_OVERLAP_MS: i64 = 24 * 3600 * 1000;

#[derive(Serialize)]
pub struct WebhookOut {
    pub id: i64,
    pub name: String,
    pub description: String,
    pub url: String,
    pub events: Vec<String>,
    pub is_active: bool,
    pub headers: BTreeMap<String, String>,
    pub retry_count: usize,
    pub retry_schedule: Vec<u32>,
    pub timeout_seconds: u32,
    pub notification_email: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
    pub disabled_reason: Option<String>,
    pub last_triggered_at: Option<String>,
    pub last_success_at: Option<String>,
    pub last_failure_at: Option<String>,
    pub failure_count: i64,
    pub created_at: String,
    pub updated_at: String,
}

impl WebhookOut {
    pub fn from_row(r: WebhookRow, secret: Option<String>) -> WebhookOut {
        WebhookOut {
            id: r.id,
            name: r.name,
            description: r.description,
            url: r.url,
            events: r.events,
            is_active: r.is_active,
            headers: r.headers,
            retry_count: r.retry_schedule.len(),
            retry_schedule: r.retry_schedule,
            timeout_seconds: r.timeout_seconds,
            notification_email: r.notification_email,
            secret,
            disabled_reason: r.disabled_reason,
            last_triggered_at: r.last_triggered_at.map(rfc3339),
            last_success_at: r.last_success_at.map(rfc3339),
            last_failure_at: r.last_failure_at.map(rfc3339),
            failure_count: r.failure_count,
            created_at: rfc3339(r.created_at),
            updated_at: rfc3339(r.updated_at),
        }
    }
}

/// `Some(None)` for an explicit `null`, `None` for an absent field.
fn double_option<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

/// The body of `POST` (create) and `PATCH` (partial update).
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct WebhookIn {
    pub url: Option<String>,
    pub events: Option<Vec<String>>,
    pub name: Option<String>,
    pub description: Option<String>,
    pub is_active: Option<bool>,
    pub headers: Option<BTreeMap<String, String>>,
    pub retry_count: Option<i64>,
    pub retry_schedule: Option<Vec<i64>>,
    pub timeout_seconds: Option<i64>,
    #[serde(default, deserialize_with = "double_option")]
    pub notification_email: Option<Option<String>>,
    pub secret: Option<String>,
}

/// Validates input over a base (the stored webhook for PATCH, defaults for create) into
/// complete settings. Shared by the API and the UI.
pub fn settings_from_input(
    input: &WebhookIn,
    base: Option<&WebhookRow>,
    known_types: &[String],
    allow_http: bool,
    signature_header: &str,
) -> Result<WebhookSettings, ValidationError> {
    let url = match (&input.url, base) {
        (Some(u), _) => WebhookUrl::parse(u, allow_http)?.as_str().to_string(),
        (None, Some(b)) => b.url.clone(),
        (None, None) => {
            return Err(ValidationError::new(
                "url",
                "required: the https:// URL that will receive the POSTs",
            ))
        }
    };
    let events = match (&input.events, base) {
        (Some(e), _) => EventFilter::parse(e, |n| known_types.iter().any(|k| k == n))?.to_list(),
        (None, Some(b)) => b.events.clone(),
        (None, None) => {
            return Err(ValidationError::new(
                "events",
                "required: a list of event types, or [\"*\"] for all",
            ))
        }
    };
    let name = wh::parse_name(
        input
            .name
            .as_deref()
            .or(base.map(|b| b.name.as_str()))
            .unwrap_or(""),
    )?;
    let description = wh::parse_description(
        input
            .description
            .as_deref()
            .or(base.map(|b| b.description.as_str()))
            .unwrap_or(""),
    )?;
    let headers = match (&input.headers, base) {
        (Some(h), _) => wh::parse_headers(h, signature_header)?,
        (None, Some(b)) => b.headers.clone(),
        (None, None) => BTreeMap::new(),
    };
    let retry_schedule = match (&input.retry_schedule, input.retry_count, base) {
        (None, None, Some(b)) => b.retry_schedule.clone(),
        (s, c, _) => wh::parse_retries(s.as_deref(), c)?,
    };
    let timeout_seconds = match (input.timeout_seconds, base) {
        (None, Some(b)) => b.timeout_seconds,
        (t, _) => wh::parse_timeout(t)?,
    };
    let notification_email = match (&input.notification_email, base) {
        (Some(e), _) => wh::parse_notification_email(e.as_deref())?.map(|e| e.to_string()),
        (None, Some(b)) => b.notification_email.clone(),
        (None, None) => None,
    };
    let is_active = input
        .is_active
        .or(base.map(|b| b.is_active))
        .unwrap_or(true);
    Ok(WebhookSettings {
        name,
        description,
        url,
        events,
        is_active,
        headers,
        retry_schedule,
        timeout_seconds,
        notification_email,
    })
}

async fn known_types(state: &AppState) -> Result<Vec<String>, ApiError> {
    Ok(state
        .db
        .read(|c| {
            Ok(repo::list_event_types(c)?
                .into_iter()
                .map(|t| t.name)
                .collect())
        })
        .await?)
}

pub async fn create(
    caller: Caller,
    state: web::Data<AppState>,
    body: ApiJson<WebhookIn>,
) -> ApiResult {
    let ws = caller.workspace(Scope::Webhooks)?.id;
    let input = body.value;
    let known = known_types(&state).await?;
    let settings = settings_from_input(
        &input,
        None,
        &known,
        state.config.allow_http,
        &state.config.signature_header,
    )?;
    let secret = match &input.secret {
        Some(s) if !s.trim().is_empty() => WebhookSecret::parse(s)?,
        _ => WebhookSecret::generate(),
    };
    let sealed = state.secrets.seal(secret.as_str());
    let row = state
        .db
        .write(move |c| {
            let id = hooks::insert_webhook(c, ws, &settings, &sealed)?;
            hooks::get_webhook(c, ws, id)
        })
        .await?
        .ok_or_else(|| ApiError::not_found("webhook"))?;
    Ok(envelope(
        StatusCode::CREATED,
        WebhookOut::from_row(row, Some(secret.as_str().to_string())),
    ))
}

pub async fn list(
    caller: Caller,
    state: web::Data<AppState>,
    q: web::Query<ListQuery>,
) -> ApiResult {
    let ws = caller.workspace(Scope::Webhooks)?.id;
    let limit = parse_limit(q.limit)?;
    let after = match &q.cursor {
        Some(c) => decode_cursor(c)?,
        None => 0,
    };
    let mut rows = state
        .db
        .read(move |c| hooks::list_webhooks(c, ws, after, limit + 1))
        .await?;
    let next = (rows.len() > limit).then(|| {
        rows.truncate(limit);
        encode_cursor(rows.last().map(|r| r.id).unwrap_or(0))
    });
    Ok(page(
        rows.into_iter()
            .map(|r| WebhookOut::from_row(r, None))
            .collect(),
        next,
    ))
}

#[derive(Deserialize)]
pub struct ListQuery {
    pub limit: Option<i64>,
    pub cursor: Option<String>,
}

/// Parses a numeric id from the path; anything else is simply not found.
pub fn path_id(raw: &str, what: &str) -> Result<i64, ApiError> {
    raw.parse::<i64>()
        .ok()
        .filter(|i| *i > 0)
        .ok_or_else(|| ApiError::not_found(what))
}

async fn load(state: &AppState, ws: i64, id: i64) -> Result<WebhookRow, ApiError> {
    state
        .db
        .read(move |c| hooks::get_webhook(c, ws, id))
        .await?
        .ok_or_else(|| ApiError::not_found("webhook"))
}

pub async fn get(caller: Caller, state: web::Data<AppState>, id: web::Path<String>) -> ApiResult {
    let ws = caller.workspace(Scope::Webhooks)?.id;
    let row = load(&state, ws, path_id(&id, "webhook")?).await?;
    let secret = state.secrets.open(&row.secret_enc)?;
    Ok(envelope(
        StatusCode::OK,
        WebhookOut::from_row(row, Some(secret)),
    ))
}

pub async fn update(
    caller: Caller,
    state: web::Data<AppState>,
    id: web::Path<String>,
    body: ApiJson<WebhookIn>,
) -> ApiResult {
    let ws = caller.workspace(Scope::Webhooks)?.id;
    let id = path_id(&id, "webhook")?;
    let input = body.value;
    if input.secret.is_some() {
        return Err(ApiError::unprocessable(
            "secret",
            "the secret cannot be changed with PATCH; use POST /api/v1/webhooks/{id}/rotate-secret",
        ));
    }
    let current = load(&state, ws, id).await?;
    let known = known_types(&state).await?;
    let settings = settings_from_input(
        &input,
        Some(&current),
        &known,
        state.config.allow_http,
        &state.config.signature_header,
    )?;
    let row = state
        .db
        .write(move |c| {
            if !hooks::update_webhook(c, ws, id, &settings)? {
                return Ok(None);
            }
            hooks::get_webhook(c, ws, id)
        })
        .await?
        .ok_or_else(|| ApiError::not_found("webhook"))?;
    state.wake.notify_one();
    Ok(envelope(StatusCode::OK, WebhookOut::from_row(row, None)))
}

pub async fn delete(
    caller: Caller,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> ApiResult {
    let ws = caller.workspace(Scope::Webhooks)?.id;
    let id = path_id(&id, "webhook")?;
    if !state
        .db
        .write(move |c| hooks::delete_webhook(c, ws, id))
        .await?
    {
        return Err(ApiError::not_found("webhook"));
    }
    Ok(envelope(
        StatusCode::OK,
        serde_json::json!({ "id": id, "deleted": true }),
    ))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RotateIn {
    pub secret: Option<String>,
}

pub async fn rotate_secret(
    caller: Caller,
    state: web::Data<AppState>,
    id: web::Path<String>,
    body: web::Bytes,
) -> ApiResult {
    let ws = caller.workspace(Scope::Webhooks)?.id;
    let id = path_id(&id, "webhook")?;
    let input: RotateIn = if body.iter().all(|b| b.is_ascii_whitespace()) {
        RotateIn::default()
    } else {
        super::extract::parse_json(&body)?
    };
    let secret = match input
        .secret
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        Some(s) => WebhookSecret::parse(s)?,
        None => WebhookSecret::generate(),
    };
    let sealed = state.secrets.seal(secret.as_str());
    let expires = now_ms() + ROTATION_OVERLAP_MS;
    if !state
        .db
        .write(move |c| hooks::rotate_secret(c, ws, id, &sealed, expires))
        .await?
    {
        return Err(ApiError::not_found("webhook"));
    }
    Ok(envelope(
        StatusCode::OK,
        serde_json::json!({ "id": id, "secret": secret.as_str(), "previous_secret_expires_at": rfc3339(expires) }),
    ))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct TestIn {
    /// Send this event type's example payload instead of a `webhook.test` event.
    pub event_type: Option<String>,
}

/// `POST /webhooks/{id}/test`: sends one event to this webhook now and answers with the
/// attempt's outcome. The test is recorded like any delivery but never retried.
pub async fn send_test(
    caller: Caller,
    state: web::Data<AppState>,
    id: web::Path<String>,
    body: web::Bytes,
) -> ApiResult {
    let ws = caller.workspace(Scope::Webhooks)?.id;
    let id = path_id(&id, "webhook")?;
    let input: TestIn = if body.iter().all(|b| b.is_ascii_whitespace()) {
        TestIn::default()
    } else {
        super::extract::parse_json(&body)?
    };
    let outcome = run_test(&state, ws, id, input.event_type.as_deref()).await?;
    Ok(envelope(StatusCode::OK, outcome))
}

#[derive(Serialize)]
pub struct TestOutcome {
    pub event_id: String,
    pub event_type: String,
    #[serde(flatten)]
    pub attempt: crate::delivery::engine::AttemptSummary,
}

/// Shared by the API and the UI's Send Test button.
pub async fn run_test(
    state: &AppState,
    ws: i64,
    webhook_id: i64,
    event_type: Option<&str>,
) -> Result<TestOutcome, ApiError> {
    load(state, ws, webhook_id).await?;
    let (event_type, data) = match event_type.map(str::trim).filter(|t| !t.is_empty()) {
        Some(t) => {
            let name = t.to_string();
            let row = state
                .db
                .read(move |c| repo::event_type_by_name(c, &name))
                .await?
                .ok_or_else(|| ApiError::unprocessable("event_type", format!("unknown event type '{t}'")))?;
            (row.name, row.example.unwrap_or_else(|| "{}".into()))
        }
        None => (
            "webhook.test".to_string(),
            serde_json::json!({ "message": "This is a test event from Hookline.", "webhook_id": webhook_id }).to_string(),
        ),
    };
    let public_id = super::events::new_event_id();
    let created_at = now_ms();
    let payload = super::events::event_body(&public_id, &event_type, created_at, &data);
    let (pid, et) = (public_id.clone(), event_type.clone());
    let (event_id, delivery_id) = state
        .db
        .write(move |c| {
            hooks::insert_test_event(
                c,
                ws,
                webhook_id,
                &hooks::NewEvent {
                    public_id: &pid,
                    event_type: &et,
                    body: &payload,
                    created_at,
                },
            )
        })
        .await?;
    let attempt = state
        .engine
        .attempt_now(delivery_id, webhook_id, event_id)
        .await?;
    Ok(TestOutcome {
        event_id: public_id,
        event_type,
        attempt,
    })
}
