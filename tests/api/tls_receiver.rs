//! An HTTPS receiver on 127.0.0.1 with a certificate from a test CA made for the test
//! (`tests/common/pki.rs`), and the CA's PEM to trust it with. It records every request and
//! answers 200.

use std::sync::{Arc, Mutex};

use crate::receiver::Received;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

pub struct TlsReceiver {
    /// `https://127.0.0.1:<port>/hook` (the certificate names 127.0.0.1 and localhost).
    pub url: String,
    /// The test CA's certificate (PEM).
    pub ca_pem: String,
    pub received: Arc<Mutex<Vec<Received>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for TlsReceiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl TlsReceiver {
    pub async fn start() -> TlsReceiver {
        let crate::pki::TestPki {
            ca_pem, acceptor, ..
        } = crate::pki::test_pki();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let received = Arc::new(Mutex::new(Vec::new()));
        let r = received.clone();
        let task = tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let (acceptor, r) = (acceptor.clone(), r.clone());
                tokio::spawn(async move {
                    let Ok(mut s) = acceptor.accept(tcp).await else {
                        return; // the client refused our certificate
                    };
                    let mut got = Vec::new();
                    let mut buf = vec![0u8; 64 * 1024];
                    let (head, body) = loop {
                        let Ok(n) = s.read(&mut buf).await else {
                            return;
                        };
                        if n == 0 {
                            return;
                        }
                        got.extend_from_slice(&buf[..n]);
                        let Some(end) = got.windows(4).position(|w| w == b"\r\n\r\n") else {
                            continue;
                        };
                        let head = String::from_utf8_lossy(&got[..end]).to_string();
                        let len: usize = head
                            .lines()
                            .filter_map(|l| l.split_once(':'))
                            .find(|(k, _)| k.trim().eq_ignore_ascii_case("content-length"))
                            .and_then(|(_, v)| v.trim().parse().ok())
                            .unwrap_or(0);
                        if got.len() >= end + 4 + len {
                            break (head, got[end + 4..end + 4 + len].to_vec());
                        }
                    };
                    let headers = head
                        .lines()
                        .skip(1)
                        .filter_map(|l| l.split_once(':'))
                        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
                        .collect();
                    r.lock().unwrap().push(Received {
                        headers,
                        body: String::from_utf8_lossy(&body).into_owned(),
                    });
                    let _ = s
                        .write_all(
                            b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok",
                        )
                        .await;
                    let _ = s.shutdown().await;
                });
            }
        });
        TlsReceiver {
            url: format!("https://127.0.0.1:{port}/hook"),
            ca_pem,
            received,
            task,
        }
    }

    pub fn all(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }
}
