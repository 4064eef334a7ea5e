//! Authentication: password hashing, sessions, API keys, CSRF tokens and login throttling.

pub mod password;
pub mod throttle;

use sha2::{Digest, Sha256};

use crate::clock::random_token;
use crate::domain::Scopes;

/// SHA-256 of a high-entropy token. Session tokens, setup tokens and API keys are stored only
/// as this hash: a copy of the database does not let anyone log in or call the API.
pub fn token_hash(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

/// A new random token for cookies and one-time links (256 bits of entropy).
pub fn new_token() -> String {
    random_token(43)
}

/// API keys look like `hk_` + 40 characters of `[0-9A-Za-z]` (about 238 bits).
pub const API_KEY_PREFIX: &str = "hk_";

/// A freshly made API key: shown once, stored as `hash`, listed by `prefix`.
pub struct NewApiKey {
    pub key: String,
    pub prefix: String,
    pub hash: Vec<u8>,
}

pub fn new_api_key() -> NewApiKey {
    let key = format!("{API_KEY_PREFIX}{}", random_token(40));
    let prefix = key[..API_KEY_PREFIX.len() + 8].to_string();
    let hash = token_hash(&key);
    NewApiKey { key, prefix, hash }
}

/// The caller of an API request, after its bearer key was checked.
#[derive(Debug, Clone)]
pub struct ApiCaller {
    pub key_id: i64,
    /// `None` for an instance key.
    pub key_workspace_id: Option<i64>,
    pub scopes: Scopes,
    /// How changes made with the key are recorded: `API key "<name>" (hk_abc…)`.
    pub label: String,
}

/// Why an `Authorization` header does not carry a usable bearer token; each message says
/// what to send instead.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BearerError {
    Missing,
    Repeated,
    NotText,
    NotBearer,
    NoToken,
    BadToken,
}

impl BearerError {
    pub fn message(self) -> &'static str {
        match self {
            BearerError::Missing => "send your API key as 'Authorization: Bearer <key>'",
            BearerError::Repeated => "send one Authorization header, not several",
            BearerError::NotText => {
                "the Authorization header holds bytes that are not ASCII; send 'Authorization: Bearer <key>'"
            }
            BearerError::NotBearer => {
                "use the Bearer scheme, separated from the key by a space: 'Authorization: Bearer <key>'"
            }
            BearerError::NoToken => "the Authorization header has no key after 'Bearer '",
            BearerError::BadToken => {
                "the key after 'Bearer ' holds characters a key never has (spaces, tabs, punctuation); send it as printed"
            }
        }
    }
}

/// The token of `Authorization` header values, by RFC 6750 §2.1: `Bearer` (any case),
/// one or more spaces, then a b64token (`A-Z a-z 0-9 - . _ ~ + /`, then `=` padding). The
/// HTTP parser has already trimmed the value's surrounding whitespace. Anything else (a tab
/// after the scheme, a second word, another scheme, several headers) is refused, the same
/// way every time.
pub fn bearer_token<'a>(
    mut values: impl Iterator<Item = &'a [u8]>,
) -> Result<&'a str, BearerError> {
    let value = values.next().ok_or(BearerError::Missing)?;
    if values.next().is_some() {
        return Err(BearerError::Repeated);
    }
    let value = std::str::from_utf8(value)
        .ok()
        .filter(|v| v.is_ascii())
        .ok_or(BearerError::NotText)?;
    let value = value.trim_matches([' ', '\t']);
    let (scheme, rest) = value.split_once(' ').unwrap_or((value, ""));
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(BearerError::NotBearer);
    }
    let token = rest.trim_start_matches(' ');
    if token.is_empty() {
        return Err(BearerError::NoToken);
    }
    let body = token.trim_end_matches('=');
    let b64 = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_' | '~' | '+' | '/');
    if body.is_empty() || !body.chars().all(b64) {
        return Err(BearerError::BadToken);
    }
    Ok(token)
}

/// Constant-time comparison for CSRF tokens.
pub fn tokens_equal(a: &str, b: &str) -> bool {
    use subtle::ConstantTimeEq;
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_keys_have_prefix_and_hash() {
        let k = new_api_key();
        assert!(k.key.starts_with("hk_"));
        assert_eq!(k.key.len(), 43);
        assert_eq!(k.prefix.len(), 11);
        assert!(k.key.starts_with(&k.prefix));
        assert_eq!(k.hash, token_hash(&k.key));
        assert_ne!(new_api_key().key, k.key);
    }

    #[test]
    fn bearer_tokens_follow_rfc_6750() {
        let one = |v: &'static [u8]| bearer_token(std::iter::once(v));
        for ok in [
            &b"Bearer hk_abc"[..],
            b"bearer hk_abc",
            b"BEARER hk_abc",
            b"Bearer   hk_abc",
            b"Bearer hk_abc\t",
            b" Bearer hk_abc ",
            b"Bearer a.b-c~d+e/f==",
        ] {
            assert!(one(ok).is_ok(), "{:?}", String::from_utf8_lossy(ok));
        }
        assert_eq!(one(b"Bearer   hk_abc").unwrap(), "hk_abc");
        let cases: [(&[u8], BearerError); 14] = [
            (b"Bearer\thk_abc", BearerError::NotBearer),
            (b"Bearerhk_abc", BearerError::NotBearer),
            (b"Basic YWxhZGRpbjpvcGVu", BearerError::NotBearer),
            (b"Token hk_abc", BearerError::NotBearer),
            (b"", BearerError::NotBearer),
            (b"Bearer", BearerError::NoToken),
            (b"Bearer ", BearerError::NoToken),
            (b"Bearer \thk_abc", BearerError::BadToken),
            (b"Bearer hk_abc extra", BearerError::BadToken),
            (b"Bearer hk_abc,", BearerError::BadToken),
            (b"Bearer ===", BearerError::BadToken),
            (b"Bearer \"hk_abc\"", BearerError::BadToken),
            (b"Bearer hk_\xc3\xa9", BearerError::NotText),
            (b"Bearer \xff", BearerError::NotText),
        ];
        for (v, want) in cases {
            assert_eq!(one(v), Err(want), "{:?}", String::from_utf8_lossy(v));
        }
        assert_eq!(bearer_token(std::iter::empty()), Err(BearerError::Missing));
        assert_eq!(
            bearer_token([&b"Bearer a"[..], b"Bearer b"].into_iter()),
            Err(BearerError::Repeated)
        );
    }

    #[test]
    fn token_compare() {
        assert!(tokens_equal("abc", "abc"));
        assert!(!tokens_equal("abc", "abd"));
        assert!(!tokens_equal("abc", "abcd"));
    }
}
