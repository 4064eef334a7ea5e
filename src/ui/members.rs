//! Members and roles. Owners and admins add members (a new account with an initial password,
//! or an existing one by email), change roles and remove members. Only owners grant or take
//! away the owner role, and the last owner can be neither demoted nor removed.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;

use super::flash::{self, Flash};
use super::form::{Errors, Post};
use super::workspace::WsCtx;
use super::{path_id, render, render_status, Chrome, UiError, Visitor};
use crate::auth::password;
use crate::db::repo;
use crate::domain::{Email, Password, Role};
use crate::state::AppState;

pub struct MemberView {
    pub user_id: i64,
    pub email: String,
    pub role: &'static str,
    pub is_me: bool,
    /// May the current user change this member's role or remove them?
    pub editable: bool,
}

#[derive(Template)]
#[template(path = "ws/members.html")]
struct MembersPage {
    chrome: Chrome,
    base: String,
    can_manage: bool,
    is_owner: bool,
    members: Vec<MemberView>,
    email: String,
    role: String,
    errors: Errors,
}

async fn page(
    state: &AppState,
    ctx: &WsCtx,
    email: String,
    role: String,
    errors: Errors,
) -> Result<MembersPage, UiError> {
    let ws = ctx.id();
    let rows = state.db.read(move |c| repo::members_of(c, ws)).await?;
    let (can, owner) = (ctx.can_manage(), ctx.is_owner());
    Ok(MembersPage {
        chrome: ctx.chrome("members"),
        base: ctx.path(""),
        can_manage: can,
        is_owner: owner,
        members: rows
            .into_iter()
            .map(|m| MemberView {
                user_id: m.user_id,
                is_me: Some(m.user_id) == ctx.visitor.account().map(|u| u.id),
                editable: can && (owner || m.role != Role::Owner),
                role: m.role.as_str(),
                email: m.email,
            })
            .collect(),
        email,
        role,
        errors,
    })
}

pub async fn list(
    req: HttpRequest,
    state: web::Data<AppState>,
    user: Visitor,
    slug: web::Path<String>,
) -> Result<HttpResponse, UiError> {
    let ctx = WsCtx::load(&state, user, &slug).await?;
    ctx.require_account()?;
    let fl = flash::take(&req, &state);
    let mut p = page(
        &state,
        &ctx,
        String::new(),
        "viewer".into(),
        Errors::default(),
    )
    .await?;
    p.chrome.notice = flash::notice_of(&fl);
    Ok(flash::finish(render(&p), &state, fl.is_some()))
}

fn owner_only() -> UiError {
    UiError::Forbidden("Only owners of the workspace may grant or take away the owner role.".into())
}

enum Added {
    Ok,
    AlreadyMember,
    EmailTaken,
}

pub async fn add(
    state: web::Data<AppState>,
    post: Post<Visitor>,
    slug: web::Path<String>,
) -> Result<HttpResponse, UiError> {
    let ctx = WsCtx::load(&state, post.user, &slug).await?;
    ctx.require_account()?;
    ctx.require_manage()?;
    let f = &post.form;
    let email_in = f.get("email").trim().to_string();
    let role_in = f.get("role").to_string();
    let mut errors = Errors::default();
    let email = Email::parse(&email_in).map_err(|e| errors.push(e)).ok();
    let role = Role::parse(&role_in).map_err(|e| errors.push(e)).ok();
    // A password is needed only for a new account, but one given is checked now, so a form
    // with a bad email and a short password shows both.
    let password_in = f.get("password");
    let password = match Password::parse(password_in) {
        Ok(p) => Some(p),
        Err(e) => {
            if !password_in.is_empty() {
                errors.add(
                    "password",
                    format!("an initial password must {}", e.message),
                );
            }
            None
        }
    };
    if role == Some(Role::Owner) && !ctx.is_owner() {
        return Err(owner_only());
    }
    let fail = |errors: Errors| async {
        let p = page(&state, &ctx, email_in.clone(), role_in.clone(), errors).await?;
        Ok::<_, UiError>(render_status(StatusCode::UNPROCESSABLE_ENTITY, &p))
    };
    let (Some(email), Some(role)) = (email, role) else {
        return fail(errors).await;
    };
    let lookup = email.to_string();
    let existing = state
        .db
        .read(move |c| repo::user_by_email(c, &lookup))
        .await?;
    let ws = ctx.id();
    let outcome = match existing {
        Some(u) => {
            state
                .db
                .write(move |c| {
                    if repo::role_in(c, ws, u.id)?.is_some() {
                        return Ok(Added::AlreadyMember);
                    }
                    repo::upsert_membership(c, ws, u.id, role)?;
                    Ok(Added::Ok)
                })
                .await?
        }
        None => {
            let Some(pw) = password else {
                let why = Password::parse(password_in)
                    .err()
                    .map(|e| e.message)
                    .unwrap_or_default();
                errors.set(
                    "password",
                    format!("{email} has no account yet: give an initial password for it ({why})"),
                );
                return fail(errors).await;
            };
            let hash = password::hash(pw).await;
            state
                .db
                .write(move |c| {
                    let Some(id) = repo::create_user(c, &email, &hash, false)? else {
                        return Ok(Added::EmailTaken);
                    };
                    repo::upsert_membership(c, ws, id, role)?;
                    Ok(Added::Ok)
                })
                .await?
        }
    };
    match outcome {
        Added::Ok => {
            tracing::info!(workspace = %ctx.ws.slug, member = %email_in, role = role.as_str(), by = %ctx.who(), "member added");
            Ok(flash::redirect_with(
                &state,
                &ctx.path("/members"),
                Flash::Notice(format!(
                    "{} added as {}.",
                    email_in.to_lowercase(),
                    role.as_str()
                )),
            ))
        }
        Added::AlreadyMember => {
            errors.add(
                "email",
                "this person is already a member; change their role in the list instead",
            );
            fail(errors).await
        }
        Added::EmailTaken => {
            errors.add(
                "email",
                "an account with this email was just created; submit again to add it",
            );
            fail(errors).await
        }
    }
}

enum Changed {
    Done(String),
    NotMember,
    OwnerOnly,
    LastOwner(String),
}

/// Applies a role change (`Some`) or a removal (`None`) under the rules, in one write.
async fn change(
    state: &AppState,
    ctx: &WsCtx,
    user_id: i64,
    new_role: Option<Role>,
) -> Result<String, UiError> {
    let ws = ctx.id();
    let actor_owner = ctx.is_owner();
    let outcome = state
        .db
        .write(move |c| {
            let members = repo::members_of(c, ws)?;
            let Some(target) = members.iter().find(|m| m.user_id == user_id) else {
                return Ok(Changed::NotMember);
            };
            let touches_owner = target.role == Role::Owner || new_role == Some(Role::Owner);
            if touches_owner && !actor_owner {
                return Ok(Changed::OwnerOnly);
            }
            let owners = members.iter().filter(|m| m.role == Role::Owner).count();
            if target.role == Role::Owner && new_role != Some(Role::Owner) && owners <= 1 {
                return Ok(Changed::LastOwner(target.email.clone()));
            }
            match new_role {
                Some(r) => {
                    repo::upsert_membership(c, ws, user_id, r)?;
                    Ok(Changed::Done(format!(
                        "{} is now {}.",
                        target.email,
                        r.as_str()
                    )))
                }
                None => {
                    repo::remove_membership(c, ws, user_id)?;
                    Ok(Changed::Done(format!(
                        "{} was removed from the workspace.",
                        target.email
                    )))
                }
            }
        })
        .await?;
    match outcome {
        Changed::Done(msg) => Ok(msg),
        Changed::NotMember => Err(UiError::NotFound),
        Changed::OwnerOnly => Err(owner_only()),
        Changed::LastOwner(email) => Err(UiError::Conflict(format!(
            "{email} is the last owner of this workspace. Make another member owner first."
        ))),
    }
}

async fn load_member(state: &AppState, ctx: &WsCtx, user_id: i64) -> Result<(), UiError> {
    let ws = ctx.id();
    state
        .db
        .read(move |c| repo::role_in(c, ws, user_id))
        .await?
        .map(|_| ())
        .ok_or(UiError::NotFound)
}

pub async fn change_role(
    state: web::Data<AppState>,
    post: Post<Visitor>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, UiError> {
    let (slug, id) = path.into_inner();
    let id = path_id(&id)?;
    let ctx = WsCtx::load(&state, post.user, &slug).await?;
    ctx.require_account()?;
    load_member(&state, &ctx, id).await?;
    ctx.require_manage()?;
    let role = Role::parse(post.form.get("role")).map_err(|e| UiError::BadRequest(e.message))?;
    let msg = change(&state, &ctx, id, Some(role)).await?;
    tracing::info!(workspace = %ctx.ws.slug, member = id, role = role.as_str(), by = %ctx.who(), "member role changed");
    Ok(flash::redirect_with(
        &state,
        &ctx.path("/members"),
        Flash::Notice(msg),
    ))
}

pub async fn remove(
    state: web::Data<AppState>,
    post: Post<Visitor>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, UiError> {
    let (slug, id) = path.into_inner();
    let id = path_id(&id)?;
    let ctx = WsCtx::load(&state, post.user, &slug).await?;
    ctx.require_account()?;
    load_member(&state, &ctx, id).await?;
    ctx.require_manage()?;
    let msg = change(&state, &ctx, id, None).await?;
    tracing::info!(workspace = %ctx.ws.slug, member = id, by = %ctx.who(), "member removed");
    let to = if Some(id) == ctx.visitor.account().map(|u| u.id) && !ctx.visitor.is_instance_admin()
    {
        "/".to_string()
    } else {
        ctx.path("/members")
    };
    Ok(flash::redirect_with(&state, &to, Flash::Notice(msg)))
}
