//! Fair claims: in which order a claim round serves the webhooks with work, so that a quiet
//! tenant's delivery is claimed in the next round however many busy webhooks drain beside it.
//!
//! Each webhook has a count of the deliveries claimed for it: its service. A round serves the
//! least served first, so busy webhooks share the rounds equally. A webhook that ran out of
//! due work (its last pick took less than it asked for) is not *backlogged*; when it has
//! work again, its count is raised to just below the least served backlogged webhook — the
//! rule of start-time fair queueing, where a flow that becomes backlogged starts at the
//! system's virtual time. So it goes first in its next round, but it cannot bank the service
//! it did not use while idle and then hold every slot until it catches up (a webhook whose
//! retries fall due after an hour would otherwise starve the others).
//!
//! Before this, ties among the webhooks holding nothing were broken by a rotation that moved
//! one place a round, while a round filled only a few webhooks: beside 50 draining webhooks,
//! the quiet one was reached about every 50 rounds, 200–300 ms.
//!
//! The same rule applies one level up, to workspaces (tenants), and comes first: a round
//! serves the least served workspace's webhooks first. With webhooks alone, a tenant with 50
//! busy webhooks had 50 of every 51 places, and a quiet tenant whose one webhook fell behind
//! became one of the crowd: where the whole cluster delivers 3,000/s (PostgreSQL), its share
//! was 60/s, and its 200 events/s waited seconds.

use super::{IdMap, IdSet};

/// The claims each webhook had, kept between rounds by the dispatcher.
#[derive(Debug, Default)]
pub struct Ledger {
    served: IdMap<u64>,
    /// Webhooks whose last pick took all it asked for: they may have more due.
    backlogged: IdSet,
    /// Per workspace, the claims of all its webhooks.
    tenants: IdMap<u64>,
    /// Each webhook's workspace, as the last round saw it.
    tenant_of: IdMap<i64>,
    /// The last look at the whole queue, for a backend that can tell when nothing could
    /// have added work since (SQLite: see `db::queue::claim`).
    pub scan: Option<Scan>,
}

/// What a claim round's look at the whole queue found: the active webhooks with deliveries
/// waiting, kept between rounds (minus those found empty since) so that a round need not
/// look again while nothing could have added work.
#[derive(Debug, Clone, Default)]
pub struct Scan {
    /// When it was taken (ms).
    pub at: i64,
    /// What the store said of other processes' commits then (SQLite's `data_version`, which
    /// changes when another connection commits).
    pub data_version: i64,
    /// (webhook, its version `updated_at`, its workspace), in id order.
    pub webhooks: Vec<(i64, i64, i64)>,
}

impl Ledger {
    /// This round's order of `webhooks`, each its own tenant (see [`Ledger::order_in`]).
    #[cfg(test)]
    pub fn order(&mut self, webhooks: &[i64], held: impl Fn(i64) -> usize) -> Vec<i64> {
        let pairs: Vec<(i64, i64)> = webhooks.iter().map(|&w| (w, w)).collect();
        self.order_in(&pairs, held)
    }

    /// This round's order of `webhooks`, (webhook, its workspace) pairs given in the round's
    /// rotation, which breaks the remaining ties: the least served workspace's first; within
    /// it, the least served webhook first, then the one holding least (`held`: claimed and
    /// waiting or in flight). Webhooks and workspaces not in `webhooks` are forgotten.
    pub fn order_in(&mut self, webhooks: &[(i64, i64)], held: impl Fn(i64) -> usize) -> Vec<i64> {
        let here: IdSet = webhooks.iter().map(|&(w, _)| w).collect();
        self.served.retain(|w, _| here.contains(w));
        self.backlogged.retain(|w| here.contains(w));
        self.tenant_of = webhooks.iter().copied().collect();
        lift(
            &mut self.served,
            &self.backlogged,
            webhooks.iter().map(|&(w, _)| w),
        );
        // The same rule for workspaces: one with a backlogged webhook is backlogged.
        let tenants_here: IdSet = webhooks.iter().map(|&(_, t)| t).collect();
        self.tenants.retain(|t, _| tenants_here.contains(t));
        let busy: IdSet = self
            .backlogged
            .iter()
            .filter_map(|w| self.tenant_of.get(w).copied())
            .collect();
        lift(&mut self.tenants, &busy, tenants_here.into_iter());
        let mut order: Vec<i64> = webhooks.iter().map(|&(w, _)| w).collect();
        // Each key computed once, not twice per comparison: over 1,000 webhooks with work
        // (a cold backlog) the hash lookups of a plain `sort_by_key` were 5% of the writer.
        order.sort_by_cached_key(|w| (self.tenants[&self.tenant_of[w]], self.served[w], held(*w)));
        order
    }

    /// A pick for `webhook` asked for `asked` deliveries and took `took`.
    pub fn served(&mut self, webhook: i64, asked: usize, took: usize) {
        *self.served.entry(webhook).or_insert(0) += took as u64;
        if let Some(t) = self.tenant_of.get(&webhook) {
            *self.tenants.entry(*t).or_insert(0) += took as u64;
        }
        if asked == 0 {
            return; // at its limit: whether it has more due is not known
        }
        if took == asked {
            self.backlogged.insert(webhook);
        } else {
            self.backlogged.remove(&webhook);
        }
    }
}

/// Start-time fair queueing's rule for a new round: each of `keys` that is not backlogged
/// starts just below the least served backlogged one, so it goes first but cannot bank the
/// service it did not use while idle.
fn lift(served: &mut IdMap<u64>, backlogged: &IdSet, keys: impl Iterator<Item = i64>) {
    let floor = backlogged
        .iter()
        .map(|k| served.get(k).copied().unwrap_or(0))
        .min();
    for k in keys {
        let s = served.entry(k).or_insert(0);
        if let Some(v) = floor.filter(|_| !backlogged.contains(&k)) {
            *s = (*s).max(v.saturating_sub(1));
        }
    }
}

/// The least a webhook may take of a claim round's budget before the others had theirs.
const SHARE_FLOOR: usize = 8;

/// Where a claim round takes deliveries from: a storage backend's statements, run inside the
/// round's transaction (or write job).
#[allow(async_fn_in_trait)] // used with concrete types only, whose futures are Send or not
pub trait Picker {
    type Error;
    /// Leases up to `take` of webhook `webhook`'s due deliveries, oldest due first:
    /// (delivery id, event id, attempts made).
    async fn pick(
        &mut self,
        webhook: i64,
        take: usize,
    ) -> Result<Vec<(i64, i64, i64)>, Self::Error>;
    /// When webhook `webhook`'s next unleased delivery is due.
    async fn earliest(&mut self, webhook: i64) -> Result<Option<i64>, Self::Error>;
}

/// A delivery a round leased.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pick {
    pub webhook_id: i64,
    pub delivery_id: i64,
    pub event_id: i64,
    pub attempt_count: i64,
}

/// What a claim round may take.
pub struct Round<'a> {
    pub now: i64,
    /// Most deliveries in all.
    pub budget: usize,
    /// Where the round starts among `active` (a different one each round).
    pub start: usize,
    /// The active webhooks with work, in id order.
    pub active: &'a [i64],
    /// Each active webhook's workspace (in `active`'s order): a round serves the least
    /// served workspace first.
    pub workspaces: &'a [i64],
}

/// One claim round, whatever the backend: the [`Ledger`]'s order over the rotated webhooks;
/// each may first take an equal share of the budget (at least `SHARE_FLOOR`, so a round over
/// a thousand webhooks does not pick one delivery per statement) within its `room`; what is
/// left goes, in the same order, to those that took their whole share. Returns the picks and
/// when to look again (due work left behind means soon; otherwise the earliest future due
/// time of the webhooks looked at).
pub async fn claim_round<P: Picker>(
    picker: &mut P,
    ledger: &mut Ledger,
    round: Round<'_>,
    room: impl Fn(i64) -> usize,
    held: impl Fn(i64) -> usize,
) -> Result<(Vec<Pick>, Option<i64>), P::Error> {
    let Round {
        now,
        budget,
        start,
        active,
        workspaces,
    } = round;
    let mut next_due: Option<i64> = None;
    let mut later = |d: i64| {
        // Due work left behind (its webhook is at its limit) is claimed when a slot frees;
        // only future work sets the timer.
        let d = if d <= now { now + 1000 } else { d };
        next_due = Some(next_due.map_or(d, |x: i64| x.min(d)));
    };
    let n = active.len();
    let rotated: Vec<(i64, i64)> = (0..n)
        .map(|i| {
            let k = (start + i) % n;
            (active[k], workspaces[k])
        })
        .collect();
    let order = ledger.order_in(&rotated, held);
    let share = SHARE_FLOOR.max(budget.div_ceil(n.max(1)));
    let mut picks: Vec<Pick> = Vec::new();
    // (webhook, room it has left) of those that took their whole share.
    let mut more: Vec<(i64, usize)> = Vec::new();
    let mut shares: Vec<(i64, usize)> = order.into_iter().map(|w| (w, room(w))).collect();
    for first in [true, false] {
        let pass = std::mem::take(if first { &mut shares } else { &mut more });
        for (wid, room_left) in pass {
            if picks.len() >= budget {
                // The budget is spent: the webhooks not looked at may have work due.
                later(now);
                break;
            }
            let cap = if first { share } else { room_left };
            let take = room_left.min(cap).min(budget - picks.len());
            let picked = if take > 0 {
                picker.pick(wid, take).await?
            } else {
                Vec::new()
            };
            ledger.served(wid, take, picked.len());
            if take > 0 && picked.len() == take {
                if first && take < room_left {
                    more.push((wid, room_left - take));
                } else {
                    later(now); // perhaps more due now
                }
            } else if let Some(d) = picker.earliest(wid).await? {
                later(d);
            }
            picks.extend(
                picked
                    .into_iter()
                    .map(|(delivery_id, event_id, attempt_count)| Pick {
                        webhook_id: wid,
                        delivery_id,
                        event_id,
                        attempt_count,
                    }),
            );
        }
    }
    Ok((picks, next_due))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs `rounds` rounds over `webhooks` (in rotation from `round`), each serving
    /// `per_round` webhooks with `share` apiece, where `due(w)` says how many each has due.
    /// Returns the round in which each webhook was first served.
    fn simulate(
        ledger: &mut Ledger,
        webhooks: &[i64],
        rounds: usize,
        per_round: usize,
        share: usize,
        due: impl Fn(i64, usize) -> usize,
    ) -> IdMap<usize> {
        let mut first = IdMap::default();
        for round in 0..rounds {
            let n = webhooks.len();
            let rotated: Vec<i64> = (0..n).map(|i| webhooks[(round + i) % n]).collect();
            for w in ledger.order(&rotated, |_| 0).into_iter().take(per_round) {
                let took = due(w, round).min(share);
                ledger.served(w, share, took);
                if took > 0 {
                    first.entry(w).or_insert(round);
                }
            }
        }
        first
    }

    #[test]
    fn a_webhook_with_fresh_work_goes_first_beside_busy_ones() {
        // Fifty busy webhooks (1..=50), always with plenty due; a round serves four of them.
        // The quiet one (99) has one delivery due now and then: each time, it is served in
        // the round it appears, not when the rotation comes round to it.
        let mut ledger = Ledger::default();
        let busy: Vec<i64> = (1..=50).collect();
        simulate(&mut ledger, &busy, 100, 4, 8, |_, _| 1000);
        for _ in 0..10 {
            let mut with_quiet = busy.clone();
            with_quiet.push(99);
            let first = simulate(&mut ledger, &with_quiet, 1, 4, 8, |w, _| {
                if w == 99 {
                    1
                } else {
                    1000
                }
            });
            assert_eq!(first.get(&99), Some(&0), "the quiet webhook waits a round");
            // Then it has nothing due for a while.
            simulate(&mut ledger, &busy, 7, 4, 8, |_, _| 1000);
        }
    }

    #[test]
    fn a_quiet_workspace_is_served_every_round_beside_one_with_fifty_busy_webhooks() {
        // Workspace 200 has fifty webhooks (1..=50), always with plenty due; workspace 100 has
        // one (99), which has fallen behind: it too has a full share due in every round. A
        // round has sixteen places of eight. Per webhook, 99 would be one of 51 and served
        // about one round in three; per workspace, it is served in every round once both
        // have been served (the first round starts them level, and the rotation decides).
        let mut ledger = Ledger::default();
        let mut hooks: Vec<(i64, i64)> = (1..=50).map(|w| (w, 200)).collect();
        hooks.push((99, 100));
        let mut served_in = 0;
        for round in 0..60 {
            let n = hooks.len();
            let rotated: Vec<(i64, i64)> = (0..n).map(|i| hooks[(round + i) % n]).collect();
            let order = ledger.order_in(&rotated, |_| 0);
            for &w in order.iter().take(16) {
                ledger.served(w, 8, 8);
                if w == 99 && round > 0 {
                    served_in += 1;
                }
            }
        }
        assert_eq!(served_in, 59, "the quiet workspace waited rounds");
        // Within the busy workspace its webhooks still share equally.
        let per_hook: Vec<u64> = (1..=50).map(|w| ledger.served[&w]).collect();
        let (lo, hi) = (
            per_hook.iter().min().unwrap(),
            per_hook.iter().max().unwrap(),
        );
        assert!(hi - lo <= 8, "{per_hook:?}");
    }

    #[test]
    fn busy_webhooks_share_rounds_equally() {
        let mut ledger = Ledger::default();
        let busy: Vec<i64> = (1..=10).collect();
        let mut count: IdMap<usize> = IdMap::default();
        for round in 0..100 {
            let rotated: Vec<i64> = (0..10).map(|i| busy[(round + i) % 10]).collect();
            for w in ledger.order(&rotated, |_| 0).into_iter().take(3) {
                ledger.served(w, 8, 8);
                *count.entry(w).or_default() += 1;
            }
        }
        for w in &busy {
            assert!((29..=31).contains(&count[w]), "{w}: {count:?}");
        }
    }

    #[test]
    fn idle_time_is_not_banked() {
        // Webhook 7 was idle (its retries not yet due) while 1..=5 were served a thousand
        // times. When its work falls due it goes first once, then takes turns with the
        // others instead of holding every round until its count catches up.
        let mut ledger = Ledger::default();
        let busy: Vec<i64> = (1..=5).collect();
        let mut with_seven = busy.clone();
        with_seven.push(7);
        ledger.order(&with_seven, |_| 0);
        ledger.served(7, 8, 0); // nothing due yet
        simulate(&mut ledger, &busy, 1000, 2, 8, |_, _| 1000);
        let mut sevens = Vec::new();
        for round in 0..12 {
            let order = ledger.order(&with_seven, |_| 0);
            for &w in order.iter().take(2) {
                ledger.served(w, 8, 8);
                if w == 7 {
                    sevens.push(round);
                }
            }
        }
        assert_eq!(sevens.first(), Some(&0));
        // Its fair share is 4 of the 12 rounds' 24 places (one in six); banked, it would
        // have taken all 12.
        assert!(sevens.len() <= 5, "webhook 7 took {sevens:?} of 12 rounds");
    }

    #[test]
    fn ties_go_to_the_webhook_holding_least_then_the_rotation() {
        let mut ledger = Ledger::default();
        let held = |w: i64| if w == 3 { 5 } else { 0 };
        assert_eq!(ledger.order(&[3, 1, 2], held), vec![1, 2, 3]);
        assert_eq!(ledger.order(&[2, 3, 1], held), vec![2, 1, 3]);
    }

    #[test]
    fn webhooks_gone_are_forgotten() {
        let mut ledger = Ledger::default();
        ledger.order(&[1, 2], |_| 0);
        ledger.served(1, 8, 8);
        ledger.order(&[2], |_| 0);
        assert!(!ledger.served.contains_key(&1));
        assert!(!ledger.backlogged.contains(&1));
    }
}
