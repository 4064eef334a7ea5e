//! The command line: `hookline serve`, `workspace create`, `user create`, `api-key create`,
//! `event-type create`, `backup`, `--version`. Every command takes `--data-dir` and works while
//! a server runs on the same data directory (SQLite WAL with a busy timeout).

use std::io::{BufRead, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};

use crate::config::{Config, RawConfig};
use crate::db;
use crate::domain::{Email, Password, Role, Scopes, Slug, ValidationError};
use crate::store::types::{NewApiKey, Workspace};
use crate::store::{Location, Store};

#[derive(Parser, Debug)]
#[command(
    name = "hookline",
    version,
    about = "Self-hosted webhook delivery: one binary, SQLite inside.",
    long_about = "Hookline delivers your application's events to your customers' webhook endpoints as signed \
                  HTTPS POSTs, retries failures, and keeps a delivery history. Start it with `hookline serve`."
)]
pub struct Cli {
    /// Directory holding the database and the secret-encryption key.
    #[arg(
        long,
        env = "HOOKLINE_DATA_DIR",
        default_value = "./hookline-data",
        global = true
    )]
    pub data_dir: PathBuf,

    /// PostgreSQL shared by several nodes (postgres://user:pass@host:5432/db?sslmode=verify-full);
    /// unset: SQLite in the data directory.
    #[arg(
        long,
        env = "HOOKLINE_DATABASE_URL",
        value_name = "URL",
        hide_env_values = true,
        global = true
    )]
    pub database_url: Option<String>,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the server: REST API, settings UI and delivery engine.
    Serve(Box<ServeArgs>),
    /// Manage workspaces (tenants).
    Workspace {
        #[command(subcommand)]
        command: WorkspaceCommand,
    },
    /// Manage users.
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// Manage API keys.
    #[command(name = "api-key")]
    ApiKey {
        #[command(subcommand)]
        command: ApiKeyCommand,
    },
    /// Manage event types.
    #[command(name = "event-type")]
    EventType {
        #[command(subcommand)]
        command: EventTypeCommand,
    },
    /// Print a one-time link into a workspace's settings (a portal link), alone on stdout:
    /// what `POST /api/v1/portal-links` makes, for a customer's admin without an account.
    #[command(name = "portal-link")]
    PortalLink {
        /// The workspace the link opens.
        #[arg(long)]
        workspace: String,
        /// admin (may change webhooks and keys) or viewer (reads only).
        #[arg(long)]
        role: String,
        /// Who the link is for: shown in the header and recorded as "changed by".
        #[arg(long)]
        email: Option<String>,
        /// Seconds the link can be opened in: 30–3600.
        #[arg(long, default_value_t = crate::domain::tenancy::PORTAL_TTL_DEFAULT)]
        ttl: i64,
        /// The server's public URL, the link's base (else http://<HOOKLINE_LISTEN>).
        #[arg(long, env = "HOOKLINE_PUBLIC_URL", value_name = "URL")]
        public_url: Option<String>,
        /// The server's listen address, for the link's base when no public URL is set.
        #[arg(long, env = "HOOKLINE_LISTEN", value_name = "ADDR:PORT", hide = true)]
        listen: Option<String>,
    },
    /// Copy this data directory's SQLite database (every workspace, user, key, webhook, event,
    /// delivery and attempt) into the empty PostgreSQL database --database-url names, check
    /// it, and say what to do next. Stop the server first.
    MigrateToPostgres,
    /// Write an online, consistent copy of the database to FILE (safe while the server runs).
    Backup {
        /// Where to write the copy; must not exist yet.
        file: PathBuf,
    },
    /// Print a shell completion script, e.g. `hookline completion bash > /etc/bash_completion.d/hookline`.
    Completion {
        /// The shell to complete in.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

#[derive(Args, Debug, Default)]
pub struct ServeArgs {
    /// The 32-byte secret-encryption key to read (the same file on every node sharing a database); default <data-dir>/secret.key, created on first start.
    #[arg(long, env = "HOOKLINE_SECRET_KEY_FILE", value_name = "PATH")]
    pub secret_key_file: Option<String>,
    /// Address and port to listen on.
    #[arg(long, env = "HOOKLINE_LISTEN", value_name = "ADDR:PORT")]
    pub listen: Option<String>,
    /// Public base URL, used in links (e.g. https://hooks.example.com).
    #[arg(long, env = "HOOKLINE_PUBLIC_URL", value_name = "URL")]
    pub public_url: Option<String>,
    /// Development mode: allow http:// webhooks and receivers on 127.0.0.0/8 and ::1 (never in production).
    #[arg(long, env = "HOOKLINE_DEV", value_name = "BOOL", num_args = 0..=1, default_missing_value = "true")]
    pub dev: Option<String>,
    /// Allow http:// webhook URLs (development only): true or false.
    #[arg(long, env = "HOOKLINE_ALLOW_HTTP", value_name = "BOOL", num_args = 0..=1, default_missing_value = "true")]
    pub allow_http: Option<String>,
    /// Comma-separated CIDRs deliveries may reach although private (e.g. 127.0.0.0/8).
    #[arg(long, env = "HOOKLINE_ALLOWED_NETWORKS", value_name = "CIDRS")]
    pub allowed_networks: Option<String>,
    /// PEM file of extra CA certificates to trust for deliveries.
    #[arg(long, env = "HOOKLINE_EXTRA_CA_FILE", value_name = "FILE")]
    pub extra_ca_file: Option<String>,
    /// Name of the hex HMAC-SHA256 signature header.
    #[arg(long, env = "HOOKLINE_SIGNATURE_HEADER", value_name = "NAME")]
    pub signature_header: Option<String>,
    /// SMTP server for failure notices, e.g. smtps://user:pass@mail.example.com.
    #[arg(long, env = "HOOKLINE_SMTP_URL", value_name = "URL")]
    pub smtp_url: Option<String>,
    /// Sender address of notification emails.
    #[arg(long, env = "HOOKLINE_SMTP_FROM", value_name = "EMAIL")]
    pub smtp_from: Option<String>,
    /// Days to keep events, deliveries and attempts.
    #[arg(long, env = "HOOKLINE_RETENTION_DAYS", value_name = "DAYS")]
    pub retention_days: Option<String>,
    /// Log format: text or json.
    #[arg(long, env = "HOOKLINE_LOG_FORMAT", value_name = "FORMAT")]
    pub log_format: Option<String>,
    /// Most delivery attempts in flight at once.
    #[arg(long, env = "HOOKLINE_MAX_IN_FLIGHT", value_name = "N")]
    pub max_in_flight: Option<String>,
    /// Most attempts in flight to one webhook.
    #[arg(long, env = "HOOKLINE_MAX_IN_FLIGHT_PER_WEBHOOK", value_name = "N")]
    pub max_in_flight_per_webhook: Option<String>,
    /// Disable a webhook whose deliveries all failed for this many days.
    #[arg(long, env = "HOOKLINE_AUTO_DISABLE_DAYS", value_name = "DAYS")]
    pub auto_disable_days: Option<String>,
    /// CIDRs of reverse proxies whose X-Forwarded-For names the real client.
    #[arg(long, env = "HOOKLINE_TRUSTED_PROXIES", value_name = "CIDRS")]
    pub trusted_proxies: Option<String>,
    /// Require `Authorization: Bearer <token>` on GET /metrics.
    #[arg(
        long,
        env = "HOOKLINE_METRICS_TOKEN",
        value_name = "TOKEN",
        hide_env_values = true
    )]
    pub metrics_token: Option<String>,
    /// Origins allowed to show the portal in an iframe (comma-separated).
    #[arg(long, env = "HOOKLINE_EMBED_ORIGINS", value_name = "ORIGINS")]
    pub embed_origins: Option<String>,
    /// Idle minutes after which a portal session ends.
    #[arg(long, env = "HOOKLINE_PORTAL_SESSION_MINUTES", value_name = "MINUTES")]
    pub portal_session_minutes: Option<String>,
    /// Product name shown in titles, the header and emails.
    #[arg(long, env = "HOOKLINE_BRAND_NAME", value_name = "NAME")]
    pub brand_name: Option<String>,
    /// PNG or SVG logo file for the header.
    #[arg(long, env = "HOOKLINE_BRAND_LOGO", value_name = "FILE")]
    pub brand_logo: Option<String>,
    /// Accent colour, #rrggbb.
    #[arg(long, env = "HOOKLINE_BRAND_COLOR", value_name = "#RRGGBB")]
    pub brand_color: Option<String>,
}

#[derive(Subcommand, Debug)]
pub enum WorkspaceCommand {
    /// Create a workspace.
    Create {
        /// Short identifier: lowercase letters, digits and dashes (e.g. acme).
        slug: String,
        /// Display name (defaults to the slug).
        #[arg(long)]
        name: Option<String>,
    },
    /// List workspaces.
    List,
}

#[derive(Subcommand, Debug)]
pub enum UserCommand {
    /// Create a user, reading the password from standard input.
    Create {
        /// The user's email address, which is also their login.
        #[arg(long)]
        email: String,
        /// Read the password from the first line of standard input.
        #[arg(long, required = true)]
        password_stdin: bool,
        /// Make the user an instance admin (may manage every workspace and event types).
        #[arg(long)]
        instance_admin: bool,
        /// Add the user to this workspace (needs --role).
        #[arg(long, requires = "role")]
        workspace: Option<String>,
        /// Role in the workspace: owner, admin or viewer.
        #[arg(long, requires = "workspace")]
        role: Option<String>,
    },
}

#[derive(Subcommand, Debug)]
pub enum ApiKeyCommand {
    /// Create an API key and print it (alone) on standard output. It is shown only once.
    Create {
        /// The workspace the key acts in.
        #[arg(
            long,
            conflicts_with = "instance",
            required_unless_present = "instance"
        )]
        workspace: Option<String>,
        /// An instance key: acts in the workspace named by the Hookline-Workspace header and may manage event types.
        #[arg(long)]
        instance: bool,
        /// Comma-separated scopes: webhooks (manage webhooks, read deliveries), events (publish), portal (make portal links), workspaces (provision workspaces and their keys; instance keys only).
        #[arg(long)]
        scopes: String,
        /// A name to recognise the key by.
        #[arg(long, default_value = "")]
        name: String,
    },
    /// List API keys by prefix (the keys themselves are never stored).
    List {
        #[arg(
            long,
            conflicts_with = "instance",
            required_unless_present = "instance"
        )]
        workspace: Option<String>,
        #[arg(long)]
        instance: bool,
    },
    /// Revoke an API key by its id (see `api-key list`); it stops working at once.
    Revoke {
        id: i64,
        #[arg(
            long,
            conflicts_with = "instance",
            required_unless_present = "instance"
        )]
        workspace: Option<String>,
        #[arg(long)]
        instance: bool,
    },
}

#[derive(Subcommand, Debug)]
pub enum EventTypeCommand {
    /// Define an event type, e.g. project.created.
    Create {
        name: String,
        /// What the event means, shown to webhook owners when they choose events.
        #[arg(long, default_value = "")]
        description: String,
        /// An example payload (a JSON object), shown to webhook owners and sent by Send Test.
        #[arg(long, value_name = "JSON")]
        example: Option<String>,
    },
    /// List event types.
    List,
}

/// Exit code 2 for bad input (as clap does), 1 for everything else.
enum Failure {
    Usage(String),
    Other(anyhow::Error),
}

impl From<anyhow::Error> for Failure {
    fn from(e: anyhow::Error) -> Self {
        Failure::Other(e)
    }
}
impl From<ValidationError> for Failure {
    fn from(e: ValidationError) -> Self {
        Failure::Usage(e.to_string())
    }
}
impl From<crate::domain::ValidationErrors> for Failure {
    fn from(e: crate::domain::ValidationErrors) -> Self {
        Failure::Usage(e.to_string())
    }
}
impl From<db::DbError> for Failure {
    fn from(e: db::DbError) -> Self {
        Failure::Other(e.into())
    }
}
impl From<db::OpenError> for Failure {
    fn from(e: db::OpenError) -> Self {
        Failure::Other(e.into())
    }
}

pub fn main() -> ExitCode {
    crate::db::private_umask();
    crate::db::tune_process();
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Usage(msg)) => {
            eprintln!("hookline: {msg}");
            ExitCode::from(2)
        }
        Err(Failure::Other(e)) => {
            eprintln!("hookline: {e:#}");
            ExitCode::from(1)
        }
    }
}

fn run(cli: Cli) -> Result<(), Failure> {
    let data_dir = cli.data_dir;
    let database = crate::config::parse_database_url(&cli.database_url)
        .map_err(|e| Failure::Usage(e.to_string()))?;
    let at = Location::new(&data_dir, database.as_ref());
    match cli.command {
        Command::Serve(args) => serve(data_dir, cli.database_url, *args),
        Command::Workspace { command } => workspace(at, command),
        Command::PortalLink {
            workspace,
            role,
            email,
            ttl,
            public_url,
            listen,
        } => portal_link(at, &workspace, &role, email, ttl, public_url, listen),
        Command::User {
            command:
                UserCommand::Create {
                    email,
                    instance_admin,
                    workspace,
                    role,
                    ..
                },
        } => user_create(at, &email, instance_admin, workspace, role),
        Command::ApiKey {
            command:
                ApiKeyCommand::Create {
                    workspace,
                    instance,
                    scopes,
                    name,
                },
        } => api_key_create(at, workspace, instance, &scopes, &name),
        Command::ApiKey {
            command:
                ApiKeyCommand::List {
                    workspace,
                    instance,
                },
        } => api_key_list(at, workspace, instance),
        Command::ApiKey {
            command:
                ApiKeyCommand::Revoke {
                    id,
                    workspace,
                    instance,
                },
        } => api_key_revoke(at, id, workspace, instance),
        Command::EventType { command } => event_type(at, command),
        Command::Completion { shell } => {
            let mut cmd = <Cli as clap::CommandFactory>::command();
            clap_complete::generate(shell, &mut cmd, "hookline", &mut std::io::stdout());
            Ok(())
        }
        Command::MigrateToPostgres => migrate_to_postgres(data_dir, database),
        Command::Backup { file } => {
            if database.is_some() {
                return Err(Failure::Usage(crate::store::PG_BACKUP_REFUSAL.into()));
            }
            db::backup(&data_dir, &file)?;
            println!("backup written to {}", file.display());
            eprintln!(
                "note: webhook secrets in it are encrypted with {}; keep a copy of that file (it never changes) to restore",
                crate::crypto::key_path(&data_dir).display()
            );
            Ok(())
        }
    }
}

fn serve(data_dir: PathBuf, database_url: Option<String>, a: ServeArgs) -> Result<(), Failure> {
    let config = Config::parse(RawConfig {
        data_dir,
        database_url,
        secret_key_file: a.secret_key_file,
        listen: a.listen,
        public_url: a.public_url,
        dev: a.dev,
        allow_http: a.allow_http,
        allowed_networks: a.allowed_networks,
        extra_ca_file: a.extra_ca_file,
        signature_header: a.signature_header,
        smtp_url: a.smtp_url,
        smtp_from: a.smtp_from,
        retention_days: a.retention_days,
        log_format: a.log_format,
        max_in_flight: a.max_in_flight,
        max_in_flight_per_webhook: a.max_in_flight_per_webhook,
        auto_disable_days: a.auto_disable_days,
        metrics_token: a.metrics_token,
        trusted_proxies: a.trusted_proxies,
        embed_origins: a.embed_origins,
        portal_session_minutes: a.portal_session_minutes,
        brand_name: a.brand_name,
        brand_logo: a.brand_logo,
        brand_color: a.brand_color,
    })
    .map_err(|e| Failure::Usage(e.to_string()))?;
    crate::telemetry::init(config.log_format);
    let rt = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    rt.block_on(async move {
        let app = crate::startup::Application::build(config).await?;
        print!("{}", app.banner());
        let _ = std::io::stdout().flush();
        app.run_until_stopped().await.context("serving")?;
        Ok::<_, anyhow::Error>(())
    })?;
    Ok(())
}

/// `hookline migrate-to-postgres`: see `store::copy`.
fn migrate_to_postgres(
    data_dir: PathBuf,
    target: Option<crate::pg::Target>,
) -> Result<(), Failure> {
    let Some(target) = target else {
        return Err(Failure::Usage(
            "migrate-to-postgres needs the target: --database-url postgres://user:pass@host:5432/db (or HOOKLINE_DATABASE_URL)".into(),
        ));
    };
    if !db::db_path(&data_dir).exists() {
        return Err(Failure::Usage(format!(
            "no Hookline database at {}: point --data-dir (HOOKLINE_DATA_DIR) at the data directory to move",
            db::db_path(&data_dir).display()
        )));
    }
    let _lock = crate::data_dir_lock::DataDirLock::acquire(&data_dir).map_err(|e| {
        Failure::Usage(format!(
            "{e}; stop the server first: the copy must see every write"
        ))
    })?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    eprintln!(
        "moving {} into {}",
        db::db_path(&data_dir).display(),
        target.shown()
    );
    let report = rt.block_on(async {
        let (tx, rx) = tokio::sync::mpsc::channel(4);
        let dir = data_dir.clone();
        let reader = tokio::task::spawn_blocking(move || {
            db::export::export(&dir, |batch| tx.blocking_send(batch).is_ok())
        });
        let mut shown = (String::new(), 0i64);
        let copied = crate::pg::import(&target, rx, |table, rows| {
            // A line per table, and one per 100,000 rows of a big one.
            if shown.0 != table || rows / 100_000 > shown.1 / 100_000 {
                eprintln!("  copying {table}: {rows} rows");
                shown = (table.to_string(), rows);
            }
        })
        .await;
        reader.await.context("reading the SQLite database")??;
        copied
    })?;
    println!(
        "{:<18} {:>12} {:>12}  check",
        "table", "SQLite", "PostgreSQL"
    );
    for c in &report {
        println!(
            "{:<18} {:>12} {:>12}  {}",
            c.table,
            c.source_rows,
            c.target_rows,
            if c.matches() { "ok" } else { "DIFFERS" }
        );
    }
    if !report.iter().all(|c| c.matches()) {
        return Err(Failure::Other(anyhow::anyhow!(
            "the copy does not match its source (see DIFFERS above); nothing was committed"
        )));
    }
    println!(
        "\nDone: PostgreSQL now holds everything. Next:\n  \
         1. copy {key} to every node and point HOOKLINE_SECRET_KEY_FILE at it;\n  \
         2. set HOOKLINE_DATABASE_URL on every node and start them (each with a data directory of its own);\n  \
         3. keep {dir} as it is: it is the way back.",
        key = crate::crypto::key_path(&data_dir).display(),
        dir = data_dir.display()
    );
    Ok(())
}

/// Opens the store of `data_dir` (migrating it first, as `serve` would) and runs `f` on it
/// in a small runtime of its own; the store is closed (its writes committed) before this
/// returns. Works while `serve` runs on the same data directory.
fn with_store<T, F, Fut>(at: &Location, f: F) -> Result<T, Failure>
where
    F: FnOnce(Store) -> Fut,
    Fut: std::future::Future<Output = Result<T, Failure>>,
{
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    rt.block_on(async {
        let store = Store::open(at).await?;
        let out = f(store.clone()).await;
        store.close();
        out
    })
}

/// The live workspace `slug`, or a usage error saying how to make it.
async fn named_workspace(store: &Store, slug: &str) -> Result<Workspace, Failure> {
    store.workspace_by_slug(slug).await?.ok_or_else(|| {
        Failure::Usage(format!(
            "no workspace '{slug}'; create it with: hookline workspace create {slug}"
        ))
    })
}

fn workspace(at: Location, cmd: WorkspaceCommand) -> Result<(), Failure> {
    match cmd {
        WorkspaceCommand::Create { slug, name } => {
            let slug = Slug::parse(&slug)?;
            let name = name
                .map(|n| n.trim().to_string())
                .filter(|n| !n.is_empty())
                .unwrap_or_else(|| slug.to_string());
            if name.chars().count() > 100 {
                return Err(Failure::Usage("--name: use at most 100 characters".into()));
            }
            let taken = slug.to_string();
            let new = crate::domain::NewWorkspace {
                slug,
                name,
                webhooks_enabled: true,
                max_webhooks: None,
            };
            let ws = with_store(&at, |store| async move {
                Ok(store.workspace_create(new).await?)
            })?
            .ok_or_else(|| {
                Failure::Usage(format!("a workspace with slug '{taken}' already exists"))
            })?;
            println!("created workspace {} ({})", ws.slug, ws.name);
        }
        WorkspaceCommand::List => {
            let all = with_store(
                &at,
                |store| async move { Ok(store.workspaces_all().await?) },
            )?;
            for w in all {
                println!("{}\t{}", w.slug, w.name);
            }
        }
    }
    Ok(())
}

fn read_password_line() -> Result<String, Failure> {
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .context("reading the password from standard input")?;
    Ok(line.trim_end_matches(['\n', '\r']).to_string())
}

fn user_create(
    at: Location,
    email: &str,
    instance_admin: bool,
    workspace: Option<String>,
    role: Option<String>,
) -> Result<(), Failure> {
    let email = Email::parse(email)?;
    let role = role.as_deref().map(Role::parse).transpose()?;
    let password = Password::parse(&read_password_line()?)?;
    let ws = with_store(&at, |store| {
        let email = email.clone();
        async move {
            let ws = match &workspace {
                Some(slug) => Some(named_workspace(&store, slug).await?),
                None => None,
            };
            let taken = || Failure::Usage(format!("a user with email {email} already exists"));
            if store.user_by_email(email.as_str()).await?.is_some() {
                return Err(taken());
            }
            let hash = crate::auth::password::hash(password).await;
            let membership = match (&ws, role) {
                (Some(ws), Some(role)) => Some((ws.id, role)),
                _ => None,
            };
            store
                .user_create(email.clone(), hash, instance_admin, membership)
                .await?
                .ok_or_else(taken)?;
            Ok(ws)
        }
    })?;
    let mut what = vec![];
    if instance_admin {
        what.push("instance admin".to_string());
    }
    if let (Some(ws), Some(role)) = (&ws, role) {
        what.push(format!("{} of {}", role.as_str(), ws.slug));
    }
    let what = if what.is_empty() {
        String::new()
    } else {
        format!(" ({})", what.join(", "))
    };
    println!("created user {email}{what}");
    Ok(())
}

/// Makes a one-time portal link into `workspace` and prints it.
fn portal_link(
    at: Location,
    workspace: &str,
    role: &str,
    email: Option<String>,
    ttl: i64,
    public_url: Option<String>,
    listen: Option<String>,
) -> Result<(), Failure> {
    let req = crate::domain::PortalLinkRequest::parse(Some(role), email.as_deref(), Some(ttl))?;
    let base = match public_url.map(|u| u.trim().trim_end_matches('/').to_string()) {
        Some(u) if !u.is_empty() => {
            let parsed = url::Url::parse(&u)
                .ok()
                .filter(|p| matches!(p.scheme(), "http" | "https") && p.host_str().is_some());
            if parsed.is_none() {
                return Err(Failure::Usage(format!(
                    "--public-url (HOOKLINE_PUBLIC_URL): {u:?} is not a URL; write it like https://hooks.example.com"
                )));
            }
            u
        }
        _ => {
            let listen = listen
                .map(|l| l.trim().to_string())
                .filter(|l| !l.is_empty())
                .unwrap_or_else(|| "127.0.0.1:8080".into());
            if listen.starts_with("0.0.0.0") || listen.starts_with("[::]") {
                eprintln!(
                    "hookline: note: the server listens on {listen}; set --public-url (HOOKLINE_PUBLIC_URL) so the link names an address people can reach"
                );
            }
            format!("http://{listen}")
        }
    };
    let link = with_store(&at, |store| async move {
        let ws = named_workspace(&store, workspace).await?;
        Ok(crate::service::portal::create_link(&store, &base, ws.id, &req, None).await?)
    })?;
    println!("{}", link.url);
    Ok(())
}

/// The workspace id for `--workspace SLUG`, or `None` for `--instance`.
async fn key_owner(
    store: &Store,
    workspace: Option<String>,
    instance: bool,
) -> Result<Option<i64>, Failure> {
    match (workspace, instance) {
        (Some(slug), false) => Ok(Some(named_workspace(store, &slug).await?.id)),
        (None, true) => Ok(None),
        _ => Err(Failure::Usage(
            "give either --workspace SLUG or --instance".into(),
        )),
    }
}

fn api_key_list(at: Location, workspace: Option<String>, instance: bool) -> Result<(), Failure> {
    let keys = with_store(&at, |store| async move {
        let ws = key_owner(&store, workspace, instance).await?;
        Ok(store.api_keys_all(ws).await?)
    })?;
    println!("ID\tPREFIX\tSCOPES\tNAME\tCREATED\tLAST USED\tSTATUS");
    for k in keys {
        println!(
            "{}\t{}…\t{}\t{}\t{}\t{}\t{}",
            k.id,
            k.prefix,
            k.scopes,
            k.name,
            crate::clock::rfc3339(k.created_at),
            k.last_used_at
                .map(crate::clock::rfc3339)
                .unwrap_or_else(|| "never".into()),
            if k.revoked_at.is_some() {
                "revoked"
            } else {
                "active"
            }
        );
    }
    Ok(())
}

fn api_key_revoke(
    at: Location,
    id: i64,
    workspace: Option<String>,
    instance: bool,
) -> Result<(), Failure> {
    with_store(&at, |store| async move {
        let ws = key_owner(&store, workspace, instance).await?;
        let active = store
            .api_keys_all(ws)
            .await?
            .iter()
            .any(|k| k.id == id && k.revoked_at.is_none());
        if !active || store.api_key_revoke(ws, id).await?.is_none() {
            return Err(Failure::Usage(format!(
                "no active API key with id {id} there; see hookline api-key list"
            )));
        }
        Ok(())
    })?;
    println!("revoked API key {id}");
    Ok(())
}

fn api_key_create(
    at: Location,
    workspace: Option<String>,
    instance: bool,
    scopes: &str,
    name: &str,
) -> Result<(), Failure> {
    let mut scopes = Scopes::parse(scopes)?;
    if !instance {
        scopes = scopes.for_workspace_key()?;
    }
    if name.chars().count() > 100 {
        return Err(Failure::Usage("--name: use at most 100 characters".into()));
    }
    let key = crate::auth::new_api_key();
    let (name, prefix, hash) = (name.trim().to_string(), key.prefix, key.hash);
    with_store(&at, |store| async move {
        let workspace_id = key_owner(&store, workspace, instance).await?;
        store
            .api_key_create(NewApiKey {
                workspace_id,
                name,
                prefix,
                hash,
                scopes,
                created_by: None,
            })
            .await?;
        Ok(())
    })?;
    println!("{}", key.key);
    Ok(())
}

fn event_type(at: Location, cmd: EventTypeCommand) -> Result<(), Failure> {
    match cmd {
        EventTypeCommand::Create {
            name,
            description,
            example,
        } => {
            let example = match example {
                None => None,
                Some(s) => Some(serde_json::from_str::<serde_json::Value>(&s).map_err(|e| {
                    Failure::Usage(format!(
                        "--example: not valid JSON ({e}); write a JSON object like '{{\"id\": 1}}'"
                    ))
                })?),
            };
            let new = crate::domain::NewEventType::parse(&name, &description, example.as_ref())?;
            let taken = format!("event type '{}' already exists", new.name);
            let row = with_store(&at, |store| async move {
                Ok(store.event_type_create(new).await?)
            })?
            .ok_or(Failure::Usage(taken))?;
            println!("created event type {}", row.name);
        }
        EventTypeCommand::List => {
            let all = with_store(
                &at,
                |store| async move { Ok(store.event_types_all().await?) },
            )?;
            for t in all {
                println!("{}\t{}", t.name, t.description);
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }
}
