//! The HTTP sender: one POST per attempt, bounded in time and in what it reads, never
//! following redirects, never connecting to an address the SSRF guard refuses.

use std::error::Error as StdError;
use std::fmt;
use std::io;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use anyhow::Context as _;
use ipnet::IpNet;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue, RETRY_AFTER};

use super::ssrf::{Blocked, Guard, GuardedResolver, ResolveError};

/// The most response body an attempt keeps; the rest is never read.
pub const MAX_RESPONSE_BODY: usize = 64 * 1024;

/// The most response header bytes (names and values) an attempt keeps.
pub const MAX_RESPONSE_HEADERS: usize = 16 * 1024;

/// How the sender is built; fixed for the life of the process.
#[derive(Debug, Clone)]
pub struct SenderConfig {
    /// Networks deliveries may reach although the SSRF guard would refuse them.
    pub allowed_networks: Vec<IpNet>,
    /// PEM with extra CA certificates to trust besides the system's (or the bundled) roots.
    pub extra_ca_pem: Option<Vec<u8>>,
    /// The longest bound on DNS + TCP connect + TLS handshake; an attempt gets half its own
    /// timeout, up to this (see [`connect_timeout_for`]).
    pub connect_timeout: Duration,
    /// Idle keep-alive connections kept per receiver host. Many webhooks often share one
    /// host, so this should cover every attempt that can be in flight at once; fewer means a
    /// fresh TCP (and TLS) connection for every attempt beyond it.
    pub max_idle_per_host: usize,
}

impl Default for SenderConfig {
    fn default() -> Self {
        SenderConfig {
            allowed_networks: Vec::new(),
            extra_ca_pem: None,
            connect_timeout: Duration::from_secs(10),
            max_idle_per_host: 256,
        }
    }
}

/// One attempt to make.
#[derive(Debug, Clone)]
pub struct OutgoingRequest {
    pub url: url::Url,
    /// Sent as given, in order (names are case-insensitive on the wire).
    pub headers: Vec<(String, String)>,
    pub body: bytes::Bytes,
    /// Bound on the whole attempt: connect, request, response headers and body.
    pub timeout: Duration,
}

/// What kind of failure an attempt met.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// The SSRF guard refused the address; no connection was made.
    Blocked,
    /// The host name did not resolve.
    Dns,
    /// The TCP connection could not be made (refused, unreachable, connect timeout…).
    Connect,
    /// TLS handshake or certificate failure.
    Tls,
    /// The attempt did not finish within its timeout.
    Timeout,
    /// The receiver reset or closed the connection mid-exchange.
    Reset,
    /// Anything else (bad header, protocol error…).
    Other,
}

impl ErrorKind {
    /// A stable lowercase name, for storage and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Blocked => "blocked",
            ErrorKind::Dns => "dns",
            ErrorKind::Connect => "connect",
            ErrorKind::Tls => "tls",
            ErrorKind::Timeout => "timeout",
            ErrorKind::Reset => "reset",
            ErrorKind::Other => "other",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why an attempt failed, with a message meant for people reading the attempt record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttemptError {
    pub kind: ErrorKind,
    pub message: String,
}

impl AttemptError {
    fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        AttemptError {
            kind,
            message: message.into(),
        }
    }
}

impl fmt::Display for AttemptError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for AttemptError {}

/// The result of one attempt. A response may come with an error too (e.g. headers arrived,
/// then the body timed out): `status` and what was read of the body are kept.
#[derive(Debug, Clone, Default)]
pub struct Outcome {
    pub status: Option<u16>,
    pub response_headers: Vec<(String, String)>,
    /// At most [`MAX_RESPONSE_BODY`] bytes.
    pub response_body: Vec<u8>,
    pub duration_ms: i64,
    pub error: Option<AttemptError>,
    /// From `Retry-After`, only on 429 and 503.
    pub retry_after: Option<Duration>,
}

impl Outcome {
    /// A 2xx status and no error.
    pub fn is_success(&self) -> bool {
        self.error.is_none() && self.status.is_some_and(|s| (200..300).contains(&s))
    }

    fn failed(kind: ErrorKind, message: impl Into<String>, started: Instant) -> Outcome {
        Outcome {
            error: Some(AttemptError::new(kind, message)),
            duration_ms: elapsed_ms(started),
            ..Outcome::default()
        }
    }
}

fn elapsed_ms(started: Instant) -> i64 {
    i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX)
}

/// `2s`, `1500ms`.
fn human_duration(d: Duration) -> String {
    if d.subsec_millis() == 0 {
        format!("{}s", d.as_secs())
    } else {
        format!("{}ms", d.as_millis())
    }
}

/// Parse a `Retry-After` value: delta-seconds or an HTTP-date (relative to `now`; a date in
/// the past means zero). `None` if it is neither.
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let v = value.trim();
    if !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()) {
        // Absurdly long numbers saturate; the caller bounds the delay by its schedule anyway.
        return Some(Duration::from_secs(v.parse::<u64>().unwrap_or(u64::MAX)));
    }
    let at = httpdate::parse_http_date(v).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

/// The delivery HTTP client. Cheap to clone; build one per process.
///
/// An attempt's timeout bounds the whole exchange, and its connect phase (DNS, TCP, TLS) gets
/// a shorter bound of its own, so a receiver that cannot be reached is reported as a connect
/// error rather than as a timeout of the whole attempt. reqwest sets the connect timeout per
/// client, so the sender keeps one client (and connection pool) per connect timeout in use:
/// [`connect_timeout_for`] has at most a few dozen values, and webhooks with the default
/// timeout all share one.
#[derive(Clone)]
pub struct Sender {
    inner: Arc<SenderInner>,
}

struct SenderInner {
    config: SenderConfig,
    /// The system's CA certificates; empty means the bundled Mozilla roots.
    system_roots: Vec<reqwest::Certificate>,
    extra_roots: Vec<reqwest::Certificate>,
    guard: Arc<Guard>,
    clients: std::sync::RwLock<std::collections::HashMap<Duration, reqwest::Client>>,
}

impl fmt::Debug for Sender {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sender")
            .field("guard", &self.inner.guard)
            .field("connect_timeout", &self.inner.config.connect_timeout)
            .finish_non_exhaustive()
    }
}

/// The CA certificates of the system's trust store (`/etc/ssl/certs`, or what
/// `SSL_CERT_FILE` / `SSL_CERT_DIR` name), so a CA added with `update-ca-certificates` is
/// trusted. Empty when the system has none that parse: the sender then falls back to the
/// Mozilla roots compiled into the binary.
pub fn system_roots() -> Vec<reqwest::Certificate> {
    let found = rustls_native_certs::load_native_certs();
    for e in &found.errors {
        tracing::debug!(error = %e, "skipping part of the system's CA store");
    }
    found
        .certs
        .iter()
        .filter_map(|der| reqwest::Certificate::from_der(der.as_ref()).ok())
        .collect()
}

/// The connect-phase bound of an attempt with `timeout`: half of it (to the 100 ms), at
/// least 100 ms, and at most `max` (the sender's `connect_timeout`).
pub fn connect_timeout_for(timeout: Duration, max: Duration) -> Duration {
    let half_ms = (timeout.as_millis() / 2 / 100 * 100).max(100);
    Duration::from_millis(u64::try_from(half_ms).unwrap_or(u64::MAX)).min(max)
}

impl Sender {
    pub fn new(cfg: SenderConfig) -> anyhow::Result<Sender> {
        let guard = Arc::new(Guard::new(cfg.allowed_networks.clone()));
        let mut extra_roots = Vec::new();
        if let Some(pem) = &cfg.extra_ca_pem {
            extra_roots = reqwest::Certificate::from_pem_bundle(pem)
                .context("reading the extra CA certificates (PEM)")?;
            if extra_roots.is_empty() {
                anyhow::bail!("the extra CA file holds no PEM certificate");
            }
        }
        let system_roots = system_roots();
        if system_roots.is_empty() {
            tracing::warn!("the system has no CA certificates (e.g. ca-certificates is not installed); trusting the Mozilla roots built into Hookline");
        } else {
            tracing::debug!(
                certificates = system_roots.len(),
                "trusting the system's CA store"
            );
        }
        let sender = Sender {
            inner: Arc::new(SenderInner {
                config: cfg,
                system_roots,
                extra_roots,
                guard,
                clients: Default::default(),
            }),
        };
        // Build the default client now, so a configuration that cannot work fails at start.
        sender.client(sender.inner.config.connect_timeout)?;
        Ok(sender)
    }

    fn build_client(&self, connect_timeout: Duration) -> anyhow::Result<reqwest::Client> {
        let cfg = &self.inner.config;
        let mut builder = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .referer(false)
            .dns_resolver(Arc::new(GuardedResolver::new(self.inner.guard.clone())))
            .connect_timeout(connect_timeout)
            .pool_max_idle_per_host(cfg.max_idle_per_host)
            .pool_idle_timeout(Duration::from_secs(60))
            .tcp_nodelay(true)
            .http1_only()
            // The system's trust store; the bundled roots only where the system has none.
            .tls_built_in_root_certs(self.inner.system_roots.is_empty());
        for c in self
            .inner
            .system_roots
            .iter()
            .chain(&self.inner.extra_roots)
        {
            builder = builder.add_root_certificate(c.clone());
        }
        builder.build().context("building the delivery HTTP client")
    }

    /// The client whose connections time out after `connect_timeout`.
    fn client(&self, connect_timeout: Duration) -> anyhow::Result<reqwest::Client> {
        if let Some(c) = self
            .inner
            .clients
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(&connect_timeout)
        {
            return Ok(c.clone());
        }
        let mut clients = self
            .inner
            .clients
            .write()
            .unwrap_or_else(|e| e.into_inner());
        if let Some(c) = clients.get(&connect_timeout) {
            return Ok(c.clone());
        }
        let c = self.build_client(connect_timeout)?;
        clients.insert(connect_timeout, c.clone());
        Ok(c)
    }

    /// The SSRF guard this sender applies.
    pub fn guard(&self) -> &Guard {
        &self.inner.guard
    }

    /// Make one attempt. Never panics and never returns early without an [`Outcome`].
    pub async fn send(&self, req: OutgoingRequest) -> Outcome {
        let started = Instant::now();
        if !matches!(req.url.scheme(), "http" | "https") {
            return Outcome::failed(
                ErrorKind::Other,
                format!("unsupported URL scheme {:?}", req.url.scheme()),
                started,
            );
        }
        if let Err(b) = self.inner.guard.check_url(&req.url) {
            return Outcome::failed(ErrorKind::Blocked, b.to_string(), started);
        }
        let mut headers = HeaderMap::with_capacity(req.headers.len());
        for (k, v) in &req.headers {
            let Ok(name) = HeaderName::from_bytes(k.as_bytes()) else {
                return Outcome::failed(
                    ErrorKind::Other,
                    format!("invalid header name {k:?}"),
                    started,
                );
            };
            let Ok(value) = HeaderValue::from_bytes(v.as_bytes()) else {
                return Outcome::failed(
                    ErrorKind::Other,
                    format!("invalid value for header {k}"),
                    started,
                );
            };
            headers.append(name, value);
        }
        let connect_timeout = connect_timeout_for(req.timeout, self.inner.config.connect_timeout);
        let client = match self.client(connect_timeout) {
            Ok(c) => c,
            Err(e) => return Outcome::failed(ErrorKind::Other, format!("{e:#}"), started),
        };
        let request = client
            .post(req.url.clone())
            .headers(headers)
            .body(req.body.clone());

        let mut out = Outcome::default();
        let result = tokio::time::timeout(req.timeout, exchange(request, &mut out)).await;
        out.duration_ms = elapsed_ms(started);
        match result {
            Ok(Ok(())) => {}
            Ok(Err(e)) => out.error = Some(classify(&e, connect_timeout)),
            Err(_) => {
                out.error = Some(AttemptError::new(
                    ErrorKind::Timeout,
                    format!("timed out after {}", human_duration(req.timeout)),
                ))
            }
        }
        out
    }
}

/// Send, then fill `out` as the response arrives, so a timeout keeps what came before it.
async fn exchange(request: reqwest::RequestBuilder, out: &mut Outcome) -> reqwest::Result<()> {
    let mut resp = request.send().await?;
    let status = resp.status().as_u16();
    out.status = Some(status);
    // Kept up to MAX_RESPONSE_HEADERS bytes (names and values), in order: a receiver's
    // headers are for reading, not a place to store megabytes per attempt.
    let mut kept = 0usize;
    out.response_headers = resp
        .headers()
        .iter()
        .take_while(|(k, v)| {
            kept += k.as_str().len() + v.len();
            kept <= MAX_RESPONSE_HEADERS
        })
        .map(|(k, v)| {
            (
                k.as_str().to_string(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    if status == 429 || status == 503 {
        out.retry_after = resp
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| parse_retry_after(v, SystemTime::now()));
    }
    while out.response_body.len() < MAX_RESPONSE_BODY {
        let Some(chunk) = resp.chunk().await? else {
            break;
        };
        let room = MAX_RESPONSE_BODY - out.response_body.len();
        out.response_body
            .extend_from_slice(&chunk[..chunk.len().min(room)]);
    }
    // Dropping `resp` with body left unread closes the connection instead of draining it.
    drop(resp);
    Ok(())
}

/// Turn a reqwest error into a kind and a message naming the real cause.
fn classify(err: &reqwest::Error, connect_timeout: Duration) -> AttemptError {
    // A timeout while connecting (reqwest's connect timeout, or the kernel's) means the
    // receiver could not be reached: a connect error, whatever the cause chain calls it.
    if err.is_connect()
        && (err.is_timeout() || find_cause(err).is_some_and(|c| c.kind == ErrorKind::Timeout))
    {
        return AttemptError::new(
            ErrorKind::Connect,
            format!(
                "connect timed out after {} (no TCP or TLS connection to the receiver)",
                human_duration(connect_timeout)
            ),
        );
    }
    if let Some(found) = find_cause(err) {
        return found;
    }
    if err.is_timeout() {
        // Only the connect timeout is reqwest's; the attempt's own is a tokio timeout.
        return AttemptError::new(ErrorKind::Timeout, "timed out");
    }
    let chain = chain_message(err);
    if chain.contains("connection closed before message completed") {
        return AttemptError::new(
            ErrorKind::Reset,
            "connection closed by the receiver before the response was complete",
        );
    }
    if err.is_connect() {
        return AttemptError::new(ErrorKind::Connect, format!("connect: {chain}"));
    }
    if err.is_body() || err.is_decode() {
        return AttemptError::new(
            ErrorKind::Other,
            format!("reading the response body: {chain}"),
        );
    }
    AttemptError::new(ErrorKind::Other, format!("HTTP error: {chain}"))
}

/// Walk the source chain for a cause we know how to name. `io::Error`s are opened
/// explicitly: their `source()` skips the error they wrap (and they nest, e.g. a rustls error
/// inside an `InvalidData` inside an `Other`).
fn find_cause(err: &(dyn StdError + 'static)) -> Option<AttemptError> {
    let mut cur: Option<&(dyn StdError + 'static)> = Some(err);
    while let Some(e) = cur {
        if let Some(found) = known(e) {
            return Some(found);
        }
        if let Some(io) = e.downcast_ref::<io::Error>() {
            if let Some(inner) = io.get_ref() {
                if let Some(found) = find_cause(inner) {
                    return Some(found);
                }
            }
            if let Some(found) = io_kind(io) {
                return Some(found);
            }
        }
        cur = e.source();
    }
    None
}

fn known(e: &(dyn StdError + 'static)) -> Option<AttemptError> {
    if let Some(b) = e.downcast_ref::<Blocked>() {
        return Some(AttemptError::new(ErrorKind::Blocked, b.to_string()));
    }
    if let Some(r) = e.downcast_ref::<ResolveError>() {
        let kind = match r {
            ResolveError::Blocked(_) => ErrorKind::Blocked,
            ResolveError::NoAddress { .. } => ErrorKind::Dns,
        };
        return Some(AttemptError::new(kind, r.to_string()));
    }
    if let Some(t) = e.downcast_ref::<rustls::Error>() {
        return Some(AttemptError::new(ErrorKind::Tls, format!("TLS: {t}")));
    }
    None
}

fn io_kind(io: &io::Error) -> Option<AttemptError> {
    use io::ErrorKind as K;
    let (kind, msg) = match io.kind() {
        K::ConnectionRefused => (ErrorKind::Connect, "connection refused"),
        K::ConnectionReset => (ErrorKind::Reset, "connection reset by the receiver"),
        K::ConnectionAborted => (ErrorKind::Reset, "connection aborted"),
        K::BrokenPipe => (
            ErrorKind::Reset,
            "connection closed by the receiver (broken pipe)",
        ),
        K::UnexpectedEof => (
            ErrorKind::Reset,
            "connection closed by the receiver before the response was complete",
        ),
        K::TimedOut => (ErrorKind::Timeout, "connection timed out"),
        K::HostUnreachable => (ErrorKind::Connect, "host unreachable"),
        K::NetworkUnreachable => (ErrorKind::Connect, "network unreachable"),
        K::AddrNotAvailable => (ErrorKind::Connect, "address not available"),
        _ => return None,
    };
    Some(AttemptError::new(kind, msg))
}

/// `b: c` from an error's sources, leaving out the wrappers that only repeat the URL
/// (reqwest) or name an internal stage (hyper-util's `client error (…)`).
fn chain_message(err: &reqwest::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut cur: Option<&(dyn StdError + 'static)> = err.source();
    while let Some(e) = cur {
        let s = e.to_string();
        let wrapper = s.starts_with("client error (") && e.source().is_some();
        if !wrapper && !parts.iter().any(|p| p.contains(&s)) {
            parts.push(s);
        }
        cur = e.source();
    }
    if parts.is_empty() {
        // No sources: reqwest's own message is all there is.
        parts.push(err.to_string());
    }
    parts.join(": ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_forms() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(784_111_777); // Sun, 06 Nov 1994 08:49:37 GMT
        assert_eq!(
            parse_retry_after("120", now),
            Some(Duration::from_secs(120))
        );
        assert_eq!(parse_retry_after(" 0 ", now), Some(Duration::ZERO));
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:50:37 GMT", now),
            Some(Duration::from_secs(60))
        );
        assert_eq!(
            parse_retry_after("Sunday, 06-Nov-94 08:49:47 GMT", now),
            Some(Duration::from_secs(10))
        );
        assert_eq!(
            parse_retry_after("Sun Nov  6 08:49:57 1994", now),
            Some(Duration::from_secs(20))
        );
        // In the past: retry now.
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:00:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(
            parse_retry_after("99999999999999999999999", now),
            Some(Duration::from_secs(u64::MAX))
        );
        for bad in ["", "soon", "-5", "1.5", "12 s"] {
            assert_eq!(parse_retry_after(bad, now), None, "{bad}");
        }
    }

    #[test]
    fn the_connect_phase_gets_half_the_attempt_up_to_the_maximum() {
        let max = Duration::from_secs(10);
        for (timeout_ms, want_ms) in [
            (1000, 500),
            (1500, 700),
            (2000, 1000),
            (3000, 1500),
            (10_000, 5000),
            (19_000, 9500),
            (20_000, 10_000),
            (30_000, 10_000),
            (60_000, 10_000),
            (100, 100),
            (0, 100),
        ] {
            let got = connect_timeout_for(Duration::from_millis(timeout_ms), max);
            assert_eq!(got, Duration::from_millis(want_ms), "{timeout_ms}");
            assert!(timeout_ms < 200 || got < Duration::from_millis(timeout_ms));
        }
        assert_eq!(
            connect_timeout_for(Duration::from_secs(30), Duration::from_secs(2)),
            Duration::from_secs(2)
        );
    }

    #[test]
    fn durations_read_well() {
        assert_eq!(human_duration(Duration::from_secs(2)), "2s");
        assert_eq!(human_duration(Duration::from_millis(1500)), "1500ms");
    }

    #[test]
    fn success_is_2xx_without_error() {
        let mut o = Outcome {
            status: Some(204),
            ..Outcome::default()
        };
        assert!(o.is_success());
        o.status = Some(301);
        assert!(!o.is_success());
        o.status = Some(200);
        o.error = Some(AttemptError::new(ErrorKind::Timeout, "timed out after 1s"));
        assert!(!o.is_success());
        assert!(!Outcome::default().is_success());
    }

    #[test]
    fn bad_extra_ca_is_an_error() {
        let cfg = SenderConfig {
            extra_ca_pem: Some(b"not a certificate".to_vec()),
            ..SenderConfig::default()
        };
        assert!(Sender::new(cfg).is_err());
    }
}
