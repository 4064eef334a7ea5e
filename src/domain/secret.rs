//! The webhook signing secret: `whsec_` + standard base64 of its key.

use std::fmt;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use rand::RngCore;

use super::ValidationError;

/// Prefix of every webhook secret.
pub const SECRET_PREFIX: &str = "whsec_";
/// Length in bytes of the key inside a generated secret.
pub const GENERATED_KEY_LEN: usize = 24;
/// Shortest key a user may set.
pub const MIN_KEY_LEN: usize = 24;
/// Longest key a user may set.
pub const MAX_KEY_LEN: usize = 64;

const SECRET_FORM: &str = "use whsec_ followed by the standard base64 (with = padding) of 24 to 64 random bytes, e.g. whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

/// A webhook signing secret in its `whsec_<base64>` form, with the decoded key.
///
/// `Debug` never prints the secret.
#[derive(Clone)]
pub struct WebhookSecret {
    text: String,
    key: Vec<u8>,
}

impl fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(whsec_…redacted)")
    }
}

impl WebhookSecret {
    /// A fresh secret: `whsec_` + standard base64 of 24 bytes from the OS CSPRNG.
    pub fn generate() -> WebhookSecret {
        let mut key = vec![0u8; GENERATED_KEY_LEN];
        rand::rngs::OsRng.fill_bytes(&mut key);
        WebhookSecret {
            text: format!("{SECRET_PREFIX}{}", STANDARD.encode(&key)),
            key,
        }
    }

    /// Parse a secret a user supplied: `whsec_` + standard base64 decoding to 24–64 bytes.
    pub fn parse(s: &str) -> Result<WebhookSecret, ValidationError> {
        let secret = WebhookSecret::parse_any_length(s)?;
        if !(MIN_KEY_LEN..=MAX_KEY_LEN).contains(&secret.key.len()) {
            return Err(ValidationError::new(
                "secret",
                format!("the key is {} bytes long; {SECRET_FORM}", secret.key.len()),
            ));
        }
        Ok(secret)
    }

    /// Parse `whsec_<standard base64>` without the length bounds of [`WebhookSecret::parse`] (still
    /// at least one byte). For secrets that were accepted before, e.g. in tests or imports;
    /// user input goes through [`WebhookSecret::parse`].
    pub fn parse_any_length(s: &str) -> Result<WebhookSecret, ValidationError> {
        let Some(b64) = s.strip_prefix(SECRET_PREFIX) else {
            return Err(ValidationError::new(
                "secret",
                format!("the secret does not start with whsec_; {SECRET_FORM}"),
            ));
        };
        let key = STANDARD.decode(b64).map_err(|_| {
            ValidationError::new(
                "secret",
                format!("the part after whsec_ is not standard base64; {SECRET_FORM}"),
            )
        })?;
        if key.is_empty() {
            return Err(ValidationError::new(
                "secret",
                format!("the key is empty; {SECRET_FORM}"),
            ));
        }
        Ok(WebhookSecret {
            text: s.to_string(),
            key,
        })
    }

    /// The whole `whsec_…` string.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The decoded key bytes (the HMAC key of the Standard Webhooks signature).
    pub fn key(&self) -> &[u8] {
        &self.key
    }
}
