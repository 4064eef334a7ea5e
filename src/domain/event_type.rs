//! A new event type as the operator defines it (API, UI and CLI parse it the same way).

use super::{EventTypeName, ValidationError, ValidationErrors};

/// The most an event's `data` may hold, serialised; an example payload has the same limit
/// (Send Test sends it as `data`).
pub const MAX_DATA_BYTES: usize = 256 * 1024;

/// Parsed, valid input for a new event type.
#[derive(Debug)]
pub struct NewEventType {
    pub name: EventTypeName,
    pub description: String,
    /// The example `data`, serialised.
    pub example: Option<String>,
}

impl NewEventType {
    /// Checks every field and reports every problem at once.
    pub fn parse(
        name: &str,
        description: &str,
        example: Option<&serde_json::Value>,
    ) -> Result<Self, ValidationErrors> {
        let mut errors = ValidationErrors::default();
        let name = errors.take(EventTypeName::parse(name.trim()));
        let description = description.trim();
        if description.chars().count() > 1000 {
            errors.push(ValidationError::new(
                "description",
                "use at most 1000 characters",
            ));
        }
        if description.contains('\0') {
            errors.push(ValidationError::new(
                "description",
                "must not contain the NUL character (\\u0000)",
            ));
        }
        let example = match example {
            None | Some(serde_json::Value::Null) => None,
            Some(v @ serde_json::Value::Object(_)) => {
                let example = v.to_string();
                if example.len() > MAX_DATA_BYTES {
                    errors.push(ValidationError::new(
                        "example",
                        format!(
                            "the example payload is {} KiB; the limit is {} KiB",
                            example.len() / 1024,
                            MAX_DATA_BYTES / 1024
                        ),
                    ));
                }
                Some(example)
            }
            Some(_) => {
                errors.push(ValidationError::new(
                    "example",
                    "the example payload must be a JSON object",
                ));
                None
            }
        };
        match (name, errors.is_empty()) {
            (Some(name), true) => Ok(NewEventType {
                name,
                description: description.to_string(),
                example,
            }),
            _ => Err(errors),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_bad_field_is_reported() {
        let long = "x".repeat(1001);
        let errs =
            NewEventType::parse("no spaces!", &long, Some(&serde_json::json!([1]))).unwrap_err();
        let fields: Vec<&str> = errs.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["name", "description", "example"]);
        let errs = NewEventType::parse("ok.name", "", Some(&serde_json::json!("x"))).unwrap_err();
        assert_eq!(errs.len(), 1);
        // A NUL character cannot be stored in PostgreSQL's text: refused on every backend.
        for d in ["\0", "a\0b", "paid \0"] {
            let errs = NewEventType::parse("ok.name", d, None).unwrap_err();
            let fields: Vec<&str> = errs.iter().map(|e| e.field.as_str()).collect();
            assert_eq!(fields, ["description"], "{d:?}");
        }
        let ok = NewEventType::parse(" a.b ", " d ", Some(&serde_json::json!({"k": 1}))).unwrap();
        assert_eq!(
            (
                ok.name.as_str(),
                ok.description.as_str(),
                ok.example.as_deref()
            ),
            ("a.b", "d", Some(r#"{"k":1}"#))
        );
    }
}
