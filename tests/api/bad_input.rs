//! Fuzz-style bad input on every write route: a deterministic pseudo-random corpus (random
//! bytes, truncated bodies, wrong types, huge strings, deep nesting, unknown fields, invalid
//! UTF-8, NUL bytes, out-of-range numbers, nulls, bad headers and ids). Every answer must be
//! enveloped JSON and never a 5xx; input that cannot be valid must be a 4xx; and the server
//! must stay healthy.

use std::time::{Duration, Instant};

use crate::helpers::*;
use crate::webhooks_api::{fixture, Fixture};
use hookline::api::{PREFIX, ROUTES};
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
    /// For an [`Kind::Int`] with a range (inclusive): numbers in it may be valid, and its
    /// bounds are fuzzed too.
    range: Option<(i64, i64)>,
}

const fn field(at: &'static str, name: &'static str, kind: Kind, required: bool) -> Field {
    Field {
        at,
        name,
        kind,
        required,
        range: None,
    }
}

impl Field {
    const fn range(mut self, min: i64, max: i64) -> Field {
        self.range = Some((min, max));
        self
    }
}

struct Case {
    label: String,
    method: Method,
    path: String,
    body: Vec<u8>,
    headers: Vec<(&'static str, Vec<u8>)>,
    /// Sent without the target's default `Hookline-Workspace` header.
    omit_workspace: bool,
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
    /// Sent as `Hookline-Workspace` on every case (unless the case sets or omits it): the
    /// workspace an instance key acts in.
    workspace: Option<&'static str>,
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
            omit_workspace: false,
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
            let mut numbers: Vec<String> = [
                "-1",
                "18446744073709551616",
                "9223372036854775808",
                "-9223372036854775809",
                "1e20",
                "0.5",
                "1E2",
                "100000",
                "4294967297",
            ]
            .map(String::from)
            .into();
            if let Some((min, max)) = f.range {
                for n in [min - 1, min, max, max + 1].map(|n| n.to_string()) {
                    if !numbers.contains(&n) {
                        numbers.push(n);
                    }
                }
            }
            for n in numbers {
                // Only a whole number in the field's range may be valid.
                let e = match (f.range, n.parse::<i64>()) {
                    (Some((min, max)), Ok(v)) if (min..=max).contains(&v) => Expect::Any,
                    _ => Expect::Reject,
                };
                add(format!("{name} = {n}"), raw(n.as_bytes()), e);
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
            omit_workspace: false,
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
    if let Some(ws) = t.workspace {
        // The workspace an instance key acts in: a near miss is another (unknown) one.
        add(
            "Hookline-Workspace upper-cased",
            vec![("hookline-workspace", ws.to_uppercase().into_bytes())],
        );
        add(
            "Hookline-Workspace with a suffix",
            vec![("hookline-workspace", format!("{ws}-x").into_bytes())],
        );
        add(
            "Hookline-Workspace deleted-style",
            vec![("hookline-workspace", format!("{ws}~1").into_bytes())],
        );
        add(
            "Hookline-Workspace empty",
            vec![("hookline-workspace", Vec::new())],
        );
        cases.push(Case {
            label: "Hookline-Workspace missing".into(),
            method: t.method.clone(),
            path: t.path.clone(),
            body,
            headers: Vec::new(),
            omit_workspace: true,
            expect: Expect::Reject,
        });
    }
    cases
}

/// The same route with ids that do not exist or are not ids: `template` has `{id}` (a
/// numeric id) or `{slug}` (a workspace's slug).
fn id_cases(t: &Target, template: &str, rng: &mut Rng) -> Vec<Case> {
    let body = serde_json::to_vec(&t.base).unwrap();
    let slug = template.contains("{slug}");
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
    if slug {
        ids.extend(
            [
                "..",
                "../x",
                "..%2Fx",
                "%2E%2E%2Fx",
                "x%2F..%2Facme",
                "%00",
                "a%00b",
                "%0D%0AX-Evil:%201",
                "%25",
                "%zz",
                "*",
                "acme%3Fx",
                "acme%23x",
                "null",
                "-acme",
                "acme-",
                "a_b",
                "%C3%BCn%C3%AF",
                "ünï",
                "акме",
                "😀",
                "%C0%AF",
                "%ED%A0%80",
            ]
            .map(String::from),
        );
        ids.push("a".repeat(64));
        ids.push("a".repeat(4000));
        ids.push("%41".repeat(2000));
        // Near misses of real slugs (the fixture's and the target's own): lookups are exact.
        let prefix = &template[..template.find('{').unwrap()];
        let own = t
            .path
            .strip_prefix(prefix)
            .and_then(|r| r.split('/').next())
            .filter(|s| !s.is_empty());
        for real in ["acme"].into_iter().chain(own) {
            ids.extend([
                real.to_uppercase(),
                format!("{real}%20"),
                format!("%20{real}"),
                format!("{real}%09"),
                format!("{real}~1"),
                format!("{real}%7E1"),
                format!("{real}%00"),
                format!("{real}."),
            ]);
        }
    }
    for _ in 0..10 {
        // Random escaped bytes, never ones that spell a possible id or slug.
        let bytes = loop {
            let n = 1 + rng.below(12);
            let b: Vec<u8> = (0..n).map(|_| rng.next() as u8).collect();
            if !could_name(&b, slug) {
                break b;
            }
        };
        ids.push(bytes.iter().map(|b| format!("%{b:02X}")).collect());
    }
    ids.into_iter()
        .map(|id| Case {
            label: if id.len() > 60 {
                let start: String = id.chars().take(40).collect();
                format!("id {start:?}… ({} bytes)", id.len())
            } else {
                format!("id {id:?}")
            },
            method: t.method.clone(),
            path: template.replace("{id}", &id).replace("{slug}", &id),
            body: body.clone(),
            headers: Vec::new(),
            omit_workspace: false,
            expect: Expect::Reject,
        })
        .collect()
}

/// Whether decoded path bytes could name a real resource: a positive id or, for a slug
/// route, a slug.
fn could_name(bytes: &[u8], slug: bool) -> bool {
    let Ok(s) = std::str::from_utf8(bytes) else {
        return false;
    };
    s.parse::<i64>().is_ok_and(|i| i > 0)
        || (slug
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'))
}

/// Sends `case` (with `key` and, unless the case omits it, `Hookline-Workspace: workspace`)
/// and returns what is wrong with the answer, if anything.
async fn check(
    app: &TestApp,
    key: &str,
    workspace: Option<&str>,
    case: &Case,
) -> Result<u16, String> {
    use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
    let mut headers = HeaderMap::new();
    headers.insert(
        "authorization",
        HeaderValue::from_str(&format!("Bearer {key}")).unwrap(),
    );
    headers.insert("content-type", HeaderValue::from_static("application/json"));
    if let Some(ws) = workspace.filter(|_| !case.omit_workspace) {
        headers.insert("hookline-workspace", HeaderValue::from_str(ws).unwrap());
    }
    for (name, value) in &case.headers {
        // Replaces the defaults: one Authorization (or Hookline-Workspace) header, the bad one.
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
/// `route` ("POST /api/v1/webhooks/{id}") must be listed in [`COVERED`].
async fn run(f: &Fixture, key: &str, workspace: Option<&str>, route: &str, cases: Vec<Case>) {
    assert!(
        COVERED
            .iter()
            .any(|(m, p, _)| route == format!("{m} {PREFIX}{p}")),
        "{route} is fuzzed but not listed in COVERED"
    );
    let started = Instant::now();
    let n = cases.len();
    let mut failures = Vec::new();
    let mut rejected = 0;
    for case in &cases {
        match check(&f.app, key, workspace, case).await {
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
    fuzz_with(f, t, template, seed, Vec::new()).await;
}

/// [`fuzz`], with the route's own `extra` cases too.
async fn fuzz_with(f: &Fixture, t: Target, template: Option<&str>, seed: u64, extra: Vec<Case>) {
    let mut rng = Rng::new(seed);
    let mut cases = corpus(&t, &mut rng);
    cases.extend(header_cases(&t));
    if let Some(template) = template {
        cases.extend(id_cases(&t, template, &mut rng));
    }
    cases.extend(extra);
    let route = format!("{} {}", t.method, template.unwrap_or(&t.path));
    run(f, &t.key, t.workspace, &route, cases).await;
}

/// `body` on the target's route.
fn body_case(t: &Target, label: &str, body: Value, expect: Expect) -> Case {
    Case {
        label: label.to_string(),
        method: t.method.clone(),
        path: t.path.clone(),
        body: serde_json::to_vec(&body).unwrap(),
        headers: Vec::new(),
        omit_workspace: false,
        expect,
    }
}

/// The target's valid body on `path`, sent with each of `keys` (keys that may not do this,
/// or may).
fn key_cases(t: &Target, path: &str, keys: &[(&str, &str, Expect)]) -> Vec<Case> {
    keys.iter()
        .map(|(label, key, expect)| Case {
            label: format!("key: {label}"),
            method: t.method.clone(),
            path: path.to_string(),
            body: serde_json::to_vec(&t.base).unwrap(),
            headers: vec![("authorization", format!("Bearer {key}").into_bytes())],
            omit_workspace: false,
            expect: *expect,
        })
        .collect()
}

/// A route that takes no body (a DELETE): whatever is sent is ignored.
fn bodyless(method: Method, path: String, key: &str, workspace: Option<&'static str>) -> Target {
    Target {
        method,
        path,
        key: key.to_string(),
        base: json!({}),
        fields: vec![],
        optional_body: true,
        workspace,
    }
}

/// The body corpus of a body-less route sent to `missing` (a resource that does not
/// exist): all refused. Every `step`-th of them is sent again to a real resource,
/// `real(n)` for the n-th, and must get `status`: the body is ignored.
fn bodyless_corpus(
    missing: &Target,
    rng: &mut Rng,
    step: usize,
    real: impl Fn(usize) -> String,
    status: u16,
) -> Vec<Case> {
    let mut cases = corpus(missing, rng);
    for c in &mut cases {
        c.expect = Expect::Reject;
    }
    let again: Vec<Case> = cases
        .iter()
        .step_by(step)
        .enumerate()
        .map(|(n, c)| Case {
            label: format!("real, {}", c.label),
            method: c.method.clone(),
            path: real(n),
            body: c.body.clone(),
            headers: Vec::new(),
            omit_workspace: false,
            expect: Expect::Status(status),
        })
        .collect();
    cases.extend(again);
    cases
}

/// How many real resources [`bodyless_corpus`] needs for `missing`.
fn bodyless_real_count(missing: &Target, seed: u64, step: usize) -> usize {
    corpus(missing, &mut Rng::new(seed)).len().div_ceil(step)
}

/// An API call, acting in `workspace` when given.
async fn call_in(
    app: &TestApp,
    key: &str,
    workspace: Option<&str>,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut req = app.http.request(method, app.url(path)).bearer_auth(key);
    if let Some(ws) = workspace {
        req = req.header("Hookline-Workspace", ws);
    }
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    let body = serde_json::from_str(&text).unwrap_or_else(|_| panic!("{status}: {text}"));
    (status, body)
}

/// The slugs of every workspace.
async fn slugs(app: &TestApp, key: &str) -> Vec<String> {
    let (s, b) = call_in(app, key, None, Method::GET, "/api/v1/workspaces", None).await;
    assert_eq!(s, 200, "{b}");
    b["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w["slug"].as_str().unwrap().to_string())
        .collect()
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
        workspace: None,
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
        workspace: None,
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
        workspace: None,
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
        workspace: None,
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
        workspace: None,
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
        workspace: None,
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
        workspace: None,
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
        workspace: None,
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
            omit_workspace: false,
            expect: Expect::Status(202),
        })
        .collect();
    cases.extend(real);
    cases.extend(header_cases(&t));
    cases.extend(id_cases(&t, template, &mut rng));
    run(&f, &f.key, None, &format!("POST {template}"), cases).await;
}

fn workspace_fields(create: bool) -> Vec<Field> {
    let mut v = Vec::new();
    if create {
        v.push(field("", "slug", Kind::Str, true));
    }
    v.extend([
        // No control characters (NUL included): not free text.
        field("", "name", Kind::Str, false),
        field("", "webhooks_enabled", Kind::Bool, false),
        field("", "max_webhooks", Kind::Int, false).range(0, 100_000),
    ]);
    v
}

#[tokio::test]
async fn create_workspace() {
    let f = fixture().await;
    let key = f.app.api_key(None, "workspaces").await;
    let no_scope = f.app.api_key(None, "webhooks,events,portal").await;
    let t = Target {
        method: Method::POST,
        path: "/api/v1/workspaces".into(),
        key: key.clone(),
        base: json!({"slug": "fuzz-ws", "name": "Fuzz Inc.", "webhooks_enabled": true, "max_webhooks": 10}),
        fields: workspace_fields(true),
        optional_body: false,
        workspace: None,
    };
    let mut extra = key_cases(
        &t,
        &t.path,
        &[
            ("workspace key", f.key.as_str(), Expect::Reject),
            (
                "instance key without the workspaces scope",
                no_scope.as_str(),
                Expect::Reject,
            ),
        ],
    );
    let long = "a".repeat(64);
    for slug in [
        "", "Acme", "-acme", "acme-", "ac me", "acme~1", "a_b", "ünï", "../x", "a/b", " ", &long,
        // Taken: a conflict.
        "acme",
    ] {
        let mut body = t.base.clone();
        body["slug"] = json!(slug);
        extra.push(body_case(
            &t,
            &format!("slug {slug:?}"),
            body,
            Expect::Reject,
        ));
    }
    let n101 = "n".repeat(101);
    for (label, name) in [
        ("tab", "a\tb"),
        ("newline", "a\nb"),
        ("101 chars", n101.as_str()),
    ] {
        let mut body = t.base.clone();
        body["name"] = json!(name);
        extra.push(body_case(
            &t,
            &format!("name {label}"),
            body,
            Expect::Reject,
        ));
    }
    // Valid bodies on fresh slugs, so that a conflict with the base's slug hides nothing.
    let slug63 = "s".repeat(63);
    let fresh = [
        json!({"slug": "b"}),
        json!({"slug": slug63}),
        json!({"slug": "  padded  "}),
        json!({"slug": "fuzz-zero", "max_webhooks": 0}),
        json!({"slug": "fuzz-max", "max_webhooks": 100_000}),
        json!({"slug": "fuzz-off", "name": null, "webhooks_enabled": false, "max_webhooks": null}),
        json!({"slug": "fuzz-name", "name": "Ünïcode Ltd. \u{2014} 株式会社 🚀"}),
        json!({"slug": "fuzz-name-100", "name": "n".repeat(100)}),
        json!({"slug": "0-9"}),
    ];
    for body in &fresh {
        let label = format!("fresh {}", body["slug"]);
        extra.push(body_case(&t, &label, body.clone(), Expect::Status(201)));
    }
    fuzz_with(&f, t, None, 0x5eed_0009, extra).await;
    // Only the valid slugs were created; the fixture's workspace is untouched.
    let mut want: Vec<&str> = vec!["acme", "fuzz-ws", "b", &slug63, "padded", "0-9"];
    want.extend([
        "fuzz-zero",
        "fuzz-max",
        "fuzz-off",
        "fuzz-name",
        "fuzz-name-100",
    ]);
    want.sort_unstable();
    assert_eq!(slugs(&f.app, &key).await, want);
    let (s, b) = call_in(
        &f.app,
        &key,
        None,
        Method::GET,
        "/api/v1/workspaces/acme",
        None,
    )
    .await;
    assert_eq!((s, &b["data"]["name"]), (200, &json!("acme")), "{b}");
}

#[tokio::test]
async fn update_workspace() {
    let f = fixture().await;
    f.app.workspace("fuzz-target").await;
    let key = f.app.api_key(None, "workspaces").await;
    let no_scope = f.app.api_key(None, "webhooks,events,portal").await;
    let t = Target {
        method: Method::PATCH,
        path: "/api/v1/workspaces/fuzz-target".into(),
        key: key.clone(),
        base: json!({"name": "Fuzz Target", "webhooks_enabled": true, "max_webhooks": 10}),
        fields: workspace_fields(false),
        optional_body: false,
        workspace: None,
    };
    let mut extra = key_cases(
        &t,
        &t.path,
        &[
            ("workspace key", f.key.as_str(), Expect::Reject),
            (
                "instance key without the workspaces scope",
                no_scope.as_str(),
                Expect::Reject,
            ),
        ],
    );
    for (label, body, expect) in [
        // The slug cannot change, whatever it is set to.
        ("slug, same", json!({"slug": "fuzz-target"}), Expect::Reject),
        ("slug, other", json!({"slug": "other"}), Expect::Reject),
        ("slug, null", json!({"slug": null}), Expect::Reject),
        (
            "slug, with fields",
            json!({"slug": "x", "name": "X"}),
            Expect::Reject,
        ),
        ("name empty", json!({"name": ""}), Expect::Reject),
        ("name blank", json!({"name": "   "}), Expect::Reject),
        ("name newline", json!({"name": "a\nb"}), Expect::Reject),
        (
            "name 101 chars",
            json!({"name": "n".repeat(101)}),
            Expect::Reject,
        ),
        ("no change", json!({}), Expect::Any),
        ("cap cleared", json!({"max_webhooks": null}), Expect::Any),
    ] {
        extra.push(body_case(&t, label, body, expect));
    }
    fuzz_with(&f, t, Some("/api/v1/workspaces/{slug}"), 0x5eed_000a, extra).await;
    // The target is still there, and the fixture's workspace was never changed.
    assert_eq!(slugs(&f.app, &key).await, ["acme", "fuzz-target"]);
    let (s, b) = call_in(
        &f.app,
        &key,
        None,
        Method::GET,
        "/api/v1/workspaces/acme",
        None,
    )
    .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(
        (
            &b["data"]["name"],
            &b["data"]["webhooks_enabled"],
            &b["data"]["max_webhooks"]
        ),
        (&json!("acme"), &json!(true), &Value::Null),
        "{b}"
    );
    assert_eq!(b["data"]["created_at"], b["data"]["updated_at"], "{b}");
}

/// The workspace whose keys the key routes are fuzzed in (not the fixture's, so that its key
/// can never be revoked by a stray id).
const KEYS_WS: &str = "fuzz-keys";

/// The keys of workspace `ws`, as listed.
async fn keys_of(app: &TestApp, key: &str, ws: &str) -> Vec<Value> {
    let (s, b) = call_in(
        app,
        key,
        Some(ws),
        Method::GET,
        "/api/v1/api-keys?limit=100",
        None,
    )
    .await;
    assert_eq!(s, 200, "{b}");
    b["data"].as_array().unwrap().clone()
}

#[tokio::test]
async fn create_api_key() {
    let f = fixture().await;
    f.app.workspace(KEYS_WS).await;
    let key = f.app.api_key(None, "workspaces").await;
    let no_scope = f.app.api_key(None, "webhooks,events,portal").await;
    let t = Target {
        method: Method::POST,
        path: "/api/v1/api-keys".into(),
        key: key.clone(),
        base: json!({"scopes": ["webhooks", "events"], "name": "Fuzz key"}),
        fields: vec![
            field("", "scopes", Kind::StrList, true),
            // No control characters: not free text.
            field("", "name", Kind::Str, false),
        ],
        optional_body: false,
        workspace: Some(KEYS_WS),
    };
    let mut extra = key_cases(
        &t,
        &t.path,
        &[
            // A workspace key naming another workspace finds nothing there.
            ("another workspace's key", f.key.as_str(), Expect::Reject),
            (
                "instance key without the workspaces scope",
                no_scope.as_str(),
                Expect::Reject,
            ),
        ],
    );
    for (label, body, expect) in [
        ("no scopes", json!({"scopes": []}), Expect::Reject),
        (
            "instance-only scope",
            json!({"scopes": ["workspaces"]}),
            Expect::Reject,
        ),
        (
            "scope capitalised",
            json!({"scopes": ["Webhooks"]}),
            Expect::Reject,
        ),
        (
            "scope padded",
            json!({"scopes": [" webhooks"]}),
            Expect::Reject,
        ),
        ("scope empty", json!({"scopes": [""]}), Expect::Reject),
        (
            "one unknown scope",
            json!({"scopes": ["webhooks", "nope"]}),
            Expect::Reject,
        ),
        (
            "scopes as a string",
            json!({"scopes": "webhooks,events"}),
            Expect::Reject,
        ),
        (
            "name newline",
            json!({"scopes": ["portal"], "name": "a\nb"}),
            Expect::Reject,
        ),
        (
            "name 101 chars",
            json!({"scopes": ["portal"], "name": "n".repeat(101)}),
            Expect::Reject,
        ),
        ("portal only", json!({"scopes": ["portal"]}), Expect::Any),
        (
            "scope twice",
            json!({"scopes": ["events", "events"]}),
            Expect::Any,
        ),
        (
            "name empty",
            json!({"scopes": ["events"], "name": ""}),
            Expect::Any,
        ),
    ] {
        extra.push(body_case(&t, label, body, expect));
    }
    fuzz_with(&f, t, None, 0x5eed_000b, extra).await;
    // Keys were made only in the workspace named, never with the instance-only scope.
    let made = keys_of(&f.app, &key, KEYS_WS).await;
    assert!(!made.is_empty());
    for k in &made {
        let scopes = k["scopes"].as_array().unwrap();
        assert!(
            !scopes.is_empty() && !scopes.contains(&json!("workspaces")),
            "{k}"
        );
    }
    assert_eq!(
        keys_of(&f.app, &key, "acme").await.len(),
        1,
        "only the fixture's key"
    );
}

#[tokio::test]
async fn revoke_api_key() {
    let f = fixture().await;
    f.app.workspace(KEYS_WS).await;
    let key = f.app.api_key(None, "workspaces").await;
    let no_scope = f.app.api_key(None, "webhooks,events,portal").await;
    let mut ids = Vec::new();
    for name in ["revoked by the fuzz", "survivor"] {
        let (s, b) = call_in(
            &f.app,
            &key,
            Some(KEYS_WS),
            Method::POST,
            "/api/v1/api-keys",
            Some(json!({"scopes": ["events"], "name": name})),
        )
        .await;
        assert_eq!(s, 201, "{b}");
        ids.push(b["data"]["id"].as_i64().unwrap());
    }
    let (real, survivor) = (ids[0], ids[1]);
    let template = "/api/v1/api-keys/{id}";
    let path = |id: i64| template.replace("{id}", &id.to_string());
    let missing = bodyless(Method::DELETE, path(999_999), &key, Some(KEYS_WS));
    let kept = bodyless(Method::DELETE, path(survivor), &key, Some(KEYS_WS));
    let mut rng = Rng::new(0x5eed_000c);
    // Revoking twice is harmless: every real case revokes the same key, 200.
    let mut cases = bodyless_corpus(&missing, &mut rng, 4, |_| path(real), 200);
    // Bad headers, ids and keys on the survivor: all refused, so it stays.
    cases.extend(header_cases(&kept));
    cases.extend(id_cases(&kept, template, &mut rng));
    cases.extend(key_cases(
        &kept,
        &kept.path,
        &[
            ("another workspace's key", f.key.as_str(), Expect::Reject),
            (
                "instance key without the workspaces scope",
                no_scope.as_str(),
                Expect::Reject,
            ),
        ],
    ));
    run(
        &f,
        &key,
        Some(KEYS_WS),
        &format!("DELETE {template}"),
        cases,
    )
    .await;
    let keys = keys_of(&f.app, &key, KEYS_WS).await;
    let revoked_at = |id: i64| {
        keys.iter()
            .find(|k| k["id"] == id)
            .map(|k| k["revoked_at"].clone())
            .expect("listed")
    };
    assert!(revoked_at(real).is_string(), "{keys:?}");
    assert_eq!(revoked_at(survivor), Value::Null, "{keys:?}");
}

#[tokio::test]
async fn create_portal_link() {
    let f = fixture().await;
    // An instance key acting in the fixture's workspace.
    let key = f.app.api_key(None, "portal").await;
    let provisioning_only = f.app.api_key(None, "workspaces").await;
    let workspace_portal = f.app.api_key(Some(f.ws), "portal").await;
    let t = Target {
        method: Method::POST,
        path: "/api/v1/portal-links".into(),
        key,
        base: json!({"role": "admin", "email": "ann@acme.example", "ttl_seconds": 300}),
        fields: vec![
            field("", "role", Kind::Str, true),
            field("", "email", Kind::Str, false),
            field("", "ttl_seconds", Kind::Int, false).range(30, 3600),
        ],
        optional_body: false,
        workspace: Some("acme"),
    };
    let mut extra = key_cases(
        &t,
        &t.path,
        &[
            (
                "workspace key without the portal scope",
                f.key.as_str(),
                Expect::Reject,
            ),
            (
                "instance key without the portal scope",
                provisioning_only.as_str(),
                Expect::Reject,
            ),
            // Its own workspace, named: may be valid.
            (
                "workspace key with the portal scope",
                workspace_portal.as_str(),
                Expect::Any,
            ),
        ],
    );
    for (label, body, expect) in [
        ("role owner", json!({"role": "owner"}), Expect::Reject),
        ("role capitalised", json!({"role": "Admin"}), Expect::Reject),
        ("role empty", json!({"role": ""}), Expect::Reject),
        ("role root", json!({"role": "root"}), Expect::Reject),
        (
            "email not an address",
            json!({"role": "admin", "email": "nope"}),
            Expect::Reject,
        ),
        (
            "email with a newline",
            json!({"role": "admin", "email": "a@b.example\nBcc: x@y.example"}),
            Expect::Reject,
        ),
        ("viewer", json!({"role": "viewer"}), Expect::Any),
        (
            "email empty",
            json!({"role": "viewer", "email": ""}),
            Expect::Any,
        ),
    ] {
        extra.push(body_case(&t, label, body, expect));
    }
    fuzz_with(&f, t, None, 0x5eed_000d, extra).await;
}

#[tokio::test]
async fn delete_workspace() {
    let f = fixture().await;
    let key = f.app.api_key(None, "workspaces").await;
    let no_scope = f.app.api_key(None, "webhooks,events,portal").await;
    let template = "/api/v1/workspaces/{slug}";
    let path = |slug: &str| template.replace("{slug}", slug);
    let seed = 0x5eed_000e;
    // Bodies go to a workspace that does not exist, and every 4th again to a real one, each
    // its own; bad headers, slugs and keys to a survivor. The fixture's workspace (the health
    // check's) is never a target, and must survive too.
    let missing = bodyless(Method::DELETE, path("no-such-workspace"), &key, None);
    f.app.workspace("fuzz-survivor").await;
    let kept = bodyless(Method::DELETE, path("fuzz-survivor"), &key, None);
    let doomed = |n: usize| format!("doomed-{n}");
    let n_real = bodyless_real_count(&missing, seed, 4);
    for n in 0..n_real {
        f.app.workspace(&doomed(n)).await;
    }
    let mut rng = Rng::new(seed);
    let mut cases = bodyless_corpus(&missing, &mut rng, 4, |n| path(&doomed(n)), 200);
    cases.extend(header_cases(&kept));
    cases.extend(id_cases(&kept, template, &mut rng));
    cases.extend(key_cases(
        &kept,
        &kept.path,
        &[
            ("workspace key", f.key.as_str(), Expect::Reject),
            (
                "instance key without the workspaces scope",
                no_scope.as_str(),
                Expect::Reject,
            ),
        ],
    ));
    run(&f, &key, None, &format!("DELETE {template}"), cases).await;
    assert_eq!(slugs(&f.app, &key).await, ["acme", "fuzz-survivor"]);
    for n in 0..n_real {
        let (s, _) = call_in(&f.app, &key, None, Method::GET, &path(&doomed(n)), None).await;
        assert_eq!(s, 404, "{} was deleted", doomed(n));
    }
}

#[tokio::test]
async fn delete_webhook() {
    let f = fixture().await;
    let instance = f.app.api_key(None, "webhooks,events").await;
    let other_ws = f.app.workspace("other").await;
    let other = f.app.api_key(Some(other_ws), "webhooks,events").await;
    let template = "/api/v1/webhooks/{id}";
    let path = |id: i64| template.replace("{id}", &id.to_string());
    let seed = 0x5eed_000f;
    let missing = bodyless(Method::DELETE, path(999_999), &f.key, None);
    let survivor = target_webhook(&f).await;
    let kept = bodyless(Method::DELETE, path(survivor), &f.key, None);
    let mut real = Vec::new();
    for _ in 0..bodyless_real_count(&missing, seed, 4) {
        real.push(target_webhook(&f).await);
    }
    let mut rng = Rng::new(seed);
    let mut cases = bodyless_corpus(&missing, &mut rng, 4, |n| path(real[n]), 200);
    cases.extend(header_cases(&kept));
    cases.extend(id_cases(&kept, template, &mut rng));
    cases.extend(key_cases(
        &kept,
        &kept.path,
        &[
            (
                "instance key naming no workspace",
                instance.as_str(),
                Expect::Reject,
            ),
            ("another workspace's key", other.as_str(), Expect::Reject),
        ],
    ));
    run(&f, &f.key, None, &format!("DELETE {template}"), cases).await;
    let (s, b) = f.call(Method::GET, &path(survivor), None).await;
    assert_eq!(s, 200, "{b}");
    for id in real {
        let (s, _) = f.call(Method::GET, &path(id), None).await;
        assert_eq!(s, 404, "webhook {id} was deleted");
    }
}

/// Every write route of the API (as `ROUTES` has it, under [`PREFIX`]) and its fuzz target
/// in this file. A route missing here fails [`every_write_route_has_a_fuzz_target`]; a
/// target whose route is missing here fails in [`run`].
const COVERED: &[(&str, &str, &str)] = &[
    ("POST", "/event-types", "create_event_type"),
    ("POST", "/webhooks", "create_webhook"),
    ("PATCH", "/webhooks/{id}", "update_webhook"),
    ("DELETE", "/webhooks/{id}", "delete_webhook"),
    ("POST", "/webhooks/{id}/rotate-secret", "rotate_secret"),
    ("POST", "/webhooks/{id}/test", "send_test"),
    ("POST", "/deliveries/{id}/retry", "retry_delivery"),
    ("POST", "/events", "publish_event"),
    ("POST", "/events/batch", "publish_batch"),
    ("POST", "/workspaces", "create_workspace"),
    ("PATCH", "/workspaces/{slug}", "update_workspace"),
    ("DELETE", "/workspaces/{slug}", "delete_workspace"),
    ("POST", "/api-keys", "create_api_key"),
    ("DELETE", "/api-keys/{id}", "revoke_api_key"),
    ("POST", "/portal-links", "create_portal_link"),
    ("POST", "/webhooks/{id}/bulk-retry", "bulk_retry"),
    ("POST", "/webhooks/{id}/replay", "replay"),
    ("POST", "/jobs/{id}/cancel", "cancel_job"),
];

#[tokio::test]
async fn bulk_retry() {
    let f = fixture().await;
    let id = target_webhook(&f).await;
    let t = Target {
        method: Method::POST,
        path: format!("/api/v1/webhooks/{id}/bulk-retry"),
        key: f.key.clone(),
        base: json!({"status": "failed", "since": "2020-01-01T00:00:00Z", "until": "2030-01-01T00:00:00Z", "event_type": "project.created"}),
        fields: vec![
            field("", "status", Kind::Str, false),
            field("", "since", Kind::Str, true),
            field("", "until", Kind::Str, false),
            field("", "event_type", Kind::Str, false),
        ],
        optional_body: false,
        workspace: None,
    };
    fuzz(&f, t, Some("/api/v1/webhooks/{id}/bulk-retry"), 0x5eed_0011).await;
}

#[tokio::test]
async fn replay() {
    let f = fixture().await;
    let id = target_webhook(&f).await;
    let t = Target {
        method: Method::POST,
        path: format!("/api/v1/webhooks/{id}/replay"),
        key: f.key.clone(),
        base: json!({"since": "2020-01-01T00:00:00Z", "until": "2030-01-01T00:00:00Z", "event_types": ["project.created"]}),
        fields: vec![
            field("", "since", Kind::Str, true),
            field("", "until", Kind::Str, false),
            field("", "event_types", Kind::StrList, false),
        ],
        optional_body: false,
        workspace: None,
    };
    fuzz(&f, t, Some("/api/v1/webhooks/{id}/replay"), 0x5eed_0012).await;
}

#[tokio::test]
async fn cancel_job() {
    let f = fixture().await;
    let webhook = target_webhook(&f).await;
    let (s, b) = f
        .call(
            Method::POST,
            &format!("/api/v1/webhooks/{webhook}/replay"),
            Some(json!({"since": "2020-01-01T00:00:00Z"})),
        )
        .await;
    assert_eq!(s, 202, "{b}");
    let job = b["data"]["job_id"].as_i64().unwrap();
    // Cancelled (or done) from the start; cancelling again answers the same way every time.
    let (first, _) = f
        .call(Method::POST, &format!("/api/v1/jobs/{job}/cancel"), None)
        .await;
    let template = "/api/v1/jobs/{id}/cancel";
    let t = Target {
        method: Method::POST,
        path: template.replace("{id}", "999999"),
        key: f.key.clone(),
        base: json!({}),
        fields: vec![],
        optional_body: true,
        workspace: None,
    };
    let mut rng = Rng::new(0x5eed_0013);
    let mut cases = corpus(&t, &mut rng);
    for c in &mut cases {
        c.expect = Expect::Reject;
    }
    let real: Vec<Case> = cases
        .iter()
        .step_by(4)
        .map(|c| Case {
            label: format!("real job, {}", c.label),
            method: c.method.clone(),
            path: template.replace("{id}", &job.to_string()),
            body: c.body.clone(),
            headers: Vec::new(),
            omit_workspace: false,
            expect: if first == 200 {
                Expect::Status(200)
            } else {
                Expect::Reject
            },
        })
        .collect();
    cases.extend(real);
    cases.extend(header_cases(&t));
    cases.extend(id_cases(&t, template, &mut rng));
    run(&f, &f.key, None, &format!("POST {template}"), cases).await;
}

#[test]
fn every_write_route_has_a_fuzz_target() {
    let writes: Vec<(&str, &str)> = ROUTES
        .iter()
        .filter(|r| matches!(r.method, "POST" | "PATCH" | "PUT" | "DELETE"))
        .map(|r| (r.method, r.path))
        .collect();
    let covered: Vec<(&str, &str)> = COVERED.iter().map(|(m, p, _)| (*m, *p)).collect();
    let missing: Vec<_> = writes.iter().filter(|w| !covered.contains(w)).collect();
    assert!(
        missing.is_empty(),
        "write routes without a fuzz target in tests/api/bad_input.rs (add one, and list it in COVERED): {missing:?}"
    );
    let stale: Vec<_> = covered.iter().filter(|c| !writes.contains(c)).collect();
    assert!(
        stale.is_empty(),
        "COVERED lists routes that are not write routes of ROUTES: {stale:?}"
    );
    let mut names: Vec<&str> = COVERED.iter().map(|c| c.2).collect();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), COVERED.len(), "one target per route");
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
