//! What one HTTP exchange costs the client on this machine, without Hookline's queue: the same
//! POST (a 200-byte body and a delivery's eight headers) sent over keep-alive connections to a
//! receiver in a child process (actix-web with one worker, as `hookline-bench`'s), by four
//! clients in turn, each on a tokio runtime of two workers:
//!
//! - `reqwest`: the bench's `baseline` client;
//! - `hyper-util`: hyper-util's pooled client, which Hookline's sender used until 2026-12-07;
//! - `hyper`: one `hyper::client::conn::http1` sender per connection, each driven by its own
//!   task, the least a hyper client does per exchange;
//! - `hookline`: Hookline's own sender (`Sender::send_to`, its connection pool, the response
//!   read as an attempt reads it), headers built beforehand.
//!
//! Prints each client's CPU per request (this process's CPU; the receiver runs in a child
//! process) and the receiver's. `hookline-bench`'s CPU per delivery compares with the
//! `hookline` line plus the SQLite writer's share and the rest of an attempt (signing, the
//! dispatcher, the recorder).
//!
//! ```sh
//! cargo run --release --example client_cost -- [REQUESTS] [CONNECTIONS] [ROUNDS]
//! ```

use std::io::{BufRead, BufReader};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};

/// This process's CPU time so far (user and system), in seconds.
fn process_cpu_s() -> f64 {
    // SAFETY: a zeroed rusage is a valid value for getrusage to fill.
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: a valid pointer to a rusage.
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut u) };
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    tv(u.ru_utime) + tv(u.ru_stime)
}

/// Another process's CPU time so far, in seconds (`/proc/<pid>/stat`).
fn child_cpu_s(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map_or(vec![], |(_, rest)| rest.split_whitespace().collect());
    // utime and stime are fields 14 and 15; these start at field 3.
    let ticks: f64 = fields.get(11..13).map_or(0.0, |f| {
        f.iter().filter_map(|v| v.parse::<f64>().ok()).sum()
    });
    // SAFETY: sysconf has no preconditions.
    ticks / unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64
}

const HEADERS: [(&str, &str); 8] = [
    ("content-type", "application/json"),
    ("user-agent", "Hookline/0.1.0"),
    ("webhook-id", "evt_0A1b2C3dE4f5G6h7I8j9K0l1M2n"),
    ("webhook-timestamp", "1765000000"),
    (
        "webhook-signature",
        "v1,K5oZfzN95Z9UVu1EsfQmfVNQhnkZ2pj9o9NDN/H/pI4=",
    ),
    (
        "x-hookline-signature",
        "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
    ),
    ("x-hookline-event", "order.paid"),
    ("x-hookline-delivery", "123456"),
];

fn headers() -> http::HeaderMap {
    let mut h = http::HeaderMap::with_capacity(HEADERS.len() + 1);
    for (k, v) in HEADERS {
        h.append(
            http::HeaderName::from_static(k),
            http::HeaderValue::from_static(v),
        );
    }
    h
}

/// The receiver: 204 for every request, one actix-web worker. Prints its port, then runs
/// until its parent closes its standard input.
fn receive() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let local = tokio::task::LocalSet::new();
    local.block_on(&rt, async {
        let server = actix_web::HttpServer::new(|| {
            actix_web::App::new().default_service(actix_web::web::to(
                |_body: actix_web::web::Bytes| async {
                    actix_web::HttpResponse::NoContent().finish()
                },
            ))
        })
        .workers(1)
        .backlog(4096)
        .disable_signals()
        .bind("127.0.0.1:0")
        .unwrap();
        println!("{}", server.addrs()[0].port());
        let server = server.run();
        let handle = server.handle();
        tokio::spawn(server);
        // The parent closing our stdin is the signal to stop.
        let _ = tokio::task::spawn_blocking(|| {
            let mut line = String::new();
            let _ = std::io::stdin().read_line(&mut line);
        })
        .await;
        handle.stop(false).await;
    });
}

#[derive(Clone, Copy, Debug)]
enum Client {
    Reqwest,
    HyperUtil,
    Hyper,
    Hookline,
}

/// The clients, made once (Hookline's sender reads the system's CA store when made).
#[derive(Clone)]
struct Clients {
    port: u16,
    reqwest: reqwest::Client,
    legacy: hyper_util::client::legacy::Client<
        hyper_util::client::legacy::connect::HttpConnector,
        Full<Bytes>,
    >,
    sender: hookline::delivery::Sender,
    target: hookline::delivery::http::Target,
}

impl Clients {
    fn new(port: u16, connections: usize) -> Clients {
        let url = format!("http://127.0.0.1:{port}/hook");
        let sender = hookline::delivery::Sender::new(hookline::delivery::SenderConfig {
            allowed_networks: vec!["127.0.0.0/8".parse().unwrap()],
            max_idle_per_host: connections,
            ..Default::default()
        })
        .unwrap();
        Clients {
            port,
            reqwest: reqwest::Client::builder()
                .pool_max_idle_per_host(connections)
                .build()
                .unwrap(),
            legacy: hyper_util::client::legacy::Client::builder(
                hyper_util::rt::TokioExecutor::new(),
            )
            .pool_max_idle_per_host(connections)
            .build_http(),
            target: sender
                .target(&url::Url::parse(&url).unwrap(), Duration::from_secs(30))
                .unwrap(),
            sender,
        }
    }
}

/// `requests` POSTs over `connections` connections at once; returns the wall time.
async fn run(client: Client, clients: &Clients, requests: usize, connections: usize) -> Duration {
    let port = clients.port;
    let uri: http::Uri = format!("http://127.0.0.1:{port}/hook").parse().unwrap();
    let body = Bytes::from(vec![b'x'; 200]);
    let per = requests / connections;
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..connections {
        let (body, uri) = (body.clone(), uri.clone());
        let Clients {
            reqwest,
            legacy,
            sender,
            target,
            ..
        } = clients.clone();
        tasks.spawn(async move {
            match client {
                Client::Reqwest => {
                    for _ in 0..per {
                        let r = reqwest
                            .post(uri.to_string())
                            .headers(headers())
                            .body(body.clone())
                            .send()
                            .await
                            .unwrap();
                        assert_eq!(r.status(), 204);
                        let _ = r.bytes().await;
                    }
                }
                Client::HyperUtil => {
                    for _ in 0..per {
                        let mut r = http::Request::new(Full::new(body.clone()));
                        *r.method_mut() = http::Method::POST;
                        *r.uri_mut() = uri.clone();
                        *r.headers_mut() = headers();
                        let r = legacy.request(r).await.unwrap();
                        assert_eq!(r.status(), 204);
                        let _ = r.into_body().collect().await;
                    }
                }
                Client::Hyper => {
                    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port))
                        .await
                        .unwrap();
                    tcp.set_nodelay(true).unwrap();
                    let (mut tx, conn) = hyper::client::conn::http1::handshake::<_, Full<Bytes>>(
                        hyper_util::rt::TokioIo::new(tcp),
                    )
                    .await
                    .unwrap();
                    tokio::spawn(conn);
                    for _ in 0..per {
                        tx.ready().await.unwrap();
                        let mut r = http::Request::new(Full::new(body.clone()));
                        *r.method_mut() = http::Method::POST;
                        *r.uri_mut() = http::Uri::from_static("/hook");
                        *r.headers_mut() = headers();
                        r.headers_mut().insert(
                            http::header::HOST,
                            http::HeaderValue::from_static("127.0.0.1"),
                        );
                        let r = tx.send_request(r).await.unwrap();
                        assert_eq!(r.status(), 204);
                        let _ = r.into_body().collect().await;
                    }
                }
                Client::Hookline => {
                    for _ in 0..per {
                        let o = sender.send_to(&target, headers(), body.clone()).await;
                        assert_eq!(o.status, Some(204), "{o:?}");
                    }
                }
            }
        });
    }
    while let Some(r) = tasks.join_next().await {
        r.unwrap();
    }
    started.elapsed()
}

fn main() {
    let mut args = std::env::args().skip(1);
    let first = args.next();
    if first.as_deref() == Some("receive") {
        return receive();
    }
    let requests: usize = first.map_or(200_000, |a| a.parse().expect("REQUESTS"));
    let connections: usize = args.next().map_or(160, |a| a.parse().expect("CONNECTIONS"));
    let rounds: usize = args.next().map_or(3, |a| a.parse().expect("ROUNDS"));
    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .arg("receive")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let port: u16 = line.trim().parse().expect("the receiver's port");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    println!(
        "{requests} requests over {connections} connections, {rounds} rounds, clients in turn"
    );
    let clients = rt.block_on(async { Clients::new(port, connections) });
    println!("client       req/s   client CPU µs/request   receiver CPU µs/request");
    for _ in 0..rounds {
        for client in [
            Client::Reqwest,
            Client::HyperUtil,
            Client::Hyper,
            Client::Hookline,
        ] {
            // Connections opened (and the runtime warmed) outside the measurement.
            rt.block_on(run(client, &clients, connections * 4, connections));
            let (cpu, receiver) = (process_cpu_s(), child_cpu_s(child.id()));
            let wall = rt.block_on(run(client, &clients, requests, connections));
            let n = (requests / connections * connections) as f64;
            println!(
                "{:<10} {:>7.0}   {:>21.1}   {:>23.1}",
                format!("{client:?}").to_lowercase(),
                n / wall.as_secs_f64(),
                1e6 * (process_cpu_s() - cpu) / n,
                1e6 * (child_cpu_s(child.id()) - receiver) / n,
            );
        }
    }
    drop(child.stdin.take());
    let _ = child.wait();
}
