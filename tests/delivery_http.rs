//! The delivery sender against real receivers on 127.0.0.1: statuses, redirects, timeouts,
//! body cap, resets, TLS and the SSRF guard. Every test is bounded in time, and every receiver
//! is a task on the test's own runtime, so nothing outlives its test.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use hookline::delivery::{
    ErrorKind, Outcome, OutgoingRequest, Sender, SenderConfig, MAX_RESPONSE_BODY,
};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Every test must finish within this.
const TEST_LIMIT: Duration = Duration::from_secs(30);

async fn bounded<F: Future<Output = ()>>(f: F) {
    tokio::time::timeout(TEST_LIMIT, f)
        .await
        .expect("test exceeded its time limit");
}

// ---------------------------------------------------------------------------------------
// A tiny HTTP/1.1 receiver.

#[derive(Debug, Clone)]
struct Recorded {
    method: String,
    path: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Recorded {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Clone)]
enum Behavior {
    /// Answer with this status, headers and body, then close.
    Respond {
        status: u16,
        headers: Vec<(&'static str, String)>,
        body: Vec<u8>,
    },
    /// Read the request, then never answer.
    Hang,
    /// Write `fast` at once, then `slow` one byte at a time with a pause between bytes.
    Trickle {
        fast: Vec<u8>,
        slow: Vec<u8>,
        every: Duration,
    },
    /// Announce `len` bytes of body and write zeros until the peer goes away.
    Huge { len: u64 },
    /// Read the request, then reset the connection (RST).
    Reset,
    /// Write these bytes as soon as the connection opens, without reading, then close.
    Blurt(Vec<u8>),
    /// Answer and keep the connection open for the next request, like most servers (see
    /// [`KeepAlive`]).
    KeepAlive(KeepAlive),
}

/// A receiver that keeps connections open. A request that comes on a connection idle for
/// `closes_after` or longer is not answered: the connection is closed, as a server's close of
/// an idle connection crosses a request already on its way.
#[derive(Clone)]
struct KeepAlive {
    closes_after: Duration,
    /// 204 when 0, else 200 with this many bytes of body.
    body: usize,
    /// How long each answer takes.
    delay: Duration,
    /// Close the connection shortly after each answer (without saying so in the answer).
    close_after_answer: bool,
}

impl Default for KeepAlive {
    fn default() -> Self {
        KeepAlive {
            closes_after: Duration::from_secs(3600),
            body: 0,
            delay: Duration::ZERO,
            close_after_answer: false,
        }
    }
}

fn respond(status: u16) -> Behavior {
    Behavior::Respond {
        status,
        headers: vec![],
        body: format!("status {status}").into_bytes(),
    }
}

#[derive(Clone)]
struct Receiver {
    addr: SocketAddr,
    connections: Arc<AtomicUsize>,
    requests: Arc<Mutex<Vec<Recorded>>>,
    written: Arc<AtomicU64>,
    /// Kept connections the client closed (`Behavior::KeepAlive`).
    closed: Arc<AtomicUsize>,
}

impl Receiver {
    fn url(&self, path: &str) -> url::Url {
        url::Url::parse(&format!("http://{}{path}", self.addr)).unwrap()
    }
    fn port(&self) -> u16 {
        self.addr.port()
    }
    fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }
    fn requests(&self) -> Vec<Recorded> {
        self.requests.lock().unwrap().clone()
    }
}

async fn receiver(behavior: Behavior) -> Receiver {
    receiver_with_tls(behavior, None).await
}

async fn receiver_with_tls(behavior: Behavior, tls: Option<tokio_rustls::TlsAcceptor>) -> Receiver {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let r = Receiver {
        addr: listener.local_addr().unwrap(),
        connections: Arc::new(AtomicUsize::new(0)),
        requests: Arc::new(Mutex::new(Vec::new())),
        written: Arc::new(AtomicU64::new(0)),
        closed: Arc::new(AtomicUsize::new(0)),
    };
    let rc = r.clone();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            rc.connections.fetch_add(1, Ordering::SeqCst);
            let rc = rc.clone();
            let behavior = behavior.clone();
            let tls = tls.clone();
            tokio::spawn(async move {
                match tls {
                    None => serve(stream, behavior, rc).await,
                    Some(acceptor) => {
                        // A failed handshake (client refused our certificate) just ends here.
                        if let Ok(s) = acceptor.accept(stream).await {
                            serve_stream(s, behavior, rc).await;
                        }
                    }
                }
            });
        }
    });
    r
}

async fn serve(mut stream: TcpStream, behavior: Behavior, rc: Receiver) {
    if let Behavior::Blurt(bytes) = &behavior {
        let _ = stream.write_all(bytes).await;
        let _ = stream.shutdown().await;
        return;
    }
    if matches!(behavior, Behavior::Reset) {
        if read_request(&mut stream, &rc).await.is_some() {
            // SO_LINGER 0: closing sends RST instead of FIN.
            let _ = stream.set_zero_linger();
        }
        drop(stream);
        return;
    }
    serve_stream(stream, behavior, rc).await;
}

async fn serve_stream<S: AsyncRead + AsyncWrite + Unpin>(
    mut s: S,
    behavior: Behavior,
    rc: Receiver,
) {
    if let Behavior::KeepAlive(k) = behavior {
        let mut idle_since = None::<Instant>;
        while read_request(&mut s, &rc).await.is_some() {
            if idle_since.is_some_and(|t| t.elapsed() >= k.closes_after) {
                return;
            }
            tokio::time::sleep(k.delay).await;
            let answer = match k.body {
                0 => b"HTTP/1.1 204 No Content\r\n\r\n".to_vec(),
                n => {
                    let mut a =
                        format!("HTTP/1.1 200 OK\r\nContent-Length: {n}\r\n\r\n").into_bytes();
                    a.resize(a.len() + n, b'x');
                    a
                }
            };
            if s.write_all(&answer).await.is_err() || s.flush().await.is_err() {
                return;
            }
            if k.close_after_answer {
                // Once the client has taken the answer and kept the connection.
                tokio::time::sleep(Duration::from_millis(20)).await;
                return;
            }
            idle_since = Some(Instant::now());
        }
        // The client closed the connection.
        rc.closed.fetch_add(1, Ordering::SeqCst);
        return;
    }
    if read_request(&mut s, &rc).await.is_none() {
        return;
    }
    match behavior {
        Behavior::Respond {
            status,
            headers,
            body,
        } => {
            let mut head = format!("HTTP/1.1 {status} Whatever\r\nConnection: close\r\n");
            for (k, v) in headers {
                head.push_str(&format!("{k}: {v}\r\n"));
            }
            let no_body = status == 204 || status == 304 || (100..200).contains(&status);
            if !no_body {
                head.push_str(&format!("Content-Length: {}\r\n", body.len()));
            }
            head.push_str("\r\n");
            let _ = s.write_all(head.as_bytes()).await;
            if !no_body {
                let _ = s.write_all(&body).await;
            }
            let _ = s.flush().await;
            let _ = s.shutdown().await;
        }
        Behavior::Hang => {
            tokio::time::sleep(Duration::from_secs(3600)).await;
        }
        Behavior::Trickle { fast, slow, every } => {
            if s.write_all(&fast).await.is_err() || s.flush().await.is_err() {
                return;
            }
            for b in slow {
                if s.write_all(&[b]).await.is_err() || s.flush().await.is_err() {
                    return;
                }
                tokio::time::sleep(every).await;
            }
        }
        Behavior::Huge { len } => {
            let head = format!("HTTP/1.1 200 OK\r\nContent-Length: {len}\r\n\r\n");
            if s.write_all(head.as_bytes()).await.is_err() {
                return;
            }
            let chunk = vec![b'x'; 64 * 1024];
            let mut left = len;
            while left > 0 {
                let n = left.min(chunk.len() as u64) as usize;
                if s.write_all(&chunk[..n]).await.is_err() {
                    return;
                }
                rc.written.fetch_add(n as u64, Ordering::SeqCst);
                left -= n as u64;
            }
        }
        Behavior::Reset | Behavior::Blurt(_) => unreachable!("handled in serve"),
        Behavior::KeepAlive(_) => unreachable!("handled above"),
    }
}

/// Read one request (headers + Content-Length body) and record it.
async fn read_request<S: AsyncRead + Unpin>(s: &mut S, rc: &Receiver) -> Option<()> {
    let mut buf = Vec::new();
    let mut tmp = [0u8; 8192];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i;
        }
        let n = s.read(&mut tmp).await.ok()?;
        if n == 0 || buf.len() > 1 << 20 {
            return None;
        }
        buf.extend_from_slice(&tmp[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let mut first = lines.next()?.split(' ');
    let method = first.next()?.to_string();
    let path = first.next()?.to_string();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.to_string(), v.trim_start().to_string()))
        .collect();
    let len: usize = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut body = buf[head_end + 4..].to_vec();
    while body.len() < len {
        let n = s.read(&mut tmp).await.ok()?;
        if n == 0 {
            return None;
        }
        body.extend_from_slice(&tmp[..n]);
    }
    rc.requests.lock().unwrap().push(Recorded {
        method,
        path,
        headers,
        body,
    });
    Some(())
}

// ---------------------------------------------------------------------------------------
// Helpers.

fn loopback_sender() -> Sender {
    Sender::new(SenderConfig {
        allowed_networks: vec!["127.0.0.0/8".parse().unwrap(), "::1/128".parse().unwrap()],
        extra_ca_pem: None,
        connect_timeout: Duration::from_secs(2),
        ..SenderConfig::default()
    })
    .unwrap()
}

fn strict_sender() -> Sender {
    Sender::new(SenderConfig {
        allowed_networks: vec![],
        extra_ca_pem: None,
        connect_timeout: Duration::from_secs(2),
        ..SenderConfig::default()
    })
    .unwrap()
}

fn request(url: url::Url, timeout: Duration) -> OutgoingRequest {
    OutgoingRequest {
        url,
        headers: header_map(&[
            ("Content-Type".into(), "application/json".into()),
            ("User-Agent".into(), "Hookline/test".into()),
        ]),
        body: Bytes::from_static(br#"{"id":"evt_1","type":"t.x","data":{}}"#),
        timeout,
    }
}

/// A request's headers, in order.
fn header_map(pairs: &[(String, String)]) -> http::HeaderMap {
    let mut map = http::HeaderMap::new();
    for (k, v) in pairs {
        map.append(
            http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
            http::HeaderValue::from_str(v).unwrap(),
        );
    }
    map
}

fn kind(o: &Outcome) -> Option<ErrorKind> {
    o.error.as_ref().map(|e| e.kind)
}

fn message(o: &Outcome) -> String {
    o.error
        .as_ref()
        .map(|e| e.message.clone())
        .unwrap_or_default()
}

// ---------------------------------------------------------------------------------------
// Statuses.

#[tokio::test]
async fn success_statuses() {
    bounded(async {
        let sender = loopback_sender();
        for status in [200u16, 201, 204] {
            let r = receiver(respond(status)).await;
            let o = sender
                .send(request(r.url("/hook"), Duration::from_secs(5)))
                .await;
            assert_eq!(o.status, Some(status), "{o:?}");
            assert!(o.error.is_none(), "{o:?}");
            assert!(o.is_success());
            assert!(o.retry_after.is_none());
            assert!(o.duration_ms >= 0);
            if status == 204 {
                assert!(o.response_body.is_empty());
            } else {
                assert_eq!(o.response_body, format!("status {status}").into_bytes());
            }
            assert!(o
                .response_headers
                .iter()
                .any(|(k, v)| k == "connection" && v == "close"));
            assert_eq!(r.requests().len(), 1);
            assert_eq!(r.requests()[0].method, "POST");
            assert_eq!(r.requests()[0].path, "/hook");
        }
    })
    .await;
}

#[tokio::test]
async fn headers_and_body_arrive_verbatim() {
    bounded(async {
        let sender = loopback_sender();
        let r = receiver(respond(200)).await;
        let mut body =
            br#"{"id":"evt_1","data":{"name":"Zo\u00eb \u2603 caf\u00e9","raw":"#.to_vec();
        body.extend_from_slice("Zoë ☃ café \"quoted\" \\ back".as_bytes());
        body.extend_from_slice(br#""}}"#);
        let headers: Vec<(String, String)> = vec![
            ("Content-Type".into(), "application/json".into()),
            ("User-Agent".into(), "Hookline/0.1.0".into()),
            ("webhook-id".into(), "evt_2tq9S1aX".into()),
            ("webhook-timestamp".into(), "1614265330".into()),
            (
                "webhook-signature".into(),
                "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE= v1,abc/def+ghi=".into(),
            ),
            ("X-Hookline-Signature".into(), "0278b1a603de4c56".into()),
            (
                "X-Custom".into(),
                "  spaces inside  and : colons".trim().into(),
            ),
            ("Authorization".into(), "Bearer tok_123".into()),
        ];
        let o = sender
            .send(OutgoingRequest {
                url: r.url("/path/with?query=1&x=%20y"),
                headers: header_map(&headers),
                body: Bytes::from(body.clone()),
                timeout: Duration::from_secs(5),
            })
            .await;
        assert!(o.is_success(), "{o:?}");
        let got = &r.requests()[0];
        assert_eq!(got.path, "/path/with?query=1&x=%20y");
        assert_eq!(got.body, body, "body must be byte-identical");
        assert_eq!(
            got.header("content-length"),
            Some(body.len().to_string().as_str())
        );
        for (k, v) in &headers {
            assert_eq!(got.header(k), Some(v.as_str()), "header {k}");
        }
        assert!(got.header("transfer-encoding").is_none());
        assert!(got.header("accept-encoding").is_none(), "no decompression");
        // One Host header, naming the receiver's port (not the default one).
        let url = r.url("/");
        let hosts: Vec<&str> = got
            .headers
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case("host"))
            .map(|(_, v)| v.as_str())
            .collect();
        assert_eq!(
            hosts,
            [format!("127.0.0.1:{}", url.port().unwrap()).as_str()]
        );
    })
    .await;
}

#[tokio::test]
async fn redirects_are_not_followed() {
    bounded(async {
        let sender = loopback_sender();
        let target = receiver(respond(200)).await;
        for status in [301u16, 302, 307, 308] {
            let r = receiver(Behavior::Respond {
                status,
                headers: vec![("Location", target.url("/elsewhere").to_string())],
                body: b"moved".to_vec(),
            })
            .await;
            let o = sender
                .send(request(r.url("/"), Duration::from_secs(5)))
                .await;
            assert_eq!(o.status, Some(status));
            assert!(o.error.is_none(), "{o:?}");
            assert!(!o.is_success());
            assert!(o.response_headers.iter().any(|(k, _)| k == "location"));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(target.connections(), 0, "the redirect target was contacted");
    })
    .await;
}

#[tokio::test]
async fn error_statuses_are_returned() {
    bounded(async {
        let sender = loopback_sender();
        for status in [400u16, 404, 410, 500, 502] {
            let r = receiver(Behavior::Respond {
                status,
                headers: vec![("Retry-After", "30".into())],
                body: b"{\"error\":\"nope\"}".to_vec(),
            })
            .await;
            let o = sender
                .send(request(r.url("/"), Duration::from_secs(5)))
                .await;
            assert_eq!(o.status, Some(status));
            assert!(o.error.is_none());
            assert!(!o.is_success());
            assert_eq!(o.response_body, b"{\"error\":\"nope\"}");
            assert_eq!(o.retry_after, None, "Retry-After only counts on 429/503");
        }
    })
    .await;
}

#[tokio::test]
async fn retry_after_on_429_and_503() {
    bounded(async {
        let sender = loopback_sender();
        let r = receiver(Behavior::Respond {
            status: 429,
            headers: vec![("Retry-After", "120".into())],
            body: vec![],
        })
        .await;
        let o = sender
            .send(request(r.url("/"), Duration::from_secs(5)))
            .await;
        assert_eq!(o.status, Some(429));
        assert_eq!(o.retry_after, Some(Duration::from_secs(120)));

        let at = httpdate::fmt_http_date(SystemTime::now() + Duration::from_secs(90));
        let r = receiver(Behavior::Respond {
            status: 503,
            headers: vec![("Retry-After", at)],
            body: vec![],
        })
        .await;
        let o = sender
            .send(request(r.url("/"), Duration::from_secs(5)))
            .await;
        assert_eq!(o.status, Some(503));
        let d = o.retry_after.expect("HTTP-date Retry-After").as_secs();
        assert!((85..=90).contains(&d), "{d}");

        let r = receiver(Behavior::Respond {
            status: 503,
            headers: vec![("Retry-After", "whenever".into())],
            body: vec![],
        })
        .await;
        let o = sender
            .send(request(r.url("/"), Duration::from_secs(5)))
            .await;
        assert_eq!(o.status, Some(503));
        assert_eq!(o.retry_after, None);
    })
    .await;
}

// ---------------------------------------------------------------------------------------
// Time and size bounds.

#[tokio::test]
async fn hanging_receiver_times_out() {
    bounded(async {
        let sender = loopback_sender();
        let r = receiver(Behavior::Hang).await;
        let started = Instant::now();
        let o = sender
            .send(request(r.url("/"), Duration::from_secs(1)))
            .await;
        let took = started.elapsed();
        assert_eq!(kind(&o), Some(ErrorKind::Timeout), "{o:?}");
        assert_eq!(message(&o), "timed out after 1s");
        assert_eq!(o.status, None);
        assert!(took >= Duration::from_secs(1), "{took:?}");
        assert!(took < Duration::from_millis(1500), "{took:?}");
        assert!(
            o.duration_ms >= 1000 && o.duration_ms < 1500,
            "{}",
            o.duration_ms
        );
        assert_eq!(r.requests().len(), 1, "the request itself was delivered");
    })
    .await;
}

/// A listener whose accept queue is full: the kernel drops further SYNs, so a connect to
/// it neither succeeds nor fails until the client gives up. Keeps the queue's filler open.
async fn unreachable_in_time() -> (url::Url, Vec<std::net::TcpStream>, tokio::net::TcpListener) {
    let sock = tokio::net::TcpSocket::new_v4().unwrap();
    sock.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let listener = sock.listen(1).unwrap();
    let addr = listener.local_addr().unwrap();
    let mut filler = Vec::new();
    for _ in 0..8 {
        match std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(200)) {
            Ok(s) => filler.push(s),
            Err(_) => break,
        }
    }
    let url = url::Url::parse(&format!("http://{addr}/")).unwrap();
    (url, filler, listener)
}

/// The connect phase gets half the attempt's timeout: a receiver that cannot be reached is
/// reported as a connect error after it, not as a timeout of the whole attempt.
#[tokio::test]
async fn a_slow_connect_is_a_connect_error_within_the_attempt() {
    bounded(async {
        let sender = loopback_sender();
        let (url, _filler, _listener) = unreachable_in_time().await;
        for (timeout, connect) in [
            (Duration::from_secs(1), "500ms"),
            (Duration::from_secs(2), "1s"),
        ] {
            let started = Instant::now();
            let o = sender.send(request(url.clone(), timeout)).await;
            let took = started.elapsed();
            assert_eq!(kind(&o), Some(ErrorKind::Connect), "{o:?}");
            assert!(
                message(&o).starts_with(&format!("connect timed out after {connect}")),
                "{o:?}"
            );
            assert!(took < timeout, "{took:?} for a {timeout:?} attempt");
            assert!(took >= timeout / 2, "{took:?}");
        }
    })
    .await;
}

/// The connect phase includes the TLS handshake: a receiver that accepts TCP and never
/// answers the handshake is a connect error after half the attempt's timeout too.
#[tokio::test]
async fn a_stalled_tls_handshake_is_a_connect_error_within_the_attempt() {
    bounded(async {
        let sender = loopback_sender();
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = l.local_addr().unwrap().port();
        let silent = tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((s, _)) = l.accept().await {
                held.push(s); // accepted, never a byte of TLS
            }
        });
        let url = url::Url::parse(&format!("https://127.0.0.1:{port}/")).unwrap();
        let started = Instant::now();
        let o = sender.send(request(url, Duration::from_secs(2))).await;
        let took = started.elapsed();
        silent.abort();
        assert_eq!(kind(&o), Some(ErrorKind::Connect), "{o:?}");
        assert!(
            message(&o).starts_with("connect timed out after 1s"),
            "{o:?}"
        );
        assert!(
            took >= Duration::from_secs(1) && took < Duration::from_secs(2),
            "{took:?}"
        );
    })
    .await;
}

#[tokio::test]
async fn trickled_headers_time_out() {
    bounded(async {
        let sender = loopback_sender();
        let response = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok".to_vec();
        let r = receiver(Behavior::Trickle {
            fast: vec![],
            slow: response,
            every: Duration::from_millis(100),
        })
        .await;
        let started = Instant::now();
        let o = sender
            .send(request(r.url("/"), Duration::from_secs(1)))
            .await;
        let took = started.elapsed();
        assert_eq!(kind(&o), Some(ErrorKind::Timeout), "{o:?}");
        assert!(took < Duration::from_millis(1500), "{took:?}");
    })
    .await;
}

#[tokio::test]
async fn trickled_body_times_out() {
    bounded(async {
        let sender = loopback_sender();
        // Headers at once, then one body byte every 50 ms: 50 s for the whole body.
        let r = receiver(Behavior::Trickle {
            fast: b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n".to_vec(),
            slow: vec![b'z'; 1000],
            every: Duration::from_millis(50),
        })
        .await;
        let url = r.url("/");
        let started = Instant::now();
        let o = sender.send(request(url, Duration::from_secs(1))).await;
        let took = started.elapsed();
        assert_eq!(kind(&o), Some(ErrorKind::Timeout), "{o:?}");
        assert_eq!(message(&o), "timed out after 1s");
        // The headers did arrive: the status and the partial body are kept.
        assert_eq!(o.status, Some(200));
        assert!(!o.is_success());
        assert!(!o.response_body.is_empty() && o.response_body.len() < 1000);
        assert!(o.response_body.iter().all(|b| *b == b'z'));
        assert!(took < Duration::from_millis(1500), "{took:?}");
    })
    .await;
}

#[tokio::test]
async fn huge_body_is_capped_and_not_read() {
    bounded(async {
        let sender = loopback_sender();
        let len = 100 * 1024 * 1024;
        let r = receiver(Behavior::Huge { len }).await;
        let started = Instant::now();
        let o = sender
            .send(request(r.url("/"), Duration::from_secs(20)))
            .await;
        let took = started.elapsed();
        assert!(o.error.is_none(), "{o:?}");
        assert_eq!(o.status, Some(200));
        assert!(o.is_success());
        assert_eq!(o.response_body.len(), MAX_RESPONSE_BODY);
        assert!(o.response_body.iter().all(|b| *b == b'x'));
        assert!(took < Duration::from_secs(3), "{took:?}");
        // The connection was dropped: the receiver's writes fail long before 100 MiB.
        tokio::time::sleep(Duration::from_millis(300)).await;
        let written = r.written.load(Ordering::SeqCst);
        assert!(written < 32 * 1024 * 1024, "receiver wrote {written} bytes");
        let before = written;
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(
            r.written.load(Ordering::SeqCst),
            before,
            "receiver still writing"
        );
    })
    .await;
}

// ---------------------------------------------------------------------------------------
// Connection failures.

#[tokio::test]
async fn connection_reset_is_an_error() {
    bounded(async {
        let sender = loopback_sender();
        let r = receiver(Behavior::Reset).await;
        let o = sender
            .send(request(r.url("/"), Duration::from_secs(5)))
            .await;
        assert_eq!(kind(&o), Some(ErrorKind::Reset), "{o:?}");
        assert!(!o.is_success());
        assert_eq!(o.status, None);
        assert_eq!(r.requests().len(), 1);
    })
    .await;
}

/// A kept connection carries the next attempt, but not once it has been idle as long as
/// receivers keep theirs: then a receiver's close could cross the attempt, which would fail
/// although the receiver never read it. The receiver here fails exactly those attempts.
#[tokio::test]
async fn idle_connections_are_not_reused_after_receivers_close_theirs() {
    bounded(async {
        let sender = loopback_sender();
        let r = receiver(Behavior::KeepAlive(KeepAlive {
            closes_after: hookline::delivery::IDLE_CONNECTION_TIMEOUT,
            ..KeepAlive::default()
        }))
        .await;
        let send = || sender.send(request(r.url("/"), Duration::from_secs(5)));
        let o = send().await;
        assert!(o.is_success(), "{o:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
        let o = send().await;
        assert!(o.is_success(), "{o:?}");
        assert_eq!(
            r.connections(),
            1,
            "a connection idle for 0.1 s carries the next attempt"
        );
        tokio::time::sleep(
            hookline::delivery::IDLE_CONNECTION_TIMEOUT + Duration::from_millis(300),
        )
        .await;
        let o = send().await;
        assert!(
            o.is_success(),
            "the attempt after a long idle went out on the old connection: {o:?}"
        );
        assert_eq!(r.connections(), 2);
        assert_eq!(r.requests().len(), 3);
        assert!(
            hookline::delivery::IDLE_CONNECTION_TIMEOUT < Duration::from_secs(5),
            "Node.js, uvicorn, Apache and actix-web close idle connections after 5 s"
        );
    })
    .await;
}

/// A connection carries the next attempt only once its response was read to the end,
/// whatever the body's size up to the cap. Past the cap the sender stops reading, so a body
/// well beyond it is left unread and its connection closed.
#[tokio::test]
async fn a_connection_carries_the_next_attempt_only_after_its_response_was_read_whole() {
    bounded(async {
        let sender = loopback_sender();
        for (body, connections) in [
            (0, 1),
            (100, 1),
            (20_000, 1),
            (MAX_RESPONSE_BODY, 1),
            (3 * MAX_RESPONSE_BODY, 3),
            (16 * MAX_RESPONSE_BODY, 3),
        ] {
            let r = receiver(Behavior::KeepAlive(KeepAlive {
                body,
                ..KeepAlive::default()
            }))
            .await;
            for _ in 0..3 {
                let o = sender
                    .send(request(r.url("/"), Duration::from_secs(5)))
                    .await;
                assert!(o.is_success(), "{body}: {o:?}");
                assert_eq!(o.response_body.len(), body.min(MAX_RESPONSE_BODY));
            }
            assert_eq!(r.connections(), connections, "a body of {body} bytes");
            assert_eq!(r.requests().len(), 3);
        }
    })
    .await;
}

/// Attempts at once to one receiver open a connection each; afterwards the sender keeps at
/// most `max_idle_per_host` of them for the next attempts and closes the rest.
#[tokio::test]
async fn at_most_max_idle_per_host_connections_are_kept() {
    bounded(async {
        let sender = Sender::new(SenderConfig {
            allowed_networks: vec!["127.0.0.0/8".parse().unwrap()],
            max_idle_per_host: 2,
            ..SenderConfig::default()
        })
        .unwrap();
        let r = receiver(Behavior::KeepAlive(KeepAlive {
            delay: Duration::from_millis(200),
            ..KeepAlive::default()
        }))
        .await;
        let five = || {
            futures_util::future::join_all(
                (0..5).map(|_| sender.send(request(r.url("/"), Duration::from_secs(5)))),
            )
        };
        for o in five().await {
            assert!(o.is_success(), "{o:?}");
        }
        assert_eq!(r.connections(), 5);
        let deadline = Instant::now() + Duration::from_secs(5);
        while r.closed.load(Ordering::SeqCst) < 3 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(r.closed.load(Ordering::SeqCst), 3, "three closed, two kept");
        for o in five().await {
            assert!(o.is_success(), "{o:?}");
        }
        assert_eq!(
            r.connections(),
            8,
            "the two kept carried two of the next five"
        );
        assert_eq!(r.requests().len(), 10);
    })
    .await;
}

/// A kept connection is closed once it has been idle as long as receivers keep theirs, even
/// when no attempt comes that could have used it: it holds a socket on both sides.
#[tokio::test]
async fn idle_connections_are_closed_after_the_idle_timeout() {
    bounded(async {
        let sender = loopback_sender();
        let r = receiver(Behavior::KeepAlive(KeepAlive::default())).await;
        let o = sender
            .send(request(r.url("/"), Duration::from_secs(5)))
            .await;
        assert!(o.is_success(), "{o:?}");
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert_eq!(r.closed.load(Ordering::SeqCst), 0, "kept while fresh");
        let deadline =
            Instant::now() + hookline::delivery::IDLE_CONNECTION_TIMEOUT + Duration::from_secs(3);
        while r.closed.load(Ordering::SeqCst) == 0 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(
            r.closed.load(Ordering::SeqCst),
            1,
            "an idle connection stayed open past the idle timeout and a second"
        );
        assert_eq!(r.connections(), 1);
    })
    .await;
}

/// A receiver that closes each connection after its answer, without saying so: the next
/// attempt does not go out on the closed connection (and fail) but on a new one.
#[tokio::test]
async fn a_connection_the_receiver_closed_carries_no_attempt() {
    bounded(async {
        let sender = loopback_sender();
        let r = receiver(Behavior::KeepAlive(KeepAlive {
            close_after_answer: true,
            ..KeepAlive::default()
        }))
        .await;
        for i in 1..=3 {
            let o = sender
                .send(request(r.url("/"), Duration::from_secs(5)))
                .await;
            assert!(o.is_success(), "attempt {i}: {o:?}");
            // Well past the receiver's close, 20 ms after its answer.
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
        assert_eq!(r.connections(), 3);
        assert_eq!(r.requests().len(), 3);
    })
    .await;
}

#[tokio::test]
async fn connection_refused_is_a_connect_error() {
    bounded(async {
        let sender = loopback_sender();
        let port = {
            let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
            l.local_addr().unwrap().port()
        };
        let url = url::Url::parse(&format!("http://127.0.0.1:{port}/")).unwrap();
        let o = sender.send(request(url, Duration::from_secs(5))).await;
        assert_eq!(kind(&o), Some(ErrorKind::Connect), "{o:?}");
        assert_eq!(message(&o), "connection refused");
    })
    .await;
}

#[tokio::test]
async fn unresolvable_host_is_a_dns_error() {
    bounded(async {
        let sender = strict_sender();
        let url = url::Url::parse("http://nx.invalid/").unwrap();
        let o = sender.send(request(url, Duration::from_secs(10))).await;
        assert_eq!(kind(&o), Some(ErrorKind::Dns), "{o:?}");
        assert!(
            message(&o).starts_with("DNS: no address for nx.invalid"),
            "{}",
            message(&o)
        );
    })
    .await;
}

// ---------------------------------------------------------------------------------------
// TLS.

#[path = "common/pki.rs"]
mod pki;
use pki::test_pki;

#[tokio::test]
async fn https_with_trusted_extra_ca() {
    bounded(async {
        let pki = test_pki();
        let r = receiver_with_tls(respond(200), Some(pki.acceptor.clone())).await;
        let sender = Sender::new(SenderConfig {
            allowed_networks: vec!["127.0.0.0/8".parse().unwrap(), "::1/128".parse().unwrap()],
            extra_ca_pem: Some(pki.ca_pem.clone().into_bytes()),
            connect_timeout: Duration::from_secs(2),
            ..SenderConfig::default()
        })
        .unwrap();
        for host in ["localhost", "127.0.0.1"] {
            let url = url::Url::parse(&format!("https://{host}:{}/tls", r.port())).unwrap();
            let o = sender.send(request(url, Duration::from_secs(5))).await;
            assert!(o.is_success(), "{host}: {o:?}");
            assert_eq!(o.response_body, b"status 200");
        }
        let reqs = r.requests();
        assert_eq!(reqs.len(), 2);
        assert_eq!(reqs[0].path, "/tls");
        assert_eq!(
            reqs[0].body,
            request(r.url("/"), Duration::ZERO).body.to_vec()
        );
    })
    .await;
}

/// Deliveries trust the system's CA store (found through SSL_CERT_FILE / SSL_CERT_DIR as
/// the system's tools find it), and the bundled Mozilla roots only where the system has none.
/// (nextest runs each test in a process of its own; the variables are restored anyway.)
#[test]
fn roots_come_from_the_system_with_the_bundle_as_fallback() {
    use hookline::delivery::http::{bundled_root_count, trusted_roots};
    let saved: Vec<_> = ["SSL_CERT_FILE", "SSL_CERT_DIR"]
        .iter()
        .map(|k| (*k, std::env::var_os(k)))
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let (empty_file, empty_dir) = (dir.path().join("none.pem"), dir.path().join("certs"));
    std::fs::write(&empty_file, "").unwrap();
    std::fs::create_dir(&empty_dir).unwrap();
    let one_ca = dir.path().join("ca.pem");
    std::fs::write(&one_ca, test_pki().ca_pem).unwrap();
    std::env::set_var("SSL_CERT_DIR", &empty_dir);
    // A system store with one CA: that one alone.
    std::env::set_var("SSL_CERT_FILE", &one_ca);
    let system = trusted_roots(None).unwrap().len();
    // A system without any: the bundle.
    std::env::set_var("SSL_CERT_FILE", &empty_file);
    let fallback = trusted_roots(None).unwrap().len();
    let with_extra = trusted_roots(Some(test_pki().ca_pem.as_bytes()))
        .unwrap()
        .len();
    for (k, v) in saved {
        match v {
            Some(v) => std::env::set_var(k, v),
            None => std::env::remove_var(k),
        }
    }
    assert_eq!(system, 1);
    assert!(bundled_root_count() > 100);
    assert_eq!(fallback, bundled_root_count());
    assert_eq!(with_extra, bundled_root_count() + 1);
}

#[tokio::test]
async fn https_with_unknown_issuer_fails_tls() {
    bounded(async {
        let pki = test_pki();
        let r = receiver_with_tls(respond(200), Some(pki.acceptor.clone())).await;
        let sender = loopback_sender(); // public roots only
        let url = url::Url::parse(&format!("https://localhost:{}/", r.port())).unwrap();
        let o = sender.send(request(url, Duration::from_secs(5))).await;
        assert_eq!(kind(&o), Some(ErrorKind::Tls), "{o:?}");
        assert_eq!(
            message(&o),
            "TLS: invalid peer certificate: UnknownIssuer",
            "{o:?}"
        );
        assert!(r.requests().is_empty());
    })
    .await;
}

#[tokio::test]
async fn https_to_plain_http_receiver_fails_tls() {
    bounded(async {
        let r = receiver(Behavior::Blurt(
            b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n".to_vec(),
        ))
        .await;
        let sender = loopback_sender();
        let url = url::Url::parse(&format!("https://127.0.0.1:{}/", r.port())).unwrap();
        let o = sender.send(request(url, Duration::from_secs(5))).await;
        assert_eq!(kind(&o), Some(ErrorKind::Tls), "{o:?}");
        assert!(message(&o).starts_with("TLS: "), "{o:?}");
    })
    .await;
}

// ---------------------------------------------------------------------------------------
// SSRF.

#[tokio::test]
async fn ssrf_guard_blocks_before_connecting() {
    bounded(async {
        let r = receiver(respond(200)).await;
        let p = r.port();
        let sender = strict_sender();
        let cases = [
            (
                format!("http://127.0.0.1:{p}/"),
                "127.0.0.1 is a loopback address",
            ),
            (format!("http://[::1]:{p}/"), "::1 is a loopback address"),
            (format!("http://localhost:{p}/"), "localhost resolves to"),
            (
                "http://169.254.169.254/latest/meta-data/".to_string(),
                "169.254.169.254 is the cloud metadata address",
            ),
            (
                "http://10.0.0.1/".to_string(),
                "10.0.0.1 is a private address",
            ),
            (
                format!("http://[::ffff:127.0.0.1]:{p}/"),
                "::ffff:127.0.0.1 is a loopback address",
            ),
            (
                format!("http://2130706433:{p}/"),
                "127.0.0.1 is a loopback address",
            ),
            (
                format!("https://127.0.0.1:{p}/"),
                "127.0.0.1 is a loopback address",
            ),
        ];
        for (u, want) in cases {
            let url = url::Url::parse(&u).unwrap();
            let started = Instant::now();
            let o = sender.send(request(url, Duration::from_secs(5))).await;
            assert_eq!(kind(&o), Some(ErrorKind::Blocked), "{u}: {o:?}");
            let m = message(&o);
            assert!(m.starts_with("blocked: "), "{u}: {m}");
            assert!(m.contains(want), "{u}: {m}");
            assert!(
                m.ends_with("(allow it with HOOKLINE_ALLOWED_NETWORKS)"),
                "{u}: {m}"
            );
            assert_eq!(o.status, None);
            assert!(started.elapsed() < Duration::from_secs(2), "{u}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(r.connections(), 0, "a blocked URL reached the receiver");
        assert!(r.requests().is_empty());
    })
    .await;
}

#[tokio::test]
async fn allowed_networks_let_loopback_through() {
    bounded(async {
        let r = receiver(respond(200)).await;
        let p = r.port();
        let sender = loopback_sender();
        for u in [
            format!("http://127.0.0.1:{p}/"),
            format!("http://localhost:{p}/"),
        ] {
            let url = url::Url::parse(&u).unwrap();
            let o = sender.send(request(url, Duration::from_secs(5))).await;
            assert!(o.is_success(), "{u}: {o:?}");
        }
        assert_eq!(r.requests().len(), 2);
        assert!(r.connections() >= 2);

        // Allowing one network does not open the others.
        let only_v6 = Sender::new(SenderConfig {
            allowed_networks: vec!["::1/128".parse().unwrap()],
            ..SenderConfig::default()
        })
        .unwrap();
        let o = only_v6
            .send(request(r.url("/"), Duration::from_secs(5)))
            .await;
        assert_eq!(kind(&o), Some(ErrorKind::Blocked), "{o:?}");
        assert_eq!(r.requests().len(), 2);
    })
    .await;
}

#[tokio::test]
async fn sender_is_reusable_and_cheap_to_clone() {
    bounded(async {
        let r = receiver(respond(204)).await;
        let sender = loopback_sender();
        let mut tasks = Vec::new();
        for _ in 0..8 {
            let s = sender.clone();
            let url = r.url("/");
            tasks.push(tokio::spawn(async move {
                s.send(request(url, Duration::from_secs(5))).await
            }));
        }
        for t in tasks {
            assert!(t.await.unwrap().is_success());
        }
        assert_eq!(r.requests().len(), 8);
    })
    .await;
}

/// A response head far larger than the connection buffer is the receiver's error, named as
/// such; a large one within it arrives whole.
#[tokio::test]
async fn oversized_response_heads_are_refused() {
    bounded(async {
        let sender = loopback_sender();
        let head = |bytes: usize| {
            let mut h = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n".to_vec();
            let line = format!("x-big: {}\r\n", "h".repeat(990));
            for _ in 0..bytes / line.len() {
                h.extend_from_slice(line.as_bytes());
            }
            h.extend_from_slice(b"\r\nok");
            h
        };
        let r = receiver(Behavior::Trickle {
            fast: head(128 * 1024),
            slow: vec![],
            every: Duration::ZERO,
        })
        .await;
        let o = sender
            .send(request(r.url("/"), Duration::from_secs(5)))
            .await;
        assert_eq!(kind(&o), Some(ErrorKind::Other), "{o:?}");
        assert_eq!(
            message(&o),
            "the response headers are larger than 32 KiB (or more than 100)"
        );
        let r = receiver(Behavior::Trickle {
            fast: head(12 * 1024),
            slow: vec![],
            every: Duration::ZERO,
        })
        .await;
        let o = sender
            .send(request(r.url("/"), Duration::from_secs(5)))
            .await;
        assert!(o.is_success(), "{o:?}");
        assert_eq!(o.response_body, b"ok");
        assert!(
            o.response_headers
                .iter()
                .filter(|(k, _)| k == "x-big")
                .count()
                >= 11
        );
    })
    .await;
}

#[tokio::test]
async fn broken_responses_are_named() {
    bounded(async {
        let sender = loopback_sender();
        let cases: [(&[u8], Option<u16>, ErrorKind, &str); 4] = [
            (
                b"garbage\r\n\r\n",
                None,
                ErrorKind::Other,
                "HTTP error: invalid HTTP version parsed",
            ),
            (
                b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort",
                Some(200),
                ErrorKind::Reset,
                "connection closed by the receiver before the response was complete",
            ),
            (
                b"",
                None,
                ErrorKind::Reset,
                "connection closed by the receiver before the response was complete",
            ),
            (
                b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nshort",
                None,
                ErrorKind::Other,
                "HTTP error: invalid content-length parsed",
            ),
        ];
        for (reply, status, want_kind, want_msg) in cases {
            // Answer after reading the request, then close.
            let r = receiver(Behavior::Trickle {
                fast: reply.to_vec(),
                slow: vec![],
                every: Duration::ZERO,
            })
            .await;
            let o = sender
                .send(request(r.url("/"), Duration::from_secs(5)))
                .await;
            assert_eq!(o.status, status, "{o:?}");
            assert_eq!(kind(&o), Some(want_kind), "{o:?}");
            assert_eq!(message(&o), want_msg);
            assert!(!o.is_success());
        }
    })
    .await;
}
