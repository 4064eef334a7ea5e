//! `/w/{slug}/…`: which workspace a page is in and what the user may do there. A user who is
//! neither a member nor an instance admin gets 404, exactly as for an id of another workspace.

use actix_web::{web, HttpResponse};

use super::{redirect, url_encode, Chrome, CurrentUser, UiError, WsNav};
use crate::db::repo::{self, Workspace};
use crate::domain::Role;
use crate::state::AppState;

pub struct WsCtx {
    pub user: CurrentUser,
    pub ws: Workspace,
    /// The role the user acts with: their membership's, or owner for an instance admin.
    pub role: Role,
}

impl WsCtx {
    pub async fn load(state: &AppState, user: CurrentUser, slug: &str) -> Result<WsCtx, UiError> {
        let slug = slug.to_string();
        let uid = user.id;
        let found = state
            .db
            .read(move |c| {
                let Some(ws) = repo::workspace_by_slug(c, &slug)? else {
                    return Ok(None);
                };
                let role = repo::role_in(c, ws.id, uid)?;
                Ok(Some((ws, role)))
            })
            .await?;
        let Some((ws, role)) = found else {
            return Err(UiError::NotFound);
        };
        // Instance admins act as owners in every workspace.
        let role = match (role, user.is_instance_admin) {
            (_, true) => Role::Owner,
            (Some(r), false) => r,
            (None, false) => return Err(UiError::NotFound),
        };
        Ok(WsCtx { user, ws, role })
    }

    pub fn can_manage(&self) -> bool {
        self.role.can_manage()
    }

    pub fn is_owner(&self) -> bool {
        self.role == Role::Owner
    }

    /// 403 for viewers.
    pub fn require_manage(&self) -> Result<(), UiError> {
        if self.can_manage() {
            Ok(())
        } else {
            Err(UiError::read_only())
        }
    }

    pub fn id(&self) -> i64 {
        self.ws.id
    }

    /// `/w/{slug}` + `rest`.
    pub fn path(&self, rest: &str) -> String {
        format!("/w/{}{rest}", url_encode(&self.ws.slug))
    }

    pub fn chrome(&self, section: &'static str) -> Chrome {
        let mut c = Chrome::for_user(&self.user);
        c.ws = Some(WsNav {
            slug: self.ws.slug.clone(),
            name: self.ws.name.clone(),
            section,
            role: if self.user.is_instance_admin {
                "instance admin"
            } else {
                self.role.as_str()
            },
        });
        c
    }
}

/// `/w/{slug}`: the workspace's first section.
pub async fn index(
    state: web::Data<AppState>,
    user: CurrentUser,
    slug: web::Path<String>,
) -> Result<HttpResponse, UiError> {
    let ctx = WsCtx::load(&state, user, &slug).await?;
    Ok(redirect(&ctx.path("/webhooks")))
}
