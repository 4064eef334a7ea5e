//! `/w/{slug}/…`: which workspace a page is in and what the visitor may do there. An account
//! that is neither a member nor an instance admin gets 404, exactly as for an id of another
//! workspace; so does a portal visitor anywhere but the one workspace of their link.

use actix_web::{web, HttpResponse};

use super::{redirect, url_encode, Chrome, UiError, Visitor, WsNav};
use crate::domain::Role;
use crate::service::Actor;
use crate::state::AppState;
use crate::store::types::Workspace;

pub struct WsCtx {
    pub visitor: Visitor,
    pub ws: Workspace,
    /// The role the visitor acts with: their membership's, owner for an instance admin, or
    /// the portal link's.
    pub role: Role,
}

impl WsCtx {
    pub async fn load(state: &AppState, visitor: Visitor, slug: &str) -> Result<WsCtx, UiError> {
        let uid = visitor.account().map(|u| u.id);
        let found = state.store.workspace_with_role(slug, uid).await?;
        let Some((ws, membership)) = found else {
            return Err(UiError::NotFound);
        };
        let role = match &visitor {
            // Instance admins act as owners in every workspace.
            Visitor::Account(u) if u.is_instance_admin => Role::Owner,
            Visitor::Account(_) => membership.ok_or(UiError::NotFound)?,
            Visitor::Portal(p) if p.workspace_id == ws.id => p.role,
            Visitor::Portal(_) => return Err(UiError::NotFound),
        };
        Ok(WsCtx { visitor, ws, role })
    }

    pub fn can_manage(&self) -> bool {
        self.role.can_manage()
    }

    /// May the visitor change webhooks here? (Role, and the plan's feature flag.)
    pub fn can_change_webhooks(&self) -> bool {
        self.can_manage() && self.ws.webhooks_enabled
    }

    pub fn is_owner(&self) -> bool {
        self.role == Role::Owner
    }

    pub fn is_portal(&self) -> bool {
        self.visitor.portal().is_some()
    }

    /// 403 for viewers.
    pub fn require_manage(&self) -> Result<(), UiError> {
        if self.can_manage() {
            Ok(())
        } else {
            Err(UiError::read_only())
        }
    }

    /// 403 for portal visitors: password accounts and members are the vendor's business.
    pub fn require_account(&self) -> Result<(), UiError> {
        if self.is_portal() {
            Err(UiError::Forbidden(
                "Members are managed by the product you came from, not here.".into(),
            ))
        } else {
            Ok(())
        }
    }

    /// Who this is, for the log.
    pub fn who(&self) -> String {
        self.visitor.display_name("portal")
    }

    /// Who changes made on this page are recorded as.
    pub fn actor(&self, state: &AppState) -> Actor {
        Actor(self.visitor.display_name(&state.config.brand.name))
    }

    pub fn id(&self) -> i64 {
        self.ws.id
    }

    /// `/w/{slug}` + `rest`.
    pub fn path(&self, rest: &str) -> String {
        format!("/w/{}{rest}", url_encode(&self.ws.slug))
    }

    pub fn chrome(&self, section: &'static str) -> Chrome {
        let mut c = Chrome::for_visitor(&self.visitor);
        c.ws = Some(WsNav {
            slug: self.ws.slug.clone(),
            name: self.ws.name.clone(),
            section,
            role: if self.visitor.is_instance_admin() {
                "instance admin"
            } else {
                self.role.as_str()
            },
            portal: self.is_portal(),
            webhooks_disabled: !self.ws.webhooks_enabled,
        });
        c
    }
}

/// `/w/{slug}`: the workspace's first section.
pub async fn index(
    state: web::Data<AppState>,
    visitor: Visitor,
    slug: web::Path<String>,
) -> Result<HttpResponse, UiError> {
    let ctx = WsCtx::load(&state, visitor, &slug).await?;
    Ok(redirect(&ctx.path("/webhooks")))
}
