//! Hand-off: a publish leases its deliveries to this process's dispatcher in the write that
//! stores them, and the dispatcher gets them from memory once that write has committed.
//!
//! On SQLite one process serves the data directory, so the process that stores a delivery is
//! the one that will send it. When its dispatcher has room for a webhook (and nothing of that
//! webhook is already waiting in the queue, so nothing is overtaken), the publish inserts the
//! delivery already leased, and after the commit the delivery, with its event's body, goes
//! straight to the dispatcher's ready queue. That saves the claim round a delivery otherwise
//! needs (a write job that walks the due index and reads the row and the event back) and the
//! wait for it: a publish's delivery can start as soon as the 202 is sent. (A claimed delivery
//! is held in memory, [`super::leases`]; a handed-off one carries its lease in the row, which
//! costs nothing there: the row is written anyway, and it keeps it out of the due index.)
//!
//! Nothing about durability changes. The row is committed before the dispatcher hears of it,
//! and a lease left by a crash is dropped at the next start as before (`queue::release_all`),
//! so the delivery is sent then. What does not fit (no room, a webhook the dispatcher has not
//! opened in this version, work already waiting) is stored due, as before, and claimed.
//!
//! Room is counted as the claims count it: per webhook, the dispatcher's ready and in-flight
//! deliveries plus those leased here and not yet taken stay within `room`; in all, within
//! `total`.
//!
//! The writer thread grants and stages ([`Handoff::grant`], [`Handoff::stage`]) inside a job,
//! and after each commit calls [`Handoff::committed`]; the dispatcher opens and closes it,
//! says which webhooks it holds open in which version and how much each holds, and takes
//! what arrived ([`Handoff::take`]).

use crate::domain::IdMap;
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::Notify;

use crate::domain::delivery::Claimed;

/// The dispatcher's side of one webhook.
#[derive(Debug, Default, Clone, Copy)]
struct Hook {
    /// The webhook version (`updated_at`) the dispatcher sends with.
    version: i64,
    /// Ready or in flight at the dispatcher.
    held: usize,
    /// Leased by a publish, not yet taken by the dispatcher.
    reserved: usize,
}

#[derive(Default)]
struct State {
    /// Set while the dispatcher runs: whom to tell, and the room per webhook and in all.
    open: Option<(Arc<Notify>, usize, usize)>,
    hooks: IdMap<Hook>,
    held: usize,
    reserved: usize,
    /// Granted by the jobs of the transaction under way that succeeded.
    staged: Vec<Claimed>,
    /// Committed, for the dispatcher to take.
    arrived: Vec<Claimed>,
}

/// Deliveries leased at publish on their way to this process's dispatcher. Shared by the
/// writer thread and the dispatcher; every call holds its lock briefly.
#[derive(Default)]
pub struct Handoff {
    state: Mutex<State>,
}

/// The version of a webhook the dispatcher let go of while grants for it were under way: kept
/// only to count those, until each is taken or given back.
const UNWATCHED: i64 = i64::MIN;

impl State {
    /// One grant of `webhook` is taken (`held`) or given back: it is no longer reserved.
    fn settle(&mut self, webhook: i64, held: bool) {
        self.reserved = self.reserved.saturating_sub(1);
        let Some(h) = self.hooks.get_mut(&webhook) else {
            return;
        };
        h.reserved = h.reserved.saturating_sub(1);
        if h.version == UNWATCHED {
            if h.reserved == 0 {
                self.hooks.remove(&webhook);
            }
        } else if held {
            h.held += 1;
            self.held += 1;
        }
    }

    fn unreserve(&mut self, claims: &[Claimed]) {
        for c in claims {
            self.settle(c.webhook_id, false);
        }
    }
}

impl Handoff {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    // ---- the writer's side ----

    /// May a delivery of `webhook`, stored with the webhook in `version`, be leased to the
    /// dispatcher now? A grant reserves its room until the delivery is taken or its write
    /// fails.
    pub fn grant(&self, webhook: i64, version: i64) -> bool {
        let mut s = self.lock();
        let Some((room, total)) = s.open.as_ref().map(|(_, r, t)| (*r, *t)) else {
            return false;
        };
        if s.held + s.reserved >= total {
            return false;
        }
        match s.hooks.get_mut(&webhook) {
            Some(h) if h.version == version && h.held + h.reserved < room => {
                h.reserved += 1;
                s.reserved += 1;
                true
            }
            _ => false,
        }
    }

    /// A job's granted deliveries, once the job succeeded: they go to the dispatcher when its
    /// transaction commits.
    pub fn stage(&self, claims: Vec<Claimed>) {
        if !claims.is_empty() {
            self.lock().staged.extend(claims);
        }
    }

    /// A job that was granted deliveries stored nothing after all (its savepoint was rolled
    /// back): their room is free again.
    pub fn cancel(&self, claims: &[Claimed]) {
        if !claims.is_empty() {
            self.lock().unreserve(claims);
        }
    }

    /// After each transaction of the writer: on a commit, what its jobs staged arrives at the
    /// dispatcher; on a rollback, it was never stored and its room is free again.
    pub fn committed(&self, ok: bool) {
        let mut s = self.lock();
        if s.staged.is_empty() {
            return;
        }
        let staged = std::mem::take(&mut s.staged);
        if ok {
            s.arrived.extend(staged);
            if let Some((notify, _, _)) = &s.open {
                notify.notify_one();
            }
        } else {
            s.unreserve(&staged);
        }
    }

    // ---- the dispatcher's side ----

    /// The dispatcher runs: grants begin, within `room` per webhook and `total` in all, and
    /// `notify` hears of arrivals.
    pub fn open(&self, notify: Arc<Notify>, room: usize, total: usize) {
        self.lock().open = Some((notify, room, total));
    }

    /// The dispatcher stops: no more grants. What arrived and was not taken keeps its lease,
    /// which the next start drops (so it is sent then).
    pub fn close(&self) {
        let mut s = self.lock();
        s.open = None;
        s.hooks.clear();
    }

    /// The dispatcher holds `webhook` open in `version`: its deliveries may be handed off.
    pub fn watch(&self, webhook: i64, version: i64) {
        self.lock().hooks.entry(webhook).or_default().version = version;
    }

    /// The dispatcher no longer holds `webhook` (switched off, deleted or not openable).
    pub fn unwatch(&self, webhook: i64) {
        let mut s = self.lock();
        if let Some(h) = s.hooks.remove(&webhook) {
            s.held = s.held.saturating_sub(h.held);
            // Reservations still under way are counted until taken or cancelled.
            if h.reserved > 0 {
                s.hooks.insert(
                    webhook,
                    Hook {
                        version: UNWATCHED,
                        held: 0,
                        reserved: h.reserved,
                    },
                );
            }
        }
    }

    /// How much the dispatcher holds now, for the webhooks whose count changed, and in all.
    pub fn held(&self, changed: impl IntoIterator<Item = (i64, usize)>, total: usize) {
        let mut s = self.lock();
        for (w, n) in changed {
            if let Some(h) = s.hooks.get_mut(&w) {
                h.held = n;
            }
        }
        s.held = total;
    }

    /// Takes what arrived. Their room moves from reserved to held.
    pub fn take(&self) -> Vec<Claimed> {
        let mut s = self.lock();
        if s.arrived.is_empty() {
            return Vec::new();
        }
        let arrived = std::mem::take(&mut s.arrived);
        for c in &arrived {
            s.settle(c.webhook_id, true);
        }
        arrived
    }

    /// Per webhook, the deliveries leased here and not taken yet (a claim round counts them
    /// as the dispatcher's).
    pub fn reserved(&self) -> Vec<(i64, usize)> {
        self.lock()
            .hooks
            .iter()
            .filter(|(_, h)| h.reserved > 0)
            .map(|(w, h)| (*w, h.reserved))
            .collect()
    }
}

/// The deliveries one publish job was granted. Staged for the dispatcher when the job
/// succeeds ([`Granted::stage`]); dropped unstaged (the job failed or stored nothing), their
/// room is given back.
pub struct Granted {
    handoff: Option<Arc<Handoff>>,
    claims: Vec<Claimed>,
}

impl Granted {
    /// For one job; nothing is granted unless `handoff` is open (its dispatcher runs).
    pub fn new(handoff: Option<Arc<Handoff>>) -> Granted {
        Granted {
            handoff: handoff.filter(|h| h.lock().open.is_some()),
            claims: Vec::new(),
        }
    }

    /// Whether grants can be asked for at all.
    pub fn enabled(&self) -> bool {
        self.handoff.is_some()
    }

    /// Asks for room for a delivery of `webhook` (in `version`).
    pub fn ask(&self, webhook: i64, version: i64) -> bool {
        self.handoff
            .as_ref()
            .is_some_and(|h| h.grant(webhook, version))
    }

    /// A delivery granted by [`Granted::ask`] and stored leased.
    pub fn push(&mut self, claim: Claimed) {
        self.claims.push(claim);
    }

    /// The job succeeded: the deliveries go to the dispatcher when its transaction commits.
    pub fn stage(mut self) {
        if let Some(h) = self.handoff.take() {
            h.stage(std::mem::take(&mut self.claims));
        }
    }
}

impl Drop for Granted {
    fn drop(&mut self) {
        if let Some(h) = &self.handoff {
            h.cancel(&self.claims);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claim(webhook_id: i64) -> Claimed {
        Claimed {
            delivery_id: 1,
            webhook_id,
            event_public_id: String::new(),
            event_type: String::new(),
            body: bytes::Bytes::new(),
            attempt_count: 0,
            created_at: 0,
        }
    }

    #[test]
    fn grants_stay_within_the_room_and_follow_the_commit() {
        let h = Handoff::default();
        // Closed: nothing is granted.
        assert!(!h.grant(1, 7));
        let notify = Arc::new(Notify::new());
        h.open(notify, 2, 3);
        // A webhook the dispatcher does not hold, or holds in another version: no.
        assert!(!h.grant(1, 7));
        h.watch(1, 7);
        assert!(!h.grant(1, 6));
        // Room 2 per webhook.
        assert!(h.grant(1, 7));
        assert!(h.grant(1, 7));
        assert!(!h.grant(1, 7));
        // Total 3.
        h.watch(2, 1);
        assert!(h.grant(2, 1));
        assert!(!h.grant(2, 1));
        // A job rolled back gives its room back; a committed one arrives.
        h.cancel(&[claim(2)]);
        h.stage(vec![claim(1), claim(1)]);
        assert!(h.take().is_empty(), "nothing arrives before the commit");
        h.committed(true);
        assert_eq!(h.take().len(), 2);
        // Taken deliveries are held: still no room for webhook 1 until the dispatcher says
        // one finished.
        assert!(!h.grant(1, 7));
        h.held([(1, 1)], 1);
        assert!(h.grant(1, 7));
        // A failed commit: the staged deliveries never arrive and their room is free.
        h.stage(vec![claim(1)]);
        h.committed(false);
        assert!(h.take().is_empty());
        assert!(h.grant(1, 7));
        assert_eq!(h.reserved(), vec![(1, 1)]);
        // A webhook let go of while a grant for it is under way: counted until it settles,
        // then forgotten (and a grant for it needs the dispatcher to hold it open again).
        h.watch(3, 1);
        assert!(h.grant(3, 1));
        h.unwatch(3);
        assert!(!h.grant(3, 1));
        h.stage(vec![claim(3)]);
        h.committed(true);
        assert_eq!(h.take().len(), 1);
        assert!(h.reserved().iter().all(|(w, _)| *w != 3));
        assert!(!h.lock().hooks.contains_key(&3), "nothing is left of it");
        // Closed again: no grants.
        h.close();
        assert!(!h.grant(2, 1));
    }
}
