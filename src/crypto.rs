//! Encryption at rest for webhook secrets: XChaCha20-Poly1305 under a 256-bit key kept in
//! `<data-dir>/secret.key` (created on first start, mode 0600). A stolen database alone does
//! not reveal any signing secret; back up `secret.key` together with the database.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use chacha20poly1305::aead::{Aead, KeyInit};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};

pub const KEY_FILE: &str = "secret.key";

#[derive(Clone)]
pub struct SecretBox {
    cipher: XChaCha20Poly1305,
}

impl std::fmt::Debug for SecretBox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretBox(***)")
    }
}

pub fn key_path(data_dir: &Path) -> PathBuf {
    data_dir.join(KEY_FILE)
}

impl SecretBox {
    /// Loads the key from the data directory, creating it if there is none.
    pub fn load_or_create(data_dir: &Path) -> anyhow::Result<SecretBox> {
        let path = key_path(data_dir);
        let key = match std::fs::read(&path) {
            Ok(k) => {
                // A key copied in (a restore) may have come with a looser mode.
                crate::db::private_file(&path)
                    .with_context(|| format!("restricting {} to its owner", path.display()))?;
                k
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let key = crate::clock::random_bytes::<32>();
                write_private(&path, &key)
                    .with_context(|| format!("creating {}", path.display()))?;
                key.to_vec()
            }
            Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
        };
        if key.len() != 32 {
            bail!(
                "{} is damaged ({} bytes, expected 32); restore it from your backup — without it stored webhook secrets cannot be read",
                path.display(),
                key.len()
            );
        }
        Ok(SecretBox {
            cipher: XChaCha20Poly1305::new_from_slice(&key).expect("32-byte key"),
        })
    }

    /// Loads the key from `path` (`HOOKLINE_SECRET_KEY_FILE`), which must exist: nodes that
    /// share a database must all use the same key, so none is made up here.
    pub fn load(path: &Path) -> anyhow::Result<SecretBox> {
        let key = std::fs::read(path).with_context(|| {
            format!(
                "reading {} (HOOKLINE_SECRET_KEY_FILE): copy the secret.key of the data directory this database came from, \
                 or for a new installation write 32 random bytes: head -c 32 /dev/urandom > {}",
                path.display(),
                path.display()
            )
        })?;
        if key.len() != 32 {
            bail!(
                "{} (HOOKLINE_SECRET_KEY_FILE) holds {} bytes, but a key is exactly 32; copy the first node's secret.key, \
                 or for a new installation write 32 random bytes: head -c 32 /dev/urandom > {}",
                path.display(),
                key.len(),
                path.display()
            );
        }
        Ok(SecretBox {
            cipher: XChaCha20Poly1305::new_from_slice(&key).expect("32-byte key"),
        })
    }

    /// `nonce (24 bytes) || ciphertext+tag`.
    pub fn seal(&self, plaintext: &str) -> Vec<u8> {
        let nonce = crate::clock::random_bytes::<24>();
        let ct = self
            .cipher
            .encrypt(XNonce::from_slice(&nonce), plaintext.as_bytes())
            .expect("encryption cannot fail");
        let mut out = nonce.to_vec();
        out.extend_from_slice(&ct);
        out
    }

    pub fn open(&self, sealed: &[u8]) -> Result<String, CryptoError> {
        let bad = || CryptoError::Undecryptable;
        if sealed.len() < 24 {
            return Err(bad());
        }
        let (nonce, ct) = sealed.split_at(24);
        let pt = self
            .cipher
            .decrypt(XNonce::from_slice(nonce), ct)
            .map_err(|_| bad())?;
        String::from_utf8(pt).map_err(|_| bad())
    }
}

/// A stored secret that cannot be used.
#[derive(Debug, Clone, thiserror::Error)]
pub enum CryptoError {
    #[error(
        "a stored secret cannot be decrypted: is secret.key the one this database was made with?"
    )]
    Undecryptable,
    /// It decrypts, but is not a secret this version can sign with.
    #[error("a stored secret is unusable: {0}")]
    Unusable(#[source] crate::domain::ValidationError),
}

fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(path)?;
    f.write_all(bytes)?;
    f.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_open_and_persisted_key() {
        let dir = tempfile::tempdir().unwrap();
        let a = SecretBox::load_or_create(dir.path()).unwrap();
        let sealed = a.seal("whsec_abc");
        assert!(!sealed.windows(9).any(|w| w == b"whsec_abc"));
        let b = SecretBox::load_or_create(dir.path()).unwrap();
        assert_eq!(b.open(&sealed).unwrap(), "whsec_abc");
        assert_ne!(a.seal("x"), a.seal("x"), "random nonces");
        let mut tampered = sealed.clone();
        *tampered.last_mut().unwrap() ^= 1;
        assert!(b.open(&tampered).is_err());
        std::fs::write(key_path(dir.path()), b"short").unwrap();
        assert!(SecretBox::load_or_create(dir.path())
            .unwrap_err()
            .to_string()
            .contains("damaged"));
    }
}
