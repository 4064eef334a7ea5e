//! Wiring: configuration → database → HTTP server, and graceful shutdown.

use std::net::TcpListener;
use std::sync::Arc;

use actix_web::dev::{Server, ServerHandle, Service};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::{middleware, web, App, HttpResponse, HttpServer};
use anyhow::Context;

use crate::api::error::{new_request_id, REQUEST_ID};
use crate::auth::throttle::{RateLimit, Throttle};
use crate::config::Config;
use crate::db::Db;
use crate::state::AppState;
use crate::store::{Location, Store};

/// How long the first-run setup link stays valid.
pub const SETUP_LINK_TTL_MS: i64 = 30 * 60 * 1000;

/// A built, bound, not yet running application.
pub struct Application {
    port: u16,
    base_url: String,
    setup_link: Option<String>,
    server: Server,
    store: Store,
    engine: crate::delivery::engine::Engine,
    retention_days: u32,
    dev: bool,
    /// Wakes the bulk-job runner (a job was made).
    jobs_wake: Arc<tokio::sync::Notify>,
    engine_wake: Arc<tokio::sync::Notify>,
    /// This server's hold on the data directory, released when it has stopped.
    _lock: crate::data_dir_lock::DataDirLock,
}

impl Application {
    /// Opens the database (migrating it), binds the listener and prepares the server.
    pub async fn build(config: Config) -> anyhow::Result<Application> {
        // Before anything touches the queue: a second server must not take over the leases.
        let lock = crate::data_dir_lock::DataDirLock::acquire(&config.data_dir)?;
        let store = Store::open(&Location::new(&config.data_dir, config.database.as_ref())).await?;
        let secrets = match &config.secret_key_file {
            Some(path) => crate::crypto::SecretBox::load(path)?,
            None => crate::crypto::SecretBox::load_or_create(&config.data_dir)?,
        };
        check_secret_key(&store, &secrets).await?;
        let wake = Arc::new(tokio::sync::Notify::new());
        let listener = TcpListener::bind(config.listen)
            .with_context(|| format!("cannot listen on {} (HOOKLINE_LISTEN)", config.listen))?;
        let addr = listener.local_addr()?;
        let base_url = match &config.public_url {
            Some(u) => u.as_str().trim_end_matches('/').to_string(),
            None => {
                let host = if addr.ip().is_unspecified() {
                    "127.0.0.1".to_string()
                } else {
                    addr.ip().to_string()
                };
                let host = if host.contains(':') {
                    format!("[{host}]")
                } else {
                    host
                };
                format!("http://{host}:{}", addr.port())
            }
        };
        let extra_ca_pem = match &config.extra_ca_file {
            Some(p) => Some(
                std::fs::read(p)
                    .with_context(|| format!("reading {} (HOOKLINE_EXTRA_CA_FILE)", p.display()))?,
            ),
            None => None,
        };
        let sender = crate::delivery::http::Sender::new(crate::delivery::http::SenderConfig {
            allowed_networks: config.allowed_networks.clone(),
            extra_ca_pem,
            connect_timeout: std::time::Duration::from_secs(10),
            max_idle_per_host: config.max_in_flight,
        })?;
        let mailer = crate::notify::Mailer::new(&config, &base_url)?;
        let engine = crate::delivery::engine::Engine::start(
            store.clone(),
            sender,
            mailer.clone(),
            secrets.clone(),
            crate::delivery::engine::EngineConfig {
                signature_header: config.signature_header.clone(),
                max_in_flight: config.max_in_flight,
                max_in_flight_per_webhook: config.max_in_flight_per_webhook,
                auto_disable_after_ms: config.auto_disable_days as i64 * 24 * 3600 * 1000,
                notice_interval: config.notice_interval,
                ..Default::default()
            },
            wake.clone(),
        )
        .await?;
        let setup_link = first_run_link(&store, &base_url).await?;
        crate::service::workspaces::resume_purges(&store).await?;
        let retention_days = config.retention_days;
        let jobs_wake = Arc::new(tokio::sync::Notify::new());
        let dev = config.dev;
        if dev {
            tracing::warn!("development mode: http:// webhooks and loopback receivers are allowed");
        }
        let state = web::Data::new(AppState {
            store: store.clone(),
            config: Arc::new(config),
            public_url: base_url.clone(),
            throttle: Throttle::for_store(&store),
            reset_limit: RateLimit::for_store(std::time::Duration::from_secs(3600), &store),
            mailer,
            secrets,
            wake: wake.clone(),
            jobs: jobs_wake.clone(),
            engine: engine.clone(),
        });
        let server = HttpServer::new(move || {
            App::new()
                .app_data(state.clone())
                .wrap_fn(|req, srv| {
                    let state = req
                        .app_data::<web::Data<AppState>>()
                        .cloned()
                        .expect("AppState registered");
                    let fut = srv.call(req);
                    crate::ui::PAGE_CONFIG.scope(state.config.clone(), async move {
                        let mut res = fut.await?;
                        crate::ui::embed::finish(&mut res, &state);
                        Ok(res)
                    })
                })
                .wrap(middleware::NormalizePath::new(
                    middleware::TrailingSlash::Trim,
                ))
                .wrap_fn(|req, srv| {
                    let id = new_request_id();
                    let fut = srv.call(req);
                    REQUEST_ID.scope(id.clone(), async move {
                        let mut res = fut.await?;
                        if let Ok(v) = HeaderValue::from_str(&id) {
                            res.headers_mut()
                                .insert(HeaderName::from_static("x-request-id"), v);
                        }
                        Ok(res)
                    })
                })
                .route("/healthz", web::get().to(healthz))
                .route("/api/v1/healthz", web::get().to(healthz))
                .route("/readyz", web::get().to(readyz))
                .route("/api/v1/readyz", web::get().to(readyz))
                .route("/metrics", web::get().to(metrics))
                .configure(crate::api::configure)
                .configure(crate::ui::configure)
        })
        .listen(listener)?
        .shutdown_timeout(30)
        .run();
        Ok(Application {
            port: addr.port(),
            base_url,
            setup_link,
            server,
            store,
            engine,
            retention_days,
            dev,
            jobs_wake,
            engine_wake: wake,
            _lock: lock,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The base URL links are built from, e.g. `http://127.0.0.1:8080`.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// The one-time link that creates the first admin, when the instance has no users yet.
    pub fn setup_link(&self) -> Option<&str> {
        self.setup_link.as_deref()
    }

    /// The SQLite handle under the store (tests run raw SQL through it).
    pub fn db(&self) -> Db {
        self.store.sqlite().clone()
    }

    pub fn store(&self) -> Store {
        self.store.clone()
    }

    /// The delivery engine's handle (tests use it to wait for the engine's work).
    pub fn engine(&self) -> crate::delivery::engine::Engine {
        self.engine.clone()
    }

    pub fn handle(&self) -> ServerHandle {
        self.server.handle()
    }

    /// The start-up banner `hookline serve` prints.
    pub fn banner(&self) -> String {
        let mut s = format!(
            "Hookline {} is running.\n  Settings UI: {}/\n  REST API:    {}/api/v1\n",
            crate::VERSION,
            self.base_url,
            self.base_url
        );
        if self.dev {
            s.push_str(
                "\n!!! DEVELOPMENT MODE (--dev): http:// webhooks and deliveries to 127.0.0.0/8 and ::1 are allowed.\n\
                 !!! Never run it like this in production: drop --dev there.\n",
            );
        }
        if let Some(link) = &self.setup_link {
            s.push_str(&format!(
                "\nNo admin exists yet. Open this one-time link within 30 minutes to create the first one:\n  {link}\n\
                 (Or run: hookline user create --email you@example.com --password-stdin --instance-admin)\n"
            ));
        }
        s
    }

    /// Serves until SIGINT/SIGTERM (or the handle stops it), lets in-flight requests finish,
    /// then closes the database cleanly.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let stop_retention = Arc::new(tokio::sync::Notify::new());
        let retention = crate::retention::spawn(
            self.store.clone(),
            self.retention_days,
            stop_retention.clone(),
        );
        let stop_jobs = Arc::new(tokio::sync::Notify::new());
        let jobs = crate::delivery::bulk::spawn(
            self.store.clone(),
            self.engine_wake.clone(),
            self.jobs_wake.clone(),
            stop_jobs.clone(),
        );
        let result = self.server.await;
        stop_retention.notify_one();
        stop_jobs.notify_one();
        let _ = retention.await;
        let _ = jobs.await;
        // Stop claiming; attempts in flight finish (bounded) and are recorded.
        self.engine.shutdown().await;
        let store = self.store.clone();
        let _ = tokio::task::spawn_blocking(move || store.close()).await;
        tracing::info!("stopped");
        result
    }
}

/// What `hookline_meta['secret_key_check']` holds, sealed with the secret key.
const KEY_CHECK: &str = "hookline secret key check";

/// Refuses to start with a secret key that cannot open what the database holds: a node
/// given another HOOKLINE_SECRET_KEY_FILE than its peers (or a data directory restored
/// without its `secret.key`) would otherwise sign with secrets nobody can read back. The
/// first start stores a value sealed with its key; later starts must open it. Two nodes
/// with different keys racing at the very first start cannot both pass: the first to store
/// its value wins and the other cannot open it.
pub async fn check_secret_key(
    store: &Store,
    secrets: &crate::crypto::SecretBox,
) -> anyhow::Result<()> {
    let refuse = || {
        anyhow::anyhow!(
            "this secret key cannot open the secrets stored in this database; every node must read \
             the same HOOKLINE_SECRET_KEY_FILE (the secret.key of the data directory the database \
             came from)"
        )
    };
    let opens = |sealed: &[u8]| secrets.open(sealed).is_ok_and(|v| v == KEY_CHECK);
    if let Some(sealed) = store.meta_get("secret_key_check".into()).await? {
        return if opens(&sealed) {
            Ok(())
        } else {
            Err(refuse())
        };
    }
    // A database from before the check (or just migrated): the key must open its secrets.
    if let Some(sample) = store.webhook_secret_sample().await? {
        secrets.open(&sample).map_err(|_| refuse())?;
    }
    let stored = store
        .meta_put_new("secret_key_check".into(), secrets.seal(KEY_CHECK))
        .await?;
    if opens(&stored) {
        Ok(())
    } else {
        Err(refuse())
    }
}

/// On an instance with no users, makes a fresh setup token and returns the link.
async fn first_run_link(store: &Store, base_url: &str) -> anyhow::Result<Option<String>> {
    if store.users_count().await? > 0 {
        return Ok(None);
    }
    let token = crate::auth::new_token();
    let hash = crate::auth::token_hash(&token);
    store.setup_token_create(hash, SETUP_LINK_TTL_MS).await?;
    Ok(Some(format!("{base_url}/setup?token={token}")))
}

/// `GET /healthz`: liveness. On SQLite the database is this process's own file, so it is
/// read; on a shared PostgreSQL it is not (an outage of the database must not make an
/// orchestrator restart every node: `/readyz` says it instead).
async fn healthz(state: web::Data<AppState>) -> HttpResponse {
    if state.store.is_shared() {
        return crate::api::envelope(
            StatusCode::OK,
            serde_json::json!({"status": "ok", "version": crate::VERSION}),
        );
    }
    let check = state.store.ping();
    match tokio::time::timeout(std::time::Duration::from_secs(3), check).await {
        Ok(Ok(())) => crate::api::envelope(
            StatusCode::OK,
            serde_json::json!({"status": "ok", "version": crate::VERSION}),
        ),
        Ok(Err(_)) | Err(_) => {
            let e = crate::api::ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "unhealthy",
                "the database does not answer",
            );
            actix_web::ResponseError::error_response(&e)
        }
    }
}

/// `GET /readyz`: whether this node should get traffic. 503 `not_ready` (with the reason)
/// while the store does not answer within 2 s, while a node of a shared store has not
/// reached it with its heartbeat for 15 s, or while the server shuts down.
async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    let not_ready = |why: &str| {
        let e = crate::api::ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "not_ready", why);
        actix_web::ResponseError::error_response(&e)
    };
    if state.engine.is_stopping() {
        return not_ready("the server is shutting down");
    }
    let check = state.store.ping();
    match tokio::time::timeout(std::time::Duration::from_secs(2), check).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => return not_ready(&format!("the database does not answer: {e}")),
        Err(_) => return not_ready("the database did not answer within 2 s"),
    }
    if let Some(beat) = state.store.heartbeat_at() {
        let age = crate::clock::now_ms() - beat;
        if beat == 0 || age > 15_000 {
            return not_ready("this node's heartbeat has not reached the database for 15 s");
        }
    }
    crate::api::envelope(
        StatusCode::OK,
        serde_json::json!({"status": "ready", "backend": state.store.backend()}),
    )
}

/// `GET /metrics`: OpenMetrics or Prometheus 0.0.4 text, as `Accept` asks. Queue gauges are read at scrape time.
async fn metrics(req: actix_web::HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    if let Some(token) = &state.config.metrics_token {
        let given = crate::auth::bearer_token(
            req.headers()
                .get_all(actix_web::http::header::AUTHORIZATION)
                .map(|v| v.as_bytes()),
        )
        .unwrap_or("");
        if !crate::auth::tokens_equal(given, token) {
            let e = crate::api::ApiError::unauthorized(
                "send the metrics token as 'Authorization: Bearer <token>'",
            );
            return actix_web::ResponseError::error_response(&e);
        }
    }
    let now = crate::clock::now_ms();
    match state.store.queue_figures(now).await {
        Ok((g, inactive_webhooks)) => {
            crate::metrics::global().set_queue(crate::metrics::QueueFigures {
                due: g.due,
                scheduled: g.scheduled,
                in_flight: g.in_flight,
                oldest_due_seconds: g.oldest_due_seconds,
                inactive_webhooks,
            })
        }
        Err(e) => tracing::warn!(error = %e, "metrics: cannot read the queue"),
    }
    let format = crate::metrics::Format::negotiate(
        req.headers()
            .get(actix_web::http::header::ACCEPT)
            .and_then(|v| v.to_str().ok()),
    );
    let body = match format {
        crate::metrics::Format::OpenMetrics => crate::metrics::global().encode(),
        crate::metrics::Format::Prometheus => crate::metrics::global().encode_prometheus(),
    };
    HttpResponse::Ok()
        .content_type(format.content_type())
        .insert_header((actix_web::http::header::VARY, "Accept"))
        .body(body)
}
