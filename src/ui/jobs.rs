//! Retry failed… and Replay… on a webhook's page: a form with the time window and event
//! types, a preview of how many deliveries or events match, then the job's page with a
//! progress bar (refreshing itself while the job runs, no JavaScript needed) and Cancel.

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use askama::Template;

use super::flash::{self, Flash};
use super::form::{Errors, Post};
use super::webhooks::title_of;
use super::workspace::WsCtx;
use super::{path_id, render, render_status, Chrome, Ts, UiError, Visitor};
use crate::clock::{now_ms, rfc3339};
use crate::domain::{BulkRetryRequest, ReplayRequest};
use crate::service::{jobs, webhooks, ServiceError};
use crate::state::AppState;
use crate::store::types::{JobKind, JobRow, JobState};

#[derive(Template)]
#[template(path = "ws/job_form.html")]
struct FormPage {
    chrome: Chrome,
    base: String,
    webhook_id: i64,
    webhook_title: String,
    /// `bulk-retry` or `replay`.
    action: &'static str,
    since: String,
    until: String,
    /// Bulk retry: the one event type (or empty); replay: the chosen ones.
    event_types: Vec<String>,
    known_types: Vec<String>,
    errors: Errors,
    /// The preview: how many match now.
    matched: Option<i64>,
}

impl FormPage {
    fn is_retry(&self) -> bool {
        self.action == "bulk-retry"
    }
    fn chosen(&self, t: &str) -> bool {
        self.event_types.iter().any(|x| x == t)
    }
}

fn kind_of(action: &str) -> Result<&'static str, UiError> {
    match action {
        "bulk-retry" => Ok("bulk-retry"),
        "replay" => Ok("replay"),
        _ => Err(UiError::NotFound),
    }
}

async fn form_page(
    state: &AppState,
    ctx: &WsCtx,
    webhook: i64,
    action: &'static str,
) -> Result<FormPage, UiError> {
    let w = webhooks::get(state, ctx.id(), webhook).await?;
    let known = state.store.event_types_all().await?;
    Ok(FormPage {
        chrome: ctx.chrome("webhooks"),
        base: ctx.path(""),
        webhook_id: webhook,
        webhook_title: title_of(&w),
        action,
        since: rfc3339(now_ms() - 24 * 3_600_000),
        until: String::new(),
        event_types: Vec::new(),
        known_types: known.into_iter().map(|t| t.name).collect(),
        errors: Errors::default(),
        matched: None,
    })
}

/// `GET /w/{slug}/webhooks/{id}/bulk-retry` and `…/replay`.
pub async fn form(
    state: web::Data<AppState>,
    user: Visitor,
    path: web::Path<(String, String, String)>,
) -> Result<HttpResponse, UiError> {
    let (slug, id, action) = path.into_inner();
    let action = kind_of(&action)?;
    let ctx = WsCtx::load(&state, user, &slug).await?;
    ctx.require_manage()?;
    let page = form_page(&state, &ctx, path_id(&id)?, action).await?;
    Ok(render(&page))
}

/// `POST` of the form: `preview=1` counts; otherwise the job starts.
pub async fn start(
    state: web::Data<AppState>,
    post: Post<Visitor>,
    path: web::Path<(String, String, String)>,
) -> Result<HttpResponse, UiError> {
    let (slug, id, action) = path.into_inner();
    let action = kind_of(&action)?;
    let webhook = path_id(&id)?;
    let ctx = WsCtx::load(&state, post.user, &slug).await?;
    ctx.require_manage()?;
    let f = &post.form;
    let mut page = form_page(&state, &ctx, webhook, action).await?;
    page.since = f.get("since").trim().to_string();
    page.until = f.get("until").trim().to_string();
    page.event_types = f
        .all("event_types")
        .into_iter()
        .filter(|t| !t.trim().is_empty())
        .collect();
    let preview = !f.get("preview").is_empty();
    let now = now_ms();
    let by = ctx.actor(&state);
    // Parse first (every field's problem at once), then count or start.
    let step = if action == "bulk-retry" {
        BulkRetryRequest::parse(
            None,
            Some(&page.since),
            Some(&page.until),
            page.event_types.first().map(String::as_str),
            now,
        )
        .map(Request::Retry)
    } else {
        ReplayRequest::parse(Some(&page.since), Some(&page.until), &page.event_types, now)
            .map(Request::Replay)
    };
    let req = match step {
        Ok(req) => req,
        Err(errors) => {
            page.errors.extend(errors);
            return Ok(render_status(StatusCode::UNPROCESSABLE_ENTITY, &page));
        }
    };
    if preview {
        page.matched = Some(match &req {
            Request::Retry(r) => jobs::preview_retry(&state, ctx.id(), webhook, r).await?,
            Request::Replay(r) => jobs::preview_replay(&state, ctx.id(), webhook, r).await?,
        });
        return Ok(render(&page));
    }
    let started = match req {
        Request::Retry(r) => jobs::bulk_retry(&state, ctx.id(), webhook, r, &by).await,
        Request::Replay(r) => jobs::replay(&state, ctx.id(), webhook, r, &by).await,
    };
    match started {
        Ok(job) => Ok(flash::redirect_with(
            &state,
            &ctx.path(&format!("/jobs/{}", job.id)),
            Flash::Notice(format!(
                "Started: {} {} to go.",
                job.total,
                if action == "bulk-retry" {
                    "deliveries"
                } else {
                    "events"
                }
            )),
        )),
        Err(ServiceError::Conflict(m)) => {
            page.errors.add("since", m);
            Ok(render_status(StatusCode::CONFLICT, &page))
        }
        Err(e) => Err(e.into()),
    }
}

/// A parsed form: which job, with what.
enum Request {
    Retry(BulkRetryRequest),
    Replay(ReplayRequest),
}

#[derive(Template)]
#[template(path = "ws/job.html")]
struct JobPage {
    chrome: Chrome,
    base: String,
    can_manage: bool,
    job: JobView,
}

struct JobView {
    id: i64,
    webhook_id: i64,
    title: &'static str,
    state: &'static str,
    running: bool,
    done: i64,
    total: i64,
    percent: i64,
    since: Ts,
    until: Ts,
    event_types: String,
    created_by: String,
    created: Ts,
    finished: Option<Ts>,
    error: Option<String>,
}

impl JobView {
    fn new(j: JobRow) -> JobView {
        JobView {
            id: j.id,
            webhook_id: j.webhook_id,
            title: match j.kind {
                JobKind::BulkRetry => "Retry failed deliveries",
                JobKind::Replay => "Replay events",
            },
            state: j.state.as_str(),
            running: j.state == JobState::Running,
            done: j.done,
            total: j.total,
            percent: if j.total == 0 {
                100
            } else {
                j.done * 100 / j.total
            },
            since: Ts::new(j.params.since),
            until: Ts::new(j.params.until),
            event_types: j.params.event_types.join(", "),
            created_by: j.created_by.unwrap_or_default(),
            created: Ts::new(j.created_at),
            finished: Ts::opt(j.finished_at),
            error: j.error,
        }
    }
}

/// `GET /w/{slug}/jobs/{id}`.
pub async fn show(
    req: actix_web::HttpRequest,
    state: web::Data<AppState>,
    user: Visitor,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, UiError> {
    let (slug, id) = path.into_inner();
    let ctx = WsCtx::load(&state, user, &slug).await?;
    let job = jobs::get(&state, ctx.id(), path_id(&id)?).await?;
    let fl = flash::take(&req, &state);
    let mut chrome = ctx.chrome("webhooks");
    chrome.notice = flash::notice_of(&fl);
    let page = JobPage {
        chrome,
        base: ctx.path(""),
        can_manage: ctx.can_manage(),
        job: JobView::new(job),
    };
    Ok(flash::finish(render(&page), &state, fl.is_some()))
}

/// `POST /w/{slug}/jobs/{id}/cancel`.
pub async fn cancel(
    state: web::Data<AppState>,
    post: Post<Visitor>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, UiError> {
    let (slug, id) = path.into_inner();
    let ctx = WsCtx::load(&state, post.user, &slug).await?;
    ctx.require_manage()?;
    let id = path_id(&id)?;
    let to = ctx.path(&format!("/jobs/{id}"));
    match jobs::cancel(&state, ctx.id(), id).await {
        Ok(_) => Ok(flash::redirect_with(
            &state,
            &to,
            Flash::Notice("Cancelled. What it did stays done.".into()),
        )),
        Err(ServiceError::Conflict(m)) => Ok(flash::redirect_with(&state, &to, Flash::Error(m))),
        Err(e) => Err(e.into()),
    }
}
