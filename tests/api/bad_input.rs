//! Fuzz-style bad input on every write route: a deterministic pseudo-random corpus (random
//! bytes, truncated bodies, wrong types, huge strings, deep nesting, unknown fields, invalid
//! UTF-8, NUL bytes, out-of-range numbers, nulls, bad headers and ids). Every answer must be
//! enveloped JSON and never a 5xx; input that cannot be valid must be a 4xx; and the server
//! must stay healthy.

use std::time::{Duration, Instant};

use crate::helpers::*;
use crate::webhooks_api::{fixture, Fixture};
use reqwest::Method;
use serde_json::{json, Value};

/// xorshift64*: small, deterministic, good enough to pick bytes and lengths.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed.max(1))
    }
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

/// What a corpus entry may be answered with.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Expect {
    /// Cannot be valid: a 4xx.
    Reject,
    /// May be valid (e.g. `null` for an optional field): a 2xx or a 4xx.
    Any,
    /// Exactly this status (the body is ignored by the route).
    Status(u16),
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Kind {
    /// A string with a format (URL, name, secret, …): junk in it is refused.
    Str,
    /// Free text (a name, a description): any string of the right length is fine.
    Text,
    Bool,
    Int,
    StrList,
    IntList,
    StrMap,
    /// A JSON object (an event's `data`, an example).
    Object,
    /// A list of objects (a batch's `events`).
    ObjList,
}

struct Field {
    /// JSON pointer of the object holding the field ("" for the body itself).
    at: &'static str,
    name: &'static str,
    kind: Kind,
    required: bool,
}

const fn field(at: &'static str, name: &'static str, kind: Kind, required: bool) -> Field {
    Field {
        at,
        name,
        kind,
        required,
    }
}

struct Case {
    label: String,
    method: Method,
    path: String,
    body: Vec<u8>,
    headers: Vec<(&'static str, Vec<u8>)>,
    expect: Expect,
}

/// One write route, with a valid body to mutate.
struct Target {
    method: Method,
    path: String,
    key: String,
    base: Value,
    fields: Vec<Field>,
    /// An empty body is valid (the route's body is optional).
    optional_body: bool,
}

const MIB: usize = 1024 * 1024;
/// A placeholder replaced by raw bytes after serializing.
const RAW: &str = "\u{1}RAW\u{1}";

/// `body` with `field` set to `v`.
fn with(base: &Value, f: &Field, v: Value) -> Value {
    let mut b = base.clone();
    b.pointer_mut(f.at)
        .and_then(Value::as_object_mut)
        .expect("field container")
        .insert(f.name.to_string(), v);
    b
}

/// Serializes `body`, splicing `raw` where the [`RAW`] placeholder string is.
fn splice(body: &Value, raw: &[u8]) -> Vec<u8> {
    let text = serde_json::to_vec(body).unwrap();
    let marker = serde_json::to_vec(&Value::String(RAW.into())).unwrap();
    let i = text
        .windows(marker.len())
        .position(|w| w == marker.as_slice())
        .expect("placeholder present");
    [&text[..i], raw, &text[i + marker.len()..]].concat()
}

fn deep_array(depth: usize) -> Vec<u8> {
    [vec![b'['; depth], vec![b']'; depth]].concat()
}

fn deep_object(depth: usize) -> Vec<u8> {
    let mut v = b"{\"a\":".repeat(depth);
    v.push(b'1');
    v.extend(std::iter::repeat_n(b'}', depth));
    v
}

/// Values of the wrong JSON type for `kind`.
fn wrong_types(kind: Kind) -> Vec<Value> {
    let all = [
        json!(true),
        json!(0),
        json!(-1),
        json!(1.5),
        json!("s"),
        json!([]),
        json!({}),
        json!([1]),
        json!(["s"]),
        json!([{}]),
        json!([[]]),
        json!({"a": 1}),
        json!({"a": "b"}),
        json!({"a": null}),
    ];
    all.into_iter()
        .filter(|v| match kind {
            Kind::Str | Kind::Text => !v.is_string(),
            Kind::Bool => !v.is_boolean(),
            Kind::Int => !(v.is_i64() || v.is_u64()),
            Kind::StrList => !v.as_array().is_some_and(|a| a.iter().all(Value::is_string)),
            Kind::IntList => !v.as_array().is_some_and(|a| a.iter().all(Value::is_i64)),
            Kind::StrMap => !v
                .as_object()
                .is_some_and(|o| o.values().all(Value::is_string)),
            Kind::Object => !v.is_object(),
            Kind::ObjList => !v.as_array().is_some_and(|a| a.iter().all(Value::is_object)),
        })
        .chain(match kind {
            // Right container, wrong elements.
            Kind::StrList => vec![json!([1, 2]), json!([true]), json!([null]), json!([["a"]])],
            Kind::IntList => vec![json!(["60"]), json!([1.5]), json!([true]), json!([null])],
            Kind::StrMap => vec![json!({"X-A": 1}), json!({"X-A": ["b"]}), json!({"X-A": {}})],
            Kind::ObjList => vec![json!([{"type": 1, "data": {}}]), json!([1, 2])],
            _ => vec![],
        })
        .collect()
}

/// Whether `body` could be valid for a route: a JSON object (or, when the body is optional,
/// nothing at all). Anything else must be refused.
fn could_be_valid(body: &[u8], optional_body: bool) -> bool {
    if body.iter().all(u8::is_ascii_whitespace) {
        return optional_body;
    }
    matches!(serde_json::from_slice::<Value>(body), Ok(Value::Object(_)))
}

fn corpus(t: &Target, rng: &mut Rng) -> Vec<Case> {
    let mut cases = Vec::new();
    let mut add = |label: String, body: Vec<u8>, expect: Expect| {
        cases.push(Case {
            label,
            method: t.method.clone(),
            path: t.path.clone(),
            body,
            headers: Vec::new(),
            expect,
        });
    };
    let valid = serde_json::to_vec(&t.base).unwrap();
    let judge = |body: &[u8]| {
        if could_be_valid(body, t.optional_body) {
            Expect::Any
        } else {
            Expect::Reject
        }
    };

    // Random bytes.
    for i in 0..50 {
        let len = 1 + rng.below(300);
        let body: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
        let e = judge(&body);
        add(format!("random bytes #{i}"), body, e);
    }
    // Random JSON-ish token soup.
    let tokens: &[&str] = &[
        "{",
        "}",
        "[",
        "]",
        "\"",
        ":",
        ",",
        "null",
        "true",
        "false",
        "0",
        "-",
        "1e999",
        "\\",
        "\\u00",
        "\"url\"",
        "\"events\"",
        "\"type\"",
        "\"data\"",
        "\"a\"",
        " ",
        "\n",
        "1.",
        "\u{0}",
        "é",
        "\u{feff}",
    ];
    for i in 0..50 {
        let n = 1 + rng.below(30);
        let body: Vec<u8> = (0..n).flat_map(|_| rng.pick(tokens).bytes()).collect();
        let e = judge(&body);
        add(format!("token soup #{i}"), body, e);
    }
    // Truncated prefixes of the valid body (never complete JSON).
    let mut lens: Vec<usize> = (1..valid.len()).step_by(1.max(valid.len() / 40)).collect();
    lens.extend((0..20).map(|_| 1 + rng.below(valid.len() - 1)));
    for n in lens {
        add(
            format!("prefix {n}/{}", valid.len()),
            valid[..n].to_vec(),
            Expect::Reject,
        );
    }
    // Whole bodies that are JSON but not an object, and junk around a valid one.
    for (label, body) in [
        ("null", b"null".to_vec()),
        ("array", b"[]".to_vec()),
        ("string", b"\"{}\"".to_vec()),
        ("number", b"1".to_vec()),
        ("valid then junk", [valid.as_slice(), b"x"].concat()),
        ("two objects", [valid.as_slice(), valid.as_slice()].concat()),
        (
            "BOM",
            [b"\xef\xbb\xbf".as_slice(), valid.as_slice()].concat(),
        ),
    ] {
        add(format!("body {label}"), body, Expect::Reject);
    }
    // Deep nesting of the whole body (serde_json's recursion limit must hold).
    for (label, body) in [
        ("deep array 10000", deep_array(10_000)),
        ("deep object 10000", deep_object(10_000)),
        ("unclosed deep array 100000", vec![b'['; 100_000]),
        ("deep array 129", deep_array(129)),
    ] {
        add(format!("body {label}"), body, Expect::Reject);
    }
    // Invalid UTF-8 and NUL bytes in the body's structure.
    for (label, body) in [
        (
            "invalid UTF-8",
            [b"\xff\xfe".as_slice(), valid.as_slice()].concat(),
        ),
        ("NUL before", [b"\0".as_slice(), valid.as_slice()].concat()),
        ("NUL after", [valid.as_slice(), b"\0"].concat()),
        ("NUL only", b"\0\0\0".to_vec()),
    ] {
        add(format!("body {label}"), body, Expect::Reject);
    }
    // Unknown fields, at every level that has fields.
    let mut containers: Vec<&str> = t.fields.iter().map(|f| f.at).collect();
    containers.dedup();
    for at in containers {
        for name in ["unknown_field", "URL", "__proto__", "", "Type"] {
            let f = field(at, name, Kind::Str, false);
            add(
                format!("unknown field {at}/{name:?}"),
                serde_json::to_vec(&with(&t.base, &f, json!(1))).unwrap(),
                Expect::Reject,
            );
        }
    }

    for f in &t.fields {
        let name = format!("{}/{}", f.at, f.name);
        let encode = |v: Value| serde_json::to_vec(&with(&t.base, f, v)).unwrap();
        let raw = |bytes: &[u8]| splice(&with(&t.base, f, Value::String(RAW.into())), bytes);
        let base_str = t
            .base
            .pointer(&format!("{}/{}", f.at, f.name))
            .and_then(Value::as_str);

        // Null for every field.
        let e = if f.required {
            Expect::Reject
        } else {
            Expect::Any
        };
        add(format!("{name} = null"), encode(Value::Null), e);
        // Wrong JSON types.
        for v in wrong_types(f.kind) {
            add(format!("{name} = {v}"), encode(v), Expect::Reject);
        }
        // Deeply nested arrays in place of the value.
        add(
            format!("{name} = deep array 10000"),
            raw(&deep_array(10_000)),
            Expect::Reject,
        );
        // Out-of-range numbers: not valid JSON numbers for serde (1e400), or out of the
        // field's range.
        add(format!("{name} = 1e400"), raw(b"1e400"), Expect::Reject);
        add(format!("{name} = -1e400"), raw(b"-1e400"), Expect::Reject);
        if f.kind == Kind::Int {
            for n in [
                "-1",
                "18446744073709551616",
                "9223372036854775808",
                "-9223372036854775809",
                "1e20",
                "0.5",
                "1E2",
                "100000",
                "4294967297",
            ] {
                add(format!("{name} = {n}"), raw(n.as_bytes()), Expect::Reject);
            }
        }
        if f.kind == Kind::IntList {
            for n in [
                "[-1]",
                "[18446744073709551616]",
                "[0]",
                "[604801]",
                "[1e400]",
            ] {
                add(format!("{name} = {n}"), raw(n.as_bytes()), Expect::Reject);
            }
        }
        if f.kind == Kind::Object {
            add(
                format!("{name} = {{\"n\": 1e400}}"),
                raw(b"{\"n\":1e400}"),
                Expect::Reject,
            );
            add(
                format!("{name} = object of 1 MiB"),
                encode(json!({"x": "a".repeat(MIB)})),
                Expect::Reject,
            );
            add(
                format!("{name} = object of 1 MB"),
                encode(json!({"x": "a".repeat(1_000_000)})),
                Expect::Reject,
            );
            add(
                format!("{name} = object nested 10000"),
                raw(&deep_object(10_000)),
                Expect::Reject,
            );
        }
        if matches!(f.kind, Kind::Str | Kind::Text) {
            let s = base_str.unwrap_or("abcdefgh");
            let mid = s.len() / 2;
            // Huge strings: over the 1 MiB body limit, and just under it.
            add(
                format!("{name} = 1 MiB string"),
                encode(Value::String("a".repeat(MIB))),
                Expect::Reject,
            );
            add(
                format!("{name} = 1 MB string"),
                encode(Value::String("a".repeat(1_000_000))),
                Expect::Reject,
            );
            // Invalid UTF-8 and lone surrogates inside the string.
            for (label, bytes) in [
                ("0xff", b"\xff".as_slice()),
                ("overlong", b"\xc0\xaf"),
                ("continuation", b"\x80"),
                ("lone surrogate", b"\\ud800"),
            ] {
                let mut v = b"\"".to_vec();
                v.extend_from_slice(&s.as_bytes()[..mid]);
                v.extend_from_slice(bytes);
                v.extend_from_slice(&s.as_bytes()[mid..]);
                v.push(b'"');
                add(format!("{name} with {label}"), raw(&v), Expect::Reject);
            }
            // NUL: raw in the string is not JSON; escaped, it is a character that only free
            // text may hold.
            let mut v = b"\"".to_vec();
            v.extend_from_slice(&s.as_bytes()[..mid]);
            v.push(0);
            v.extend_from_slice(&s.as_bytes()[mid..]);
            v.push(b'"');
            add(format!("{name} with raw NUL"), raw(&v), Expect::Reject);
            let e = if f.kind == Kind::Text {
                Expect::Any
            } else {
                Expect::Reject
            };
            let escaped = format!("{}\u{0}{}", &s[..mid], &s[mid..]);
            add(format!("{name} with \\u0000"), encode(json!(escaped)), e);
            add(format!("{name} = \\u0000"), encode(json!("\u{0}")), e);
        }
        if f.kind == Kind::StrList {
            add(
                format!("{name} = [1 MiB string]"),
                encode(json!(["a".repeat(MIB)])),
                Expect::Reject,
            );
            add(
                format!("{name} = [\\u0000]"),
                encode(json!(["\u{0}"])),
                Expect::Reject,
            );
            add(
                format!("{name} = [invalid UTF-8]"),
                raw(b"[\"\xff\"]"),
                Expect::Reject,
            );
        }
        if f.kind == Kind::StrMap {
            for v in [
                json!({"X-A": "a".repeat(MIB)}),
                json!({"a".repeat(1_000_000): "b"}),
                json!({"X-A": "b\u{0}c"}),
                json!({"X-\u{0}": "b"}),
                json!({"X-A": "b\r\nX-Evil: 1"}),
            ] {
                let label: String = v.to_string().chars().take(40).collect();
                add(format!("{name} = {label}"), encode(v), Expect::Reject);
            }
            add(
                format!("{name} with invalid UTF-8 key"),
                raw(b"{\"X-\xff\": \"b\"}"),
                Expect::Reject,
            );
        }
    }
    cases
}

/// Bad headers on a valid body.
fn header_cases(t: &Target) -> Vec<Case> {
    let body = serde_json::to_vec(&t.base).unwrap();
    let mut cases = Vec::new();
    let mut add = |label: &str, headers: Vec<(&'static str, Vec<u8>)>| {
        cases.push(Case {
            label: label.to_string(),
            method: t.method.clone(),
            path: t.path.clone(),
            body: body.clone(),
            headers,
            expect: Expect::Reject,
        });
    };
    add(
        "Hookline-Workspace unknown",
        vec![("hookline-workspace", b"nope".to_vec())],
    );
    add(
        "Hookline-Workspace not text",
        vec![("hookline-workspace", b"\xff\xfe".to_vec())],
    );
    add(
        "Hookline-Workspace huge",
        vec![("hookline-workspace", vec![b'a'; 4000])],
    );
    add(
        "Authorization garbage",
        vec![("authorization", b"Bearer \xff\xfe".to_vec())],
    );
    add(
        "Authorization wrong scheme",
        vec![("authorization", b"Basic abc".to_vec())],
    );
    add(
        "Authorization empty bearer",
        vec![("authorization", b"Bearer ".to_vec())],
    );
    if t.path.starts_with("/api/v1/events") {
        add(
            "Idempotency-Key empty",
            vec![("idempotency-key", Vec::new())],
        );
        add(
            "Idempotency-Key 256",
            vec![("idempotency-key", vec![b'k'; 256])],
        );
        add(
            "Idempotency-Key not text",
            vec![("idempotency-key", b"\x80\xff".to_vec())],
        );
    }
    cases
}

/// The same route with ids that do not exist or are not ids.
fn id_cases(t: &Target, template: &str, rng: &mut Rng) -> Vec<Case> {
    let body = serde_json::to_vec(&t.base).unwrap();
    let mut ids: Vec<String> = [
        "0",
        "-1",
        "999999",
        "9223372036854775807",
        "9223372036854775808",
        "18446744073709551616",
        "1e3",
        "1.0",
        "0x1",
        "%201",
        "1%00",
        "%FF",
        "abc",
        "%E2%80%AE1",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    for _ in 0..10 {
        let n = 1 + rng.below(12);
        ids.push(
            (0..n)
                .map(|_| format!("%{:02X}", rng.next() as u8))
                .collect(),
        );
    }
    ids.into_iter()
        .map(|id| Case {
            label: format!("id {id:?}"),
            method: t.method.clone(),
            path: template.replace("{id}", &id),
            body: body.clone(),
            headers: Vec::new(),
            expect: Expect::Reject,
        })
        .collect()
}

/// Sends `case` and returns what is wrong with the answer, if anything.
async fn check(app: &TestApp, key: &str, case: &Case) -> Result<u16, String> {
    use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
    let mut headers = HeaderMap::new();
    headers.insert(
        "authorization",
        HeaderValue::from_str(&format!("Bearer {key}")).unwrap(),
    );
    headers.insert("content-type", HeaderValue::from_static("application/json"));
    for (name, value) in &case.headers {
        // Replaces the defaults: one Authorization header, the bad one.
        headers.insert(
            HeaderName::from_static(name),
            HeaderValue::from_bytes(value).unwrap(),
        );
    }
    let resp = app
        .http
        .request(case.method.clone(), app.url(&case.path))
        .headers(headers)
        .body(case.body.clone())
        .send()
        .await
        .map_err(|e| format!("no answer (did the server crash?): {e}"))?;
    let status = resp.status().as_u16();
    let ct = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let text = resp.text().await.map_err(|e| format!("{status}: {e}"))?;
    let short: String = text.chars().take(300).collect();
    if status >= 500 {
        return Err(format!("{status}: {short}"));
    }
    if !ct.starts_with("application/json") {
        return Err(format!("{status} with content-type {ct:?}: {short}"));
    }
    let body: Value =
        serde_json::from_str(&text).map_err(|_| format!("{status}, not JSON: {short}"))?;
    let request_id_ok = body["meta"]["request_id"]
        .as_str()
        .is_some_and(|r| r.starts_with("req_"));
    let enveloped_error = body["error"]["code"]
        .as_str()
        .is_some_and(|c| !c.is_empty())
        && body["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty())
        && request_id_ok;
    match (status, case.expect) {
        (400..=499, Expect::Reject | Expect::Any) if enveloped_error => Ok(status),
        (400..=499, Expect::Reject | Expect::Any) => {
            Err(format!("{status}, not the error envelope: {short}"))
        }
        (200..=299, Expect::Any) if body.get("data").is_some() && request_id_ok => Ok(status),
        (s, Expect::Status(want)) if s == want && body.get("data").is_some() && request_id_ok => {
            Ok(status)
        }
        _ => Err(format!("{status} (expected {:?}): {short}", case.expect)),
    }
}

/// Runs `cases` against the app and asserts they all pass, then that the server is healthy.
async fn run(f: &Fixture, key: &str, route: &str, cases: Vec<Case>) {
    let started = Instant::now();
    let n = cases.len();
    let mut failures = Vec::new();
    let mut rejected = 0;
    for case in &cases {
        match check(&f.app, key, case).await {
            Ok(s) if s >= 400 => rejected += 1,
            Ok(_) => {}
            Err(e) => failures.push(format!(
                "{} {} [{}] ({} bytes): {e}",
                case.method,
                case.path,
                case.label,
                case.body.len()
            )),
        }
    }
    assert!(
        failures.is_empty(),
        "{route}: {} of {n} cases failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(n >= 150, "{route}: only {n} cases");
    assert!(rejected * 2 > n, "{route}: only {rejected} of {n} refused");

    // Still healthy, and still serving real work.
    let (s, b) = f.app.api(Method::GET, "/healthz", None, None).await;
    assert_eq!(s, 200, "{route}: {b}");
    let (s, b) = f.call(Method::GET, "/api/v1/webhooks", None).await;
    assert_eq!(s, 200, "{route}: {b}");
    eprintln!("{route}: {n} cases in {:?}", started.elapsed());
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "{route}: too slow"
    );
}

fn webhook_fields(create: bool) -> Vec<Field> {
    let mut v = vec![
        field("", "url", Kind::Str, create),
        field("", "events", Kind::StrList, create),
        field("", "name", Kind::Text, false),
        field("", "description", Kind::Text, false),
        field("", "is_active", Kind::Bool, false),
        field("", "headers", Kind::StrMap, false),
        field("", "retry_count", Kind::Int, false),
        field("", "retry_schedule", Kind::IntList, false),
        field("", "timeout_seconds", Kind::Int, false),
        field("", "notification_email", Kind::Str, false),
    ];
    if create {
        v.push(field("", "secret", Kind::Str, false));
    }
    v
}

fn webhook_body(create: bool) -> Value {
    let mut b = json!({
        "url": "https://example.com/hooks/fuzz",
        "events": ["project.created"],
        "name": "Fuzz target",
        "description": "Receives fuzz",
        "is_active": true,
        "headers": {"X-Team": "fuzz"},
        "retry_count": 2,
        "retry_schedule": [60, 120],
        "timeout_seconds": 10,
        "notification_email": "ops@example.com",
    });
    if create {
        b["secret"] = json!("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw");
    }
    b
}

/// A webhook whose URL is refused at connect time (loopback), so test sends end at once.
async fn target_webhook(f: &Fixture) -> i64 {
    f.create_webhook(json!({"url": "https://127.0.0.1:9/hook", "events": ["*"]}))
        .await["id"]
        .as_i64()
        .unwrap()
}

/// Fuzzes one route: its body corpus, bad headers and, for `{id}` routes, bad ids.
async fn fuzz(f: &Fixture, t: Target, template: Option<&str>, seed: u64) {
    let mut rng = Rng::new(seed);
    let mut cases = corpus(&t, &mut rng);
    cases.extend(header_cases(&t));
    if let Some(template) = template {
        cases.extend(id_cases(&t, template, &mut rng));
    }
    let route = format!("{} {}", t.method, template.unwrap_or(&t.path));
    run(f, &t.key, &route, cases).await;
}

#[tokio::test]
async fn create_webhook() {
    let f = fixture().await;
    let t = Target {
        method: Method::POST,
        path: "/api/v1/webhooks".into(),
        key: f.key.clone(),
        base: webhook_body(true),
        fields: webhook_fields(true),
        optional_body: false,
    };
    fuzz(&f, t, None, 0x5eed_0001).await;
}

#[tokio::test]
async fn update_webhook() {
    let f = fixture().await;
    let id = target_webhook(&f).await;
    let t = Target {
        method: Method::PATCH,
        path: format!("/api/v1/webhooks/{id}"),
        key: f.key.clone(),
        base: webhook_body(false),
        fields: webhook_fields(false),
        optional_body: false,
    };
    fuzz(&f, t, Some("/api/v1/webhooks/{id}"), 0x5eed_0002).await;
}

#[tokio::test]
async fn send_test() {
    let f = fixture().await;
    let id = target_webhook(&f).await;
    let t = Target {
        method: Method::POST,
        path: format!("/api/v1/webhooks/{id}/test"),
        key: f.key.clone(),
        base: json!({"event_type": "project.created"}),
        fields: vec![field("", "event_type", Kind::Str, false)],
        optional_body: true,
    };
    fuzz(&f, t, Some("/api/v1/webhooks/{id}/test"), 0x5eed_0003).await;
}

#[tokio::test]
async fn rotate_secret() {
    let f = fixture().await;
    let id = target_webhook(&f).await;
    let t = Target {
        method: Method::POST,
        path: format!("/api/v1/webhooks/{id}/rotate-secret"),
        key: f.key.clone(),
        base: json!({"secret": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}),
        fields: vec![field("", "secret", Kind::Str, false)],
        optional_body: true,
    };
    fuzz(
        &f,
        t,
        Some("/api/v1/webhooks/{id}/rotate-secret"),
        0x5eed_0004,
    )
    .await;
}

#[tokio::test]
async fn publish_event() {
    let f = fixture().await;
    target_webhook(&f).await;
    let t = Target {
        method: Method::POST,
        path: "/api/v1/events".into(),
        key: f.key.clone(),
        base: json!({"type": "project.created", "data": {"id": 1, "name": "Apollo"}}),
        fields: vec![
            field("", "type", Kind::Str, true),
            field("", "data", Kind::Object, true),
        ],
        optional_body: false,
    };
    fuzz(&f, t, None, 0x5eed_0005).await;
}

#[tokio::test]
async fn publish_batch() {
    let f = fixture().await;
    target_webhook(&f).await;
    let t = Target {
        method: Method::POST,
        path: "/api/v1/events/batch".into(),
        key: f.key.clone(),
        base: json!({"events": [
            {"type": "project.created", "data": {"id": 1}},
            {"type": "project.deleted", "data": {"id": 2}}
        ]}),
        fields: vec![
            field("", "events", Kind::ObjList, true),
            field("/events/1", "type", Kind::Str, true),
            field("/events/1", "data", Kind::Object, true),
        ],
        optional_body: false,
    };
    fuzz(&f, t, None, 0x5eed_0006).await;
}

#[tokio::test]
async fn create_event_type() {
    let f = fixture().await;
    let instance = f.app.api_key(None, "webhooks,events").await;
    let t = Target {
        method: Method::POST,
        path: "/api/v1/event-types".into(),
        key: instance,
        base: json!({"name": "fuzz.created", "description": "Fuzz", "example": {"id": 1}}),
        fields: vec![
            field("", "name", Kind::Str, true),
            field("", "description", Kind::Text, false),
            field("", "example", Kind::Object, false),
        ],
        optional_body: false,
    };
    fuzz(&f, t, None, 0x5eed_0007).await;
}

#[tokio::test]
async fn retry_delivery() {
    let f = fixture().await;
    let id = target_webhook(&f).await;
    let (s, b) = f
        .call(
            Method::POST,
            "/api/v1/events",
            Some(json!({"type": "project.created", "data": {"id": 1}})),
        )
        .await;
    assert_eq!(s, 202, "{b}");
    let (_, list) = f
        .call(
            Method::GET,
            &format!("/api/v1/webhooks/{id}/deliveries"),
            None,
        )
        .await;
    let delivery = list["data"][0]["id"].as_i64().expect("a delivery");
    // The route takes no body: whatever is sent is ignored, on a real delivery (202) and on
    // ids that are not one (404).
    let template = "/api/v1/deliveries/{id}/retry";
    let t = Target {
        method: Method::POST,
        path: template.replace("{id}", "999999"),
        key: f.key.clone(),
        base: json!({}),
        fields: vec![],
        optional_body: true,
    };
    let mut rng = Rng::new(0x5eed_0008);
    let mut cases = corpus(&t, &mut rng);
    for c in &mut cases {
        c.expect = Expect::Reject;
    }
    let real: Vec<Case> = cases
        .iter()
        .step_by(4)
        .map(|c| Case {
            label: format!("real delivery, {}", c.label),
            method: c.method.clone(),
            path: template.replace("{id}", &delivery.to_string()),
            body: c.body.clone(),
            headers: Vec::new(),
            expect: Expect::Status(202),
        })
        .collect();
    cases.extend(real);
    cases.extend(header_cases(&t));
    cases.extend(id_cases(&t, template, &mut rng));
    run(&f, &f.key, &format!("POST {template}"), cases).await;
}

/// serde_json's recursion limit (128) is what keeps deep nesting from overflowing the stack:
/// check it holds on the API's parse path, with a clear 400.
#[tokio::test]
async fn deep_nesting_is_a_400_not_a_crash() {
    let f = fixture().await;
    for depth in [100usize, 125, 126, 129, 10_000, 1_000_000] {
        let mut body = br#"{"type":"project.created","data":{"a":"#.to_vec();
        body.extend(deep_array(depth));
        body.extend(b"}}");
        let (s, b) = f
            .app
            .api_raw(Method::POST, "/api/v1/events", &f.key, body)
            .await;
        // serde_json allows 127 levels; two are the body and `data`: 125 arrays fit.
        if depth <= 125 {
            assert_eq!(s, 202, "{depth}: {b}");
        } else {
            // Past the body limit, the size is refused before the depth.
            let expected = if depth > 200_000 { 413 } else { 400 };
            assert_eq!(s, expected, "{depth}: {b}");
            if s == 400 {
                assert_error(&b, "malformed_json");
                assert!(
                    b["error"]["message"]
                        .as_str()
                        .unwrap()
                        .contains("recursion limit"),
                    "{b}"
                );
            }
        }
    }
    let (s, _) = f.app.api(Method::GET, "/healthz", None, None).await;
    assert_eq!(s, 200);
}
