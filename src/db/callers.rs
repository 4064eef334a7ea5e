//! API callers looked up in the last quarter second, so a client publishing thousands of
//! events a second is not looked up (a read on the pool, two thread hops) for each of them.
//!
//! Only keys found are kept, so a new key or workspace works at once. A change made through
//! this process (a key revoked, a workspace renamed or deleted) empties the cache when it has
//! committed; one made elsewhere (the CLI beside a running server) is seen within
//! [`TTL`]. A lookup that was under way while the cache was emptied does not put its answer
//! back ([`Callers::generation`]).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::repo::{ApiKeyRow, CallerLookup};
use super::workspaces::Workspace;

/// How long a looked-up caller is trusted.
pub const TTL: Duration = Duration::from_millis(250);
/// Most callers kept; beyond it the cache starts again empty.
const MOST: usize = 1024;

type Key = (Vec<u8>, Option<String>);

#[derive(Default)]
struct Inner {
    generation: u64,
    found: HashMap<Key, (Instant, ApiKeyRow, Option<Workspace>)>,
}

#[derive(Default)]
pub struct Callers {
    inner: Mutex<Inner>,
}

impl Callers {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The caller of `hash` naming `workspace`, if looked up within [`TTL`].
    pub fn get(&self, hash: &[u8], workspace: &Option<String>) -> Option<CallerLookup> {
        let inner = self.lock();
        let (at, key, ws) = inner.found.get(&(hash.to_vec(), workspace.clone()))?;
        (at.elapsed() < TTL).then(|| CallerLookup::Found(key.clone(), ws.clone()))
    }

    /// Where the cache stands before a lookup: [`Callers::put`] keeps the answer only if
    /// nothing emptied it meanwhile.
    pub fn generation(&self) -> u64 {
        self.lock().generation
    }

    pub fn put(
        &self,
        generation: u64,
        hash: Vec<u8>,
        workspace: Option<String>,
        found: &CallerLookup,
    ) {
        let CallerLookup::Found(key, ws) = found else {
            return;
        };
        let mut inner = self.lock();
        if inner.generation != generation {
            return;
        }
        if inner.found.len() >= MOST {
            inner.found.clear();
        }
        inner
            .found
            .insert((hash, workspace), (Instant::now(), key.clone(), ws.clone()));
    }

    /// A key or workspace changed: forget every caller.
    pub fn clear(&self) {
        let mut inner = self.lock();
        inner.generation += 1;
        inner.found.clear();
    }

    /// Key `id` was marked used at `at`: the callers kept say so, so the next requests do not
    /// mark it again.
    pub fn touched(&self, id: i64, at: i64) {
        for (_, key, _) in self.lock().found.values_mut() {
            if key.id == id {
                key.last_used_at = Some(at);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(id: i64) -> ApiKeyRow {
        ApiKeyRow {
            id,
            workspace_id: None,
            name: String::new(),
            prefix: String::new(),
            scopes: Default::default(),
            created_at: 0,
            last_used_at: None,
            revoked_at: None,
        }
    }

    #[test]
    fn callers_are_kept_briefly_and_forgotten_on_a_change() {
        let c = Callers::default();
        let (h, ws) = (vec![1u8], Some("acme".to_string()));
        assert!(c.get(&h, &ws).is_none());
        // Not found is never kept.
        c.put(c.generation(), h.clone(), ws.clone(), &CallerLookup::NoKey);
        assert!(c.get(&h, &ws).is_none());
        let keep = |generation| {
            c.put(
                generation,
                h.clone(),
                ws.clone(),
                &CallerLookup::Found(key(7), None),
            )
        };
        keep(c.generation());
        assert!(matches!(c.get(&h, &ws), Some(CallerLookup::Found(k, None)) if k.id == 7));
        // Another workspace named with the same key is another entry.
        assert!(c.get(&h, &None).is_none());
        c.touched(7, 99);
        assert!(
            matches!(c.get(&h, &ws), Some(CallerLookup::Found(k, _)) if k.last_used_at == Some(99))
        );
        // A change empties it, and a lookup that began before the change does not refill it.
        let before = c.generation();
        c.clear();
        assert!(c.get(&h, &ws).is_none());
        keep(before);
        assert!(c.get(&h, &ws).is_none());
        // Expired.
        keep(c.generation());
        std::thread::sleep(TTL + Duration::from_millis(20));
        assert!(c.get(&h, &ws).is_none());
    }
}
