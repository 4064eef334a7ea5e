//! Test receivers on 127.0.0.1: a scripted Rust one, and the Python one that verifies
//! signatures with the `standardwebhooks` package from PyPI.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};

use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};

#[derive(Debug, Clone)]
pub struct Received {
    pub headers: BTreeMap<String, String>,
    pub body: String,
}

type Script = Arc<dyn Fn(usize) -> (u16, Vec<(String, String)>) + Send + Sync>;

/// Answers the n-th request (0-based) with `script(n)` and records every request.
pub struct Receiver {
    pub url: String,
    pub received: Arc<Mutex<Vec<Received>>>,
    handle: actix_web::dev::ServerHandle,
}

impl Receiver {
    pub async fn start(
        script: impl Fn(usize) -> (u16, Vec<(String, String)>) + Send + Sync + 'static,
    ) -> Receiver {
        let received = Arc::new(Mutex::new(Vec::new()));
        let script: Script = Arc::new(script);
        let (r, s) = (received.clone(), script.clone());
        let server = HttpServer::new(move || {
            let (r, s) = (r.clone(), s.clone());
            App::new().default_service(web::to(move |req: HttpRequest, body: web::Bytes| {
                let (r, s) = (r.clone(), s.clone());
                async move {
                    let headers = req
                        .headers()
                        .iter()
                        .map(|(k, v)| {
                            (k.as_str().to_string(), v.to_str().unwrap_or("").to_string())
                        })
                        .collect();
                    let n = {
                        let mut g = r.lock().unwrap();
                        g.push(Received {
                            headers,
                            body: String::from_utf8_lossy(&body).into_owned(),
                        });
                        g.len() - 1
                    };
                    let (status, headers) = s(n);
                    let mut resp =
                        HttpResponse::build(actix_web::http::StatusCode::from_u16(status).unwrap());
                    for (k, v) in headers {
                        resp.insert_header((k, v));
                    }
                    resp.body("receiver says hi")
                }
            }))
        })
        .workers(1)
        .disable_signals()
        .bind("127.0.0.1:0")
        .unwrap();
        let port = server.addrs()[0].port();
        let server = server.run();
        let handle = server.handle();
        tokio::spawn(server);
        Receiver {
            url: format!("http://127.0.0.1:{port}/hook"),
            received,
            handle,
        }
    }

    pub fn always(
        status: u16,
    ) -> impl Fn(usize) -> (u16, Vec<(String, String)>) + Send + Sync + 'static {
        move |_| (status, vec![])
    }

    pub fn count(&self) -> usize {
        self.received.lock().unwrap().len()
    }

    pub fn all(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        let h = self.handle.clone();
        let _ = tokio::runtime::Handle::try_current()
            .map(|rt| rt.spawn(async move { h.stop(false).await }));
    }
}

/// The Python interpreter with `standardwebhooks` installed, or `None` (outside CI only).
pub fn python_with_standardwebhooks() -> Option<String> {
    crate::helpers::python_with(&["standardwebhooks"])
}

/// `examples/python/receiver.py`, killed when dropped.
/// One of the example receivers in `examples/` (same protocol for all), killed when dropped.
pub struct PyReceiver {
    child: Child,
    pub url: String,
    pub lines: Arc<Mutex<Vec<serde_json::Value>>>,
}

impl PyReceiver {
    /// `examples/python/receiver.py` under the given interpreter.
    pub fn start(python: &str, secret: &str) -> PyReceiver {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/python/receiver.py");
        PyReceiver::spawn(Command::new(python).arg(script), secret)
    }

    /// Any example receiver: it is given the secret, prints `PORT <n>`, then one JSON line a
    /// request.
    pub fn spawn(cmd: &mut Command, secret: &str) -> PyReceiver {
        let mut child = cmd
            .arg(secret)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("start the example receiver");
        let mut out = BufReader::new(child.stdout.take().unwrap());
        let mut first = String::new();
        out.read_line(&mut first).unwrap();
        let port: u16 = first
            .trim()
            .strip_prefix("PORT ")
            .unwrap_or_else(|| panic!("receiver prints its port, got {first:?}"))
            .parse()
            .unwrap();
        let lines = Arc::new(Mutex::new(Vec::new()));
        let l = lines.clone();
        std::thread::spawn(move || {
            for line in out.lines().map_while(Result::ok) {
                if let Ok(v) = serde_json::from_str(&line) {
                    l.lock().unwrap().push(v);
                }
            }
        });
        PyReceiver {
            child,
            url: format!("http://127.0.0.1:{port}/hook"),
            lines,
        }
    }
}

impl Drop for PyReceiver {
    fn drop(&mut self) {
        if let Some(mut stdin) = self.child.stdin.take() {
            let _ = stdin.write_all(b"");
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
