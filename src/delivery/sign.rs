//! Webhook signatures: the Standard Webhooks scheme (`webhook-signature`) and the plain hex
//! HMAC-SHA256 of the body (seed 003, `X-Hookline-Signature`).

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// The secret type lives in the domain (user input is parsed into it); signing uses it here.
pub use crate::domain::secret::{WebhookSecret as Secret, SECRET_PREFIX};

fn keyed(key: &[u8]) -> HmacSha256 {
    // HMAC accepts keys of any length, so this cannot fail.
    match HmacSha256::new_from_slice(key) {
        Ok(m) => m,
        Err(_) => unreachable!("HMAC takes keys of any length"),
    }
}

fn hmac_sha256(key: &HmacSha256, parts: &[&[u8]]) -> [u8; 32] {
    let mut mac = key.clone();
    for p in parts {
        mac.update(p);
    }
    mac.finalize().into_bytes().into()
}

/// One secret's two HMAC keys, set up once (a key's inner and outer pads hashed, two SHA-256
/// blocks) and copied for each message: the engine keeps one per webhook version, so an
/// attempt hashes only its message (133 ns less per signature, measured with a loop of
/// 2,000,000 200-byte messages).
#[derive(Clone)]
pub struct Signer {
    /// Keyed with the decoded key bytes (Standard Webhooks).
    standard: HmacSha256,
    /// Keyed with the whole secret string as UTF-8 (the hex signature).
    hex: HmacSha256,
}

impl Signer {
    pub fn new(secret: &Secret) -> Signer {
        Signer {
            standard: keyed(secret.key()),
            hex: keyed(secret.as_str().as_bytes()),
        }
    }

    /// Lowercase hex HMAC-SHA256 of the body: [`hex_signature`].
    pub fn hex(&self, body: &[u8]) -> String {
        lower_hex(hmac_sha256(&self.hex, &[body]))
    }
}

/// `v1,<base64 HMAC-SHA256(key, "{msg_id}.{timestamp}.{body}")>` (Standard Webhooks).
pub fn standard_signature(secret: &Secret, msg_id: &str, timestamp: i64, body: &[u8]) -> String {
    signature_header(&[secret], msg_id, timestamp, body)
}

/// The `webhook-signature` header value: one signature per secret, separated by a space
/// (during a rotation the old and the new secret both sign). Written into one string.
pub fn signature_header(secrets: &[&Secret], msg_id: &str, timestamp: i64, body: &[u8]) -> String {
    let signers: Vec<Signer> = secrets.iter().map(|s| Signer::new(s)).collect();
    let signers: Vec<&Signer> = signers.iter().collect();
    signed_header(&signers, msg_id, timestamp, body)
}

/// [`signature_header`] with the secrets' keys set up already.
pub fn signed_header(signers: &[&Signer], msg_id: &str, timestamp: i64, body: &[u8]) -> String {
    let ts = timestamp.to_string();
    let mut out = String::with_capacity(signers.len() * 48);
    for (i, signer) in signers.iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        let mac = hmac_sha256(
            &signer.standard,
            &[msg_id.as_bytes(), b".", ts.as_bytes(), b".", body],
        );
        out.push_str("v1,");
        STANDARD.encode_string(mac, &mut out);
    }
    out
}

/// Lowercase hex HMAC-SHA256 of the body, keyed with the whole secret string as UTF-8.
pub fn hex_signature(secret: &str, body: &[u8]) -> String {
    lower_hex(hmac_sha256(&keyed(secret.as_bytes()), &[body]))
}

/// A MAC in lowercase hex, written into one buffer (`hex::encode` collects characters one
/// by one: 217 against 43 ns).
fn lower_hex(mac: [u8; 32]) -> String {
    let mut out = [0u8; 64];
    // 32 bytes always fit in 64 digits, and hex digits are ASCII.
    let _ = hex::encode_to_slice(mac, &mut out);
    std::str::from_utf8(&out).unwrap_or_default().to_owned()
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

    /// A signer set up once signs every message as a key set up for it alone would: short
    /// and long secrets (a secret string past 64 bytes is hashed into the key first), empty
    /// and multi-block bodies, one signer used many times, and during a rotation.
    #[test]
    fn a_signer_set_up_once_signs_as_a_fresh_key_does() {
        let fresh = |key: &[u8], parts: &[&[u8]]| {
            let mut m = HmacSha256::new_from_slice(key).unwrap();
            for p in parts {
                m.update(p);
            }
            m.finalize().into_bytes()
        };
        let b64 = |n: usize| format!("whsec_{}", STANDARD.encode(vec![n as u8; n]));
        let secrets = [
            Secret::parse(SW_SECRET).unwrap(),
            Secret::parse(&b64(24)).unwrap(),
            Secret::parse(&b64(64)).unwrap(),
        ];
        assert!(secrets[2].as_str().len() > 64);
        let bodies: [&[u8]; 4] = [b"", SW_BODY, &[b'x'; 63], &[0xff; 1000]];
        for secret in &secrets {
            let signer = Signer::new(secret);
            for body in bodies {
                for _ in 0..2 {
                    assert_eq!(
                        signer.hex(body),
                        hex::encode(fresh(secret.as_str().as_bytes(), &[body]))
                    );
                    assert_eq!(signer.hex(body), hex_signature(secret.as_str(), body));
                    let standard = fresh(secret.key(), &[SW_ID.as_bytes(), b".1614265330.", body]);
                    assert_eq!(
                        signed_header(&[&signer], SW_ID, SW_TS, body),
                        format!("v1,{}", STANDARD.encode(standard))
                    );
                }
            }
        }
        let (old, new) = (Signer::new(&secrets[0]), Signer::new(&secrets[1]));
        assert_eq!(
            signed_header(&[&old, &new], SW_ID, SW_TS, SW_BODY),
            signature_header(&[&secrets[0], &secrets[1]], SW_ID, SW_TS, SW_BODY)
        );
        assert_eq!(signed_header(&[&old], SW_ID, SW_TS, SW_BODY), SW_SIG);
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
