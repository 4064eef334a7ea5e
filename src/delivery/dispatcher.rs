//! The dispatcher: decides what is attempted when. It claims due deliveries from the queue
//! per active webhook into small per-webhook ready queues and starts them within the global
//! and the per-webhook limits, so one slow or dead receiver only ever holds its own slots.
//! Claim rounds run beside the attempts (never blocking them), bring the event bodies and
//! any changed webhook settings in the same job, and start at a different webhook each
//! round. A slot frees as soon as its HTTP exchange ends; recording happens after.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, watch, Notify};

use super::attempt::{ActiveWebhook, Attempter};
use super::recorder::Recorder;
use crate::clock::now_ms;
use crate::crypto::SecretBox;
use crate::domain::fair::Ledger;
use crate::domain::IdMap;
use crate::store::types::{ClaimRequest, ClaimRound, Claimed};
use crate::store::{Store, StoreError as DbError};

/// How many attempts may be in flight.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_in_flight: usize,
    pub max_in_flight_per_webhook: usize,
}

/// Where the dispatcher stands, for those who wait for it (tests, shutdown).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Progress {
    /// Claim rounds finished so far.
    pub rounds: u64,
    /// Nothing running, nothing ready, no claim under way and nothing due now.
    pub idle: bool,
}

/// What the dispatcher needs; each part is narrow (the database for claims, the secrets to
/// open webhooks, the attempter, the recorder).
pub struct Dispatcher {
    pub store: Store,
    pub secrets: SecretBox,
    pub attempter: Arc<Attempter>,
    pub recorder: Recorder,
    pub limits: Limits,
    pub wake: Arc<Notify>,
    pub stopping: Arc<AtomicBool>,
    pub shutdown_grace: Duration,
    pub progress: watch::Sender<Progress>,
}

/// A claim round's room for one webhook, its deliveries ready and in flight together: twice
/// (its in-flight limit + what it sent since the last round began), so the round leaves it
/// enough ready to keep its slots busy while the next round waits for the writer; at most
/// this many times the limit. With 64 publishers to one webhook, a round waited 1–2 ms for
/// the writer, in which the 16 slots sent 12–24 deliveries, more than the 16 ready at a flat
/// 2 × the limit: the slots stood idle, and single publishes reached 0.13–0.17 of the
/// baseline, 0.18–0.21 with this room (adding what it sent only once still left deliveries
/// behind publishing). A webhook whose receiver hangs sends nothing and keeps 2 ×, so a few
/// of them cannot fill the global room (2 × the global limit) with deliveries that cannot
/// start.
const ROOM_MAX_PER_LIMIT: usize = 8;

/// A webhook's room in the next claim round, given its in-flight limit and the attempts it
/// finished since the last round began (see [`ROOM_MAX_PER_LIMIT`]).
fn room_for(per: usize, sent: usize) -> usize {
    per.saturating_add(sent)
        .saturating_mul(2)
        .min(ROOM_MAX_PER_LIMIT.saturating_mul(per))
}

/// Every how many claim rounds one also looks at every webhook in the cache.
const REVISIT_EVERY: usize = 64;

/// Most deliveries one claim round takes. A round is a job in the writer's prompt lane, and
/// publishes queued behind it wait for it: at 512 a round took about 4 ms, at 128 about 1.
/// The throughput does not change: a full round is followed by the next while there is room.
/// (A round that a heavy publish waits behind takes all there is room for: the next round
/// would wait for that publish; see `ClaimRequest::budget_before_heavy`.)
const CLAIM_ROUND_MAX: usize = 128;

/// A claim round under way; it hands the fairness ledger back with its result (a failed
/// round loses it, and the next starts from equal footing).
type ClaimTask = tokio::task::JoinHandle<Result<(ClaimRound, Ledger), DbError>>;

impl Dispatcher {
    /// Runs until `stopping` is set, then lets the attempts in flight finish and be recorded
    /// (within the grace period). Jobs never started keep their lease, which the next start
    /// drops.
    pub async fn run(self) {
        let per = self.limits.max_in_flight_per_webhook;
        let max = self.limits.max_in_flight;
        let (slot_tx, mut slot_rx) = mpsc::unbounded_channel::<i64>();
        let mut tasks = tokio::task::JoinSet::new();
        let mut ready: IdMap<VecDeque<Claimed>> = IdMap::default();
        let mut in_flight: IdMap<usize> = IdMap::default();
        let mut cache: IdMap<Arc<ActiveWebhook>> = IdMap::default();
        let (mut total_in_flight, mut total_ready) = (0usize, 0usize);
        let mut claiming: Option<ClaimTask> = None;
        let mut want_claim = true;
        let mut next_due: Option<i64> = None;
        let mut round = 0usize;
        let mut ledger = Ledger::default();
        let mut rounds_done = 0u64;
        // Per webhook, attempts finished since the last claim round began (for `room_for`).
        let mut sent: IdMap<usize> = IdMap::default();
        // On SQLite, publishes lease deliveries straight to this dispatcher (`db::handoff`)
        // within the same room claims have; `held` lists the webhooks whose count of ready
        // and in-flight deliveries changed since the hand-off last heard it.
        let handoff = self.store.handoff();
        let arrivals = Arc::new(Notify::new());
        if let Some(h) = &handoff {
            h.open(arrivals.clone(), room_for(per, 0), 2 * max);
        }
        let mut held: Vec<i64> = Vec::new();
        // Whether due work may wait in the queue, so a freed slot is a reason to claim. With
        // the hand-off, a publish whose deliveries all went straight to us leaves none, and a
        // round that found nothing says so: then only a wake (a publish that left some, a
        // retry, a bulk job) or the timer starts the next round.
        let mut backlog = true;
        // Whether the next claim round must look at the whole queue: woken since the last
        // round began (new work, a webhook changed), so the last look may miss something.
        let mut rescan = true;
        // The futures the loop waits on live across its turns: a `Notified` polled anew each
        // turn takes its `Notify`'s lock twice (to wait, then to stop waiting), and a fresh
        // `sleep` registers a timer and cancels it; at one turn per delivery that was a
        // measurable part of the dispatcher's CPU. Each is renewed only when it fires (or,
        // the timer, when its deadline moves).
        let wake = self.wake.clone();
        let mut woken = std::pin::pin!(wake.notified());
        let mut arrived = std::pin::pin!(arrivals.notified());
        // `None` once the timer has fired: a fired sleep stays ready until it is set again.
        let start = tokio::time::Instant::now() + Duration::from_secs(60);
        let mut timer_at = Some(start);
        let mut timer = std::pin::pin!(tokio::time::sleep_until(start));
        let mut shown = Progress::default();
        loop {
            if self.stopping.load(Ordering::SeqCst) {
                break;
            }
            // Deliveries published since, leased to us in their publish's write.
            if let Some(h) = &handoff {
                for job in h.take() {
                    total_ready += 1;
                    ready.entry(job.webhook_id).or_default().push_back(job);
                }
            }
            // Start what is ready and has a free slot.
            if total_ready > 0 && total_in_flight < max {
                let mut orphans = Vec::new();
                for wid in fair_order(&ready, &in_flight, per, max - total_in_flight) {
                    let Some(job) = ready.get_mut(&wid).and_then(VecDeque::pop_front) else {
                        continue;
                    };
                    total_ready -= 1;
                    let Some(hook) = cache.get(&wid).cloned() else {
                        // Switched off or deleted since it was claimed.
                        orphans.push(job.delivery_id);
                        held.push(wid);
                        continue;
                    };
                    total_in_flight += 1;
                    *in_flight.entry(wid).or_default() += 1;
                    let (attempter, recorder, tx) = (
                        self.attempter.clone(),
                        self.recorder.clone(),
                        slot_tx.clone(),
                    );
                    tasks.spawn(async move {
                        // On the heap: the attempt's future holds the exchange's state, over
                        // a KiB, and the task's own future is copied whole when spawned and
                        // when it finishes, once per delivery.
                        let attempt = Box::pin(attempter.attempt(&hook, job, false, Some(tx)));
                        let (result, _) = attempt.await;
                        if let Err(e) = recorder.record(result).await {
                            tracing::error!(error = %e, "recording an attempt failed; it will be sent again after restart");
                        }
                    });
                }
                ready.retain(|_, q| !q.is_empty());
                if !orphans.is_empty() {
                    let store = self.store.clone();
                    tasks.spawn(async move {
                        let _ = store.release(orphans).await;
                    });
                }
            }
            // Claim more when there is reason and room.
            let now = now_ms();
            if claiming.is_none() && (want_claim || next_due.is_some_and(|t| t <= now)) {
                let room_left = (2 * max).saturating_sub(total_in_flight + total_ready);
                let budget = room_left.min(CLAIM_ROUND_MAX);
                if budget > 0 {
                    want_claim = false;
                    next_due = None;
                    round = round.wrapping_add(1);
                    let mut busy = in_flight.clone();
                    for (w, q) in &ready {
                        *busy.entry(*w).or_default() += q.len();
                    }
                    // Leased at publish and on their way here.
                    for (w, n) in handoff.iter().flat_map(|h| h.reserved()) {
                        *busy.entry(w).or_default() += n;
                    }
                    let known: IdMap<i64> =
                        cache.iter().map(|(k, v)| (*k, v.row.updated_at)).collect();
                    let (store, start, room) = (self.store.clone(), round, room_for(per, 0));
                    let wider: IdMap<usize> = sent
                        .drain()
                        .map(|(w, n)| (w, room_for(per, n)))
                        .filter(|(_, r)| *r > room)
                        .collect();
                    // Now and then a round also looks at every webhook it knows, to forget
                    // the ones deleted or switched off while they had nothing to send.
                    let ask = ClaimRequest {
                        now: 0,
                        budget,
                        budget_before_heavy: room_left,
                        room,
                        wider,
                        in_flight_limit: per,
                        busy,
                        start,
                        known,
                        revisit: round.is_multiple_of(REVISIT_EVERY),
                        rescan: std::mem::take(&mut rescan),
                    };
                    let ledger = std::mem::take(&mut ledger);
                    claiming = Some(tokio::spawn(async move { store.claim(ask, ledger).await }));
                }
            }
            match &handoff {
                Some(h) if !held.is_empty() => {
                    held.sort_unstable();
                    held.dedup();
                    let count = |w: &i64| {
                        ready.get(w).map_or(0, VecDeque::len)
                            + in_flight.get(w).copied().unwrap_or(0)
                    };
                    h.held(
                        held.drain(..).map(|w| (w, count(&w))),
                        total_ready + total_in_flight,
                    );
                }
                Some(_) => {}
                // No hand-off (PostgreSQL): nobody reads the list.
                None => held.clear(),
            }
            let idle = tasks.is_empty()
                && total_ready == 0
                && claiming.is_none()
                && !want_claim
                && next_due.is_none_or(|t| t > now_ms());
            let progress = Progress {
                rounds: rounds_done,
                idle,
            };
            if progress != shown {
                shown = progress;
                self.progress.send_replace(progress);
            }
            // On a shared store other nodes make work too (they also say so with a NOTIFY,
            // but a look every second covers one that is missed).
            let longest = if self.store.is_shared() { 1000 } else { 60_000 };
            let sleep_ms = next_due
                .map(|t| (t - now_ms()).clamp(1, longest))
                .unwrap_or(longest);
            let at = tokio::time::Instant::now() + Duration::from_millis(sleep_ms as u64);
            // Within a millisecond is the same deadline (`next_due` is in milliseconds).
            if timer_at.is_none_or(|t| at.max(t) - at.min(t) > Duration::from_millis(1)) {
                timer_at = Some(at);
                timer.as_mut().reset(at);
            }
            let mut slot_freed = false;
            tokio::select! {
                _ = woken.as_mut() => {
                    woken.set(wake.notified());
                    want_claim = true;
                    backlog = true;
                    rescan = true;
                }
                _ = arrived.as_mut() => arrived.set(arrivals.notified()),
                Some(wid) = slot_rx.recv() => {
                    free_slot(&mut in_flight, &mut total_in_flight, wid);
                    *sent.entry(wid).or_default() += 1;
                    held.push(wid);
                    if backlog && ready.get(&wid).map_or(0, VecDeque::len) < per {
                        want_claim = true;
                    }
                    slot_freed = true;
                }
                res = async { claiming.as_mut().expect("guarded").await }, if claiming.is_some() => {
                    claiming = None;
                    rounds_done += 1;
                    match res {
                        Ok(Ok((r, kept))) => {
                            ledger = kept;
                            for id in &r.inactive {
                                cache.remove(id);
                                if let Some(h) = &handoff {
                                    h.unwatch(*id);
                                }
                            }
                            for row in r.changed {
                                let (id, version) = (row.id, row.updated_at);
                                match ActiveWebhook::open(&self.secrets, row) {
                                    Ok(hook) => {
                                        cache.insert(id, Arc::new(hook));
                                        if let Some(h) = &handoff {
                                            h.watch(id, version);
                                            held.push(id);
                                        }
                                    }
                                    Err(e) => {
                                        tracing::error!(webhook_id = id, error = %e, "cannot open the webhook's secret; its deliveries wait");
                                        cache.remove(&id);
                                        if let Some(h) = &handoff {
                                            h.unwatch(id);
                                        }
                                    }
                                }
                            }
                            let jobs_claimed = r.jobs.len();
                            total_ready += jobs_claimed;
                            for job in r.jobs {
                                held.push(job.webhook_id);
                                ready.entry(job.webhook_id).or_default().push_back(job);
                            }
                            next_due = r.next_due;
                            // A full round may have left due work behind: go on while
                            // there is room, as slots freeing would.
                            want_claim |= jobs_claimed >= CLAIM_ROUND_MAX;
                            // Work left behind for want of room is due within a second (see
                            // `claim_round`); without the hand-off, other ways in exist.
                            backlog = handoff.is_none()
                                || jobs_claimed > 0
                                || next_due.is_some_and(|t| t <= now_ms() + 1000);
                        }
                        Ok(Err(e)) => {
                            tracing::error!(error = %e, "claiming deliveries failed; retrying shortly");
                            next_due = Some(now_ms() + 1000);
                        }
                        Err(e) => {
                            tracing::error!(error = %e, "the claim task failed; retrying shortly");
                            next_due = Some(now_ms() + 1000);
                        }
                    }
                }
                Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
                _ = timer.as_mut() => {
                    timer_at = None;
                    want_claim = true;
                }
            }
            // A slot freed while many attempts run: let the attempt tasks queued on this
            // thread run first (`yield_now` resumes once the thread's queue is empty, or
            // after a few dozen tasks), so one turn starts the deliveries of all the slots
            // they free instead of one turn per slot.
            if slot_freed && total_in_flight > 1 {
                tokio::task::yield_now().await;
            }
            while let Ok(wid) = slot_rx.try_recv() {
                free_slot(&mut in_flight, &mut total_in_flight, wid);
                *sent.entry(wid).or_default() += 1;
                held.push(wid);
                want_claim |= backlog;
            }
        }
        // No more hand-offs: what arrives now keeps its lease, dropped at the next start.
        if let Some(h) = &handoff {
            h.close();
        }
        // Shutdown: attempts in flight finish and are recorded, within the grace period.
        if let Some(c) = claiming {
            let _ = c.await;
        }
        let deadline = tokio::time::Instant::now() + self.shutdown_grace;
        while !tasks.is_empty() {
            match tokio::time::timeout_at(deadline, tasks.join_next()).await {
                Ok(Some(_)) => {}
                _ => break,
            }
        }
        if !tasks.is_empty() {
            tracing::warn!(
                remaining = tasks.len(),
                "stopped with attempts still in flight; they will be sent again after restart"
            );
        }
    }
}

/// Which webhooks' ready deliveries take the `slots` free, one delivery per entry: always the
/// webhook with the fewest attempts in flight (then the lowest id), within the per-webhook
/// limit `per`. So when many busy webhooks compete for the global limit, a freed slot goes to
/// the least served one, and a quiet webhook's delivery starts at the next free slot instead
/// of waiting until the busier ones run out of ready work.
fn fair_order(
    ready: &IdMap<VecDeque<Claimed>>,
    in_flight: &IdMap<usize>,
    per: usize,
    slots: usize,
) -> Vec<i64> {
    use std::cmp::Reverse;
    use std::collections::BinaryHeap;
    // (in flight, id, ready left)
    let mut heap: BinaryHeap<Reverse<(usize, i64, usize)>> = ready
        .iter()
        .map(|(w, q)| (in_flight.get(w).copied().unwrap_or(0), *w, q.len()))
        .filter(|&(n, _, left)| n < per && left > 0)
        .map(Reverse)
        .collect();
    let mut order = Vec::new();
    while order.len() < slots {
        let Some(Reverse((n, w, left))) = heap.pop() else {
            break;
        };
        order.push(w);
        if n + 1 < per && left > 1 {
            heap.push(Reverse((n + 1, w, left - 1)));
        }
    }
    order
}

fn free_slot(in_flight: &mut IdMap<usize>, total: &mut usize, webhook_id: i64) {
    *total -= 1;
    if let Some(n) = in_flight.get_mut(&webhook_id) {
        *n -= 1;
        if *n == 0 {
            in_flight.remove(&webhook_id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ready_of(counts: &[(i64, usize)]) -> IdMap<VecDeque<Claimed>> {
        counts
            .iter()
            .map(|&(w, n)| {
                let job = Claimed {
                    delivery_id: 0,
                    webhook_id: w,
                    event_public_id: String::new(),
                    event_type: String::new(),
                    body: bytes::Bytes::new(),
                    attempt_count: 0,
                    created_at: 0,
                };
                (w, std::iter::repeat_n(job, n).collect())
            })
            .collect()
    }

    #[test]
    fn a_webhook_that_sends_gets_more_room_and_one_that_hangs_does_not() {
        // Nothing sent since the last round (a receiver that hangs, or a new webhook): twice
        // the in-flight limit, as before rooms grew.
        assert_eq!(room_for(16, 0), 32);
        // Sending: twice (the limit + what it sent), so the ready part covers the slots
        // while the next round waits for the writer.
        assert_eq!(room_for(16, 1), 34);
        assert_eq!(room_for(16, 20), 72);
        // Never past the cap, whatever it sent.
        assert_eq!(room_for(16, 48), 128);
        assert_eq!(room_for(16, 10_000), 128);
        assert_eq!(room_for(1, 0), 2);
        assert_eq!(room_for(1, 100), 8);
        // The largest limits the configuration allows do not overflow.
        assert_eq!(room_for(1000, usize::MAX), 8000);
    }

    #[test]
    fn free_slots_go_to_the_least_served_webhooks_first() {
        // Twenty busy webhooks at 15 of 16 in flight with plenty ready, and a quiet one with
        // one delivery ready: the first free slot is the quiet one's.
        let mut counts: Vec<(i64, usize)> = (1..=20).map(|w| (w, 30)).collect();
        counts.push((99, 1));
        let ready = ready_of(&counts);
        let in_flight: IdMap<usize> = (1..=20).map(|w| (w, 15)).collect();
        assert_eq!(fair_order(&ready, &in_flight, 16, 1), vec![99]);
        // More slots: then one each to the busy ones, lowest id first, never past the limit.
        let order = fair_order(&ready, &in_flight, 16, 100);
        assert_eq!(order.len(), 21, "each busy webhook has one place left");
        assert_eq!(&order[..3], &[99, 1, 2]);
        // Water-filling: from equal footing, slots go round one at a time.
        let ready = ready_of(&[(1, 5), (2, 5), (3, 1)]);
        assert_eq!(
            fair_order(&ready, &IdMap::default(), 16, 7),
            vec![1, 2, 3, 1, 2, 1, 2]
        );
        assert!(fair_order(&ready, &IdMap::default(), 16, 0).is_empty());
    }
}
