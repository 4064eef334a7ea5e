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
    fn token_compare() {
        assert!(tokens_equal("abc", "abc"));
        assert!(!tokens_equal("abc", "abd"));
        assert!(!tokens_equal("abc", "abcd"));
    }
}
