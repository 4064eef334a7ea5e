//! The HTTP sender: one POST per attempt, bounded in time and in what it reads, never
//! following redirects, never connecting to an address the SSRF guard refuses.

use std::error::Error as StdError;
use std::fmt;
use std::io;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use anyhow::Context as _;
use http::header::{HOST, RETRY_AFTER};
use hyper_util::client::legacy::connect::HttpConnector;
use ipnet::IpNet;

use super::connections::{ConnectError, Pool, Pools, Settings};
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
    /// Sent as given, in order.
    pub headers: http::HeaderMap,
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

/// The read buffer hyper may grow per connection (a response head must fit in about this,
/// hyper reading one more piece before it gives up; body reads come in pieces of at most
/// this). hyper's default, about 400 KiB, let 180 attempts to receivers that send endless
/// headers or huge bodies hold ~50 MiB between them; with this they hold a few. A larger
/// response head is the receiver's error.
pub const MAX_CONNECTION_BUFFER: usize = 32 * 1024;

/// How long a keep-alive connection to a receiver may sit idle and still carry the next
/// attempt. Node.js, uvicorn, Apache and actix-web close idle connections after 5 s; a
/// connection kept longer than the receiver keeps it can be closed by the receiver just as an
/// attempt goes out on it, and that attempt fails ("closed before the response") although the
/// receiver never read it. Below 5 s the sender opens a fresh connection instead; one that
/// carries steady traffic is never idle this long.
pub const IDLE_CONNECTION_TIMEOUT: Duration = Duration::from_secs(4);

type Connector = ConnectWithin<hyper_rustls::HttpsConnector<HttpConnector<GuardedResolver>>>;

/// A connector whose whole connect phase (DNS, TCP connect, TLS handshake) ends within a
/// bound: hyper's own connect timeout covers the TCP connect alone.
#[derive(Clone)]
pub struct ConnectWithin<C> {
    inner: C,
    limit: Duration,
}

/// The connect phase ran out of time.
#[derive(Debug)]
struct ConnectTimedOut;

impl fmt::Display for ConnectTimedOut {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("connect timed out")
    }
}

impl StdError for ConnectTimedOut {}

impl<C> tower_service::Service<http::Uri> for ConnectWithin<C>
where
    C: tower_service::Service<http::Uri> + Send,
    C::Future: Send + 'static,
    C::Error: Into<Box<dyn StdError + Send + Sync>>,
{
    type Response = C::Response;
    type Error = Box<dyn StdError + Send + Sync>;
    type Future = std::pin::Pin<
        Box<dyn std::future::Future<Output = Result<C::Response, Self::Error>> + Send>,
    >;

    fn poll_ready(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, uri: http::Uri) -> Self::Future {
        let (connect, limit) = (self.inner.call(uri), self.limit);
        Box::pin(async move {
            match tokio::time::timeout(limit, connect).await {
                Ok(r) => r.map_err(Into::into),
                Err(_) => {
                    Err(Box::new(io::Error::new(io::ErrorKind::TimedOut, ConnectTimedOut)) as _)
                }
            }
        })
    }
}

/// The delivery HTTP client (hyper, with rustls). Cheap to clone; build one per process.
///
/// An attempt's timeout bounds the whole exchange, and its connect phase (DNS, TCP, TLS) gets
/// a shorter bound of its own, so a receiver that cannot be reached is reported as a connect
/// error rather than as a timeout of the whole attempt. The connect timeout is a setting of
/// the connector, so the sender keeps one connector per connect timeout in use
/// ([`connect_timeout_for`] has at most a few dozen values, and webhooks with the default
/// timeout all share one), and one pool of keep-alive connections per receiver origin and
/// connect timeout (`delivery::connections`).
#[derive(Clone)]
pub struct Sender {
    inner: Arc<SenderInner>,
}

struct SenderInner {
    config: SenderConfig,
    tls: Arc<rustls::ClientConfig>,
    guard: Arc<Guard>,
    connectors: std::sync::RwLock<std::collections::HashMap<Duration, Arc<Connector>>>,
    pools: Arc<Pools>,
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
pub fn system_roots() -> rustls::RootCertStore {
    let found = rustls_native_certs::load_native_certs();
    for e in &found.errors {
        tracing::debug!(error = %e, "skipping part of the system's CA store");
    }
    let mut roots = rustls::RootCertStore::empty();
    let (_added, _ignored) = roots.add_parsable_certificates(found.certs);
    roots
}

/// How many roots the bundled Mozilla set holds.
pub fn bundled_root_count() -> usize {
    webpki_roots::TLS_SERVER_ROOTS.len()
}

/// The roots deliveries trust: the system's, else the bundled Mozilla roots; plus the
/// operator's extra CAs (PEM).
pub fn trusted_roots(extra_ca_pem: Option<&[u8]>) -> anyhow::Result<rustls::RootCertStore> {
    let mut roots = system_roots();
    if roots.is_empty() {
        tracing::warn!("the system has no CA certificates (e.g. ca-certificates is not installed); trusting the Mozilla roots built into Hookline");
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    } else {
        tracing::debug!(certificates = roots.len(), "trusting the system's CA store");
    }
    if let Some(pem) = extra_ca_pem {
        use rustls::pki_types::pem::PemObject;
        let mut n = 0;
        for cert in rustls::pki_types::CertificateDer::pem_slice_iter(pem) {
            let cert = cert.context("reading the extra CA certificates (PEM)")?;
            roots
                .add(cert)
                .context("an extra CA certificate is not usable as a trust anchor")?;
            n += 1;
        }
        if n == 0 {
            anyhow::bail!("the extra CA file holds no PEM certificate");
        }
    }
    Ok(roots)
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
        let roots = trusted_roots(cfg.extra_ca_pem.as_deref())?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .context("setting up TLS")?
            .with_root_certificates(roots)
            .with_no_client_auth();
        let sender = Sender {
            inner: Arc::new(SenderInner {
                tls: Arc::new(tls),
                guard,
                connectors: Default::default(),
                pools: Pools::new(Settings {
                    idle_timeout: IDLE_CONNECTION_TIMEOUT,
                    max_idle: cfg.max_idle_per_host,
                    max_buf_size: MAX_CONNECTION_BUFFER,
                }),
                config: cfg,
            }),
        };
        // Build the default connector now, so a configuration that cannot work fails at start.
        sender.connector(sender.inner.config.connect_timeout);
        Ok(sender)
    }

    fn build_connector(&self, connect_timeout: Duration) -> Connector {
        let mut http =
            HttpConnector::new_with_resolver(GuardedResolver::new(self.inner.guard.clone()));
        http.enforce_http(false);
        http.set_nodelay(true);
        http.set_connect_timeout(Some(connect_timeout));
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config((*self.inner.tls).clone())
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
        ConnectWithin {
            inner: https,
            limit: connect_timeout,
        }
    }

    /// The connector whose connections time out after `connect_timeout`.
    fn connector(&self, connect_timeout: Duration) -> Arc<Connector> {
        if let Some(c) = self
            .inner
            .connectors
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(&connect_timeout)
        {
            return c.clone();
        }
        let mut connectors = self
            .inner
            .connectors
            .write()
            .unwrap_or_else(|e| e.into_inner());
        connectors
            .entry(connect_timeout)
            .or_insert_with(|| Arc::new(self.build_connector(connect_timeout)))
            .clone()
    }

    /// The SSRF guard this sender applies.
    pub fn guard(&self) -> &Guard {
        &self.inner.guard
    }

    /// Where attempts to `url` with `timeout` go: the URL checked (scheme, SSRF guard) and
    /// parsed for HTTP, and the pool of connections to its origin for its connect timeout,
    /// all fixed for a webhook version, so [`Sender::send_to`] does none of it per attempt.
    /// The error is what every attempt to it fails with.
    pub fn target(&self, url: &url::Url, timeout: Duration) -> Result<Target, AttemptError> {
        if !matches!(url.scheme(), "http" | "https") {
            return Err(AttemptError::new(
                ErrorKind::Other,
                format!("unsupported URL scheme {:?}", url.scheme()),
            ));
        }
        if let Err(b) = self.inner.guard.check_url(url) {
            return Err(AttemptError::new(ErrorKind::Blocked, b.to_string()));
        }
        let Ok(uri) = url.as_str().parse::<http::Uri>() else {
            return Err(AttemptError::new(
                ErrorKind::Other,
                format!("the URL {url} is not usable for HTTP"),
            ));
        };
        let Some(host) = host_header(&uri) else {
            return Err(AttemptError::new(
                ErrorKind::Other,
                format!("the URL {url} has no host to send to"),
            ));
        };
        let connect_timeout = connect_timeout_for(timeout, self.inner.config.connect_timeout);
        // Sent in origin form (`/path?query`): the connection already names the host.
        let path = uri
            .path_and_query()
            .map_or("/", |p| p.as_str())
            .parse::<http::Uri>()
            .unwrap_or_else(|_| http::Uri::from_static("/"));
        let pool = self.inner.pools.pool(&uri, connect_timeout, || {
            self.connector(connect_timeout) as Arc<dyn super::connections::Connect>
        });
        Ok(Target {
            path,
            host,
            timeout,
            connect_timeout,
            pool,
        })
    }

    /// Make one attempt. Never panics and never returns early without an [`Outcome`].
    pub async fn send(&self, req: OutgoingRequest) -> Outcome {
        let started = Instant::now();
        match self.target(&req.url, req.timeout) {
            Ok(target) => self.send_to(&target, req.headers, req.body).await,
            Err(e) => Outcome::failed(e.kind, e.message, started),
        }
    }

    /// Make one attempt to a [`Target`]: a POST of `body` with `headers`, sent as given.
    pub async fn send_to(
        &self,
        target: &Target,
        headers: http::HeaderMap,
        body: bytes::Bytes,
    ) -> Outcome {
        let started = Instant::now();
        let mut request = http::Request::new(http_body_util::Full::new(body));
        *request.method_mut() = http::Method::POST;
        *request.uri_mut() = target.path.clone();
        *request.headers_mut() = headers;
        request
            .headers_mut()
            .entry(HOST)
            .or_insert_with(|| target.host.clone());
        let mut out = Outcome::default();
        let result =
            tokio::time::timeout(target.timeout, exchange(&target.pool, request, &mut out)).await;
        out.duration_ms = elapsed_ms(started);
        match result {
            Ok(Ok(())) => {}
            Ok(Err(e)) => out.error = Some(classify(e.as_ref(), target.connect_timeout)),
            Err(_) => {
                out.error = Some(AttemptError::new(
                    ErrorKind::Timeout,
                    format!("timed out after {}", human_duration(target.timeout)),
                ))
            }
        }
        out
    }
}

/// Where a webhook version's attempts go (see [`Sender::target`]).
#[derive(Clone)]
pub struct Target {
    /// The request target as sent: path and query.
    path: http::Uri,
    /// The `Host` header of every request to it.
    host: http::HeaderValue,
    timeout: Duration,
    connect_timeout: Duration,
    /// Kept connections to its origin.
    pool: Arc<Pool>,
}

impl fmt::Debug for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Target")
            .field("path", &self.path)
            .field("pool", &self.pool)
            .field("timeout", &self.timeout)
            .field("connect_timeout", &self.connect_timeout)
            .finish_non_exhaustive()
    }
}

/// The `Host` header for `uri`, as HTTP clients write it when a request has none: the host,
/// and the port when it is not the scheme's default. `None` without a host.
fn host_header(uri: &http::Uri) -> Option<http::HeaderValue> {
    let host = uri.host()?;
    let default_port = if uri.scheme_str() == Some("https") {
        443
    } else {
        80
    };
    let value = match uri.port() {
        Some(port) if port.as_u16() != default_port => format!("{host}:{}", port.as_str()),
        _ => host.to_string(),
    };
    http::HeaderValue::from_str(&value).ok()
}

/// What can go wrong in an exchange: the client's error (connect, request) or the body's.
type ExchangeError = Box<dyn StdError + Send + Sync>;

/// Send, then fill `out` as the response arrives, so a timeout keeps what came before it.
async fn exchange(
    pool: &Arc<Pool>,
    request: http::Request<http_body_util::Full<bytes::Bytes>>,
    out: &mut Outcome,
) -> Result<(), ExchangeError> {
    use http_body_util::BodyExt;
    let (resp, connection) = pool.send(request).await?;
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
    let mut body = resp.into_body();
    while out.response_body.len() < MAX_RESPONSE_BODY {
        let Some(frame) = body.frame().await else {
            // Read to the end: the connection may carry the next attempt.
            connection.reuse();
            return Ok(());
        };
        let Ok(chunk) = frame?.into_data() else {
            continue; // trailers
        };
        let room = MAX_RESPONSE_BODY - out.response_body.len();
        if out.response_body.capacity() == 0 {
            // One allocation of what is needed (at most the cap), not a doubling series.
            out.response_body.reserve(chunk.len().min(room));
        }
        out.response_body
            .extend_from_slice(&chunk[..chunk.len().min(room)]);
    }
    // At the cap: a body that ended there leaves the connection reusable; dropping one with
    // bytes left unread closes the connection instead of draining it.
    if hyper::body::Body::is_end_stream(&body) {
        connection.reuse();
    }
    Ok(())
}

/// Turn an exchange error into a kind and a message naming the real cause.
fn classify(err: &(dyn StdError + 'static), connect_timeout: Duration) -> AttemptError {
    let connecting = find::<ConnectError>(err).is_some();
    // A timeout while connecting (the connector's, or the kernel's) means the receiver could
    // not be reached: a connect error, whatever the cause chain calls it.
    if connecting && find_cause(err).is_some_and(|c| c.kind == ErrorKind::Timeout) {
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
    let chain = chain_message(err);
    if chain.contains("connection closed before message completed") {
        return AttemptError::new(
            ErrorKind::Reset,
            "connection closed by the receiver before the response was complete",
        );
    }
    if connecting {
        return AttemptError::new(ErrorKind::Connect, format!("connect: {chain}"));
    }
    if chain.contains("message head is too large") {
        // hyper's words for a head past its buffer, or of more than 100 headers.
        return AttemptError::new(
            ErrorKind::Other,
            format!(
                "the response headers are larger than {} KiB (or more than 100)",
                MAX_CONNECTION_BUFFER / 1024
            ),
        );
    }
    if let Some(h) = find::<hyper::Error>(err) {
        if h.is_body_write_aborted() || h.is_incomplete_message() {
            return AttemptError::new(
                ErrorKind::Reset,
                "connection closed by the receiver before the response was complete",
            );
        }
    }
    AttemptError::new(ErrorKind::Other, format!("HTTP error: {chain}"))
}

/// The first error of type `T` in the source chain.
fn find<'a, T: StdError + 'static>(err: &'a (dyn StdError + 'static)) -> Option<&'a T> {
    let mut cur = Some(err);
    while let Some(e) = cur {
        if let Some(t) = e.downcast_ref::<T>() {
            return Some(t);
        }
        cur = e.source();
    }
    None
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

/// `a: b: c` from an error and its sources, leaving out the wrappers that only name an
/// internal stage (a [`ConnectError`], which only says the connect phase failed) and repeats.
fn chain_message(err: &(dyn StdError + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut cur: Option<&(dyn StdError + 'static)> = Some(err);
    while let Some(e) = cur {
        let s = e.to_string();
        let wrapper = e.is::<ConnectError>();
        if !wrapper && !parts.iter().any(|p| p.contains(&s)) {
            parts.push(s);
        }
        cur = e.source();
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
    fn the_host_header_names_the_port_only_when_it_is_not_the_default() {
        for (url, want) in [
            ("http://example.com/hook", "example.com"),
            ("http://example.com:80/hook", "example.com"),
            ("http://example.com:8080/hook", "example.com:8080"),
            ("https://example.com/hook", "example.com"),
            ("https://example.com:443/hook", "example.com"),
            ("https://example.com:8443/hook", "example.com:8443"),
            ("https://example.com:80/hook", "example.com:80"),
            ("http://127.0.0.1:9000/", "127.0.0.1:9000"),
            ("http://[::1]:9000/", "[::1]:9000"),
            ("https://[2001:db8::1]/x", "[2001:db8::1]"),
            ("http://user:pw@example.com:81/", "example.com:81"),
        ] {
            // As the sender parses a webhook's URL.
            let uri: http::Uri = url::Url::parse(url).unwrap().as_str().parse().unwrap();
            assert_eq!(host_header(&uri).unwrap(), want, "{url}");
        }
    }

    /// A connect failure no known cause names reads `connect: <the chain>`, without the
    /// wrapper that only says the connect phase failed.
    #[test]
    fn a_connect_error_is_named_by_its_cause() {
        let err = ConnectError(Box::new(io::Error::other("no route for this test")));
        let e = classify(&err, Duration::from_secs(1));
        assert_eq!(e.kind, ErrorKind::Connect);
        assert_eq!(e.message, "connect: no route for this test");
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
