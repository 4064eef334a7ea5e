//! Claims held in memory: which deliveries this process's dispatcher holds (claimed, ready or
//! in flight), so that no claim round takes them again.
//!
//! On SQLite one process serves the data directory, and a lease only ever had to keep this
//! process's own claim rounds off a delivery until its attempt was recorded: at every start
//! every lease left in the file is dropped (`queue::release_all`), because whoever held it is
//! gone. So a claim no longer writes its lease into the row (an `UPDATE` that rewrote the row
//! and moved it from the due index to the leased one, and back when the attempt was
//! recorded: about a fifth of the writer's time in a fan-out). It is kept here instead, by
//! the writer thread, in step with its transactions:
//!
//! - a claim job holds what it picked when it succeeds; a job that records attempts, or
//!   gives claims back, lets go of them when it succeeds;
//! - if the transaction's `COMMIT` fails, what its jobs did here is undone too
//!   ([`Leases::committed`]), as the rows' changes are;
//! - a crash loses them, exactly as a lease in the file was dropped at the next start: the
//!   delivery is attempted again (at-least-once).
//!
//! A held delivery stays in `deliveries_due` (it is due: its `next_attempt_at` is set and
//! passed). A claim round steps over the held rows of each webhook it picks from
//! ([`Held::holds`]); a publish asking whether a webhook has work waiting (the hand-off's
//! check) seeks past the webhook's last held row ([`Held::last_of`]), as a claim always takes
//! a webhook's earliest rows. Deliveries leased at publish by the hand-off keep the lease in
//! the row (`lease_until`), as that costs nothing more: the row is written then anyway.

use std::collections::BTreeSet;

use crate::domain::{IdMap, IdSet};
use std::sync::{Mutex, MutexGuard};

/// A held delivery: its id, its webhook, and when it was due as claimed (its place in
/// `deliveries_due`, which orders a webhook's rows by due time, then id).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hold {
    pub delivery: i64,
    pub webhook: i64,
    pub due: i64,
}

#[derive(Default)]
pub struct Held {
    /// Held delivery → its webhook and due time.
    by_delivery: IdMap<(i64, i64)>,
    /// Per webhook, its held deliveries as (due time, id): in `deliveries_due`'s order.
    per_webhook: IdMap<BTreeSet<(i64, i64)>>,
    /// What the transaction under way changed: (the hold, whether it was held then let go of
    /// (`false`) or let go of then held (`true`)), to undo if its COMMIT fails.
    undo: Vec<(Hold, bool)>,
    /// Webhooks that may have a row waiting before their last held one (see
    /// [`Held::after_held`]): until a claim round has walked them from the start.
    unsorted: IdSet,
}

impl Held {
    /// Whether `delivery` is held.
    pub fn holds(&self, delivery: i64) -> bool {
        self.by_delivery.contains_key(&delivery)
    }

    /// The last of `webhook`'s held deliveries in `deliveries_due`'s order, as (due time,
    /// id). A claim takes a webhook's earliest rows that are not held, so its held ones come
    /// first in that index: what follows the last is not held.
    pub fn last_of(&self, webhook: i64) -> Option<(i64, i64)> {
        self.per_webhook.get(&webhook)?.last().copied()
    }

    /// Where a walk of `webhook`'s rows in `deliveries_due` may start: after its last held
    /// row, unless a row may wait before it (`None`: from the start). A claim takes a
    /// webhook's earliest rows, so rows that wait come after the held ones, except a row
    /// given back (it keeps its place) or stored due with a time earlier than the last held
    /// one's (a publish stamped before a claim round and committed after it): those mark
    /// the webhook ([`Leases::unsorted`]) until a walk from the start went past them.
    pub fn after_held(&self, webhook: i64) -> Option<(i64, i64)> {
        if self.unsorted.contains(&webhook) {
            return None;
        }
        self.last_of(webhook)
    }

    /// How many deliveries are held in all.
    pub fn count(&self) -> usize {
        self.by_delivery.len()
    }

    fn add(&mut self, h: Hold) -> bool {
        if self.by_delivery.contains_key(&h.delivery) {
            return false;
        }
        self.by_delivery.insert(h.delivery, (h.webhook, h.due));
        self.per_webhook
            .entry(h.webhook)
            .or_default()
            .insert((h.due, h.delivery));
        true
    }

    fn remove(&mut self, delivery: i64) -> Option<Hold> {
        let (webhook, due) = self.by_delivery.remove(&delivery)?;
        if let Some(set) = self.per_webhook.get_mut(&webhook) {
            set.remove(&(due, delivery));
            if set.is_empty() {
                self.per_webhook.remove(&webhook);
            }
        }
        Some(Hold {
            delivery,
            webhook,
            due,
        })
    }
}

/// The deliveries this process's dispatcher holds. Changed by the writer thread only; read by
/// it and by the gauges.
#[derive(Default)]
pub struct Leases {
    state: Mutex<Held>,
}

impl Leases {
    /// The held deliveries, to look at several under one lock.
    pub fn lock(&self) -> MutexGuard<'_, Held> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A claim job succeeded: its picks are held from now on.
    pub fn hold(&self, picks: impl IntoIterator<Item = Hold>) {
        let mut s = self.lock();
        for h in picks {
            if s.add(h) {
                s.undo.push((h, true));
            }
        }
    }

    /// A job that recorded these deliveries' attempts, or gave them back, succeeded: they are
    /// no longer held.
    pub fn let_go(&self, deliveries: impl IntoIterator<Item = i64>) {
        let mut s = self.lock();
        for delivery in deliveries {
            if let Some(h) = s.remove(delivery) {
                s.undo.push((h, false));
            }
        }
    }

    /// Rows of `webhook` may wait before its last held one (see [`Held::after_held`]).
    pub fn unsorted(&self, webhook: i64) {
        self.lock().unsorted.insert(webhook);
    }

    /// A walk of `webhook`'s rows from the start went past its last held one: what waits
    /// comes after the held ones again. (Kept through a rollback: that only walks more.)
    pub fn sorted(&self, webhook: i64) {
        self.lock().unsorted.remove(&webhook);
    }

    /// After each transaction of the writer: kept on a commit; undone on a rollback, as the
    /// rows' changes were.
    pub fn committed(&self, ok: bool) {
        let mut s = self.lock();
        if s.undo.is_empty() {
            return;
        }
        let undo = std::mem::take(&mut s.undo);
        if !ok {
            for (h, held) in undo.into_iter().rev() {
                if held {
                    s.remove(h.delivery);
                } else {
                    s.add(h);
                }
            }
        }
    }

    /// At the engine's start nothing is held (what a previous engine in this process held is
    /// attempted again, as after a restart).
    pub fn clear(&self) {
        let mut s = self.lock();
        s.by_delivery.clear();
        s.per_webhook.clear();
        s.undo.clear();
        s.unsorted.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holds_follow_the_commit_and_are_undone_with_a_rollback() {
        let hold = |delivery, webhook, due| Hold {
            delivery,
            webhook,
            due,
        };
        let l = Leases::default();
        l.hold([hold(2, 10, 100), hold(1, 10, 100), hold(3, 20, 50)]);
        l.committed(true);
        assert!(l.lock().holds(1));
        assert_eq!(l.lock().count(), 3);
        assert_eq!(l.lock().last_of(10), Some((100, 2)), "due time, then id");
        assert_eq!(l.lock().last_of(30), None);
        // A transaction that lets 1 go, holds 4 and lets 4 go again, then fails to commit:
        // all of it is undone.
        l.let_go([1, 99]);
        l.hold([hold(4, 20, 60)]);
        l.let_go([4]);
        l.hold([hold(5, 30, 70)]);
        l.committed(false);
        let s = l.lock();
        assert!(s.holds(1) && s.holds(2) && s.holds(3));
        assert!(!s.holds(4) && !s.holds(5));
        assert_eq!(s.count(), 3);
        assert_eq!(
            (s.last_of(10), s.last_of(20), s.last_of(30)),
            (Some((100, 2)), Some((50, 3)), None)
        );
        drop(s);
        // A committed let-go stays, and a webhook with nothing held is forgotten.
        l.let_go([3]);
        l.committed(true);
        l.committed(false);
        assert!(!l.lock().holds(3));
        assert!(!l.lock().per_webhook.contains_key(&20));
        // A webhook marked unsorted is walked from the start until a walk says otherwise.
        assert_eq!(l.lock().after_held(10), Some((100, 2)));
        l.unsorted(10);
        assert_eq!(l.lock().after_held(10), None);
        l.sorted(10);
        assert_eq!(l.lock().after_held(10), Some((100, 2)));
        l.clear();
        assert_eq!(l.lock().count(), 0);
    }
}
