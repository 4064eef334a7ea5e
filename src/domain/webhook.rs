//! A webhook's settings, parsed from user input (API or UI) into a valid whole.

use std::collections::BTreeMap;

use base64::Engine;
use url::Url;

use super::{Email, ValidationError, RESERVED_HEADERS};

/// Seed 003's schedule: attempt now, then after 1 min, 5 min, 30 min and 2 h.
pub const DEFAULT_RETRY_SCHEDULE: [u32; 4] = [60, 300, 1800, 7200];
pub const MAX_RETRIES: usize = 20;
pub const MAX_RETRY_STEP: u32 = 7 * 24 * 3600;
pub const DEFAULT_TIMEOUT: u32 = 30;
pub const MAX_HEADERS: usize = 20;

/// The webhook's signing secret: `whsec_` + standard base64 of 24–64 bytes.
#[derive(Clone, PartialEq, Eq)]
pub struct WebhookSecret(String);

impl std::fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WebhookSecret(***)")
    }
}

impl WebhookSecret {
    pub const PREFIX: &'static str = "whsec_";

    pub fn generate() -> WebhookSecret {
        let bytes = crate::clock::random_bytes::<24>();
        WebhookSecret(format!(
            "{}{}",
            Self::PREFIX,
            base64::engine::general_purpose::STANDARD.encode(bytes)
        ))
    }

    pub fn parse(s: &str) -> Result<WebhookSecret, ValidationError> {
        let err = || {
            ValidationError::new(
                "secret",
                "use whsec_ followed by the standard base64 of 24 to 64 random bytes, or leave it empty to generate one",
            )
        };
        let s = s.trim();
        let b64 = s.strip_prefix(Self::PREFIX).ok_or_else(err)?;
        let key = base64::engine::general_purpose::STANDARD
            .decode(b64)
            .map_err(|_| err())?;
        if !(24..=64).contains(&key.len()) {
            return Err(err());
        }
        Ok(WebhookSecret(s.to_string()))
    }

    /// A secret already stored (trusted; no length rules, so older secrets keep working).
    pub fn from_stored(s: String) -> WebhookSecret {
        WebhookSecret(s)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The HMAC key of the Standard Webhooks signature: the decoded base64 part.
    pub fn key(&self) -> Vec<u8> {
        let b64 = self.0.strip_prefix(Self::PREFIX).unwrap_or(&self.0);
        base64::engine::general_purpose::STANDARD
            .decode(b64)
            .unwrap_or_else(|_| self.0.as_bytes().to_vec())
    }
}

/// A webhook URL: absolute, `https://` (or `http://` when allowed), with a host and without
/// user credentials. API-key query parameters are allowed (seed 001).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookUrl(Url);

impl WebhookUrl {
    pub fn parse(s: &str, allow_http: bool) -> Result<WebhookUrl, ValidationError> {
        let s = s.trim();
        let e = |m: &str| ValidationError::new("url", m);
        if s.is_empty() {
            return Err(e(
                "enter the URL that will receive the POSTs, e.g. https://example.com/webhooks",
            ));
        }
        if s.len() > 2048 {
            return Err(e("use a URL of at most 2048 characters"));
        }
        let u = Url::parse(s).map_err(|err| {
            e(&format!(
                "not a valid URL ({err}); write e.g. https://example.com/webhooks"
            ))
        })?;
        match u.scheme() {
            "https" => {}
            "http" if allow_http => {}
            "http" => return Err(e("use an https:// URL: plain http:// is refused so payloads are never sent in the clear")),
            other => return Err(e(&format!("use an https:// URL ({other}:// is not supported)"))),
        }
        if u.host_str().is_none_or(str::is_empty) {
            return Err(e("the URL needs a host name"));
        }
        if !u.username().is_empty() || u.password().is_some() {
            return Err(e("remove the user name and password from the URL; put credentials in a custom header or a query parameter instead"));
        }
        if u.fragment().is_some() {
            return Err(e("remove the #fragment: it is never sent to the server"));
        }
        Ok(WebhookUrl(u))
    }
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }
    pub fn url(&self) -> &Url {
        &self.0
    }
}

/// Which event types a webhook receives: all, or a set of names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventFilter {
    All,
    Only(Vec<String>),
}

impl EventFilter {
    /// Parses the `events` list. `known` tells whether a name is a defined event type.
    pub fn parse(
        events: &[String],
        known: impl Fn(&str) -> bool,
    ) -> Result<EventFilter, ValidationError> {
        if events.is_empty() {
            return Err(ValidationError::new(
                "events",
                "choose at least one event type, or [\"*\"] for all",
            ));
        }
        if events.iter().any(|e| e.trim() == "*") {
            return Ok(EventFilter::All);
        }
        let mut names: Vec<String> = Vec::new();
        for e in events {
            let e = e.trim();
            if !known(e) {
                return Err(ValidationError::new(
                    "events",
                    format!(
                        "unknown event type '{e}'; see GET /api/v1/webhooks/events for the list"
                    ),
                ));
            }
            if !names.iter().any(|n| n == e) {
                names.push(e.to_string());
            }
        }
        names.sort();
        Ok(EventFilter::Only(names))
    }
    pub fn to_list(&self) -> Vec<String> {
        match self {
            EventFilter::All => vec!["*".into()],
            EventFilter::Only(v) => v.clone(),
        }
    }
    pub fn matches(&self, event_type: &str) -> bool {
        match self {
            EventFilter::All => true,
            EventFilter::Only(v) => v.iter().any(|n| n == event_type),
        }
    }
}

/// Custom request headers, validated: token names, visible values, none of ours.
pub fn parse_headers(
    headers: &BTreeMap<String, String>,
    signature_header: &str,
) -> Result<BTreeMap<String, String>, ValidationError> {
    if headers.len() > MAX_HEADERS {
        return Err(ValidationError::new(
            "headers",
            format!("use at most {MAX_HEADERS} custom headers"),
        ));
    }
    let mut out = BTreeMap::new();
    for (name, value) in headers {
        let name = name.trim();
        let field = format!("headers.{name}");
        let token = |b: u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b);
        if name.is_empty() || name.len() > 100 || !name.bytes().all(token) {
            return Err(ValidationError::new(
                field,
                "a header name uses letters, digits and dashes, e.g. X-Api-Key",
            ));
        }
        let lower = name.to_ascii_lowercase();
        if RESERVED_HEADERS.contains(&lower.as_str())
            || lower.eq_ignore_ascii_case(signature_header)
            || lower.starts_with("x-hookline-")
        {
            return Err(ValidationError::new(
                field,
                format!("{name} is set by Hookline itself and cannot be overridden"),
            ));
        }
        if value.len() > 2048 || value.bytes().any(|b| (b < 0x20 && b != b'\t') || b == 0x7f) {
            return Err(ValidationError::new(
                field,
                "a header value is at most 2048 characters of visible text (no line breaks)",
            ));
        }
        if out
            .insert(lower.clone(), value.trim().to_string())
            .is_some()
        {
            return Err(ValidationError::new(
                field,
                "the same header is given twice",
            ));
        }
    }
    // Keep the user's spelling of names.
    Ok(headers
        .iter()
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect())
}

/// Works out the retry schedule from `retry_schedule` and/or `retry_count`.
pub fn parse_retries(
    schedule: Option<&[i64]>,
    count: Option<i64>,
) -> Result<Vec<u32>, ValidationError> {
    if let Some(c) = count {
        if !(0..=MAX_RETRIES as i64).contains(&c) {
            return Err(ValidationError::new(
                "retry_count",
                format!("use a number of retries from 0 to {MAX_RETRIES}"),
            ));
        }
    }
    match schedule {
        Some(steps) => {
            if steps.len() > MAX_RETRIES {
                return Err(ValidationError::new(
                    "retry_schedule",
                    format!("use at most {MAX_RETRIES} steps"),
                ));
            }
            let mut out = Vec::with_capacity(steps.len());
            for (i, &s) in steps.iter().enumerate() {
                if !(1..=MAX_RETRY_STEP as i64).contains(&s) {
                    return Err(ValidationError::new(
                        format!("retry_schedule[{i}]"),
                        "each step is a number of seconds from 1 to 604800 (7 days)",
                    ));
                }
                out.push(s as u32);
            }
            if let Some(c) = count {
                if c as usize != out.len() {
                    return Err(ValidationError::new(
                        "retry_count",
                        format!("retry_count ({c}) must equal the number of retry_schedule steps ({}); send only one of them", out.len()),
                    ));
                }
            }
            Ok(out)
        }
        None => {
            let n = count
                .map(|c| c as usize)
                .unwrap_or(DEFAULT_RETRY_SCHEDULE.len());
            let last = *DEFAULT_RETRY_SCHEDULE.last().unwrap();
            Ok((0..n)
                .map(|i| DEFAULT_RETRY_SCHEDULE.get(i).copied().unwrap_or(last))
                .collect())
        }
    }
}

pub fn parse_timeout(t: Option<i64>) -> Result<u32, ValidationError> {
    match t {
        None => Ok(DEFAULT_TIMEOUT),
        Some(t) if (1..=60).contains(&t) => Ok(t as u32),
        Some(_) => Err(ValidationError::new(
            "timeout_seconds",
            "use a timeout from 1 to 60 seconds",
        )),
    }
}

pub fn parse_name(s: &str) -> Result<String, ValidationError> {
    let s = s.trim();
    if s.chars().count() > 100 {
        return Err(ValidationError::new("name", "use at most 100 characters"));
    }
    Ok(s.to_string())
}

pub fn parse_description(s: &str) -> Result<String, ValidationError> {
    let s = s.trim();
    if s.chars().count() > 1000 {
        return Err(ValidationError::new(
            "description",
            "use at most 1000 characters",
        ));
    }
    Ok(s.to_string())
}

pub fn parse_notification_email(s: Option<&str>) -> Result<Option<Email>, ValidationError> {
    match s.map(str::trim).filter(|s| !s.is_empty()) {
        None => Ok(None),
        Some(s) => Email::parse(s).map(Some).map_err(|_| {
            ValidationError::new(
                "notification_email",
                "enter an email address like ops@example.com, or leave it empty",
            )
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        assert!(WebhookUrl::parse("https://example.com/hook?api_key=abc", false).is_ok());
        assert!(WebhookUrl::parse("http://example.com/hook", true).is_ok());
        for bad in [
            "",
            "example.com",
            "http://example.com",
            "ftp://x.io",
            "https://u:p@x.io/",
            "https://x.io/#f",
            "https://",
        ] {
            let e = WebhookUrl::parse(bad, false).unwrap_err();
            assert_eq!(e.field, "url", "{bad}");
        }
    }

    #[test]
    fn secrets() {
        let s = WebhookSecret::generate();
        assert!(s.as_str().starts_with("whsec_"));
        assert_eq!(s.key().len(), 24);
        assert!(WebhookSecret::parse(s.as_str()).is_ok());
        let b64 = |n: usize| base64::engine::general_purpose::STANDARD.encode(vec![7u8; n]);
        assert!(WebhookSecret::parse(&format!("whsec_{}", b64(64))).is_ok());
        for bad in [
            "",
            "secret",
            "whsec_",
            "whsec_!!!",
            &format!("whsec_{}", b64(23)),
            &format!("whsec_{}", b64(65)),
            &b64(32),
        ] {
            assert!(WebhookSecret::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(format!("{s:?}"), "WebhookSecret(***)");
    }

    #[test]
    fn retries() {
        assert_eq!(
            parse_retries(None, None).unwrap(),
            vec![60, 300, 1800, 7200]
        );
        assert_eq!(parse_retries(None, Some(2)).unwrap(), vec![60, 300]);
        assert_eq!(
            parse_retries(None, Some(6)).unwrap(),
            vec![60, 300, 1800, 7200, 7200, 7200]
        );
        assert_eq!(parse_retries(None, Some(0)).unwrap(), Vec::<u32>::new());
        assert_eq!(parse_retries(Some(&[360; 9]), None).unwrap(), vec![360; 9]);
        assert_eq!(parse_retries(Some(&[360; 9]), Some(9)).unwrap().len(), 9);
        assert_eq!(
            parse_retries(Some(&[360; 9]), Some(3)).unwrap_err().field,
            "retry_count"
        );
        assert_eq!(
            parse_retries(None, Some(21)).unwrap_err().field,
            "retry_count"
        );
        assert_eq!(
            parse_retries(Some(&[1; 21]), None).unwrap_err().field,
            "retry_schedule"
        );
        assert_eq!(
            parse_retries(Some(&[60, 0]), None).unwrap_err().field,
            "retry_schedule[1]"
        );
        assert_eq!(
            parse_retries(Some(&[604801]), None).unwrap_err().field,
            "retry_schedule[0]"
        );
    }

    #[test]
    fn headers() {
        let h = |k: &str, v: &str| BTreeMap::from([(k.to_string(), v.to_string())]);
        assert!(parse_headers(&h("X-Api-Key", "abc"), "X-Hookline-Signature").is_ok());
        for (k, v) in [
            ("Host", "x"),
            ("content-length", "1"),
            ("X-Bad Name", "x"),
            ("X-A", "a\r\nb"),
            ("webhook-signature", "x"),
            ("X-Acme-Sig", "x"),
            ("", "x"),
        ] {
            assert!(parse_headers(&h(k, v), "X-Acme-Sig").is_err(), "{k}");
        }
    }

    #[test]
    fn event_filters() {
        let known = |n: &str| n == "a.b" || n == "c";
        assert_eq!(
            EventFilter::parse(&["*".into()], known).unwrap(),
            EventFilter::All
        );
        assert_eq!(
            EventFilter::parse(&["c".into(), "a.b".into(), "c".into()], known)
                .unwrap()
                .to_list(),
            vec!["a.b", "c"]
        );
        assert!(EventFilter::parse(&[], known).is_err());
        assert!(EventFilter::parse(&["x".into()], known).is_err());
    }
}
