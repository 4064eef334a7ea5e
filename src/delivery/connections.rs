//! Keep-alive connections to receivers: one list of idle HTTP/1.1 connections per receiver
//! origin (scheme, host and port, and the connect timeout its webhooks use), each connection
//! a `hyper::client::conn::http1` sender with its task.
//!
//! It does what hyper-util's pooled client did for the sender, with less work per attempt:
//! that client hashed the origin into a shared map, registered a waiter and an "extra"
//! envelope, and checked a connection back in through a spawned readiness future for every
//! request: about 4 µs of CPU per exchange on the 2-core bench host, where one exchange costs
//! a client 19–20 µs with hyper-util's pool and 12–16 µs with a bare `http1` sender per
//! connection (`cargo run --release --example client_cost`; the README's "Where the time
//! goes"). Here a webhook version's [`super::http::Target`] holds its origin's [`Pool`], and
//! an attempt takes the most recently used idle connection under a mutex held for a `pop`.
//!
//! The rules are the client's:
//! - A connection goes back to the pool only after its response was read to the end
//!   ([`Lease::reuse`]); one dropped mid-response is closed.
//! - One idle for [`super::http::IDLE_CONNECTION_TIMEOUT`] or longer never carries another
//!   attempt (receivers close theirs at about 5 s, and a close crossing an attempt would fail
//!   it), and a sweep closes it within about a second.
//! - At most `max_idle` idle connections per origin; more are closed.
//! - A request that a kept connection could not take because it was closed meanwhile (the
//!   request not written: hyper hands it back) goes out on another one, or a new one.

use std::collections::{HashMap, VecDeque};
use std::error::Error as StdError;
use std::fmt;
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::Full;
use hyper::client::conn::http1::{self, SendRequest};
use tower_service::Service;

/// What an exchange can fail with.
pub type BoxError = Box<dyn StdError + Send + Sync>;

/// The request body every attempt sends.
pub type Body = Full<Bytes>;

/// A connection could not be made (DNS, TCP connect, TLS handshake, or the connect phase's
/// time ran out): no request went out. The cause is its source.
#[derive(Debug)]
pub struct ConnectError(pub(super) BoxError);

impl fmt::Display for ConnectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Attempt records name the cause instead (`http::classify`).
        f.write_str("connect error")
    }
}

impl StdError for ConnectError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        Some(self.0.as_ref())
    }
}

/// How new connections are made: a `Uri` (scheme and authority) to a connection that hyper
/// can speak HTTP/1.1 over.
pub trait Connect: Send + Sync + 'static {
    fn connect(
        &self,
        dest: http::Uri,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<Io, BoxError>> + Send>>;
}

/// The connection the sender's connector yields: rustls over TCP, or plain TCP.
pub type Io = hyper_rustls::MaybeHttpsStream<hyper_util::rt::TokioIo<tokio::net::TcpStream>>;

impl<S> Connect for S
where
    S: Service<http::Uri, Response = Io> + Clone + Send + Sync + 'static,
    S::Future: Send + 'static,
    S::Error: Into<BoxError>,
{
    fn connect(
        &self,
        dest: http::Uri,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<Io, BoxError>> + Send>> {
        let mut svc = self.clone();
        Box::pin(async move {
            std::future::poll_fn(|cx| svc.poll_ready(cx))
                .await
                .map_err(Into::into)?;
            svc.call(dest).await.map_err(Into::into)
        })
    }
}

/// The idle connections of one origin.
pub struct Pool {
    /// `scheme://authority/`, what the connector dials.
    dest: http::Uri,
    connector: Arc<dyn Connect>,
    settings: Settings,
    /// Oldest first; an attempt takes the newest.
    idle: Mutex<VecDeque<Idle>>,
}

struct Idle {
    tx: SendRequest<Body>,
    since: Instant,
}

impl Idle {
    /// Idle for `timeout` or longer: it must not carry another attempt.
    fn expired(&self, timeout: Duration) -> bool {
        self.since.elapsed() >= timeout
    }
}

/// What every pool of a sender shares.
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    pub idle_timeout: Duration,
    pub max_idle: usize,
    /// hyper's read buffer bound per connection.
    pub max_buf_size: usize,
}

impl fmt::Debug for Pool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pool")
            .field("dest", &self.dest)
            .field("idle", &self.idle_count())
            .finish_non_exhaustive()
    }
}

/// A connection carrying one exchange; [`Lease::reuse`] puts it back once the response was
/// read to the end. Dropped otherwise, it closes.
pub struct Lease {
    tx: SendRequest<Body>,
    pool: Arc<Pool>,
}

impl Lease {
    /// The exchange is over and its response read whole: the connection may carry another.
    pub fn reuse(self) {
        self.pool.put_back(self.tx);
    }
}

impl Pool {
    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<Idle>> {
        self.idle.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// How many idle connections the pool keeps now.
    fn idle_count(&self) -> usize {
        self.lock().len()
    }

    /// The newest idle connection that may still carry an attempt; older ones past the
    /// idle timeout are closed on the way.
    fn take(&self) -> Option<SendRequest<Body>> {
        let mut idle = self.lock();
        while let Some(c) = idle.pop_back() {
            let expired = c.expired(self.settings.idle_timeout);
            if !expired && !c.tx.is_closed() {
                return Some(c.tx);
            }
            // Closed: the next one may do. Too old: so is every older one.
            if expired {
                idle.clear();
            }
        }
        None
    }

    fn put_back(&self, tx: SendRequest<Body>) {
        if tx.is_closed() || self.settings.max_idle == 0 {
            return;
        }
        let mut idle = self.lock();
        idle.push_back(Idle {
            tx,
            since: Instant::now(),
        });
        while idle.len() > self.settings.max_idle {
            idle.pop_front();
        }
    }

    /// Closes the connections idle for the idle timeout or longer.
    fn sweep(&self) {
        let mut idle = self.lock();
        while idle
            .front()
            .is_some_and(|c| c.expired(self.settings.idle_timeout) || c.tx.is_closed())
        {
            idle.pop_front();
        }
    }

    /// A new connection to the origin, its task spawned.
    async fn connect(&self) -> Result<SendRequest<Body>, BoxError> {
        let io = self
            .connector
            .connect(self.dest.clone())
            .await
            .map_err(|e| Box::new(ConnectError(e)) as BoxError)?;
        let (tx, conn) = http1::Builder::new()
            .max_buf_size(self.settings.max_buf_size)
            .handshake::<_, Body>(io)
            .await?;
        tokio::spawn(async move {
            // Ends when the receiver closes, or when the pool and the attempt drop the sender.
            if let Err(e) = conn.await {
                tracing::trace!(error = %e, "receiver connection ended");
            }
        });
        Ok(tx)
    }

    /// Sends `request` (its URI in origin form, its `Host` header set) on a kept connection,
    /// or a new one, and returns the response head with the connection it came on.
    pub async fn send(
        self: &Arc<Self>,
        mut request: http::Request<Body>,
    ) -> Result<(http::Response<hyper::body::Incoming>, Lease), BoxError> {
        while let Some(mut tx) = self.take() {
            // At once, unless the receiver closed it meanwhile.
            if tx.ready().await.is_err() {
                continue;
            }
            match tx.try_send_request(request).await {
                Ok(response) => return Ok((response, self.lease(tx))),
                Err(mut e) => match e.take_message() {
                    // Not written: the connection closed under it. Another one takes it.
                    Some(unsent) => request = unsent,
                    None => return Err(Box::new(e.into_error())),
                },
            }
        }
        let mut tx = self.connect().await?;
        tx.ready().await?;
        let response = tx.send_request(request).await?;
        Ok((response, self.lease(tx)))
    }

    fn lease(self: &Arc<Self>, tx: SendRequest<Body>) -> Lease {
        Lease {
            tx,
            pool: self.clone(),
        }
    }
}

/// A sender's pools, one per origin and connect timeout, and the sweep that closes their
/// connections once idle too long.
pub struct Pools {
    settings: Settings,
    pools: Mutex<HashMap<(String, Duration), Arc<Pool>>>,
    sweeping: std::sync::Once,
}

impl fmt::Debug for Pools {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pools")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

/// How often the sweep looks for connections idle too long.
const SWEEP_EVERY: Duration = Duration::from_secs(1);

impl Pools {
    pub fn new(settings: Settings) -> Arc<Pools> {
        Arc::new(Pools {
            settings,
            pools: Mutex::new(HashMap::new()),
            sweeping: std::sync::Once::new(),
        })
    }

    /// The pool of `dest`'s origin for connections made with `connector` (one per connect
    /// timeout: the caller passes the same connector for the same timeout).
    pub fn pool(
        self: &Arc<Self>,
        dest: &http::Uri,
        connect_timeout: Duration,
        connector: impl FnOnce() -> Arc<dyn Connect>,
    ) -> Arc<Pool> {
        // Host and port: credentials in the URL are never sent, nor shown with the pool.
        let (scheme, authority) = (
            dest.scheme_str().unwrap_or("http"),
            dest.authority()
                .map_or("", |a| a.as_str().rsplit('@').next().unwrap_or("")),
        );
        let key = (format!("{scheme}://{authority}"), connect_timeout);
        self.start_sweeping();
        let mut pools = self.pools.lock().unwrap_or_else(|e| e.into_inner());
        pools
            .entry(key)
            .or_insert_with_key(|(origin, _)| {
                Arc::new(Pool {
                    dest: format!("{origin}/")
                        .parse()
                        .unwrap_or_else(|_| dest.clone()),
                    connector: connector(),
                    settings: self.settings,
                    idle: Mutex::new(VecDeque::new()),
                })
            })
            .clone()
    }

    /// Starts the sweep, once, on the runtime of the first caller that has one (the
    /// server's; it ends with the last handle to these pools). Without a runtime there are
    /// no connections to sweep yet: they are made on one.
    fn start_sweeping(self: &Arc<Self>) {
        let Ok(rt) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let weak: Weak<Pools> = Arc::downgrade(self);
        self.sweeping.call_once(|| {
            rt.spawn(async move {
                let mut every = tokio::time::interval(SWEEP_EVERY);
                every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                loop {
                    every.tick().await;
                    let Some(pools) = weak.upgrade() else { return };
                    let all: Vec<Arc<Pool>> = pools
                        .pools
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .values()
                        .cloned()
                        .collect();
                    for p in all {
                        p.sweep();
                    }
                }
            });
        });
    }
}
