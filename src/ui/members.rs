//! Members and roles. Owners and admins add members (a new account with an initial password,
//! or an existing one by email) or invite them by email (a one-time link with which the
//! invitee sets their own password), change roles and remove members. Only owners grant or
//! take away the owner role (inviting as owner included), and the last owner can be neither
//! demoted nor removed.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;

use super::flash::{self, Flash};
use super::form::{Errors, Post};
use super::workspace::WsCtx;
use super::{path_id, render, render_status, Chrome, Ts, UiError, Visitor};
use crate::auth::{new_token, password, token_hash};
use crate::clock::now_ms;
use crate::domain::{Email, MemberRefusal, Password, Role, INVITATION_TTL_MS};
use crate::state::AppState;
use crate::store::types::{self, Invited, MemberAdded, MemberChanged};

pub struct MemberView {
    pub user_id: i64,
    pub email: String,
    pub role: &'static str,
    pub is_me: bool,
    /// May the current user change this member's role or remove them?
    pub editable: bool,
}

pub struct InvitationView {
    pub id: i64,
    pub email: String,
    pub role: &'static str,
    pub expires: Ts,
    /// May the current user withdraw it? (An owner invitation only by an owner.)
    pub revocable: bool,
}

/// An invitation link to show once: (email, link, why it was not emailed).
pub type NewInvitation = (String, String, String);

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
    invitations: Vec<InvitationView>,
    /// Whether invitations are emailed (else the inviter gets the link to pass on).
    smtp: bool,
    new_invitation: Option<NewInvitation>,
    invite_email: String,
    invite_role: String,
    invite_errors: Errors,
}

async fn page(
    state: &AppState,
    ctx: &WsCtx,
    email: String,
    role: String,
    errors: Errors,
) -> Result<MembersPage, UiError> {
    let ws = ctx.id();
    let now = now_ms();
    let (rows, pending) = state.store.members_page(ws, now).await?;
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
        invitations: pending
            .into_iter()
            .map(|i| InvitationView {
                id: i.id,
                revocable: can && (owner || i.role != Role::Owner),
                role: i.role.as_str(),
                expires: Ts::new(i.expires_at),
                email: i.email,
            })
            .collect(),
        smtp: state.mailer.configured(),
        new_invitation: None,
        invite_email: String::new(),
        invite_role: "viewer".into(),
        invite_errors: Errors::default(),
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
    if let Some(Flash::Invitation { email, link, why }) = &fl {
        if ctx.can_manage() {
            p.new_invitation = Some((email.clone(), link.clone(), why.clone()));
        }
    }
    Ok(flash::finish(render(&p), &state, fl.is_some()))
}

fn owner_only() -> UiError {
    UiError::Forbidden("Only owners of the workspace may grant or take away the owner role.".into())
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
    let existing = state.store.user_by_email(email.as_str()).await?;
    let ws = ctx.id();
    let outcome = match existing {
        Some(u) => state.store.member_add_existing(ws, u.id, role).await?,
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
            state.store.member_add_new(ws, email, hash, role).await?
        }
    };
    match outcome {
        MemberAdded::Added => {
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
        MemberAdded::AlreadyMember => {
            errors.add(
                "email",
                "this person is already a member; change their role in the list instead",
            );
            fail(errors).await
        }
        MemberAdded::EmailTaken => {
            errors.add(
                "email",
                "an account with this email was just created; submit again to add it",
            );
            fail(errors).await
        }
    }
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
        .store
        .member_change(ws, user_id, new_role, actor_owner)
        .await?;
    match outcome {
        MemberChanged::Done(email) => Ok(match new_role {
            Some(r) => format!("{email} is now {}.", r.as_str()),
            None => format!("{email} was removed from the workspace."),
        }),
        MemberChanged::NotMember => Err(UiError::NotFound),
        MemberChanged::Refused(MemberRefusal::OwnerOnly, _) => Err(owner_only()),
        MemberChanged::Refused(MemberRefusal::LastOwner, email) => Err(UiError::Conflict(format!(
            "{email} is the last owner of this workspace. Make another member owner first."
        ))),
    }
}

async fn load_member(state: &AppState, ctx: &WsCtx, user_id: i64) -> Result<(), UiError> {
    let ws = ctx.id();
    state
        .store
        .member_role(ws, user_id)
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

/// `POST /w/{slug}/invitations`: invites an address by email. The link is emailed when SMTP
/// is configured; otherwise (or when the send fails) it is shown once to the inviter.
pub async fn invite(
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
    let email = Email::parse(&email_in)
        .map_err(|e| errors.add("invite_email", e.message))
        .ok();
    let role = Role::parse(&role_in)
        .map_err(|e| errors.add("invite_role", e.message))
        .ok();
    if role == Some(Role::Owner) && !ctx.is_owner() {
        return Err(owner_only());
    }
    let fail = |errors: Errors| async {
        let mut p = page(
            &state,
            &ctx,
            String::new(),
            "viewer".into(),
            Errors::default(),
        )
        .await?;
        p.invite_email = email_in.clone();
        p.invite_role = role_in.clone();
        p.invite_errors = errors;
        Ok::<_, UiError>(render_status(StatusCode::UNPROCESSABLE_ENTITY, &p))
    };
    let (Some(email), Some(role)) = (email, role) else {
        return fail(errors).await;
    };
    let token = new_token();
    let hash = token_hash(&token);
    let (ws, uid, now) = (ctx.id(), ctx.visitor.account().map(|u| u.id), now_ms());
    let created = state
        .store
        .invitation_create(types::NewInvitation {
            token_hash: hash,
            workspace_id: ws,
            email: email.clone(),
            role,
            invited_by: uid,
            actor_is_owner: ctx.is_owner(),
            now,
            ttl_ms: INVITATION_TTL_MS,
        })
        .await?;
    match created {
        Invited::Created => {}
        Invited::OwnerOnly => return Err(owner_only()),
        Invited::AlreadyMember => {
            errors.add(
                "invite_email",
                "this person is already a member; change their role in the list instead",
            );
            return fail(errors).await;
        }
    }
    tracing::info!(workspace = %ctx.ws.slug, invitee = %email, role = role.as_str(), by = %ctx.who(), "invitation created");
    let link = format!("{}/invite/{token}", state.public_url);
    let members = ctx.path("/members");
    if !state.mailer.configured() {
        return Ok(flash::redirect_with(
            &state,
            &members,
            Flash::Invitation {
                email: email.to_string(),
                link,
                why: "Email is not configured on this Hookline (HOOKLINE_SMTP_URL is not set), so no email was sent.".into(),
            },
        ));
    }
    let subject = format!("[Hookline] You are invited to {}", ctx.ws.name);
    let body = format!(
        "{} invited you to the workspace {} on {brand}, as {}.\n\n\
         Open this link to accept. If you have no account on {brand} yet, you choose your password there; \
         if you have one, you confirm with its password.\n\n{link}\n\n\
         The link works once, for 7 days. If you did not expect this invitation, ignore this email.\n",
        ctx.who(),
        ctx.ws.name,
        role.as_str(),
        brand = state.config.brand.name,
    );
    match state.mailer.send(email.as_str(), &subject, body).await {
        Ok(()) => Ok(flash::redirect_with(
            &state,
            &members,
            Flash::Notice(format!(
                "Invitation sent to {email} as {}. The link in it works for 7 days.",
                role.as_str()
            )),
        )),
        Err(e) => {
            tracing::warn!(workspace = %ctx.ws.slug, invitee = %email, error = %e, "invitation email not sent; the link is shown to the inviter");
            Ok(flash::redirect_with(
                &state,
                &members,
                Flash::Invitation {
                    email: email.to_string(),
                    link,
                    why: format!("The email could not be sent ({e})."),
                },
            ))
        }
    }
}

/// `POST /w/{slug}/invitations/{id}/revoke`: withdraws a pending invitation; its link stops
/// working at once.
pub async fn revoke_invitation(
    state: web::Data<AppState>,
    post: Post<Visitor>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, UiError> {
    let (slug, id) = path.into_inner();
    let id = path_id(&id)?;
    let ctx = WsCtx::load(&state, post.user, &slug).await?;
    ctx.require_account()?;
    let ws = ctx.id();
    let inv = state
        .store
        .invitation_pending(ws, id, now_ms())
        .await?
        .ok_or(UiError::NotFound)?;
    ctx.require_manage()?;
    if inv.role == Role::Owner && !ctx.is_owner() {
        return Err(owner_only());
    }
    state.store.invitation_revoke(ws, id, now_ms()).await?;
    tracing::info!(workspace = %ctx.ws.slug, invitee = %inv.email, by = %ctx.who(), "invitation revoked");
    Ok(flash::redirect_with(
        &state,
        &ctx.path("/members"),
        Flash::Notice(format!(
            "The invitation of {} was withdrawn: its link no longer works.",
            inv.email
        )),
    ))
}
