//! The state every request handler shares: the database, the configuration, the secret box,
//! the login throttle, the mailer and the delivery engine's handle. It sits below the REST
//! API and the settings UI (both read it; neither owns it), and is built by `startup`.

use std::sync::Arc;

use url::Url;

use crate::auth::throttle::{RateLimit, Throttle};
use crate::config::Config;
use crate::store::Store;

/// Shared state of the running application.
pub struct AppState {
    /// Storage: what the API, the UI, the services and the engine use.
    pub store: Store,
    pub config: Arc<Config>,
    /// Base URL for links, without a trailing slash.
    pub public_url: String,
    pub throttle: Throttle,
    /// Limits password reset requests (each one may send an email).
    pub reset_limit: RateLimit,
    /// Emails invitations and password reset links; [`crate::notify::Mailer::configured`]
    /// says whether it can.
    pub mailer: crate::notify::Mailer,
    /// Encrypts webhook secrets at rest.
    pub secrets: crate::crypto::SecretBox,
    /// Wakes the delivery engine when new work is committed.
    pub wake: Arc<tokio::sync::Notify>,
    /// Wakes the bulk-job runner when a job is made.
    pub jobs: Arc<tokio::sync::Notify>,
    pub engine: crate::delivery::engine::Engine,
}

impl AppState {
    /// Our own origin (`scheme://host:port`), which state-changing requests must come from.
    pub fn origin(&self) -> String {
        origin_of(&self.public_url).unwrap_or_default()
    }
}

/// Parses a base URL; used by the UI to check `Origin`.
pub fn origin_of(url: &str) -> Option<String> {
    let u = Url::parse(url).ok()?;
    Some(u.origin().ascii_serialization())
}
