//! Webhook signatures: the Standard Webhooks scheme (`webhook-signature`) and the plain hex
//! HMAC-SHA256 of the body (seed 003, `X-Hookline-Signature`).

use std::fmt;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;

use crate::domain::ValidationError;

type HmacSha256 = Hmac<Sha256>;

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
pub struct Secret {
    text: String,
    key: Vec<u8>,
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(whsec_…redacted)")
    }
}

impl Secret {
    /// A fresh secret: `whsec_` + standard base64 of 24 bytes from the OS CSPRNG.
    pub fn generate() -> Secret {
        let mut key = vec![0u8; GENERATED_KEY_LEN];
        rand::rngs::OsRng.fill_bytes(&mut key);
        Secret {
            text: format!("{SECRET_PREFIX}{}", STANDARD.encode(&key)),
            key,
        }
    }

    /// Parse a secret a user supplied: `whsec_` + standard base64 decoding to 24–64 bytes.
    pub fn parse(s: &str) -> Result<Secret, ValidationError> {
        let secret = Secret::parse_any_length(s)?;
        if !(MIN_KEY_LEN..=MAX_KEY_LEN).contains(&secret.key.len()) {
            return Err(ValidationError::new(
                "secret",
                format!("the key is {} bytes long; {SECRET_FORM}", secret.key.len()),
            ));
        }
        Ok(secret)
    }

    /// Parse `whsec_<standard base64>` without the length bounds of [`Secret::parse`] (still
    /// at least one byte). For secrets that were accepted before, e.g. in tests or imports;
    /// user input goes through [`Secret::parse`].
    pub fn parse_any_length(s: &str) -> Result<Secret, ValidationError> {
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
        Ok(Secret {
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

fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac = match HmacSha256::new_from_slice(key) {
        Ok(m) => m,
        Err(_) => unreachable!("HMAC takes keys of any length"),
    };
    for p in parts {
        mac.update(p);
    }
    mac.finalize().into_bytes().into()
}

/// `v1,<base64 HMAC-SHA256(key, "{msg_id}.{timestamp}.{body}")>` (Standard Webhooks).
pub fn standard_signature(secret: &Secret, msg_id: &str, timestamp: i64, body: &[u8]) -> String {
    let ts = timestamp.to_string();
    let mac = hmac_sha256(
        secret.key(),
        &[msg_id.as_bytes(), b".", ts.as_bytes(), b".", body],
    );
    format!("v1,{}", STANDARD.encode(mac))
}

/// The `webhook-signature` header value: one signature per secret, separated by a space
/// (during a rotation the old and the new secret both sign).
pub fn signature_header(secrets: &[&Secret], msg_id: &str, timestamp: i64, body: &[u8]) -> String {
    secrets
        .iter()
        .map(|s| standard_signature(s, msg_id, timestamp, body))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Lowercase hex HMAC-SHA256 of the body, keyed with the whole secret string as UTF-8.
pub fn hex_signature(secret: &str, body: &[u8]) -> String {
    hex::encode(hmac_sha256(secret.as_bytes(), &[body]))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SW_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const SW_ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
    const SW_TS: i64 = 1614265330;
    const SW_BODY: &[u8] = br#"{"test": 2432232314}"#;
    const SW_SIG: &str = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";

    #[test]
    fn standard_webhooks_known_answer() {
        // The spec's test secret decodes to exactly 24 bytes, so the strict parser takes it.
        let s = Secret::parse(SW_SECRET).unwrap();
        assert_eq!(s.key().len(), 24);
        assert_eq!(standard_signature(&s, SW_ID, SW_TS, SW_BODY), SW_SIG);
        let s2 = Secret::parse_any_length(SW_SECRET).unwrap();
        assert_eq!(standard_signature(&s2, SW_ID, SW_TS, SW_BODY), SW_SIG);
    }

    #[test]
    fn hex_known_answer() {
        assert_eq!(
            hex_signature("secret", br#"{"body":"sample"}"#),
            "0278b1a603de4c561ac0feb960354d0d00e8846b74813d81bddb43ad45bff767"
        );
    }

    #[test]
    fn rotation_header_joins_with_one_space() {
        let old = Secret::parse(SW_SECRET).unwrap();
        let new = Secret::generate();
        let h = signature_header(&[&old, &new], SW_ID, SW_TS, SW_BODY);
        let parts: Vec<&str> = h.split(' ').collect();
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[0], SW_SIG);
        assert_eq!(parts[1], standard_signature(&new, SW_ID, SW_TS, SW_BODY));
        assert_eq!(signature_header(&[&old], SW_ID, SW_TS, SW_BODY), SW_SIG);
        assert_eq!(signature_header(&[], SW_ID, SW_TS, SW_BODY), "");
    }

    #[test]
    fn generated_secrets_parse_back_and_differ() {
        let a = Secret::generate();
        let b = Secret::generate();
        assert!(a.as_str().starts_with("whsec_"));
        assert_eq!(a.as_str().len(), "whsec_".len() + 32);
        assert_eq!(a.key().len(), 24);
        assert_ne!(a.as_str(), b.as_str());
        let p = Secret::parse(a.as_str()).unwrap();
        assert_eq!(p.key(), a.key());
        assert_eq!(p.as_str(), a.as_str());
    }

    #[test]
    fn debug_hides_the_secret() {
        let s = Secret::parse(SW_SECRET).unwrap();
        let d = format!("{s:?}");
        assert!(!d.contains("MfKQ9r8"), "{d}");
    }

    #[test]
    fn parse_rejects_bad_secrets_and_says_what_to_write() {
        let b64 = |n: usize| STANDARD.encode(vec![7u8; n]);
        let cases = [
            b64(24),                                                  // missing prefix
            format!("WHSEC_{}", b64(24)),                             // wrong prefix case
            "whsec_not base64!!".to_string(),                         // bad base64
            format!("whsec_{}", b64(24).trim_end_matches('=')) + "x", // bad padding
            "whsec_".to_string(),                                     // empty
            format!("whsec_{}", b64(23)),                             // too short
            format!("whsec_{}", b64(16)),                             // too short
            format!("whsec_{}", b64(65)),                             // too long
            format!(" whsec_{}", b64(24)),                            // stray space
        ];
        for c in cases {
            let e = Secret::parse(&c).unwrap_err();
            assert_eq!(e.field, "secret", "{c}");
            assert!(
                e.message.contains("whsec_ followed by the standard base64"),
                "{c}: {}",
                e.message
            );
            assert!(e.message.contains("24 to 64"), "{}", e.message);
        }
        assert!(Secret::parse(&format!("whsec_{}", b64(24))).is_ok());
        assert!(Secret::parse(&format!("whsec_{}", b64(64))).is_ok());
        assert!(Secret::parse(&format!("whsec_{}", b64(40))).is_ok());
        // The lenient parser still wants the prefix and valid base64.
        assert!(Secret::parse_any_length(&format!("whsec_{}", b64(8))).is_ok());
        assert!(Secret::parse_any_length(&b64(8)).is_err());
        assert!(Secret::parse_any_length("whsec_%%%").is_err());
    }
}
