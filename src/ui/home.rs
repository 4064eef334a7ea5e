//! The start page (workspace switcher; instance admins also create workspaces) and the
//! instance's event types (everyone reads them; instance admins add them).

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;

use super::flash::{self, Flash};
use super::form::{Errors, Post};
use super::{render, render_status, Chrome, CurrentUser, UiError};
use crate::domain::NewEventType;
use crate::domain::{NewWorkspace, Slug};
use crate::state::AppState;

pub struct WorkspaceItem {
    pub slug: String,
    pub name: String,
    pub role: String,
}

#[derive(Template)]
#[template(path = "home.html")]
struct HomePage {
    chrome: Chrome,
    workspaces: Vec<WorkspaceItem>,
    slug: String,
    name: String,
    errors: Errors,
    /// The database is SQLite, whose copy the instance admin can download (PostgreSQL is
    /// backed up with `pg_dump`).
    backup_download: bool,
}

async fn home_page(
    state: &AppState,
    user: &CurrentUser,
    slug: String,
    name: String,
    errors: Errors,
) -> Result<HomePage, UiError> {
    let uid = user.id;
    let admin = user.is_instance_admin;
    let mut workspaces: Vec<WorkspaceItem> = state
        .store
        .memberships_of(uid)
        .await?
        .into_iter()
        .map(|m| WorkspaceItem {
            slug: m.workspace.slug,
            name: m.workspace.name,
            role: m.role.as_str().to_string(),
        })
        .collect();
    if admin {
        for w in state.store.workspaces_all().await? {
            if !workspaces.iter().any(|x| x.slug == w.slug) {
                workspaces.push(WorkspaceItem {
                    slug: w.slug,
                    name: w.name,
                    role: "instance admin".into(),
                });
            }
        }
        workspaces.sort_by(|a, b| a.slug.cmp(&b.slug));
    }
    Ok(HomePage {
        chrome: Chrome::for_user(user),
        workspaces,
        slug,
        name,
        errors,
        backup_download: !state.store.is_shared(),
    })
}

pub async fn home(
    req: HttpRequest,
    state: web::Data<AppState>,
    visitor: super::Visitor,
) -> Result<HttpResponse, UiError> {
    let user = match visitor {
        super::Visitor::Account(u) => u,
        // A portal visitor has one workspace: the start page is its Webhooks page.
        super::Visitor::Portal(p) => {
            return Ok(super::redirect(&format!(
                "/w/{}/webhooks",
                super::url_encode(&p.workspace_slug)
            )))
        }
    };
    let fl = flash::take(&req, &state);
    let mut page = home_page(
        &state,
        &user,
        String::new(),
        String::new(),
        Errors::default(),
    )
    .await?;
    // Someone who can reach exactly one workspace has nothing to pick: straight in. (Instance
    // admins keep the start page: it is where workspaces are created.)
    if let [only] = page.workspaces.as_slice() {
        if !user.is_instance_admin && fl.is_none() {
            return Ok(super::redirect(&format!(
                "/w/{}/webhooks",
                super::url_encode(&only.slug)
            )));
        }
    }
    page.chrome.notice = flash::notice_of(&fl);
    Ok(flash::finish(render(&page), &state, fl.is_some()))
}

fn admin_only() -> UiError {
    UiError::Forbidden("Only instance admins may do this.".into())
}

pub async fn create_workspace(
    state: web::Data<AppState>,
    post: Post,
) -> Result<HttpResponse, UiError> {
    if !post.user.is_instance_admin {
        return Err(admin_only());
    }
    let slug_in = post.form.get("slug").trim().to_string();
    let name_in = post.form.get("name").trim().to_string();
    let mut errors = Errors::default();
    let slug = Slug::parse(&slug_in).map_err(|e| errors.push(e)).ok();
    if name_in.chars().count() > 100 {
        errors.add("name", "use at most 100 characters");
    }
    if let (Some(slug), true) = (slug, errors.is_empty()) {
        let name = if name_in.is_empty() {
            slug.to_string()
        } else {
            name_in.clone()
        };
        let created = state
            .store
            .workspace_create(NewWorkspace {
                slug,
                name,
                webhooks_enabled: true,
                max_webhooks: None,
            })
            .await?;
        if let Some(ws) = created {
            tracing::info!(workspace = %ws.slug, by = %post.user.email, "workspace created in the UI");
            return Ok(flash::redirect_with(
                &state,
                "/",
                Flash::Notice(format!(
                    "Workspace “{}” created. Open it to add webhooks and members.",
                    ws.name
                )),
            ));
        }
        errors.add("slug", format!("a workspace '{slug_in}' already exists"));
    }
    let page = home_page(&state, &post.user, slug_in, name_in, errors).await?;
    Ok(render_status(StatusCode::UNPROCESSABLE_ENTITY, &page))
}

pub struct EventTypeView {
    pub name: String,
    pub description: String,
    pub example: Option<String>,
}

#[derive(Template)]
#[template(path = "event_types.html")]
struct EventTypesPage {
    chrome: Chrome,
    types: Vec<EventTypeView>,
    name: String,
    description: String,
    example: String,
    errors: Errors,
}

async fn types_page(
    state: &AppState,
    user: &CurrentUser,
    name: String,
    description: String,
    example: String,
    errors: Errors,
) -> Result<EventTypesPage, UiError> {
    let rows = state.store.event_types_all().await?;
    Ok(EventTypesPage {
        chrome: Chrome::for_user(user),
        types: rows
            .into_iter()
            .map(|r| EventTypeView {
                name: r.name,
                description: r.description,
                example: r.example.map(|e| {
                    serde_json::from_str::<serde_json::Value>(&e)
                        .ok()
                        .and_then(|v| serde_json::to_string_pretty(&v).ok())
                        .unwrap_or(e)
                }),
            })
            .collect(),
        name,
        description,
        example,
        errors,
    })
}

pub async fn event_types(
    req: HttpRequest,
    state: web::Data<AppState>,
    user: CurrentUser,
) -> Result<HttpResponse, UiError> {
    let fl = flash::take(&req, &state);
    let mut page = types_page(
        &state,
        &user,
        String::new(),
        String::new(),
        String::new(),
        Errors::default(),
    )
    .await?;
    page.chrome.notice = flash::notice_of(&fl);
    Ok(flash::finish(render(&page), &state, fl.is_some()))
}

pub async fn create_event_type(
    state: web::Data<AppState>,
    post: Post,
) -> Result<HttpResponse, UiError> {
    if !post.user.is_instance_admin {
        return Err(admin_only());
    }
    let f = &post.form;
    let (name, description, example) = (
        f.get("name").trim().to_string(),
        f.get("description").to_string(),
        f.get("example").to_string(),
    );
    let mut errors = Errors::default();
    let example_json = match example.trim() {
        "" => None,
        e => match serde_json::from_str::<serde_json::Value>(e) {
            Ok(v) => Some(v),
            Err(err) => {
                errors.add("example", format!("not valid JSON: {err}"));
                None
            }
        },
    };
    // The other fields are checked even when the example is not JSON: every error at once.
    match NewEventType::parse(&name, &description, example_json.as_ref()) {
        Err(e) => errors.extend(e),
        Ok(_) if !errors.is_empty() => {}
        Ok(new) => {
            let created = state.store.event_type_create(new).await?;
            if created.is_some() {
                return Ok(flash::redirect_with(
                    &state,
                    "/event-types",
                    Flash::Notice(format!("Event type {name} created.")),
                ));
            }
            errors.add("name", format!("event type '{name}' already exists"));
        }
    }
    let page = types_page(&state, &post.user, name, description, example, errors).await?;
    Ok(render_status(StatusCode::UNPROCESSABLE_ENTITY, &page))
}

/// `POST /backup` (instance admins): a consistent copy of the database as a download. The
/// snapshot is written with `VACUUM INTO` next to the database, unlinked while held open, and
/// streamed, so nothing is left behind and memory stays flat however large it is.
pub async fn download_backup(
    state: web::Data<AppState>,
    post: Post,
) -> Result<HttpResponse, UiError> {
    use tokio::io::AsyncReadExt;
    if !post.user.is_instance_admin {
        return Err(admin_only());
    }
    if state.store.is_shared() {
        return Err(UiError::Conflict(crate::store::PG_BACKUP_REFUSAL.into()));
    }
    let data_dir = state.config.data_dir.clone();
    let tmp = data_dir.join(format!(
        ".backup-download-{}.db",
        crate::clock::random_token(16)
    ));
    let store = state.store.clone();
    let file = tokio::task::spawn_blocking(move || -> anyhow::Result<std::fs::File> {
        let made = store.backup(&tmp);
        let opened = made.and_then(|_| Ok(std::fs::File::open(&tmp)?));
        let _ = std::fs::remove_file(&tmp); // an open handle keeps it readable
        opened
    })
    .await
    .map_err(|e| UiError::Unexpected(anyhow::Error::new(e).context("the backup task failed")))?
    .map_err(|e| UiError::Unexpected(e.context("backup failed")))?;
    let len = file.metadata().map(|m| m.len()).unwrap_or(0);
    tracing::info!(
        user_id = post.user.id,
        bytes = len,
        "database backup downloaded"
    );
    let stream =
        futures_util::stream::unfold(Some(tokio::fs::File::from_std(file)), |state| async move {
            let mut f = state?;
            let mut buf = vec![0u8; 64 * 1024];
            match f.read(&mut buf).await {
                Ok(0) => None,
                Ok(n) => {
                    buf.truncate(n);
                    Some((Ok::<_, std::io::Error>(web::Bytes::from(buf)), Some(f)))
                }
                Err(e) => Some((Err(e), None)),
            }
        });
    let date = crate::clock::rfc3339(crate::clock::now_ms())
        .chars()
        .take(10)
        .collect::<String>();
    Ok(HttpResponse::Ok()
        .content_type("application/vnd.sqlite3")
        .insert_header((
            "Content-Disposition",
            format!("attachment; filename=\"hookline-{date}.db\""),
        ))
        .insert_header(("Cache-Control", "no-store"))
        .body(actix_web::body::SizedStream::new(len, stream)))
}
