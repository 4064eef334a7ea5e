//! Login throttling, per account and per client address. A burst of wrong passwords locks
//! that account (or address) out for a while; a success clears the account. One process
//! counts in memory; nodes sharing a PostgreSQL store count in it (`Throttle::for_store`),
//! so the allowance is the cluster's, not each node's.
//!
//! The limit holds under concurrency: [`Throttle::begin`] reserves a verification before any
//! password is hashed, and a reservation counts against the limit until its outcome is known.
//! Forty wrong passwords sent at once therefore run at most `per_account` verifications; the
//! rest are refused before hashing.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::store::Store;

pub struct Throttle {
    window: Duration,
    per_account: u32,
    per_address: u32,
    state: Mutex<HashMap<String, Entry>>,
    /// The store several nodes share, which then keeps the counts.
    shared: Option<Store>,
}

/// What is known of one account or address within the window.
#[derive(Debug, Clone, Copy)]
struct Entry {
    failures: u32,
    /// Verifications reserved and not yet finished.
    in_flight: u32,
    since: Instant,
}

impl Entry {
    fn used(&self, window: Duration) -> u32 {
        let failures = if self.since.elapsed() < window {
            self.failures
        } else {
            0
        };
        failures + self.in_flight
    }
}

impl Default for Throttle {
    fn default() -> Self {
        Throttle::new(Duration::from_secs(15 * 60), 5, 20)
    }
}

/// A reserved password verification. Say how it went with [`LoginAttempt::succeeded`] or
/// [`LoginAttempt::failed`]; one dropped without an outcome (the request was cancelled
/// mid-way) counts as a failure.
#[must_use = "report the verification's outcome"]
pub struct LoginAttempt<'a> {
    throttle: &'a Throttle,
    account: String,
    address: String,
    settled: bool,
    /// On a shared store: the reservation's row.
    reservation: Option<i64>,
}

impl LoginAttempt<'_> {
    /// The password was right: the account's failures are forgotten.
    pub fn succeeded(mut self) {
        self.settled = true;
        self.throttle
            .settle(&self.account, &self.address, false, self.reservation);
    }

    /// The password was wrong: one more failure for the account and the address.
    pub fn failed(mut self) {
        self.settled = true;
        self.throttle
            .settle(&self.account, &self.address, true, self.reservation);
    }
}

impl Drop for LoginAttempt<'_> {
    fn drop(&mut self) {
        if !self.settled {
            self.throttle
                .settle(&self.account, &self.address, true, self.reservation);
        }
    }
}

fn account_key(account: &str) -> String {
    format!("a:{}", account.to_lowercase())
}

fn address_key(address: &str) -> String {
    format!("i:{address}")
}

impl Throttle {
    pub fn new(window: Duration, per_account: u32, per_address: u32) -> Self {
        Throttle {
            window,
            per_account,
            per_address,
            state: Mutex::new(HashMap::new()),
            shared: None,
        }
    }

    /// The default limits, counted in `store` when several nodes share it (else in memory).
    pub fn for_store(store: &Store) -> Self {
        Throttle {
            shared: store.is_shared().then(|| store.clone()),
            ..Throttle::default()
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Entry>> {
        // A panic elsewhere while holding the lock leaves counts that are still usable.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Reserves one password verification for `account` from `address`, or `Err(wait)` when
    /// the account or the address has used its allowance (failures plus verifications still
    /// running) and the attempt must be refused without hashing anything.
    pub async fn begin(&self, account: &str, address: &str) -> Result<LoginAttempt<'_>, Duration> {
        let (acc, addr) = (account_key(account), address_key(address));
        if let Some(store) = &self.shared {
            let reserved = store
                .login_reserve(
                    acc.clone(),
                    addr.clone(),
                    self.window.as_millis() as i64,
                    self.per_account.into(),
                    self.per_address.into(),
                )
                .await;
            return match reserved {
                Ok(Some(id)) => Ok(LoginAttempt {
                    throttle: self,
                    account: acc,
                    address: addr,
                    settled: false,
                    reservation: Some(id),
                }),
                Ok(None) => Err(self.window),
                Err(e) => {
                    // No verification without a count: the password cannot be checked
                    // against an unreachable database anyway.
                    tracing::error!(error = %e, "login throttle: cannot reach the store");
                    Err(Duration::from_secs(60))
                }
            };
        }
        self.begin_here(account, address)
    }

    /// [`Throttle::begin`] in this process's memory.
    fn begin_here(&self, account: &str, address: &str) -> Result<LoginAttempt<'_>, Duration> {
        let (acc, addr) = (account_key(account), address_key(address));
        let mut map = self.lock();
        let used = |map: &HashMap<String, Entry>, key: &str| {
            map.get(key).map_or(0, |e| e.used(self.window))
        };
        if used(&map, &acc) >= self.per_account || used(&map, &addr) >= self.per_address {
            return Err(self.window);
        }
        if map.len() > 100_000 {
            // Bound memory under a spray of addresses.
            let window = self.window;
            map.retain(|_, e| e.in_flight > 0 || e.since.elapsed() < window);
        }
        let now = Instant::now();
        for key in [&acc, &addr] {
            let e = map.entry(key.clone()).or_insert(Entry {
                failures: 0,
                in_flight: 0,
                since: now,
            });
            e.in_flight += 1;
        }
        Ok(LoginAttempt {
            throttle: self,
            account: acc,
            address: addr,
            settled: false,
            reservation: None,
        })
    }

    fn settle(&self, acc: &str, addr: &str, failed: bool, reservation: Option<i64>) {
        if let (Some(store), Some(id)) = (&self.shared, reservation) {
            let store = store.clone();
            if let Ok(rt) = tokio::runtime::Handle::try_current() {
                rt.spawn(async move {
                    if let Err(e) = store.login_settle(id, failed).await {
                        // Unsettled, it counts as running for a minute, then not at all.
                        tracing::warn!(error = %e, "login throttle: cannot record an outcome");
                    }
                });
            }
            return;
        }
        let mut map = self.lock();
        let now = Instant::now();
        for key in [acc, addr] {
            if let Some(e) = map.get_mut(key) {
                e.in_flight = e.in_flight.saturating_sub(1);
                if failed {
                    if e.since.elapsed() >= self.window {
                        e.failures = 0;
                        e.since = now;
                    }
                    e.failures += 1;
                }
            }
        }
        if !failed {
            // A right password clears the account (not the address: one good login from an
            // address does not excuse a spray of guesses at other accounts).
            if let Some(e) = map.get_mut(acc) {
                e.failures = 0;
                e.since = now;
            }
        }
        map.retain(|_, e| e.in_flight > 0 || e.failures > 0);
    }
}

impl Throttle {
    /// Forgets the account's failures (its password was just reset by its owner).
    pub async fn forget_account(&self, account: &str) {
        let acc = account_key(account);
        if let Some(store) = &self.shared {
            if let Err(e) = store.login_forget(acc).await {
                tracing::warn!(error = %e, "login throttle: cannot forget the account's failures");
            }
            return;
        }
        self.forget_here(&acc);
    }

    fn forget_here(&self, acc: &str) {
        let mut map = self.lock();
        if let Some(e) = map.get_mut(acc) {
            e.failures = 0;
        }
        map.retain(|_, e| e.in_flight > 0 || e.failures > 0);
    }
}

/// How often something may be asked for within a window, per key (a fixed window from a
/// key's first request). For requests that cost something whatever their outcome, such as
/// a password reset email: every request counts, not only failures.
pub struct RateLimit {
    window: Duration,
    state: Mutex<HashMap<String, (u32, Instant)>>,
    /// The store several nodes share, which then keeps the counts.
    shared: Option<Store>,
}

impl RateLimit {
    pub fn new(window: Duration) -> Self {
        RateLimit {
            window,
            state: Mutex::new(HashMap::new()),
            shared: None,
        }
    }

    /// Counted in `store` when several nodes share it (else in memory).
    pub fn for_store(window: Duration, store: &Store) -> Self {
        RateLimit {
            shared: store.is_shared().then(|| store.clone()),
            ..RateLimit::new(window)
        }
    }

    /// Counts one request against every `(key, limit)` and allows it, or refuses it (and
    /// counts nothing) when any key has used its limit within the window.
    pub async fn allow(&self, keys: &[(&str, u32)]) -> bool {
        if let Some(store) = &self.shared {
            let keys = keys
                .iter()
                .map(|(k, n)| (k.to_string(), i64::from(*n)))
                .collect();
            return store
                .rate_allow(keys, self.window.as_millis() as i64)
                .await
                .unwrap_or_else(|e| {
                    tracing::error!(error = %e, "rate limit: cannot reach the store; refusing");
                    false
                });
        }
        self.allow_here(keys)
    }

    fn allow_here(&self, keys: &[(&str, u32)]) -> bool {
        let mut map = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let window = self.window;
        if map.len() > 100_000 {
            map.retain(|_, (_, since)| since.elapsed() < window);
        }
        let used = |map: &HashMap<String, (u32, Instant)>, key: &str| {
            map.get(key)
                .filter(|(_, since)| since.elapsed() < window)
                .map_or(0, |(n, _)| *n)
        };
        if keys.iter().any(|(k, limit)| used(&map, k) >= *limit) {
            return false;
        }
        let now = Instant::now();
        for (k, _) in keys {
            let e = map.entry(k.to_string()).or_insert((0, now));
            if e.1.elapsed() >= window {
                *e = (0, now);
            }
            e.0 += 1;
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locks_account_then_address() {
        let t = Throttle::new(Duration::from_secs(60), 3, 5);
        for _ in 0..3 {
            t.begin_here("ann@x.io", "1.1.1.1").unwrap().failed();
        }
        assert!(
            t.begin_here("ANN@x.io", "2.2.2.2").is_err(),
            "account locked from any address"
        );
        t.begin_here("bob@x.io", "2.2.2.2").unwrap().succeeded();
        t.begin_here("bob@x.io", "1.1.1.1").unwrap().failed();
        t.begin_here("cat@x.io", "1.1.1.1").unwrap().failed();
        assert!(
            t.begin_here("dan@x.io", "1.1.1.1").is_err(),
            "address locked for any account"
        );
        t.begin_here("dan@x.io", "3.3.3.3").unwrap().succeeded();
    }

    #[test]
    fn verifications_in_flight_count_against_the_limit() {
        let t = Throttle::new(Duration::from_secs(60), 5, 20);
        let held: Vec<_> = (0..5)
            .map(|_| {
                t.begin_here("ann@x.io", "1.1.1.1")
                    .expect("within the limit")
            })
            .collect();
        // Five verifications are running: a sixth is refused before it starts.
        assert!(t.begin_here("ann@x.io", "1.1.1.1").is_err());
        assert!(t.begin_here("ann@x.io", "9.9.9.9").is_err());
        // They all fail: still locked, now by failures.
        for a in held {
            a.failed();
        }
        assert!(t.begin_here("ann@x.io", "1.1.1.1").is_err());
    }

    #[test]
    fn a_success_frees_the_account_and_a_dropped_attempt_counts_as_failed() {
        let t = Throttle::new(Duration::from_secs(60), 2, 20);
        t.begin_here("ann@x.io", "1.1.1.1").unwrap().failed();
        t.begin_here("ann@x.io", "1.1.1.1").unwrap().succeeded();
        t.begin_here("ann@x.io", "1.1.1.1").unwrap().failed();
        drop(t.begin_here("ann@x.io", "1.1.1.1").unwrap());
        assert!(t.begin_here("ann@x.io", "1.1.1.1").is_err());
    }

    #[test]
    fn failures_expire_with_the_window() {
        let t = Throttle::new(Duration::from_millis(50), 1, 20);
        t.begin_here("ann@x.io", "1.1.1.1").unwrap().failed();
        assert!(t.begin_here("ann@x.io", "1.1.1.1").is_err());
        std::thread::sleep(Duration::from_millis(60));
        t.begin_here("ann@x.io", "1.1.1.1").unwrap().failed();
    }

    #[test]
    fn many_threads_never_exceed_the_limit() {
        let t = std::sync::Arc::new(Throttle::new(Duration::from_secs(60), 5, 1000));
        let started = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let threads: Vec<_> = (0..40)
            .map(|_| {
                let (t, started) = (t.clone(), started.clone());
                std::thread::spawn(move || {
                    if let Ok(a) = t.begin_here("ann@x.io", "1.1.1.1") {
                        started.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                        std::thread::sleep(Duration::from_millis(20));
                        a.failed();
                    }
                })
            })
            .collect();
        for th in threads {
            th.join().unwrap();
        }
        assert!(started.load(std::sync::atomic::Ordering::SeqCst) <= 5);
    }

    #[test]
    fn rate_limit_counts_every_request_per_key() {
        let r = RateLimit::new(Duration::from_millis(80));
        for _ in 0..2 {
            assert!(r.allow_here(&[("e:ann", 2), ("i:1", 3)]));
        }
        assert!(!r.allow_here(&[("e:ann", 2), ("i:1", 3)]), "ann used up");
        assert!(r.allow_here(&[("e:bob", 2), ("i:1", 3)]));
        assert!(
            !r.allow_here(&[("e:cat", 2), ("i:1", 3)]),
            "address used up"
        );
        assert!(
            r.allow_here(&[("e:cat", 2), ("i:2", 3)]),
            "a refusal counted nothing"
        );
        std::thread::sleep(Duration::from_millis(90));
        assert!(r.allow_here(&[("e:ann", 2), ("i:1", 3)]), "a new window");
    }

    #[test]
    fn forgetting_an_account_unlocks_it() {
        let t = Throttle::new(Duration::from_secs(60), 1, 20);
        t.begin_here("ann@x.io", "1.1.1.1").unwrap().failed();
        assert!(t.begin_here("ann@x.io", "2.2.2.2").is_err());
        t.forget_here(&account_key("ANN@x.io"));
        t.begin_here("ann@x.io", "2.2.2.2").unwrap().succeeded();
    }
}
