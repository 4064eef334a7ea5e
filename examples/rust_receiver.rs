//! A webhook receiver that verifies Hookline's deliveries with the `standardwebhooks` crate
//! (and the plain hex header with `hmac` + `sha2`). Only the standard library serves HTTP, so
//! the verification is all there is to read.
//!
//!     cargo run --example rust_receiver -- SECRET [HEX_HEADER_NAME]
//!
//! Listens on 127.0.0.1 on a free port and prints `PORT <n>`. Answers 204 when the Standard
//! Webhooks signature verifies, 400 otherwise, and logs one JSON line per request:
//! `{"ok", "hex_ok", "id", "error"}`. Stops when standard input closes.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;

use hmac::{Hmac, Mac};
use sha2::Sha256;

struct Receiver {
    webhook: standardwebhooks::Webhook,
    secret: String,
    hex_header: String,
}

fn main() {
    let mut args = std::env::args().skip(1);
    let secret = args
        .next()
        .expect("usage: rust_receiver SECRET [HEX_HEADER_NAME]");
    let hex_header = args
        .next()
        .unwrap_or_else(|| "X-Hookline-Signature".into())
        .to_ascii_lowercase();
    let webhook = standardwebhooks::Webhook::new(&secret).expect("a whsec_ secret");
    let receiver = Arc::new(Receiver {
        webhook,
        secret,
        hex_header,
    });
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    println!("PORT {}", listener.local_addr().unwrap().port());
    std::io::stdout().flush().unwrap();
    std::thread::spawn(|| {
        let _ = std::io::copy(&mut std::io::stdin(), &mut std::io::sink());
        std::process::exit(0);
    });
    for stream in listener.incoming().flatten() {
        let r = receiver.clone();
        std::thread::spawn(move || serve(stream, &r));
    }
}

/// Serves the requests of one keep-alive connection.
fn serve(stream: TcpStream, r: &Receiver) {
    let mut reader = BufReader::new(stream.try_clone().expect("clone stream"));
    let mut out = stream;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let mut headers = http::HeaderMap::new();
        let mut length = 0usize;
        loop {
            let mut h = String::new();
            if reader.read_line(&mut h).unwrap_or(0) == 0 {
                return;
            }
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            if let Some((name, value)) = h.split_once(':') {
                let (name, value) = (name.trim().to_ascii_lowercase(), value.trim());
                if name == "content-length" {
                    length = value.parse().unwrap_or(0);
                }
                if let (Ok(n), Ok(v)) = (
                    http::HeaderName::from_bytes(name.as_bytes()),
                    http::HeaderValue::from_str(value),
                ) {
                    headers.insert(n, v);
                }
            }
        }
        let mut body = vec![0u8; length];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        // Verify the raw bytes, never re-serialised JSON.
        let verified = r.webhook.verify(&body, &headers);
        let mut mac = Hmac::<Sha256>::new_from_slice(r.secret.as_bytes()).expect("any key length");
        mac.update(&body);
        let expected = hex::encode(mac.finalize().into_bytes());
        let given = headers
            .get(r.hex_header.as_str())
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let hex_ok = given.len() == expected.len()
            && given
                .bytes()
                .zip(expected.bytes())
                .fold(0, |acc, (a, b)| acc | (a ^ b))
                == 0;
        let line = serde_json::json!({
            "ok": verified.is_ok(),
            "hex_ok": hex_ok,
            "id": headers.get("webhook-id").and_then(|v| v.to_str().ok()),
            "error": verified.err().map(|e| e.to_string()),
        });
        println!("{line}");
        let _ = std::io::stdout().flush();
        let status = if line["ok"] == true {
            "204 No Content"
        } else {
            "400 Bad Request"
        };
        if out
            .write_all(format!("HTTP/1.1 {status}\r\ncontent-length: 0\r\n\r\n").as_bytes())
            .is_err()
        {
            return;
        }
    }
}
