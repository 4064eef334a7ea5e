//! Time and randomness helpers. Timestamps are stored as unix milliseconds (`i64`) and shown
//! as RFC 3339 strings.

use rand::RngCore;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// Milliseconds since the unix epoch.
pub fn now_ms() -> i64 {
    (OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64
}

/// RFC 3339 in UTC with millisecond precision, e.g. `2026-11-22T05:31:00.123Z`.
pub fn rfc3339(ms: i64) -> String {
    let t = OffsetDateTime::from_unix_timestamp_nanos(ms as i128 * 1_000_000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH);
    let t = t
        .replace_nanosecond((ms.rem_euclid(1000) as u32) * 1_000_000)
        .unwrap_or(t);
    t.format(&Rfc3339).unwrap_or_default()
}

/// `n` random bytes from the operating system's CSPRNG.
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut b = [0u8; N];
    rand::rngs::OsRng.fill_bytes(&mut b);
    b
}

/// The characters of tokens and ids, in ASCII order (so equal-length strings of them also sort
/// as base-62 numbers).
pub(crate) const ALPHABET: &[u8; 62] =
    b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// A random string of `len` characters from `[0-9A-Za-z]` (unbiased), from the operating
/// system's CSPRNG: for secrets (API keys, session and setup tokens). The bytes are drawn in
/// one call for the whole token, and again only in the rare case that rejections used them up.
pub fn random_token(len: usize) -> String {
    token_from(&mut rand::rngs::OsRng, len)
}

/// The same for identifiers that are not secrets (event and request ids, several per
/// request), from the thread's CSPRNG (seeded from the operating system's) rather than a
/// system call each.
pub fn random_id(len: usize) -> String {
    token_from(&mut rand::thread_rng(), len)
}

fn token_from(rng: &mut impl RngCore, len: usize) -> String {
    let mut out = String::with_capacity(len);
    // A few bytes more than needed: about 3% of bytes are rejected.
    let mut buf = vec![0u8; len + len / 8 + 4];
    while out.len() < len {
        rng.fill_bytes(&mut buf);
        for &b in &buf {
            // 248 = 62 * 4: reject the tail so every symbol is equally likely.
            if b < 248 {
                out.push(ALPHABET[(b % 62) as usize] as char);
                if out.len() == len {
                    break;
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_keeps_milliseconds() {
        assert_eq!(rfc3339(1_614_265_330_123), "2021-02-25T15:02:10.123Z");
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
    }

    #[test]
    fn tokens_are_alphanumeric_and_distinct() {
        for token in [random_token, random_id] {
            let a = token(32);
            assert_eq!(a.len(), 32);
            for len in [0, 1, 7, 20, 27, 43, 200] {
                assert_eq!(token(len).len(), len);
            }
            assert!(a.chars().all(|c| c.is_ascii_alphanumeric()));
            assert_ne!(a, token(32));
            // Every symbol turns up (missing one in 10,000 draws has odds of about 10^-67).
            let many = token(10_000);
            for &c in ALPHABET {
                assert!(many.contains(c as char), "{} never drawn", c as char);
            }
        }
    }
}
