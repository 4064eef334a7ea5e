//! A webhook's settings, parsed from user input (API or UI) into a valid whole:
//! [`WebhookDraft`] is what a user sent, [`WebhookDraft::parse`] checks every field and
//! reports every problem at once, [`WebhookSettings`] is the valid result.

use std::collections::BTreeMap;

use url::Url;

use super::{Email, ValidationError, ValidationErrors, RESERVED_HEADERS};

/// Seed 003's schedule: attempt now, then after 1 min, 5 min, 30 min and 2 h.
pub const DEFAULT_RETRY_SCHEDULE: [u32; 4] = [60, 300, 1800, 7200];
pub const MAX_RETRIES: usize = 20;
pub const MAX_RETRY_STEP: u32 = 7 * 24 * 3600;
pub const DEFAULT_TIMEOUT: u32 = 30;
pub const MAX_HEADERS: usize = 20;

/// The webhook's signing secret (`whsec_` + base64 of 24–64 bytes).
pub use super::secret::WebhookSecret;

/// A webhook URL: absolute, `https://` (or `http://` when allowed), with a host and without
/// user credentials. API-key query parameters are allowed (seed 001).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookUrl(String);

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
        Ok(WebhookUrl(u.to_string()))
    }
    /// A URL as stored: it was parsed when it was saved (the rules may have changed since,
    /// e.g. http:// no longer allowed, which a new save would refuse).
    pub fn stored(url: String) -> WebhookUrl {
        WebhookUrl(url)
    }
    pub fn as_str(&self) -> &str {
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
                        "unknown event type '{e}': event types must be defined before webhooks subscribe to them. \
                         An instance admin defines it with `hookline event-type create {e}` (or POST /api/v1/event-types \
                         with an instance key, or the Event types page); GET /api/v1/webhooks/events lists the defined ones"
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
    /// A filter as stored: a list of names, `["*"]` for all.
    pub fn stored(list: Vec<String>) -> EventFilter {
        if list.iter().any(|e| e == "*") {
            EventFilter::All
        } else {
            EventFilter::Only(list)
        }
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

/// What a webhook's settings must fit besides their own shape.
#[derive(Debug, Clone, Copy)]
pub struct WebhookRules<'a> {
    /// The defined event types a webhook may subscribe to.
    pub known_event_types: &'a [String],
    /// Whether `http://` URLs are allowed (development).
    pub allow_http: bool,
    /// The configured hex signature header, which custom headers may not override.
    pub signature_header: &'a str,
}

/// A webhook's settings, valid as a whole.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookSettings {
    pub name: String,
    pub description: String,
    pub url: WebhookUrl,
    pub events: EventFilter,
    pub is_active: bool,
    /// Custom request headers, names as the user spelled them.
    pub headers: BTreeMap<String, String>,
    /// Seconds before each retry.
    pub retry_schedule: Vec<u32>,
    pub timeout_seconds: u32,
    pub notification_email: Option<Email>,
}

/// A webhook's settings as a user sent them (the API's JSON, the UI's form). Every field is
/// optional: on create, absent ones take their defaults (`url` and `events` are required);
/// on update, absent ones keep the stored value. `notification_email: Some(None)` clears it.
#[derive(Debug, Clone, Default)]
pub struct WebhookDraft {
    pub url: Option<String>,
    pub events: Option<Vec<String>>,
    pub name: Option<String>,
    pub description: Option<String>,
    pub is_active: Option<bool>,
    pub headers: Option<BTreeMap<String, String>>,
    pub retry_count: Option<i64>,
    pub retry_schedule: Option<Vec<i64>>,
    pub timeout_seconds: Option<i64>,
    pub notification_email: Option<Option<String>>,
    /// Problems the edge found while reading its input (a form's timeout that is not a
    /// number): reported with the rest, and the draft does not parse while there are any.
    pub unreadable: ValidationErrors,
}

impl WebhookDraft {
    /// Checks every field over `base` (the stored settings when updating, `None` when
    /// creating) and reports every field's problem at once, in field order.
    pub fn parse(
        &self,
        base: Option<&WebhookSettings>,
        rules: &WebhookRules,
    ) -> Result<WebhookSettings, ValidationErrors> {
        let mut errors = self.unreadable.clone();
        let url = match (&self.url, base) {
            (Some(u), _) => errors.take(WebhookUrl::parse(u, rules.allow_http)),
            (None, Some(b)) => Some(b.url.clone()),
            (None, None) => {
                errors.push(ValidationError::new(
                    "url",
                    "required: the https:// URL that will receive the POSTs",
                ));
                None
            }
        };
        let events = match (&self.events, base) {
            (Some(e), _) => errors.take(EventFilter::parse(e, |n| {
                rules.known_event_types.iter().any(|k| k == n)
            })),
            (None, Some(b)) => Some(b.events.clone()),
            (None, None) => {
                errors.push(ValidationError::new(
                    "events",
                    "required: a list of event types, or [\"*\"] for all",
                ));
                None
            }
        };
        let name = match (&self.name, base) {
            (Some(n), _) => errors.take(parse_name(n)),
            (None, Some(b)) => Some(b.name.clone()),
            (None, None) => Some(String::new()),
        };
        let description = match (&self.description, base) {
            (Some(d), _) => errors.take(parse_description(d)),
            (None, Some(b)) => Some(b.description.clone()),
            (None, None) => Some(String::new()),
        };
        let headers = match (&self.headers, base) {
            (Some(h), _) => {
                let mut found = parse_headers_all(h, rules.signature_header);
                let ok = found.is_empty();
                for e in found.drain(..) {
                    errors.push(e);
                }
                ok.then(|| trimmed_headers(h))
            }
            (None, Some(b)) => Some(b.headers.clone()),
            (None, None) => Some(BTreeMap::new()),
        };
        let retry_schedule = match (&self.retry_schedule, self.retry_count, base) {
            (None, None, Some(b)) => Some(b.retry_schedule.clone()),
            (s, c, _) => errors.take(parse_retries(s.as_deref(), c)),
        };
        let timeout_seconds = match (self.timeout_seconds, base) {
            (None, Some(b)) => Some(b.timeout_seconds),
            (t, _) => errors.take(parse_timeout(t)),
        };
        let notification_email = match (&self.notification_email, base) {
            (Some(e), _) => errors.take(parse_notification_email(e.as_deref())),
            (None, Some(b)) => Some(b.notification_email.clone()),
            (None, None) => Some(None),
        };
        let is_active = self.is_active.or(base.map(|b| b.is_active)).unwrap_or(true);
        match (
            url,
            events,
            name,
            description,
            headers,
            retry_schedule,
            timeout_seconds,
            notification_email,
        ) {
            (
                Some(url),
                Some(events),
                Some(name),
                Some(description),
                Some(headers),
                Some(retry_schedule),
                Some(timeout_seconds),
                Some(notification_email),
            ) if errors.is_empty() => Ok(WebhookSettings {
                name,
                description,
                url,
                events,
                is_active,
                headers,
                retry_schedule,
                timeout_seconds,
                notification_email,
            }),
            _ => Err(errors),
        }
    }
}

/// Every problem of a set of custom headers (token names, visible values, none of ours, at
/// most [`MAX_HEADERS`]); empty when they are fine.
fn parse_headers_all(
    headers: &BTreeMap<String, String>,
    signature_header: &str,
) -> Vec<ValidationError> {
    let mut errors = Vec::new();
    if headers.len() > MAX_HEADERS {
        errors.push(ValidationError::new(
            "headers",
            format!("use at most {MAX_HEADERS} custom headers"),
        ));
    }
    let mut seen: Vec<String> = Vec::new();
    for (name, value) in headers {
        let name = name.trim();
        let field = format!("headers.{name}");
        let token = |b: u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b);
        let lower = name.to_ascii_lowercase();
        if name.is_empty() || name.len() > 100 || !name.bytes().all(token) {
            errors.push(ValidationError::new(
                field,
                "a header name uses letters, digits and dashes, e.g. X-Api-Key",
            ));
        } else if RESERVED_HEADERS.contains(&lower.as_str())
            || lower.eq_ignore_ascii_case(signature_header)
            || lower.starts_with("x-hookline-")
        {
            errors.push(ValidationError::new(
                field,
                format!("{name} is set by Hookline itself and cannot be overridden"),
            ));
        } else if value.len() > 2048 || value.bytes().any(|b| (b < 0x20 && b != b'\t') || b == 0x7f)
        {
            errors.push(ValidationError::new(
                field,
                "a header value is at most 2048 characters of visible text (no line breaks)",
            ));
        } else if seen.contains(&lower) {
            errors.push(ValidationError::new(
                field,
                "the same header is given twice",
            ));
        }
        seen.push(lower);
    }
    errors
}

/// Names and values without surrounding whitespace, names as the user spelled them.
fn trimmed_headers(headers: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    headers
        .iter()
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect()
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
    if s.chars().any(char::is_control) {
        return Err(ValidationError::new(
            "name",
            "use a single line of text without control characters",
        ));
    }
    if s.chars().count() > 100 {
        return Err(ValidationError::new("name", "use at most 100 characters"));
    }
    Ok(s.to_string())
}

pub fn parse_description(s: &str) -> Result<String, ValidationError> {
    let s = s.trim();
    if s.chars()
        .any(|c| c.is_control() && c != '\n' && c != '\r' && c != '\t')
    {
        return Err(ValidationError::new(
            "description",
            "remove the control characters",
        ));
    }
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
    fn names_and_descriptions_refuse_control_characters() {
        assert!(parse_name("CRM sync").is_ok());
        assert_eq!(parse_name("a\nb").unwrap_err().field, "name");
        assert_eq!(parse_name("a\0b").unwrap_err().field, "name");
        assert!(parse_description("line one\nline two").is_ok());
        assert_eq!(
            parse_description("bell\u{7}").unwrap_err().field,
            "description"
        );
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
        assert!(parse_headers_all(&h("X-Api-Key", "abc"), "X-Hookline-Signature").is_empty());
        for (k, v) in [
            ("Host", "x"),
            ("content-length", "1"),
            ("X-Bad Name", "x"),
            ("X-A", "a\r\nb"),
            ("webhook-signature", "x"),
            ("X-Acme-Sig", "x"),
            ("", "x"),
        ] {
            assert_eq!(parse_headers_all(&h(k, v), "X-Acme-Sig").len(), 1, "{k}");
        }
    }

    fn rules(known: &[String]) -> WebhookRules<'_> {
        WebhookRules {
            known_event_types: known,
            allow_http: false,
            signature_header: "X-Hookline-Signature",
        }
    }

    #[test]
    fn a_draft_reports_every_field_at_once() {
        let known = vec!["a.b".to_string()];
        let draft = WebhookDraft {
            url: Some("http://plain.example.com/".into()),
            events: Some(vec!["no.such".into()]),
            name: Some("a\nb".into()),
            description: Some("bell\u{7}".into()),
            headers: Some(BTreeMap::from([
                ("Host".to_string(), "x".to_string()),
                ("X-Ok".to_string(), "fine".to_string()),
                ("Bad Name".to_string(), "x".to_string()),
            ])),
            retry_schedule: Some(vec![60, 0]),
            timeout_seconds: Some(99),
            notification_email: Some(Some("nope".into())),
            unreadable: ValidationError::new("retry_preset", "not a preset").into(),
            ..Default::default()
        };
        let errors = draft.parse(None, &rules(&known)).unwrap_err();
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "retry_preset",
                "url",
                "events",
                "name",
                "description",
                "headers.Bad Name",
                "headers.Host",
                "retry_schedule[1]",
                "timeout_seconds",
                "notification_email"
            ]
        );
        // Required on create, and nothing else is wrong.
        let errors = WebhookDraft::default()
            .parse(None, &rules(&known))
            .unwrap_err();
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["url", "events"]);
    }

    #[test]
    fn a_draft_over_stored_settings_changes_only_what_it_carries() {
        let known = vec!["a.b".to_string()];
        let created = WebhookDraft {
            url: Some("https://example.com/h".into()),
            events: Some(vec!["a.b".into()]),
            notification_email: Some(Some("Ops@Example.com".into())),
            ..Default::default()
        }
        .parse(None, &rules(&known))
        .unwrap();
        assert_eq!(created.retry_schedule, DEFAULT_RETRY_SCHEDULE);
        assert_eq!(created.timeout_seconds, DEFAULT_TIMEOUT);
        assert_eq!(
            created.notification_email.as_ref().unwrap().as_str(),
            "ops@example.com"
        );
        let renamed = WebhookDraft {
            name: Some(" CRM ".into()),
            notification_email: Some(None),
            ..Default::default()
        }
        .parse(Some(&created), &rules(&known))
        .unwrap();
        assert_eq!(renamed.name, "CRM");
        assert_eq!(renamed.notification_email, None);
        assert_eq!((renamed.url, renamed.events), (created.url, created.events));
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
