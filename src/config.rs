//! Configuration: every setting comes from a flag or its `HOOKLINE_*` environment variable,
//! is parsed once here, and a bad value stops start-up with one line that names the setting,
//! the bad value and what to write instead.

use std::net::SocketAddr;
use std::path::PathBuf;

use ipnet::IpNet;
use url::Url;

/// One row of the configuration table. The README's table is checked against this list by a
/// test, so the documentation cannot drift from the code.
pub struct Setting {
    pub env: &'static str,
    pub flag: &'static str,
    pub default: &'static str,
    pub help: &'static str,
}

pub const SETTINGS: &[Setting] = &[
    Setting { env: "HOOKLINE_DATA_DIR", flag: "--data-dir", default: "./hookline-data", help: "Directory holding the SQLite database and the secret-encryption key." },
    Setting { env: "HOOKLINE_DATABASE_URL", flag: "--database-url", default: "(none: SQLite in the data directory)", help: "PostgreSQL 14 or newer shared by several Hookline nodes, e.g. `postgres://hookline:secret@db.example.com:5432/hookline?sslmode=verify-full` (`sslmode` = `disable`, `prefer`, `require` or `verify-full`, with `sslrootcert=PATH` for a private CA; `require` verifies the certificate too). Every command honours it; `backup` then points at `pg_dump`." },
    Setting { env: "HOOKLINE_SECRET_KEY_FILE", flag: "--secret-key-file", default: "<data dir>/secret.key", help: "The 32-byte key that encrypts webhook secrets. Nodes sharing a database must all read the same file (copy the first node's `secret.key`); start-up refuses a key that cannot open the secrets already stored. Never created when set." },
    Setting { env: "HOOKLINE_LISTEN", flag: "--listen", default: "127.0.0.1:8080", help: "Address and port the HTTP server binds to." },
    Setting { env: "HOOKLINE_PUBLIC_URL", flag: "--public-url", default: "http://<listen address>", help: "URL people use to reach Hookline (links in the banner and in emails; `https://` turns on Secure cookies)." },
    Setting { env: "HOOKLINE_DEV", flag: "--dev", default: "false", help: "Development mode: allows `http://` webhook URLs and deliveries to `127.0.0.0/8` and `::1` (receivers on this machine), and says so loudly at start. Refused with an `https://` public URL." },
    Setting { env: "HOOKLINE_ALLOW_HTTP", flag: "--allow-http", default: "false", help: "Allow `http://` webhook URLs (development only)." },
    Setting { env: "HOOKLINE_ALLOWED_NETWORKS", flag: "--allowed-networks", default: "(none)", help: "Comma-separated CIDRs that deliveries may reach although private, e.g. `127.0.0.0/8,10.1.0.0/16`." },
    Setting { env: "HOOKLINE_EXTRA_CA_FILE", flag: "--extra-ca-file", default: "(none)", help: "PEM file with extra CA certificates to trust for HTTPS deliveries." },
    Setting { env: "HOOKLINE_SIGNATURE_HEADER", flag: "--signature-header", default: "X-Hookline-Signature", help: "Name of the hex HMAC-SHA256 signature header." },
    Setting { env: "HOOKLINE_SMTP_URL", flag: "--smtp-url", default: "(none)", help: "SMTP server for failure notices, e.g. `smtps://user:pass@mail.example.com` or `smtp://127.0.0.1:2525`." },
    Setting { env: "HOOKLINE_SMTP_FROM", flag: "--smtp-from", default: "hookline@<public host>", help: "Sender address of notification emails." },
    Setting { env: "HOOKLINE_RETENTION_DAYS", flag: "--retention-days", default: "30", help: "Days to keep events, deliveries and attempts (1–3650)." },
    Setting { env: "HOOKLINE_LOG_FORMAT", flag: "--log-format", default: "text", help: "Log output: `text` or `json`." },
    Setting { env: "HOOKLINE_MAX_IN_FLIGHT", flag: "--max-in-flight", default: "256", help: "Most delivery attempts in flight at once (1–10000); also the idle keep-alive connections kept per receiver host." },
    Setting { env: "HOOKLINE_MAX_IN_FLIGHT_PER_WEBHOOK", flag: "--max-in-flight-per-webhook", default: "16", help: "Most attempts in flight to one webhook, so a slow receiver only holds its own slots (1–1000)." },
    Setting { env: "HOOKLINE_TRUSTED_PROXIES", flag: "--trusted-proxies", default: "(none)", help: "Comma-separated CIDRs of reverse proxies whose `X-Forwarded-For` names the real client (for login throttling and session records), e.g. `127.0.0.1/32`." },
    Setting { env: "HOOKLINE_METRICS_TOKEN", flag: "--metrics-token", default: "(none)", help: "If set, `GET /metrics` requires `Authorization: Bearer <token>` (letters, digits and `-._~+/`)." },
    Setting { env: "HOOKLINE_EMBED_ORIGINS", flag: "--embed-origins", default: "(none)", help: "Comma-separated origins whose pages may show the portal in an iframe, e.g. `https://app.plnar.example`. Portal pages then answer `frame-ancestors` with them and their cookies are `SameSite=None; Secure; Partitioned` (CHIPS) over https; every other page still refuses frames." },
    Setting { env: "HOOKLINE_PORTAL_SESSION_MINUTES", flag: "--portal-session-minutes", default: "60", help: "A portal session ends after this many idle minutes (1–1440)." },
    Setting { env: "HOOKLINE_BRAND_NAME", flag: "--brand-name", default: "Hookline", help: "Product name in page titles, the header, emails and the portal's pages (at most 60 characters)." },
    Setting { env: "HOOKLINE_BRAND_LOGO", flag: "--brand-logo", default: "(none)", help: "Path to a PNG or SVG logo (at most 512 KiB) shown in the header; read once at start and served from memory with an ETag." },
    Setting { env: "HOOKLINE_BRAND_COLOR", flag: "--brand-color", default: "#2457d6", help: "Accent colour `#rrggbb` of buttons and links; the text colour on it is chosen at start for a contrast of at least 4.5:1, and links get a shade of it that reads on white." },
    Setting { env: "HOOKLINE_AUTO_DISABLE_DAYS", flag: "--auto-disable-days", default: "5", help: "Disable a webhook whose deliveries all failed for this many days (1–365)." },
];

/// What development mode lets deliveries reach: receivers on this machine.
pub const DEV_NETWORKS: &[&str] = &["127.0.0.0/8", "::1/128"];

/// A bad configuration value.
#[derive(Debug, thiserror::Error)]
#[error("invalid {env} (flag {flag}): {value:?} — {expected}")]
pub struct ConfigError {
    pub env: &'static str,
    pub flag: &'static str,
    pub value: String,
    pub expected: String,
}

fn bad(env: &'static str, value: &str, expected: impl Into<String>) -> ConfigError {
    let flag = SETTINGS
        .iter()
        .find(|s| s.env == env)
        .map(|s| s.flag)
        .unwrap_or("");
    ConfigError {
        env,
        flag,
        value: value.to_string(),
        expected: expected.into(),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

/// The raw, unparsed values as they came from flags or the environment.
#[derive(Debug, Default, Clone)]
pub struct RawConfig {
    pub data_dir: PathBuf,
    pub database_url: Option<String>,
    pub secret_key_file: Option<String>,
    pub listen: Option<String>,
    pub public_url: Option<String>,
    pub dev: Option<String>,
    pub allow_http: Option<String>,
    pub allowed_networks: Option<String>,
    pub extra_ca_file: Option<String>,
    pub signature_header: Option<String>,
    pub smtp_url: Option<String>,
    pub smtp_from: Option<String>,
    pub retention_days: Option<String>,
    pub log_format: Option<String>,
    pub max_in_flight: Option<String>,
    pub max_in_flight_per_webhook: Option<String>,
    pub auto_disable_days: Option<String>,
    pub metrics_token: Option<String>,
    pub trusted_proxies: Option<String>,
    pub embed_origins: Option<String>,
    pub portal_session_minutes: Option<String>,
    pub brand_name: Option<String>,
    pub brand_logo: Option<String>,
    pub brand_color: Option<String>,
}

/// Validated configuration of a running server.
#[derive(Debug, Clone)]
pub struct Config {
    pub data_dir: PathBuf,
    /// `HOOKLINE_DATABASE_URL`: PostgreSQL shared by several nodes; `None` is SQLite in the
    /// data directory.
    pub database: Option<crate::pg::Target>,
    /// `HOOKLINE_SECRET_KEY_FILE`: the secret key to read (never created); `None` is
    /// `<data dir>/secret.key`, created on first start.
    pub secret_key_file: Option<PathBuf>,
    pub listen: SocketAddr,
    /// `None` means "derive from the bound address" (useful with port 0).
    pub public_url: Option<Url>,
    /// Development mode (`--dev`): http and loopback receivers allowed; the banner says so.
    pub dev: bool,
    pub allow_http: bool,
    pub allowed_networks: Vec<IpNet>,
    pub extra_ca_file: Option<PathBuf>,
    pub signature_header: String,
    pub smtp_url: Option<Url>,
    pub smtp_from: Option<String>,
    pub retention_days: u32,
    pub log_format: LogFormat,
    pub max_in_flight: usize,
    pub max_in_flight_per_webhook: usize,
    pub auto_disable_days: u32,
    pub metrics_token: Option<String>,
    pub trusted_proxies: Vec<IpNet>,
    /// Origins (`https://app.example.com`) that may frame the portal.
    pub embed_origins: Vec<String>,
    /// Idle time after which a portal session ends.
    pub portal_session_minutes: u32,
    pub brand: crate::brand::Brand,
    /// Least time between two notification emails about one webhook (one hour; not a
    /// setting, but code may shorten it, as the tests do to see an hour pass).
    pub notice_interval: std::time::Duration,
}

/// Empty strings count as unset, so `HOOKLINE_SMTP_URL=` in a unit file means "no SMTP".
fn set(v: &Option<String>) -> Option<&str> {
    v.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

pub fn parse_bool(env: &'static str, v: &str) -> Result<bool, ConfigError> {
    match v.to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Ok(true),
        "false" | "0" | "no" | "off" => Ok(false),
        _ => Err(bad(env, v, "write true or false")),
    }
}

/// A comma-separated list of CIDRs (a bare address means just that address).
fn parse_networks(env: &'static str, v: &Option<String>) -> Result<Vec<IpNet>, ConfigError> {
    let mut out = Vec::new();
    if let Some(v) = set(v) {
        for part in v.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let net = part
                .parse::<IpNet>()
                .or_else(|_| part.parse::<std::net::IpAddr>().map(IpNet::from))
                .map_err(|_| {
                    bad(
                        env,
                        part,
                        "write comma-separated CIDRs, e.g. 127.0.0.0/8,::1/128",
                    )
                })?;
            out.push(net.trunc());
        }
    }
    Ok(out)
}

/// `HOOKLINE_DATABASE_URL`: a `postgres://` URL (its password never appears in an error).
pub fn parse_database_url(v: &Option<String>) -> Result<Option<crate::pg::Target>, ConfigError> {
    let Some(v) = set(v) else { return Ok(None) };
    crate::pg::Target::parse(v).map(Some).map_err(|e| {
        bad(
            "HOOKLINE_DATABASE_URL",
            "(hidden: it may hold a password)",
            e.to_string(),
        )
    })
}

/// `HOOKLINE_EMBED_ORIGINS`: origins as browsers send them (`scheme://host[:port]`, no
/// path), each checked, written back in their canonical form.
fn parse_origins(v: &Option<String>) -> Result<Vec<String>, ConfigError> {
    const ENV: &str = "HOOKLINE_EMBED_ORIGINS";
    let Some(v) = set(v) else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for part in v.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let u = Url::parse(part).map_err(|_| {
            bad(
                ENV,
                part,
                "write origins like https://app.example.com, separated by commas",
            )
        })?;
        let only_origin = matches!(u.scheme(), "https" | "http")
            && u.host_str().is_some()
            && u.username().is_empty()
            && u.password().is_none()
            && u.path() == "/"
            && u.query().is_none()
            && u.fragment().is_none()
            && !part.trim_end_matches('/').ends_with('*');
        if !only_origin || part.contains('*') {
            return Err(bad(
                ENV,
                part,
                "write only scheme, host and port (https://app.example.com or https://app.example.com:8443), no path and no wildcard",
            ));
        }
        let origin = u.origin().ascii_serialization();
        if !out.contains(&origin) {
            out.push(origin);
        }
    }
    Ok(out)
}

impl Config {
    /// Defaults for a data directory, as `hookline serve` with no configuration at all.
    pub fn for_data_dir(data_dir: impl Into<PathBuf>) -> Config {
        Config::parse(RawConfig {
            data_dir: data_dir.into(),
            ..Default::default()
        })
        .expect("defaults are valid")
    }

    pub fn parse(raw: RawConfig) -> Result<Config, ConfigError> {
        if raw.data_dir.as_os_str().is_empty() {
            return Err(bad(
                "HOOKLINE_DATA_DIR",
                "",
                "write a directory path, e.g. /var/lib/hookline",
            ));
        }
        let listen = match set(&raw.listen) {
            None => "127.0.0.1:8080".parse().unwrap(),
            Some(v) => v.parse::<SocketAddr>().map_err(|_| {
                bad(
                    "HOOKLINE_LISTEN",
                    v,
                    "write an IP address and port, e.g. 127.0.0.1:8080 or [::]:8080",
                )
            })?,
        };
        let public_url = match set(&raw.public_url) {
            None => None,
            Some(v) => {
                let u = Url::parse(v).ok().filter(|u| {
                    matches!(u.scheme(), "http" | "https")
                        && u.host().is_some()
                        && u.query().is_none()
                });
                let mut u = u.ok_or_else(|| {
                    bad(
                        "HOOKLINE_PUBLIC_URL",
                        v,
                        "write an absolute http(s) URL, e.g. https://hooks.example.com",
                    )
                })?;
                // Normalise to no trailing slash so links can be joined with "/path".
                let path = u.path().trim_end_matches('/').to_string();
                u.set_path(&path);
                Some(u)
            }
        };
        let dev = match set(&raw.dev) {
            None => false,
            Some(v) => parse_bool("HOOKLINE_DEV", v)?,
        };
        if dev && public_url.as_ref().is_some_and(|u| u.scheme() == "https") {
            return Err(bad(
                "HOOKLINE_DEV",
                raw.dev.as_deref().unwrap_or("true"),
                "development mode allows http:// and loopback receivers, which has no place on an https:// deployment; \
                 drop --dev, or unset HOOKLINE_PUBLIC_URL for a local try",
            ));
        }
        let allow_http = dev
            || match set(&raw.allow_http) {
                None => false,
                Some(v) => parse_bool("HOOKLINE_ALLOW_HTTP", v)?,
            };
        let mut allowed_networks =
            parse_networks("HOOKLINE_ALLOWED_NETWORKS", &raw.allowed_networks)?;
        if dev {
            for net in DEV_NETWORKS {
                let net: IpNet = net.parse().expect("a valid CIDR");
                if !allowed_networks.contains(&net) {
                    allowed_networks.push(net);
                }
            }
        }
        let extra_ca_file = match set(&raw.extra_ca_file) {
            None => None,
            Some(v) => {
                let p = PathBuf::from(v);
                let pem = std::fs::read(&p).map_err(|e| {
                    bad("HOOKLINE_EXTRA_CA_FILE", v, format!("cannot read it ({e}); write the path of a PEM file with CA certificates"))
                })?;
                if !String::from_utf8_lossy(&pem).contains("-----BEGIN CERTIFICATE-----") {
                    return Err(bad("HOOKLINE_EXTRA_CA_FILE", v, "the file holds no PEM certificate; write the path of a PEM file with CA certificates"));
                }
                Some(p)
            }
        };
        let signature_header = match set(&raw.signature_header) {
            None => "X-Hookline-Signature".to_string(),
            Some(v) => {
                let valid = v
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
                let reserved = crate::domain::RESERVED_HEADERS
                    .iter()
                    .any(|r| r.eq_ignore_ascii_case(v));
                if !valid || reserved || v.len() > 64 {
                    return Err(bad("HOOKLINE_SIGNATURE_HEADER", v, "write a header name of letters, digits and dashes that is not a standard header, e.g. X-Acme-Signature"));
                }
                v.to_string()
            }
        };
        let smtp_url = match set(&raw.smtp_url) {
            None => None,
            Some(v) => Some(
                Url::parse(v)
                    .ok()
                    .filter(|u| matches!(u.scheme(), "smtp" | "smtps") && u.host().is_some())
                    .ok_or_else(|| {
                        bad(
                            "HOOKLINE_SMTP_URL",
                            v,
                            "write smtp://host:port or smtps://user:password@host",
                        )
                    })?,
            ),
        };
        let smtp_from = match set(&raw.smtp_from) {
            None => None,
            Some(v) => {
                crate::domain::Email::parse(v).map_err(|_| {
                    bad(
                        "HOOKLINE_SMTP_FROM",
                        v,
                        "write an email address, e.g. hookline@example.com",
                    )
                })?;
                Some(v.to_string())
            }
        };
        let retention_days = match set(&raw.retention_days) {
            None => 30,
            Some(v) => v
                .parse::<u32>()
                .ok()
                .filter(|d| (1..=3650).contains(d))
                .ok_or_else(|| {
                    bad(
                        "HOOKLINE_RETENTION_DAYS",
                        v,
                        "write a whole number of days from 1 to 3650",
                    )
                })?,
        };
        let log_format = match set(&raw.log_format).map(str::to_ascii_lowercase).as_deref() {
            None | Some("text") => LogFormat::Text,
            Some("json") => LogFormat::Json,
            Some(_) => {
                return Err(bad(
                    "HOOKLINE_LOG_FORMAT",
                    raw.log_format.as_deref().unwrap_or(""),
                    "write text or json",
                ))
            }
        };
        let number = |env: &'static str,
                      v: &Option<String>,
                      default: u32,
                      max: u32|
         -> Result<u32, ConfigError> {
            match set(v) {
                None => Ok(default),
                Some(x) => x
                    .parse::<u32>()
                    .ok()
                    .filter(|n| (1..=max).contains(n))
                    .ok_or_else(|| bad(env, x, format!("write a whole number from 1 to {max}"))),
            }
        };
        let trusted_proxies = parse_networks("HOOKLINE_TRUSTED_PROXIES", &raw.trusted_proxies)?;
        let max_in_flight =
            number("HOOKLINE_MAX_IN_FLIGHT", &raw.max_in_flight, 256, 10_000)? as usize;
        let max_in_flight_per_webhook = number(
            "HOOKLINE_MAX_IN_FLIGHT_PER_WEBHOOK",
            &raw.max_in_flight_per_webhook,
            16,
            1000,
        )? as usize;
        let auto_disable_days =
            number("HOOKLINE_AUTO_DISABLE_DAYS", &raw.auto_disable_days, 5, 365)?;
        // Scrapers send it as `Authorization: Bearer <token>`, read by RFC 6750: only the
        // characters a bearer token may hold can ever match.
        let metrics_token = match set(&raw.metrics_token) {
            None => None,
            Some(t) => {
                let body = t.trim_end_matches('=');
                let b64 = |c: char| {
                    c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_' | '~' | '+' | '/')
                };
                if body.is_empty() || !body.chars().all(b64) {
                    return Err(bad(
                        "HOOKLINE_METRICS_TOKEN",
                        "(hidden)",
                        "write a token of letters, digits and - . _ ~ + / only (it is sent as a bearer token), e.g. the output of: head -c 32 /dev/urandom | base64",
                    ));
                }
                Some(t.to_string())
            }
        };
        let embed_origins = parse_origins(&raw.embed_origins)?;
        let portal_session_minutes = number(
            "HOOKLINE_PORTAL_SESSION_MINUTES",
            &raw.portal_session_minutes,
            60,
            1440,
        )?;
        let brand = crate::brand::Brand::parse(
            set(&raw.brand_name),
            set(&raw.brand_logo),
            set(&raw.brand_color),
        )
        .map_err(|(env, value, expected)| bad(env, &value, expected))?;
        let database = parse_database_url(&raw.database_url)?;
        let secret_key_file = set(&raw.secret_key_file).map(PathBuf::from);
        Ok(Config {
            data_dir: raw.data_dir,
            database,
            secret_key_file,
            listen,
            public_url,
            dev,
            allow_http,
            allowed_networks,
            extra_ca_file,
            signature_header,
            smtp_url,
            smtp_from,
            retention_days,
            log_format,
            max_in_flight,
            max_in_flight_per_webhook,
            auto_disable_days,
            metrics_token,
            trusted_proxies,
            embed_origins,
            portal_session_minutes,
            brand,
            notice_interval: std::time::Duration::from_secs(3600),
        })
    }

    /// Whether cookies must carry `Secure`.
    pub fn https(&self) -> bool {
        self.public_url
            .as_ref()
            .is_some_and(|u| u.scheme() == "https")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw() -> RawConfig {
        RawConfig {
            data_dir: "/tmp/x".into(),
            ..Default::default()
        }
    }

    #[test]
    fn defaults() {
        let c = Config::parse(raw()).unwrap();
        assert_eq!(c.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(c.retention_days, 30);
        assert!(!c.allow_http);
        assert_eq!(c.signature_header, "X-Hookline-Signature");
        assert_eq!(c.log_format, LogFormat::Text);
    }

    #[test]
    fn dev_mode_allows_http_and_loopback_and_never_with_https() {
        let c = Config::parse(RawConfig {
            dev: Some("true".into()),
            allowed_networks: Some("10.1.0.0/16".into()),
            public_url: Some("http://localhost:8080".into()),
            ..raw()
        })
        .unwrap();
        assert!(c.dev && c.allow_http);
        let nets: Vec<String> = c.allowed_networks.iter().map(|n| n.to_string()).collect();
        assert_eq!(nets, ["10.1.0.0/16", "127.0.0.0/8", "::1/128"]);
        let off = Config::parse(RawConfig {
            dev: Some("false".into()),
            ..raw()
        })
        .unwrap();
        assert!(!off.dev && !off.allow_http && off.allowed_networks.is_empty());
        for v in ["true", "1", "yes"] {
            let e = Config::parse(RawConfig {
                dev: Some(v.into()),
                public_url: Some("https://hooks.example.com".into()),
                ..raw()
            })
            .unwrap_err();
            assert_eq!(e.env, "HOOKLINE_DEV");
            assert!(e.to_string().contains("drop --dev"), "{e}");
        }
        let e = Config::parse(RawConfig {
            dev: Some("sure".into()),
            ..raw()
        })
        .unwrap_err();
        assert_eq!(e.env, "HOOKLINE_DEV");
    }

    #[test]
    fn each_bad_value_names_the_setting_and_the_fix() {
        let cases: Vec<(RawConfig, &str)> = vec![
            (
                RawConfig {
                    metrics_token: Some("s3cret!token".into()),
                    ..raw()
                },
                "HOOKLINE_METRICS_TOKEN",
            ),
            (
                RawConfig {
                    metrics_token: Some("two words".into()),
                    ..raw()
                },
                "HOOKLINE_METRICS_TOKEN",
            ),
            (
                RawConfig {
                    trusted_proxies: Some("proxy.local".into()),
                    ..raw()
                },
                "HOOKLINE_TRUSTED_PROXIES",
            ),
            (
                RawConfig {
                    listen: Some("8080".into()),
                    ..raw()
                },
                "HOOKLINE_LISTEN",
            ),
            (
                RawConfig {
                    public_url: Some("ftp://x".into()),
                    ..raw()
                },
                "HOOKLINE_PUBLIC_URL",
            ),
            (
                RawConfig {
                    allow_http: Some("maybe".into()),
                    ..raw()
                },
                "HOOKLINE_ALLOW_HTTP",
            ),
            (
                RawConfig {
                    allowed_networks: Some("10.0.0.0/33".into()),
                    ..raw()
                },
                "HOOKLINE_ALLOWED_NETWORKS",
            ),
            (
                RawConfig {
                    extra_ca_file: Some("/nonexistent.pem".into()),
                    ..raw()
                },
                "HOOKLINE_EXTRA_CA_FILE",
            ),
            (
                RawConfig {
                    signature_header: Some("Bad Header".into()),
                    ..raw()
                },
                "HOOKLINE_SIGNATURE_HEADER",
            ),
            (
                RawConfig {
                    signature_header: Some("Content-Type".into()),
                    ..raw()
                },
                "HOOKLINE_SIGNATURE_HEADER",
            ),
            (
                RawConfig {
                    smtp_url: Some("http://mail".into()),
                    ..raw()
                },
                "HOOKLINE_SMTP_URL",
            ),
            (
                RawConfig {
                    smtp_from: Some("not-an-email".into()),
                    ..raw()
                },
                "HOOKLINE_SMTP_FROM",
            ),
            (
                RawConfig {
                    retention_days: Some("0".into()),
                    ..raw()
                },
                "HOOKLINE_RETENTION_DAYS",
            ),
            (
                RawConfig {
                    retention_days: Some("ten".into()),
                    ..raw()
                },
                "HOOKLINE_RETENTION_DAYS",
            ),
            (
                RawConfig {
                    log_format: Some("xml".into()),
                    ..raw()
                },
                "HOOKLINE_LOG_FORMAT",
            ),
        ];
        for (r, env) in cases {
            let e = Config::parse(r).unwrap_err();
            let msg = e.to_string();
            assert!(msg.contains(env), "{msg}");
            assert!(msg.contains("write"), "{msg}");
            assert!(!msg.contains('\n'), "one line: {msg}");
        }
    }

    #[test]
    fn networks_and_bools_parse() {
        let c = Config::parse(RawConfig {
            allowed_networks: Some("127.0.0.0/8, ::1".into()),
            allow_http: Some("TRUE".into()),
            public_url: Some("https://hooks.example.com/".into()),
            ..raw()
        })
        .unwrap();
        assert_eq!(c.allowed_networks.len(), 2);
        assert!(c.allow_http);
        assert!(c.https());
        assert_eq!(c.public_url.unwrap().as_str(), "https://hooks.example.com/");
    }
}
