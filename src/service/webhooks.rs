//! Webhooks: create, read, change, switch on and off, delete, rotate or show the secret, and
//! Send Test. The API and the UI both come here, so they accept the same input and say the
//! same things.

use crate::clock::now_ms;
use crate::delivery::engine::AttemptSummary;
use crate::domain::event::{event_body, new_event_id};
use crate::domain::{
    PlanRefusal, ValidationError, ValidationErrors, WebhookDraft, WebhookRules, WebhookSecret,
};
use crate::state::AppState;
use crate::store::types::{TestEvent, WebhookRow};

use super::{Actor, ServiceError, ServiceResult};

impl From<PlanRefusal> for ServiceError {
    fn from(r: PlanRefusal) -> Self {
        match r {
            PlanRefusal::Disabled => ServiceError::FeatureDisabled(
                "webhooks are not included in this workspace's plan, so they cannot be added, changed or removed; \
                 existing webhooks keep delivering. Upgrade the plan to enable them"
                    .into(),
            ),
            PlanRefusal::Limit(max) => ServiceError::LimitReached {
                field: "max_webhooks",
                message: format!(
                    "this workspace's plan allows at most {max} webhook{}; delete one first or raise the plan's max_webhooks",
                    if max == 1 { "" } else { "s" }
                ),
            },
        }
    }
}

/// Fails with the plan's refusal, if any (for changes that do not add a webhook).
async fn check_plan(state: &AppState, ws: i64) -> ServiceResult<()> {
    match state.store.webhook_plan(ws).await? {
        Some(r) => Err(r.into()),
        None => Ok(()),
    }
}

/// How long a rotated-out secret keeps signing.
pub const ROTATION_OVERLAP_MS: i64 = 24 * 3600 * 1000;

/// The names of the defined event types, which webhooks may subscribe to.
pub async fn known_event_types(state: &AppState) -> ServiceResult<Vec<String>> {
    Ok(state
        .store
        .event_types_all()
        .await?
        .into_iter()
        .map(|t| t.name)
        .collect())
}

fn rules<'a>(state: &'a AppState, known: &'a [String]) -> WebhookRules<'a> {
    WebhookRules {
        known_event_types: known,
        allow_http: state.config.allow_http,
        signature_header: &state.config.signature_header,
    }
}

/// One webhook of the workspace.
pub async fn get(state: &AppState, ws: i64, id: i64) -> ServiceResult<WebhookRow> {
    state
        .store
        .webhook_get(ws, id)
        .await?
        .ok_or(ServiceError::NotFound("webhook"))
}

/// One webhook with its current signing secret, opened.
pub async fn get_with_secret(
    state: &AppState,
    ws: i64,
    id: i64,
) -> ServiceResult<(WebhookRow, String)> {
    let row = get(state, ws, id).await?;
    let secret = state.secrets.open(&row.secret_enc)?;
    Ok((row, secret))
}

/// A page of the workspace's webhooks, oldest first, with ids above `after`.
pub async fn list(
    state: &AppState,
    ws: i64,
    after: i64,
    limit: usize,
) -> ServiceResult<Vec<WebhookRow>> {
    Ok(state.store.webhooks_page(ws, after, limit).await?)
}

/// Checks `draft` (with every field's problem at once) and, unless `own_secret` is given,
/// generates the signing secret; stores the webhook. Returns it with its secret.
pub async fn create(
    state: &AppState,
    ws: i64,
    draft: &WebhookDraft,
    own_secret: Option<&str>,
    by: &Actor,
) -> ServiceResult<(WebhookRow, WebhookSecret)> {
    check_plan(state, ws).await?;
    let known = known_event_types(state).await?;
    let parsed = draft.parse(None, &rules(state, &known));
    let secret = match own_secret.map(str::trim) {
        None => Ok(WebhookSecret::generate()),
        Some("") => Err(ValidationError::new(
            "secret",
            "enter your own secret (whsec_ followed by base64), or leave it out to have one generated",
        )),
        Some(s) => WebhookSecret::parse(s),
    };
    let (settings, secret) = match (parsed, secret) {
        (Ok(settings), Ok(secret)) => (settings, secret),
        (parsed, secret) => {
            let mut errors = parsed.err().unwrap_or_default();
            if let Err(e) = secret {
                errors.push(e);
            }
            return Err(errors.into());
        }
    };
    let sealed = state.secrets.seal(secret.as_str());
    let by = by.0.clone();
    let row = state
        .store
        .webhook_create(ws, settings, sealed, by)
        .await??;
    Ok((row, secret))
}

/// Changes what `draft` carries; the rest keeps its stored value.
pub async fn update(
    state: &AppState,
    ws: i64,
    id: i64,
    draft: &WebhookDraft,
    by: &Actor,
) -> ServiceResult<WebhookRow> {
    check_plan(state, ws).await?;
    let current = get(state, ws, id).await?;
    let known = known_event_types(state).await?;
    let settings = draft.parse(Some(&current.settings()), &rules(state, &known))?;
    save(state, ws, id, settings, by).await
}

/// Turns the webhook on or off; nothing else changes (also when its stored settings would
/// no longer pass today's checks, e.g. an event type was archived).
pub async fn set_active(
    state: &AppState,
    ws: i64,
    id: i64,
    on: bool,
    by: &Actor,
) -> ServiceResult<WebhookRow> {
    check_plan(state, ws).await?;
    let mut settings = get(state, ws, id).await?.settings();
    settings.is_active = on;
    save(state, ws, id, settings, by).await
}

async fn save(
    state: &AppState,
    ws: i64,
    id: i64,
    settings: crate::domain::WebhookSettings,
    by: &Actor,
) -> ServiceResult<WebhookRow> {
    let by = by.0.clone();
    let row = state
        .store
        .webhook_save(ws, id, settings, by)
        .await?
        .ok_or(ServiceError::NotFound("webhook"))?;
    // The engine picks up the new version (or drops a webhook switched off).
    state.wake.notify_one();
    Ok(row)
}

/// Deletes the webhook and its delivery history; returns what it was.
pub async fn delete(state: &AppState, ws: i64, id: i64) -> ServiceResult<WebhookRow> {
    check_plan(state, ws).await?;
    let row = get(state, ws, id).await?;
    if !state.store.webhook_delete(ws, id).await? {
        return Err(ServiceError::NotFound("webhook"));
    }
    // The engine drops it (claim rounds look again after a wake).
    state.wake.notify_one();
    Ok(row)
}

/// A new signing secret and until when the previous one keeps signing.
pub struct Rotated {
    pub secret: WebhookSecret,
    pub previous_expires_at: i64,
}

/// Installs a new secret (`own`, or a generated one); the previous one keeps signing beside
/// it for [`ROTATION_OVERLAP_MS`].
pub async fn rotate_secret(
    state: &AppState,
    ws: i64,
    id: i64,
    own: Option<&str>,
    by: &Actor,
) -> ServiceResult<Rotated> {
    check_plan(state, ws).await?;
    let secret = match own.map(str::trim).filter(|s| !s.is_empty()) {
        Some(s) => WebhookSecret::parse(s)?,
        None => WebhookSecret::generate(),
    };
    let sealed = state.secrets.seal(secret.as_str());
    let expires = now_ms() + ROTATION_OVERLAP_MS;
    let by = by.0.clone();
    if !state
        .store
        .webhook_rotate(ws, id, sealed, expires, by)
        .await?
    {
        return Err(ServiceError::NotFound("webhook"));
    }
    // The engine picks up the new secret.
    state.wake.notify_one();
    Ok(Rotated {
        secret,
        previous_expires_at: expires,
    })
}

/// What Send Test did.
pub struct TestSent {
    pub event_id: String,
    pub event_type: String,
    pub attempt: AttemptSummary,
}

/// The event type Send Test sends when none is chosen.
pub const TEST_EVENT_TYPE: &str = "webhook.test";

/// Sends one event to the webhook now (`event_type`'s example payload, or a `webhook.test`
/// event) and waits for the attempt. It is recorded like any delivery and never retried.
pub async fn send_test(
    state: &AppState,
    ws: i64,
    webhook_id: i64,
    event_type: Option<&str>,
) -> ServiceResult<TestSent> {
    check_plan(state, ws).await?;
    get(state, ws, webhook_id).await?;
    let chosen = event_type
        .map(str::trim)
        .filter(|t| !t.is_empty() && *t != TEST_EVENT_TYPE);
    let (event_type, data) = match chosen {
        Some(t) => {
            let row = state
                .store
                .event_type_by_name(t)
                .await?
                .ok_or_else(|| {
                    ValidationErrors::from(ValidationError::new(
                        "event_type",
                        format!("unknown event type '{t}'"),
                    ))
                })?;
            (row.name, row.example.unwrap_or_else(|| "{}".into()))
        }
        None => (
            TEST_EVENT_TYPE.to_string(),
            serde_json::json!({ "message": "This is a test event from Hookline.", "webhook_id": webhook_id })
                .to_string(),
        ),
    };
    let created_at = now_ms();
    let public_id = new_event_id(created_at);
    let payload = event_body(&public_id, &event_type, created_at, &data);
    let (event_id, delivery_id) = state
        .store
        .enqueue_test(
            ws,
            webhook_id,
            TestEvent {
                public_id: public_id.clone(),
                event_type: event_type.clone(),
                body: payload,
                created_at,
            },
        )
        .await?;
    let attempt = state
        .engine
        .attempt_now(delivery_id, webhook_id, event_id)
        .await?;
    Ok(TestSent {
        event_id: public_id,
        event_type,
        attempt,
    })
}
