//! Portal links: one-time URLs into one workspace's settings with a role, made by the
//! vendor's backend for its customer's admin. The token is random (256 bits), stored only as
//! its hash, and works once, within its time to live.

use crate::auth::{new_token, token_hash};
use crate::clock::now_ms;
use crate::domain::PortalLinkRequest;
use crate::store::types::NewLink;
use crate::store::{Store, StoreError};

/// A link just made: the URL (with the token, shown only now) and when it expires.
pub struct PortalLink {
    pub url: String,
    pub expires_at: i64,
}

/// Makes a new link: what to store, and the URL (with the token, shown only now), with
/// `public_url` (no trailing slash needed) as its base.
pub fn new_link(
    public_url: &str,
    workspace_id: i64,
    req: &PortalLinkRequest,
    api_key_id: Option<i64>,
) -> (NewLink, PortalLink) {
    let token = new_token();
    let now = now_ms();
    let expires_at = now + req.ttl_seconds * 1000;
    (
        NewLink {
            token_hash: token_hash(&token),
            workspace_id,
            role: req.role,
            email: req.email.as_ref().map(|e| e.as_str().to_string()),
            api_key_id,
            created_at: now,
            expires_at,
        },
        PortalLink {
            url: format!("{}/portal/{token}", public_url.trim_end_matches('/')),
            expires_at,
        },
    )
}

/// Makes and stores a new link into workspace `workspace_id`.
pub async fn create_link(
    store: &Store,
    public_url: &str,
    workspace_id: i64,
    req: &PortalLinkRequest,
    api_key_id: Option<i64>,
) -> Result<PortalLink, StoreError> {
    let (row, link) = new_link(public_url, workspace_id, req, api_key_id);
    store.portal_link_create(row).await?;
    Ok(link)
}
