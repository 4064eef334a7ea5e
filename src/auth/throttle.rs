//! Login throttling, per account and per client address, in memory. A burst of wrong
//! passwords locks that account (or address) out for a while; a success clears the account.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub struct Throttle {
    window: Duration,
    per_account: u32,
    per_address: u32,
    state: Mutex<HashMap<String, (u32, Instant)>>,
}

impl Default for Throttle {
    fn default() -> Self {
        Throttle::new(Duration::from_secs(15 * 60), 5, 20)
    }
}

impl Throttle {
    pub fn new(window: Duration, per_account: u32, per_address: u32) -> Self {
        Throttle {
            window,
            per_account,
            per_address,
            state: Mutex::new(HashMap::new()),
        }
    }

    fn count(&self, key: &str) -> u32 {
        let map = self.state.lock().unwrap();
        match map.get(key) {
            Some((n, since)) if since.elapsed() < self.window => *n,
            _ => 0,
        }
    }

    /// `Some(wait)` if a login for this account or from this address must be refused now.
    pub fn check(&self, account: &str, address: &str) -> Option<Duration> {
        let acc = self.count(&format!("a:{}", account.to_lowercase())) >= self.per_account;
        let addr = self.count(&format!("i:{address}")) >= self.per_address;
        (acc || addr).then_some(self.window)
    }

    pub fn failure(&self, account: &str, address: &str) {
        let mut map = self.state.lock().unwrap();
        let now = Instant::now();
        if map.len() > 100_000 {
            // Bound memory under a spray of addresses.
            map.retain(|_, (_, since)| since.elapsed() < self.window);
        }
        for key in [
            format!("a:{}", account.to_lowercase()),
            format!("i:{address}"),
        ] {
            let e = map.entry(key).or_insert((0, now));
            if e.1.elapsed() >= self.window {
                *e = (0, now);
            }
            e.0 += 1;
        }
    }

    pub fn success(&self, account: &str) {
        self.state
            .lock()
            .unwrap()
            .remove(&format!("a:{}", account.to_lowercase()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locks_account_then_address() {
        let t = Throttle::new(Duration::from_secs(60), 3, 5);
        for _ in 0..3 {
            assert!(t.check("ann@x.io", "1.1.1.1").is_none());
            t.failure("ann@x.io", "1.1.1.1");
        }
        assert!(
            t.check("ANN@x.io", "2.2.2.2").is_some(),
            "account locked from any address"
        );
        assert!(t.check("bob@x.io", "2.2.2.2").is_none());
        t.failure("bob@x.io", "1.1.1.1");
        t.failure("cat@x.io", "1.1.1.1");
        assert!(
            t.check("dan@x.io", "1.1.1.1").is_some(),
            "address locked for any account"
        );
        t.success("bob@x.io");
    }
}
