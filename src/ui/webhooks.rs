//! Settings → Webhooks: the list, the add/edit form, the webhook page (Active switch, Send
//! Test, secret, Rotate, Delete). Validation and Send Test reuse the API's code, so the UI
//! and the API accept the same input and say the same things.

use std::collections::BTreeMap;

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use serde::Deserialize;

use super::flash::{self, Flash, TestResult};
use super::form::{Errors, FormData, Post};
use super::workspace::WsCtx;
use super::{path_id, render, render_status, truncate, Chrome, Ts, UiError, Visitor};
use crate::clock::now_ms;
use crate::domain::webhook::{self as wh, DEFAULT_RETRY_SCHEDULE};
use crate::domain::{ValidationError, ValidationErrors, WebhookDraft};
use crate::service::{webhooks, ServiceError};
use crate::state::AppState;
use crate::store::types::{EventTypeRow, WebhookRow};

/// Seed 001's schedule: ten tries, every 6 minutes.
pub const EVERY_6_MINUTES: [u32; 9] = [360; 9];
const PAGE_SIZE: usize = 50;

// ---------- view models ----------

/// A webhook as the pages show it.
pub struct WebhookView {
    pub id: i64,
    pub name: String,
    pub title: String,
    pub description: String,
    pub url: String,
    pub events_all: bool,
    pub events: Vec<String>,
    pub is_active: bool,
    pub headers: Vec<(String, String)>,
    pub schedule: String,
    pub timeout_seconds: u32,
    pub notification_email: Option<String>,
    pub disabled_reason: Option<String>,
    pub last_triggered: Option<Ts>,
    pub last_success: Option<Ts>,
    pub last_failure: Option<Ts>,
    pub failure_count: i64,
    pub created: Ts,
    pub updated: Ts,
    pub previous_secret_until: Option<Ts>,
    /// Who made the last change ("changed by").
    pub changed_by: Option<String>,
}

impl WebhookView {
    pub fn from_row(r: &WebhookRow) -> WebhookView {
        let now = now_ms();
        WebhookView {
            id: r.id,
            name: r.name.clone(),
            title: title_of(r),
            description: r.description.clone(),
            url: r.url.clone(),
            events_all: r.events.iter().any(|e| e == "*"),
            events: r.events.clone(),
            is_active: r.is_active,
            headers: r
                .headers
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            schedule: describe_schedule(&r.retry_schedule),
            timeout_seconds: r.timeout_seconds,
            notification_email: r.notification_email.clone(),
            disabled_reason: r.disabled_reason.clone(),
            last_triggered: Ts::opt(r.last_triggered_at),
            last_success: Ts::opt(r.last_success_at),
            last_failure: Ts::opt(r.last_failure_at),
            failure_count: r.failure_count,
            created: Ts::new(r.created_at),
            updated: Ts::new(r.updated_at),
            previous_secret_until: r
                .previous_secret_expires_at
                .filter(|t| *t > now && r.previous_secret_enc.is_some())
                .map(Ts::new),
            changed_by: r.changed_by.clone(),
        }
    }
}

/// What a webhook is called on pages: its name, or its URL when it has none.
pub fn title_of(r: &WebhookRow) -> String {
    if r.name.trim().is_empty() {
        r.url.clone()
    } else {
        r.name.clone()
    }
}

fn human_seconds(s: u32) -> String {
    if s >= 3600 && s.is_multiple_of(3600) {
        format!("{} h", s / 3600)
    } else if s >= 60 && s.is_multiple_of(60) {
        format!("{} min", s / 60)
    } else {
        format!("{s} s")
    }
}

/// `5 attempts: now, then after 1 min, 5 min, 30 min, 2 h`.
pub fn describe_schedule(steps: &[u32]) -> String {
    if steps.is_empty() {
        return "1 attempt, no retries".into();
    }
    let parts: Vec<String> = steps.iter().map(|s| human_seconds(*s)).collect();
    format!(
        "{} attempts: now, then after {}",
        steps.len() + 1,
        parts.join(", ")
    )
}

pub struct ListRow {
    pub id: i64,
    pub title: String,
    pub url: String,
    pub events: String,
    pub is_active: bool,
    pub disabled_reason: Option<String>,
    pub last_status: Option<String>,
    pub last_code: Option<i64>,
    pub failure_count: i64,
}

fn events_summary(events: &[String]) -> String {
    if events.iter().any(|e| e == "*") {
        return "All events".into();
    }
    match events.len() {
        0..=3 => events.join(", "),
        n => format!("{}, +{} more", events[..2].join(", "), n - 2),
    }
}

/// One checkbox of the events fieldset.
pub struct EventChoice {
    pub name: String,
    pub description: String,
    pub checked: bool,
}

/// The add/edit form as the user filled it in (kept as typed when it is shown again).
#[derive(Debug, Clone)]
pub struct WebhookForm {
    pub url: String,
    pub name: String,
    pub description: String,
    pub events_all: bool,
    pub events: Vec<String>,
    pub secret_own: bool,
    pub secret: String,
    pub headers: Vec<(String, String)>,
    pub retry_preset: String,
    pub retry_custom: String,
    pub timeout: String,
    pub notification_email: String,
}

impl WebhookForm {
    fn blank() -> WebhookForm {
        WebhookForm {
            url: String::new(),
            name: String::new(),
            description: String::new(),
            events_all: true,
            events: vec![],
            secret_own: false,
            secret: String::new(),
            headers: vec![],
            retry_preset: "default".into(),
            retry_custom: String::new(),
            timeout: wh::DEFAULT_TIMEOUT.to_string(),
            notification_email: String::new(),
        }
        .with_spare_rows()
    }

    fn from_row(r: &WebhookRow) -> WebhookForm {
        let preset = if r.retry_schedule == DEFAULT_RETRY_SCHEDULE {
            "default"
        } else if r.retry_schedule == EVERY_6_MINUTES {
            "every6"
        } else {
            "custom"
        };
        WebhookForm {
            url: r.url.clone(),
            name: r.name.clone(),
            description: r.description.clone(),
            events_all: r.events.iter().any(|e| e == "*"),
            events: r.events.iter().filter(|e| *e != "*").cloned().collect(),
            secret_own: false,
            secret: String::new(),
            headers: r
                .headers
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            retry_preset: preset.into(),
            retry_custom: r
                .retry_schedule
                .iter()
                .map(|s| s.to_string())
                .collect::<Vec<_>>()
                .join(", "),
            timeout: r.timeout_seconds.to_string(),
            notification_email: r.notification_email.clone().unwrap_or_default(),
        }
        .with_spare_rows()
    }

    fn from_post(f: &FormData) -> WebhookForm {
        let names = f.all("header_name");
        let values = f.all("header_value");
        let headers = names
            .into_iter()
            .zip(values.into_iter().chain(std::iter::repeat(String::new())))
            .filter(|(n, v)| !(n.trim().is_empty() && v.trim().is_empty()))
            .collect();
        let preset = match f.get("retry_preset") {
            p @ ("every6" | "custom") => p,
            _ => "default",
        };
        WebhookForm {
            url: f.get("url").to_string(),
            name: f.get("name").to_string(),
            description: f.get("description").to_string(),
            events_all: f.get("events_mode") != "chosen",
            events: f.all("events"),
            secret_own: f.get("secret_mode") == "own",
            secret: f.get("secret").trim().to_string(),
            headers,
            retry_preset: preset.into(),
            retry_custom: f.get("retry_custom").to_string(),
            timeout: f.get("timeout_seconds").to_string(),
            notification_email: f.get("notification_email").to_string(),
        }
        .with_spare_rows()
    }

    /// Without JavaScript there is no "add a row" button: always offer empty rows.
    fn with_spare_rows(mut self) -> WebhookForm {
        let spare = if self.headers.is_empty() { 3 } else { 2 };
        for _ in 0..spare {
            self.headers.push((String::new(), String::new()));
        }
        self
    }

    pub fn is_preset(&self, p: &str) -> bool {
        self.retry_preset == p
    }

    /// The form as a [`WebhookDraft`]. What cannot be read at all (a timeout that is not a
    /// number, one header named twice, retries that are not numbers) goes into its
    /// `unreadable` problems, so the domain's checks still run on everything else.
    fn draft(&self) -> WebhookDraft {
        let mut unreadable = ValidationErrors::default();
        let mut headers = BTreeMap::new();
        for (n, v) in &self.headers {
            if n.trim().is_empty() && v.trim().is_empty() {
                continue;
            }
            if headers.insert(n.trim().to_string(), v.clone()).is_some() {
                unreadable.push(ValidationError::new(
                    "headers",
                    format!("{}: the same header is given twice", n.trim()),
                ));
            }
        }
        let retry_schedule = match self.retry_preset.as_str() {
            "every6" => Some(EVERY_6_MINUTES.iter().map(|&s| s as i64).collect()),
            "custom" => match parse_seconds_list(&self.retry_custom) {
                Ok(v) => Some(v),
                Err(e) => {
                    unreadable.push(e);
                    Some(DEFAULT_RETRY_SCHEDULE.iter().map(|&s| s as i64).collect())
                }
            },
            _ => Some(DEFAULT_RETRY_SCHEDULE.iter().map(|&s| s as i64).collect()),
        };
        let t = self.timeout.trim();
        let timeout_seconds = match t.parse::<i64>() {
            _ if t.is_empty() => None,
            Ok(n) => Some(n),
            Err(_) => {
                unreadable.push(ValidationError::new(
                    "timeout_seconds",
                    "use a timeout from 1 to 60 seconds",
                ));
                None
            }
        };
        WebhookDraft {
            url: Some(self.url.clone()),
            events: Some(if self.events_all {
                vec!["*".to_string()]
            } else {
                self.events.clone()
            }),
            name: Some(self.name.clone()),
            description: Some(self.description.clone()),
            is_active: None,
            headers: Some(headers),
            retry_count: None,
            retry_schedule,
            timeout_seconds,
            notification_email: Some(Some(self.notification_email.clone())),
            unreadable,
        }
    }
}

/// Every problem of a submitted form, each by the form field that shows it.
fn form_errors(errors: ValidationErrors) -> Errors {
    let mut out = Errors::default();
    for e in errors {
        let (field, message) = field_of(e);
        out.add(field, message);
    }
    out
}

/// `60, 300, 1800` → seconds between attempts.
fn parse_seconds_list(s: &str) -> Result<Vec<i64>, ValidationError> {
    s.split(|c: char| c == ',' || c.is_whitespace())
        .filter(|p| !p.is_empty())
        .map(|p| {
            p.parse::<i64>().map_err(|_| {
                ValidationError::new(
                    "retry_schedule",
                    format!("'{p}' is not a whole number of seconds; write the seconds to wait before each retry, separated by commas, e.g. 60, 300, 1800"),
                )
            })
        })
        .collect()
}

/// Maps an API field name to the form field that shows its error.
fn field_of(e: ValidationError) -> (String, String) {
    if let Some(name) = e.field.strip_prefix("headers.") {
        let msg = if e.message.contains(name) || name.is_empty() {
            e.message
        } else {
            format!("{name}: {}", e.message)
        };
        return ("headers".into(), msg);
    }
    if let Some(rest) = e.field.strip_prefix("retry_schedule[") {
        let step = rest
            .trim_end_matches(']')
            .parse::<usize>()
            .map(|i| i + 1)
            .unwrap_or(0);
        return (
            "retry_schedule".into(),
            format!("step {step}: {}", e.message),
        );
    }
    if e.field == "retry_count" {
        return ("retry_schedule".into(), e.message);
    }
    (e.field, e.message)
}

// ---------- pages ----------

#[derive(Template)]
#[template(path = "ws/webhooks.html")]
struct ListPage {
    chrome: Chrome,
    base: String,
    can_manage: bool,
    rows: Vec<ListRow>,
    next: Option<String>,
    first_page: bool,
}

#[derive(Template)]
#[template(path = "ws/webhook_form.html")]
struct FormPage {
    chrome: Chrome,
    base: String,
    /// `Some((id, title))` when editing.
    editing: Option<(i64, String)>,
    action: String,
    form: WebhookForm,
    errors: Errors,
    event_types: Vec<EventChoice>,
}

#[derive(Template)]
#[template(path = "ws/webhook.html")]
struct ShowPage {
    chrome: Chrome,
    base: String,
    can_manage: bool,
    w: WebhookView,
    /// The secret to show now, and whether it was just rotated.
    secret: Option<(String, bool)>,
    test: Option<TestResult>,
    test_types: Vec<String>,
    signature_header: String,
    chart: super::chart::Chart,
}

#[derive(Deserialize)]
pub struct ShowQuery {
    window: Option<String>,
}

#[derive(Template)]
#[template(path = "ws/webhook_delete.html")]
struct DeletePage {
    chrome: Chrome,
    base: String,
    w: WebhookView,
}

#[derive(Deserialize)]
pub struct AfterQuery {
    after: Option<String>,
}

pub async fn list(
    state: web::Data<AppState>,
    user: Visitor,
    slug: web::Path<String>,
    q: web::Query<AfterQuery>,
    req: HttpRequest,
) -> Result<HttpResponse, UiError> {
    let ctx = WsCtx::load(&state, user, &slug).await?;
    let ws = ctx.id();
    // A malformed position is just the first page.
    let after = q
        .after
        .as_deref()
        .and_then(|a| a.parse::<i64>().ok())
        .unwrap_or(0)
        .max(0);
    let (mut rows, last) = state
        .store
        .webhooks_with_last_delivery(ws, after, PAGE_SIZE + 1)
        .await?;
    let next = (rows.len() > PAGE_SIZE).then(|| {
        rows.truncate(PAGE_SIZE);
        format!(
            "{}?after={}",
            ctx.path("/webhooks"),
            rows.last().map(|r| r.id).unwrap_or(0)
        )
    });
    let rows = rows
        .iter()
        .map(|r| {
            let l = last.get(&r.id);
            ListRow {
                id: r.id,
                title: title_of(r),
                url: r.url.clone(),
                events: events_summary(&r.events),
                is_active: r.is_active,
                disabled_reason: r.disabled_reason.clone(),
                last_status: l.map(|l| l.0.clone()),
                last_code: l.and_then(|l| l.1),
                failure_count: r.failure_count,
            }
        })
        .collect();
    let fl = flash::take(&req, &state);
    let mut chrome = ctx.chrome("webhooks");
    chrome.notice = flash::notice_of(&fl);
    let page = ListPage {
        chrome,
        base: ctx.path(""),
        can_manage: ctx.can_change_webhooks(),
        rows,
        next,
        first_page: after == 0,
    };
    Ok(flash::finish(render(&page), &state, fl.is_some()))
}

async fn event_types(state: &AppState) -> Result<Vec<EventTypeRow>, UiError> {
    Ok(state.store.event_types_all().await?)
}

fn choices(types: &[EventTypeRow], form: &WebhookForm) -> Vec<EventChoice> {
    let mut out: Vec<EventChoice> = types
        .iter()
        .map(|t| EventChoice {
            name: t.name.clone(),
            description: t.description.clone(),
            checked: form.events.contains(&t.name),
        })
        .collect();
    // Keep chosen names that are not (or no longer) defined, so nothing is silently dropped.
    for e in &form.events {
        if !types.iter().any(|t| &t.name == e) {
            out.push(EventChoice {
                name: e.clone(),
                description: "(not a defined event type)".into(),
                checked: true,
            });
        }
    }
    out
}

fn form_page(
    ctx: &WsCtx,
    editing: Option<&WebhookRow>,
    form: WebhookForm,
    errors: Errors,
    types: &[EventTypeRow],
) -> FormPage {
    let action = match editing {
        Some(r) => ctx.path(&format!("/webhooks/{}/edit", r.id)),
        None => ctx.path("/webhooks"),
    };
    FormPage {
        chrome: ctx.chrome("webhooks"),
        base: ctx.path(""),
        editing: editing.map(|r| (r.id, title_of(r))),
        action,
        event_types: choices(types, &form),
        form,
        errors,
    }
}

pub async fn new_form(
    state: web::Data<AppState>,
    user: Visitor,
    slug: web::Path<String>,
) -> Result<HttpResponse, UiError> {
    let ctx = WsCtx::load(&state, user, &slug).await?;
    ctx.require_manage()?;
    let types = event_types(&state).await?;
    Ok(render(&form_page(
        &ctx,
        None,
        WebhookForm::blank(),
        Errors::default(),
        &types,
    )))
}

pub async fn create(
    state: web::Data<AppState>,
    post: Post<Visitor>,
    slug: web::Path<String>,
) -> Result<HttpResponse, UiError> {
    let ctx = WsCtx::load(&state, post.user, &slug).await?;
    ctx.require_manage()?;
    let form = WebhookForm::from_post(&post.form);
    let own = form.secret_own.then_some(form.secret.as_str());
    let (row, secret) =
        match webhooks::create(&state, ctx.id(), &form.draft(), own, &ctx.actor(&state)).await {
            Ok(created) => created,
            Err(ServiceError::Invalid(errors)) => {
                let types = event_types(&state).await?;
                return Ok(render_status(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    &form_page(&ctx, None, form, form_errors(errors), &types),
                ));
            }
            Err(e) => return Err(e.into()),
        };
    let id = row.id;
    tracing::info!(
        webhook_id = id,
        workspace = %ctx.ws.slug,
        user = %ctx.who(),
        "webhook created in the UI"
    );
    Ok(flash::redirect_with(
        &state,
        &ctx.path(&format!("/webhooks/{id}")),
        Flash::Secret {
            webhook_id: id,
            secret: secret.as_str().to_string(),
            rotated: false,
        },
    ))
}

async fn load(state: &AppState, ctx: &WsCtx, id: i64) -> Result<WebhookRow, UiError> {
    Ok(webhooks::get(state, ctx.id(), id).await?)
}

pub async fn show(
    req: HttpRequest,
    state: web::Data<AppState>,
    user: Visitor,
    path: web::Path<(String, String)>,
    q: web::Query<ShowQuery>,
) -> Result<HttpResponse, UiError> {
    let (slug, id) = path.into_inner();
    let id = path_id(&id)?;
    let ctx = WsCtx::load(&state, user, &slug).await?;
    let row = load(&state, &ctx, id).await?;
    let types = event_types(&state).await?;
    let window = crate::service::stats::Window::parse(q.window.as_deref())
        .map_err(|e| UiError::BadRequest(format!("Chart: {}", e.message)))?;
    let health = crate::service::stats::health(&state, ctx.id(), id, window).await?;
    let fl = flash::take(&req, &state);
    let mut chrome = ctx.chrome("webhooks");
    chrome.notice = flash::notice_of(&fl);
    let (secret, test) = match &fl {
        Some(Flash::Secret {
            webhook_id,
            secret,
            rotated,
        }) if *webhook_id == id && ctx.can_change_webhooks() => {
            (Some((secret.clone(), *rotated)), None)
        }
        Some(Flash::Test(t)) if t.webhook_id == id => (None, Some(t.clone())),
        _ => (None, None),
    };
    let page = ShowPage {
        chrome,
        base: ctx.path(""),
        can_manage: ctx.can_change_webhooks(),
        w: WebhookView::from_row(&row),
        secret,
        test,
        test_types: types.into_iter().map(|t| t.name).collect(),
        signature_header: state.config.signature_header.clone(),
        chart: super::chart::Chart::new(&health),
    };
    Ok(flash::finish(render(&page), &state, fl.is_some()))
}

pub async fn edit_form(
    state: web::Data<AppState>,
    user: Visitor,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, UiError> {
    let (slug, id) = path.into_inner();
    let id = path_id(&id)?;
    let ctx = WsCtx::load(&state, user, &slug).await?;
    let row = load(&state, &ctx, id).await?;
    ctx.require_manage()?;
    let types = event_types(&state).await?;
    let form = WebhookForm::from_row(&row);
    Ok(render(&form_page(
        &ctx,
        Some(&row),
        form,
        Errors::default(),
        &types,
    )))
}

pub async fn update(
    state: web::Data<AppState>,
    post: Post<Visitor>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, UiError> {
    let (slug, id) = path.into_inner();
    let id = path_id(&id)?;
    let ctx = WsCtx::load(&state, post.user, &slug).await?;
    let row = load(&state, &ctx, id).await?;
    ctx.require_manage()?;
    let form = WebhookForm::from_post(&post.form);
    match webhooks::update(&state, ctx.id(), id, &form.draft(), &ctx.actor(&state)).await {
        Ok(_) => {}
        Err(ServiceError::Invalid(errors)) => {
            let types = event_types(&state).await?;
            return Ok(render_status(
                StatusCode::UNPROCESSABLE_ENTITY,
                &form_page(&ctx, Some(&row), form, form_errors(errors), &types),
            ));
        }
        Err(e) => return Err(e.into()),
    }
    Ok(flash::redirect_with(
        &state,
        &ctx.path(&format!("/webhooks/{id}")),
        Flash::Notice("Webhook saved.".into()),
    ))
}

/// The Active switch: a form whose button turns the webhook on or off.
pub async fn set_active(
    state: web::Data<AppState>,
    post: Post<Visitor>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, UiError> {
    let (slug, id) = path.into_inner();
    let id = path_id(&id)?;
    let ctx = WsCtx::load(&state, post.user, &slug).await?;
    load(&state, &ctx, id).await?;
    ctx.require_manage()?;
    let on = match post.form.get("active") {
        "true" => true,
        "false" => false,
        _ => {
            return Err(UiError::BadRequest(
                "Send active=true or active=false.".into(),
            ))
        }
    };
    webhooks::set_active(&state, ctx.id(), id, on, &ctx.actor(&state)).await?;
    let msg = if on {
        "Webhook turned on: new events are delivered to it again."
    } else {
        "Webhook turned off: no new events are delivered to it until you turn it on again."
    };
    let back = match post.form.get("back") {
        "list" => ctx.path("/webhooks"),
        _ => ctx.path(&format!("/webhooks/{id}")),
    };
    Ok(flash::redirect_with(
        &state,
        &back,
        Flash::Notice(msg.into()),
    ))
}

pub async fn send_test(
    state: web::Data<AppState>,
    post: Post<Visitor>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, UiError> {
    let (slug, id) = path.into_inner();
    let id = path_id(&id)?;
    let ctx = WsCtx::load(&state, post.user, &slug).await?;
    load(&state, &ctx, id).await?;
    ctx.require_manage()?;
    let event_type =
        Some(post.form.get("event_type").trim()).filter(|t| !t.is_empty() && *t != "webhook.test");
    let back = ctx.path(&format!("/webhooks/{id}"));
    let flash = match webhooks::send_test(&state, ctx.id(), id, event_type).await {
        Ok(o) => Flash::Test(TestResult {
            webhook_id: id,
            delivery_id: o.attempt.delivery_id,
            event_type: o.event_type,
            success: o.attempt.success,
            response_status: o.attempt.response_status,
            duration_ms: o.attempt.duration_ms,
            error: o.attempt.error.map(|e| truncate(&e, 300)),
            response_body: truncate(&o.attempt.response_body, 500),
        }),
        Err(ServiceError::Invalid(errors)) => Flash::Error(format!(
            "The test was not sent: {}",
            errors.first().map(|e| e.message.as_str()).unwrap_or("")
        )),
        Err(e) => return Err(e.into()),
    };
    Ok(flash::redirect_with(&state, &back, flash))
}

pub async fn rotate(
    state: web::Data<AppState>,
    post: Post<Visitor>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, UiError> {
    let (slug, id) = path.into_inner();
    let id = path_id(&id)?;
    let ctx = WsCtx::load(&state, post.user, &slug).await?;
    load(&state, &ctx, id).await?;
    ctx.require_manage()?;
    let rotated = webhooks::rotate_secret(&state, ctx.id(), id, None, &ctx.actor(&state)).await?;
    Ok(flash::redirect_with(
        &state,
        &ctx.path(&format!("/webhooks/{id}")),
        Flash::Secret {
            webhook_id: id,
            secret: rotated.secret.as_str().to_string(),
            rotated: true,
        },
    ))
}

/// Shows the current secret once more (owners and admins; the API shows it too).
pub async fn reveal(
    state: web::Data<AppState>,
    post: Post<Visitor>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, UiError> {
    let (slug, id) = path.into_inner();
    let id = path_id(&id)?;
    let ctx = WsCtx::load(&state, post.user, &slug).await?;
    load(&state, &ctx, id).await?;
    ctx.require_manage()?;
    let (_, secret) = webhooks::get_with_secret(&state, ctx.id(), id).await?;
    Ok(flash::redirect_with(
        &state,
        &ctx.path(&format!("/webhooks/{id}")),
        Flash::Secret {
            webhook_id: id,
            secret,
            rotated: false,
        },
    ))
}

pub async fn delete_form(
    state: web::Data<AppState>,
    user: Visitor,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, UiError> {
    let (slug, id) = path.into_inner();
    let id = path_id(&id)?;
    let ctx = WsCtx::load(&state, user, &slug).await?;
    let row = load(&state, &ctx, id).await?;
    ctx.require_manage()?;
    Ok(render(&DeletePage {
        chrome: ctx.chrome("webhooks"),
        base: ctx.path(""),
        w: WebhookView::from_row(&row),
    }))
}

pub async fn delete(
    state: web::Data<AppState>,
    post: Post<Visitor>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, UiError> {
    let (slug, id) = path.into_inner();
    let id = path_id(&id)?;
    let ctx = WsCtx::load(&state, post.user, &slug).await?;
    load(&state, &ctx, id).await?;
    ctx.require_manage()?;
    let row = webhooks::delete(&state, ctx.id(), id).await?;
    tracing::info!(webhook_id = id, workspace = %ctx.ws.slug, user = %ctx.who(), "webhook deleted in the UI");
    Ok(flash::redirect_with(
        &state,
        &ctx.path("/webhooks"),
        Flash::Notice(format!("Webhook “{}” deleted.", title_of(&row))),
    ))
}
