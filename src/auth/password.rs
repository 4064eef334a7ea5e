//! Argon2id password hashing with OWASP's parameters (19 MiB, 2 iterations, 1 lane).
//! At most [`MAX_PARALLEL`] hashes run at once, so a burst of logins cannot exhaust memory
//! or starve the delivery engine of CPU.

use argon2::password_hash::{
    rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString,
};
use argon2::{Algorithm, Argon2, Params, Version};
use tokio::sync::Semaphore;

use crate::domain::Password;

pub const MAX_PARALLEL: usize = 2;
static PERMITS: Semaphore = Semaphore::const_new(MAX_PARALLEL);

fn argon2() -> Argon2<'static> {
    let params = Params::new(19 * 1024, 2, 1, None).expect("valid argon2 params");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// Hashes synchronously (CLI, and inside [`hash`]).
pub fn hash_blocking(password: &Password) -> String {
    let salt = SaltString::generate(&mut OsRng);
    argon2()
        .hash_password(password.expose().as_bytes(), &salt)
        .expect("argon2 hashing cannot fail with valid params")
        .to_string()
}

/// Checks synchronously. A malformed stored hash never matches.
pub fn verify_blocking(password: &str, stored: &str) -> bool {
    if password.len() > Password::MAX {
        return false;
    }
    match PasswordHash::new(stored) {
        Ok(h) => argon2().verify_password(password.as_bytes(), &h).is_ok(),
        Err(_) => false,
    }
}

/// A hash that no password matches, used to spend the same time on unknown accounts.
pub const DUMMY_HASH: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$Vn4v0v8r0s6x0Zp2mF1q3b0Yc0v8m3Wc2G0q8m4xYzQ";

pub async fn hash(password: Password) -> String {
    let _permit = PERMITS.acquire().await.expect("never closed");
    tokio::task::spawn_blocking(move || hash_blocking(&password))
        .await
        .expect("hash task")
}

pub async fn verify(password: String, stored: String) -> bool {
    let _permit = PERMITS.acquire().await.expect("never closed");
    tokio::task::spawn_blocking(move || verify_blocking(&password, &stored))
        .await
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_and_verify() {
        let p = Password::parse("correct horse battery").unwrap();
        let h = hash_blocking(&p);
        assert!(h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert!(verify_blocking("correct horse battery", &h));
        assert!(!verify_blocking("wrong horse battery", &h));
        assert!(!verify_blocking("x", "not a hash"));
        assert!(!verify_blocking("anything", DUMMY_HASH));
    }
}
