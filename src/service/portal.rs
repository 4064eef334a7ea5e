//! Portal links: one-time URLs into one workspace's settings with a role, made by the
//! vendor's backend for its customer's admin. The token is random (256 bits), stored only as
//! its hash, and works once, within its time to live.

use crate::auth::{new_token, token_hash};
use crate::clock::now_ms;
use crate::db::portal::{self as store, NewLink};
use crate::domain::PortalLinkRequest;

/// A link just made: the URL (with the token, shown only now) and when it expires.
pub struct PortalLink {
    pub url: String,
    pub expires_at: i64,
}

/// Stores a new link on `conn` (the server's writer or the CLI's connection) and returns
/// it, with `public_url` (no trailing slash) as its base.
pub fn create_link(
    conn: &rusqlite::Connection,
    public_url: &str,
    workspace_id: i64,
    req: &PortalLinkRequest,
    api_key_id: Option<i64>,
) -> Result<PortalLink, crate::db::DbError> {
    let token = new_token();
    let now = now_ms();
    let expires_at = now + req.ttl_seconds * 1000;
    store::create_link(
        conn,
        &NewLink {
            token_hash: &token_hash(&token),
            workspace_id,
            role: req.role,
            email: req.email.as_ref().map(|e| e.as_str()),
            api_key_id,
            created_at: now,
            expires_at,
        },
    )?;
    Ok(PortalLink {
        url: format!("{}/portal/{token}", public_url.trim_end_matches('/')),
        expires_at,
    })
}
