use super::ValidationError;
use std::fmt;

/// A workspace slug: 1–63 characters of `a-z`, `0-9` and `-`, starting with a letter or digit.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Slug(String);

impl Slug {
    pub fn parse(s: &str) -> Result<Slug, ValidationError> {
        let s = s.trim();
        let ok = !s.is_empty()
            && s.len() <= 63
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !s.starts_with('-')
            && !s.ends_with('-');
        if ok {
            Ok(Slug(s.to_string()))
        } else {
            Err(ValidationError::new(
                "slug",
                "use 1–63 lowercase letters, digits and dashes, not starting or ending with a dash (e.g. acme-corp)",
            ))
        }
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Slug {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An event type name: segments of `[a-zA-Z0-9_]` joined by `.`, e.g. `project.created`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct EventTypeName(String);

impl EventTypeName {
    pub fn parse(s: &str) -> Result<EventTypeName, ValidationError> {
        let ok = !s.is_empty()
            && s.len() <= 128
            && s.split('.').all(|seg| {
                !seg.is_empty() && seg.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
            });
        if ok {
            Ok(EventTypeName(s.to_string()))
        } else {
            Err(ValidationError::new(
                "name",
                "use segments of letters, digits and underscores joined by dots, e.g. project.created (at most 128 characters)",
            ))
        }
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for EventTypeName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs() {
        assert!(Slug::parse("acme-corp").is_ok());
        assert!(Slug::parse("a1").is_ok());
        for bad in ["", "-a", "a-", "Acme", "a b", "a_b", &"x".repeat(64)] {
            assert!(Slug::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn event_type_names() {
        for good in ["project.created", "a", "order_v2.status.changed", "A.B"] {
            assert!(EventTypeName::parse(good).is_ok(), "{good}");
        }
        for bad in ["", ".", "a.", ".a", "a..b", "a-b", "a b", "*", "é"] {
            assert!(EventTypeName::parse(bad).is_err(), "{bad}");
        }
    }
}
