//! The delivery queue: SQLite is the queue, and this module is the only code that writes
//! delivery and attempt rows or reads their schedule (`next_attempt_at`) and leases
//! (`lease_until`). Every change in a delivery's life happens here:
//!
//! - [`Enqueuer`] / [`enqueue_test`]: a published event becomes one `pending` delivery per
//!   subscribed webhook, due now.
//! - [`claim`]: due deliveries are taken for an attempt, and held in memory by the writer
//!   ([`super::leases`]), not in the row: the partial index `deliveries_due` holds the rows
//!   that wait and those held; `deliveries_leased` holds the ones a publish leased to the
//!   dispatcher in its own write (the hand-off, `lease_until`).
//! - [`record`]: an attempt's result is written and the delivery moves on — `succeeded`,
//!   `retrying` at the time `delivery::retry` says, or `failed` — with the webhook's health,
//!   auto-disable and notices in the same write.
//! - [`retry_now`], [`release`], [`release_all`]: a person asks for another attempt; claimed
//!   work that cannot start goes back; leases left by a crash are dropped at start.
//! - [`gauges`], [`purge_finished_events`]: what `/metrics` and retention read of it.

use crate::domain::{IdMap, IdSet};

use rusqlite::{params, Connection, OptionalExtension};

use super::hooks::{self, WebhookRow};
use super::leases::{Hold, Leases};
use super::pool::Lane;
use super::subscribers::Subscriber;
use super::DbError;
use crate::clock::now_ms;
use crate::domain::fair::{claim_round, Ledger, Picker, Round, Scan};
use crate::domain::DeliveryStatus;
use futures_util::FutureExt;

/// The lease a publish writes into a delivery it hands off (`lease_until`, that far ahead).
/// Nothing reads the time: no claim takes a leased row, and every start drops the leases.
pub const LEASE_MS: i64 = 10 * 60 * 1000;

/// Most attempt results a record job may hold and still share transactions with publishes
/// and claims (the writer's prompt lane); larger jobs, from a backlog, wait in the background
/// lane, so a publish never waits behind up to 512 of them. 128 results take the writer about
/// 0.6 ms, and sharing saves a commit (its `fsync`) and a second write of the pages both
/// touch: with single publishes, commits/s 625–794 → 450–545, jobs per commit 18 → 27–30,
/// 0.180 / 0.185 / 0.204 → 0.217 / 0.219 / 0.213 of the baseline (three alternating pairs of
/// `hookline-bench --only baseline,single,fanout10 --runs 1`).
const RECORD_PROMPT_MOST: usize = 128;

/// A webhook a claim round looked at: its id and, unless it was deleted meanwhile, whether it
/// is active, its version (`updated_at`) and its workspace.
pub type Looked = (i64, Option<(bool, i64, i64)>);

pub use crate::domain::delivery::Claimed;

/// What one claim round found.
pub struct ClaimRound {
    pub jobs: Vec<Claimed>,
    /// Earliest time unclaimed work falls due.
    pub next_due: Option<i64>,
    /// The webhooks the round looked at that are active, with their `updated_at`.
    pub active: Vec<(i64, i64)>,
    /// The webhooks the round looked at that are switched off or gone.
    pub inactive: Vec<i64>,
    /// Full rows of active webhooks with work (claimed now, or in `busy`) that the caller
    /// does not know in this version.
    pub changed: Vec<WebhookRow>,
}

/// Webhook ?1's deliveries waiting, due or not, that no lease in the row holds, earliest
/// first: a walk of the partial index `deliveries_due` alone (its entries carry the row id).
/// A claim steps over the ones held in memory (see [`super::leases`]), takes the due ones it
/// wants, and stops there or at the first not due yet (when the next falls due).
pub(crate) const CLAIM_WALK: &str = "SELECT id, next_attempt_at FROM deliveries
     WHERE webhook_id = ?1 AND next_attempt_at IS NOT NULL AND lease_until IS NULL
     ORDER BY next_attempt_at";

/// [`CLAIM_WALK`] from after (due time ?2, id ?3): past the webhook's held rows, one seek.
pub(crate) const CLAIM_WALK_AFTER: &str = "SELECT id, next_attempt_at FROM deliveries
     WHERE webhook_id = ?1 AND next_attempt_at IS NOT NULL AND lease_until IS NULL
       AND next_attempt_at >= ?2 AND (next_attempt_at > ?2 OR id > ?3)
     ORDER BY next_attempt_at";

/// What a claim reads of a picked delivery's row.
const CLAIM_ROW: &str = "SELECT event_id, attempt_count FROM deliveries WHERE id = ?1";

/// The webhooks with unleased deliveries waiting (due now or later), in id order: a skip
/// scan of the partial index `deliveries_due`, one seek per webhook with work, so webhooks
/// with nothing waiting cost a claim round nothing however many there are.
pub(crate) const CLAIM_WITH_WORK: &str = "WITH RECURSIVE w(id) AS (
        SELECT (SELECT min(webhook_id) FROM deliveries
                WHERE next_attempt_at IS NOT NULL AND lease_until IS NULL)
        UNION ALL
        SELECT (SELECT min(webhook_id) FROM deliveries
                WHERE webhook_id > w.id AND next_attempt_at IS NOT NULL AND lease_until IS NULL)
        FROM w WHERE w.id IS NOT NULL)
     SELECT w.id, h.is_active, h.updated_at, h.workspace_id FROM w LEFT JOIN webhooks h ON h.id = w.id
     WHERE w.id IS NOT NULL";

/// How old the last look at the whole queue may be before a claim round looks again, even
/// with nothing known to have changed (see [`claim`]).
const RESCAN_MS: i64 = 1000;

/// What a claim round may take, and what the dispatcher already has.
#[derive(Debug, Clone, Default)]
pub struct ClaimRequest {
    pub now: i64,
    /// Most deliveries claimed in all.
    pub budget: usize,
    /// Most deliveries claimed in all when a heavy publish waits for the writer (SQLite; see
    /// `pool::Lane::Heavy`): the dispatcher's next round would wait for it, tens of
    /// milliseconds, so this one takes what the dispatcher has room for. At least `budget`.
    pub budget_before_heavy: usize,
    /// Most deliveries of one webhook waiting or in flight, `busy` included.
    pub room: usize,
    /// Webhooks with more room than `room` this round, and how much: the dispatcher widens
    /// it for webhooks that sent quickly since its last round (see `delivery::dispatcher`).
    pub wider: IdMap<usize>,
    /// Most attempts of one webhook in flight at once. On a store shared by several nodes
    /// (PostgreSQL) it bounds every node's claims together, which then count the others'
    /// leases; SQLite has one node, whose dispatcher applies it.
    pub in_flight_limit: usize,
    /// Per webhook, its claimed deliveries that wait or are in flight.
    pub busy: IdMap<usize>,
    /// Where the round starts among the webhooks it looks at (a different one each round).
    pub start: usize,
    /// The webhook versions (`updated_at`) the dispatcher holds.
    pub known: IdMap<i64>,
    /// Look at every webhook in `known` too (and at the whole queue, as `rescan`).
    pub revisit: bool,
    /// Look at the whole queue for webhooks with work: something may have added work since
    /// the last round began (the dispatcher was woken). Otherwise a round on SQLite may
    /// start from the last look instead (see [`claim`]); on PostgreSQL every round looks.
    pub rescan: bool,
}

impl ClaimRequest {
    /// The room of `webhook` this round: widened, or `room`.
    pub fn room_of(&self, webhook: i64) -> usize {
        self.wider.get(&webhook).copied().unwrap_or(self.room)
    }
}

/// Claims due deliveries: at most `budget` in all and `room` per webhook (minus `busy`),
/// starting at a different webhook each round. Fetches the claimed events' bodies and the
/// rows of active webhooks whose version differs from `known`.
///
/// A round looks only at webhooks with work: those with deliveries waiting in the queue,
/// and those in `busy` (whose claimed deliveries wait or are in flight, so the caller hears
/// if they were switched off), plus, with `revisit`, every webhook in `known` (so the caller
/// can forget the ones deleted or switched off meanwhile).
///
/// Finding the webhooks with deliveries waiting ([`CLAIM_WITH_WORK`]) costs a seek per
/// webhook, and a round takes at most 128 deliveries: beside 1,000 webhooks with a backlog
/// it was most of the writer's time. So a round starts from the last round's look (kept in
/// the ledger, minus the webhooks found empty since) and looks again only when work or a
/// webhook may have changed in a way the look would miss: when asked (`rescan`: the
/// dispatcher was woken, which every publish that leaves work in the queue, retry
/// scheduled, bulk job and change to a webhook does), when another process wrote to the
/// database (`PRAGMA data_version`), and after [`RESCAN_MS`] in any case. Work only leaves
/// a webhook through claims, which see it go; time adds none, as the look lists work due
/// later too.
pub fn claim(
    c: &Connection,
    ask: &ClaimRequest,
    ledger: &mut Ledger,
    leases: &Leases,
) -> Result<ClaimRound, DbError> {
    let ClaimRequest {
        now,
        budget,
        budget_before_heavy: _,
        room: _,
        wider: _,
        in_flight_limit: _,
        ref busy,
        start,
        ref known,
        revisit,
        rescan,
    } = *ask;
    let rescan = rescan || revisit;
    // The last round's look, unless something may have added work since (see above).
    let data_version: i64 = c
        .prepare_cached("PRAGMA data_version")?
        .query_row([], |r| r.get(0))?;
    let scan = ledger
        .scan
        .take()
        .filter(|s| !rescan && s.data_version == data_version && now - s.at < RESCAN_MS);
    // (id, is_active, updated_at, workspace_id); a webhook deleted meanwhile has no row.
    let mut seen: Vec<Looked> = match &scan {
        Some(s) => s
            .webhooks
            .iter()
            .map(|&(id, updated_at, ws)| (id, Some((true, updated_at, ws))))
            .collect(),
        None => c
            .prepare_cached(CLAIM_WITH_WORK)?
            .query_map([], |r| {
                let active: Option<bool> = r.get(1)?;
                let rest = r.get::<_, Option<i64>>(2)?.zip(r.get::<_, Option<i64>>(3)?);
                Ok((r.get(0)?, active.zip(rest).map(|(a, (u, w))| (a, u, w))))
            })?
            .collect::<Result<_, _>>()?,
    };
    // A new look keeps its active webhooks for the next rounds.
    let mut scan = scan.unwrap_or_else(|| Scan {
        at: now,
        data_version,
        webhooks: seen
            .iter()
            .filter_map(|&(id, v)| match v {
                Some((true, updated_at, ws)) => Some((id, updated_at, ws)),
                _ => None,
            })
            .collect(),
    });
    let mut others: Vec<i64> = busy.keys().copied().collect();
    if revisit {
        others.extend(known.keys().copied());
    }
    others.sort_unstable();
    others.dedup();
    let with_work: IdSet = seen.iter().map(|(id, _)| *id).collect();
    let mut version =
        c.prepare_cached("SELECT is_active, updated_at, workspace_id FROM webhooks WHERE id = ?1")?;
    for id in others.into_iter().filter(|id| !with_work.contains(id)) {
        let v = version
            .query_row([id], |r| {
                Ok((
                    r.get::<_, bool>(0)?,
                    r.get::<_, i64>(1)?,
                    r.get::<_, i64>(2)?,
                ))
            })
            .optional()?;
        seen.push((id, v));
    }
    seen.sort_unstable_by_key(|(id, _)| *id);
    let (mut active, mut inactive, mut workspaces) = (Vec::new(), Vec::new(), Vec::new());
    for (id, v) in seen {
        match v {
            Some((true, updated_at, ws)) => {
                active.push((id, updated_at));
                workspaces.push(ws);
            }
            _ => inactive.push(id),
        }
    }
    let held = |wid: i64| busy.get(&wid).copied().unwrap_or(0);
    let ids: Vec<i64> = active.iter().map(|(id, _)| *id).collect();
    let mut picker = SqlitePicker {
        walk: c.prepare_cached(CLAIM_WALK)?,
        walk_after: c.prepare_cached(CLAIM_WALK_AFTER)?,
        row: c.prepare_cached(CLAIM_ROW)?,
        next: None,
        now,
        leases,
        picked: IdMap::default(),
        emptied: Vec::new(),
    };
    let (picks, next_due) = claim_round(
        &mut picker,
        ledger,
        Round {
            now,
            budget,
            start,
            active: &ids,
            workspaces: &workspaces,
        },
        |wid| ask.room_of(wid).saturating_sub(held(wid)),
        held,
    )
    .now_or_never()
    .expect("SQLite picks do not wait")?;
    // The next rounds start from this look, without the webhooks found empty now.
    if !picker.emptied.is_empty() {
        picker.emptied.sort_unstable();
        scan.webhooks
            .retain(|(id, _, _)| picker.emptied.binary_search(id).is_err());
    }
    // Held from this round's commit on: no later round picks them again.
    let hold: Vec<Hold> = picker
        .picked
        .drain()
        .map(|(delivery, (webhook, due))| Hold {
            delivery,
            webhook,
            due,
        })
        .collect();
    drop(picker);
    ledger.scan = Some(scan);
    let mut event =
        c.prepare_cached("SELECT public_id, type, body, created_at FROM events WHERE id = ?1")?;
    let mut jobs: Vec<Claimed> = Vec::with_capacity(picks.len());
    // With fan-out, one event is claimed for several webhooks in the same round: read it
    // (and copy its body) once.
    let mut events: IdMap<(String, String, bytes::Bytes, i64)> = IdMap::default();
    for p in picks {
        let (event_public_id, event_type, body, created_at) = match events.get(&p.event_id) {
            Some(e) => e.clone(),
            None => {
                let e = event.query_row([p.event_id], |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, String>(1)?,
                        bytes::Bytes::from(r.get::<_, String>(2)?),
                        r.get::<_, i64>(3)?,
                    ))
                })?;
                events.insert(p.event_id, e.clone());
                e
            }
        };
        jobs.push(Claimed {
            delivery_id: p.delivery_id,
            webhook_id: p.webhook_id,
            event_public_id,
            event_type,
            body,
            attempt_count: p.attempt_count,
            created_at,
        });
    }
    // The rows of webhooks whose version the dispatcher does not know, only for those with
    // work: claimed now, or waiting or in flight (`busy`). A start on 1,000 webhooks does not
    // read and open all of them before its first attempt; the others are read when they
    // have something to send.
    let with_jobs: IdSet = jobs.iter().map(|j| j.webhook_id).collect();
    let mut changed = Vec::new();
    for (id, version) in &active {
        if known.get(id) != Some(version) && (with_jobs.contains(id) || busy.contains_key(id)) {
            if let Some(row) = hooks::get_webhook_any(c, *id)? {
                changed.push(row);
            }
        }
    }
    // Last, when nothing more can fail: a job that fails holds nothing.
    leases.hold(hold);
    Ok(ClaimRound {
        jobs,
        next_due,
        active,
        inactive,
        changed,
    })
}

/// The claim round's statements on SQLite (see [`claim_round`]).
struct SqlitePicker<'c> {
    walk: rusqlite::CachedStatement<'c>,
    walk_after: rusqlite::CachedStatement<'c>,
    row: rusqlite::CachedStatement<'c>,
    /// What the last pick's walk saw after its picks: (webhook, when its next delivery not
    /// held falls due, if any), so that `earliest` need not walk again.
    next: Option<(i64, Option<i64>)>,
    now: i64,
    leases: &'c Leases,
    /// Picked in this round (a webhook may be picked from twice): delivery → (webhook, due
    /// time).
    picked: IdMap<(i64, i64)>,
    /// Webhooks found with no delivery waiting that is not held, due or not.
    emptied: Vec<i64>,
}

impl Picker for SqlitePicker<'_> {
    type Error = DbError;

    async fn pick(&mut self, webhook: i64, take: usize) -> Result<Vec<(i64, i64, i64)>, DbError> {
        let (ids, next) = self.walk(webhook, take)?;
        self.next = Some((webhook, next));
        let mut picks = Vec::with_capacity(ids.len());
        for (id, due) in ids {
            self.picked.insert(id, (webhook, due));
            let (event_id, attempt_count) =
                self.row.query_row([id], |r| Ok((r.get(0)?, r.get(1)?)))?;
            picks.push((id, event_id, attempt_count));
        }
        Ok(picks)
    }

    async fn earliest(&mut self, webhook: i64) -> Result<Option<i64>, DbError> {
        let due = match self.next.take() {
            Some((w, due)) if w == webhook => due,
            _ => self.walk(webhook, 0)?.1,
        };
        if due.is_none() {
            self.emptied.push(webhook);
        }
        Ok(due)
    }
}

/// A walk's due picks, (id, due time), and when the next one falls due.
type Walked = (Vec<(i64, i64)>, Option<i64>);

impl SqlitePicker<'_> {
    /// One walk of `webhook`'s waiting deliveries, over the held ones: up to `take` due ones
    /// (id, due time), and when the first one after them falls due (`None`: nothing more
    /// waits).
    fn walk(&mut self, webhook: i64, take: usize) -> Result<Walked, DbError> {
        let mut ids = Vec::with_capacity(take);
        let held = self.leases.lock();
        // From after the held rows when nothing can wait before them; else from the start,
        // and a walk that gets past the last held row finds them in order again.
        // `last`: on a walk from the start, the last held row, to tell when it is passed.
        let (mut rows, last) = match held.after_held(webhook) {
            Some((due, id)) => (self.walk_after.query(params![webhook, due, id])?, None),
            None => (self.walk.query([webhook])?, held.last_of(webhook)),
        };
        let mut passed = false;
        let result = loop {
            let Some(r) = rows.next()? else {
                passed = true;
                break (ids, None);
            };
            let id: i64 = r.get(0)?;
            let due: i64 = r.get(1)?;
            passed |= last.is_some_and(|last| (due, id) > last);
            if held.holds(id) || self.picked.contains_key(&id) {
                continue;
            }
            if due > self.now || ids.len() == take {
                break (ids, Some(due));
            }
            ids.push((id, due));
        };
        drop(rows);
        drop(held);
        if passed && last.is_some() {
            self.leases.sorted(webhook);
        }
        Ok(result)
    }
}

/// Drops every lease (at start: what was in flight when the process stopped is attempted
/// again, at-least-once). Returns how many there were.
pub fn release_all(c: &Connection) -> Result<usize, DbError> {
    Ok(c.execute(
        "UPDATE deliveries SET lease_until = NULL WHERE lease_until IS NOT NULL",
        [],
    )?)
}

/// Gives claimed deliveries back unattempted (their webhook was switched off or deleted
/// since the claim).
/// Returns their webhooks (they wait again where they were in the due index).
pub fn release(c: &Connection, ids: &[i64]) -> Result<Vec<i64>, DbError> {
    let mut st = c.prepare_cached(
        "UPDATE deliveries SET lease_until = NULL WHERE id = ?1 RETURNING webhook_id",
    )?;
    let mut webhooks = Vec::new();
    for id in ids {
        if let Some(w) = st.query_row([id], |r| r.get::<_, i64>(0)).optional()? {
            if !webhooks.contains(&w) {
                webhooks.push(w);
            }
        }
    }
    Ok(webhooks)
}

/// A delivery Send Test just stored, with its webhook's row, for one attempt outside the
/// queue's order.
pub fn claim_test(
    c: &Connection,
    delivery_id: i64,
    webhook_id: i64,
    event_id: i64,
) -> Result<Option<(WebhookRow, Claimed)>, DbError> {
    let Some(row) = hooks::get_webhook_any(c, webhook_id)? else {
        return Ok(None);
    };
    let job = c
        .query_row(
            "SELECT e.public_id, e.type, e.body, d.attempt_count, e.created_at FROM deliveries d JOIN events e ON e.id = d.event_id
             WHERE d.id = ?1 AND e.id = ?2",
            params![delivery_id, event_id],
            |r| {
                Ok(Claimed {
                    delivery_id,
                    webhook_id,
                    event_public_id: r.get(0)?,
                    event_type: r.get(1)?,
                    body: bytes::Bytes::from(r.get::<_, String>(2)?),
                    attempt_count: r.get(3)?,
                    created_at: r.get(4)?,
                })
            },
        )
        .optional()?;
    Ok(job.map(|j| (row, j)))
}

/// What an attempt came to, as the queue records it: plain values, with the retry already
/// decided (by `delivery::attempt`, from the webhook's schedule and `Retry-After`), so
/// recording it is the same deterministic write on every storage backend.
#[derive(Debug)]
pub struct AttemptResult {
    pub delivery_id: i64,
    pub webhook_id: i64,
    pub attempt_number: i64,
    pub started_at: i64,
    /// Serialised off the writer thread.
    pub request_headers_json: String,
    pub response_headers_json: Option<String>,
    pub error: Option<String>,
    /// The receiver's HTTP status, if it answered.
    pub status: Option<u16>,
    pub duration_ms: i64,
    /// What the receiver answered (bounded), stored only when it answered.
    pub response_body: Vec<u8>,
    /// A 2xx answer and no error.
    pub success: bool,
    /// After a failure, when to try again; `None` when the delivery fails for good (its
    /// schedule is used up, the receiver answered 410 Gone, or it was Send Test).
    pub next_attempt_at: Option<i64>,
    /// Send Test: one attempt, never retried, and no notice.
    pub final_attempt: bool,
}

impl AttemptResult {
    /// The receiver answered 410 Gone: the webhook is switched off.
    pub fn gone(&self) -> bool {
        self.status == Some(410)
    }
}

/// The rules [`Recording::record`] applies besides the retry schedule.
#[derive(Debug, Clone)]
pub struct RecordRules {
    /// A webhook whose deliveries all failed for this long is disabled.
    pub auto_disable_after_ms: i64,
    pub notices: crate::domain::notice::NoticeSettings,
}

/// A batch of attempt results being written, with the statements each one runs prepared
/// once for the batch: `prepare_cached` looks a statement up by its SQL text (hashing it)
/// and puts it back when dropped, about 0.6 µs of the writer per delivery when each result
/// did that for its own statements.
pub struct Recording<'c> {
    c: &'c Connection,
    succeeded: rusqlite::CachedStatement<'c>,
    attempt: rusqlite::CachedStatement<'c>,
    /// The webhooks this batch already marked healthy (see [`Recording::record`]).
    touched: Vec<i64>,
}

impl<'c> Recording<'c> {
    pub fn new(c: &'c Connection) -> Result<Recording<'c>, DbError> {
        Ok(Recording {
            c,
            succeeded: c.prepare_cached(
                "UPDATE deliveries SET status = 'succeeded', attempt_count = ?2, next_attempt_at = NULL, lease_until = NULL,
                     last_status_code = ?3, last_duration_ms = ?4, last_error = NULL, updated_at = ?5 WHERE id = ?1",
            )?,
            attempt: c.prepare_cached(
                "INSERT INTO attempts (delivery_id, attempt_number, started_at, duration_ms, request_headers, response_status,
                     response_headers, response_body, error)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            )?,
            touched: Vec::new(),
        })
    }

    fn insert_attempt(&mut self, r: &AttemptResult) -> Result<(), DbError> {
        self.attempt.execute(params![
            r.delivery_id,
            r.attempt_number,
            r.started_at,
            r.duration_ms,
            r.request_headers_json,
            r.status,
            r.response_headers_json,
            r.status.map(|_| r.response_body.as_slice()),
            r.error
        ])?;
        Ok(())
    }

    /// Writes an attempt and moves its delivery and webhook on. A healthy webhook's
    /// `last_success_at` is rewritten at most once a second, so a busy webhook does not dirty
    /// its row on every delivery (nor more than once per batch). A delivery that failed for
    /// good, or a webhook disabled, stores its notice in the same write (see
    /// [`super::notices::enqueue`]); returns whether one now waits for the notifier.
    pub fn record(&mut self, r: AttemptResult, rules: &RecordRules) -> Result<bool, DbError> {
        let c = self.c;
        let now = now_ms();
        if r.success {
            let updated = self.succeeded.execute(params![
                r.delivery_id,
                r.attempt_number,
                r.status,
                r.duration_ms,
                now
            ])?;
            if updated == 0 {
                return Ok(false); // deleted with its webhook meanwhile
            }
            self.insert_attempt(&r)?;
            if self.touched.contains(&r.webhook_id) {
                return Ok(false);
            }
            self.touched.push(r.webhook_id);
            c.prepare_cached("UPDATE webhooks SET last_success_at = ?2, failure_count = 0, failing_since = NULL WHERE id = ?1
                   AND (failure_count != 0 OR failing_since IS NOT NULL OR last_success_at IS NULL OR last_success_at < ?2 - 1000)")?
                .execute(params![r.webhook_id, now])?;
            return Ok(false);
        }
        self.record_failure(r, rules, now)
    }

    fn record_failure(
        &mut self,
        r: AttemptResult,
        rules: &RecordRules,
        now: i64,
    ) -> Result<bool, DbError> {
        let c = self.c;
        let error = r.error.as_deref();
        // A failure: the next attempt as decided, or give up.
        let gone = r.gone();
        let next = r.next_attempt_at;
        let status = if next.is_some() {
            DeliveryStatus::Retrying
        } else {
            DeliveryStatus::Failed
        };
        if next.is_none() {
            crate::metrics::global()
                .deliveries
                .get_or_create(&crate::metrics::OutcomeLabel { outcome: "failed" })
                .inc();
        }
        let updated = c.prepare_cached(
            "UPDATE deliveries SET status = ?2, attempt_count = ?3, next_attempt_at = ?4, lease_until = NULL,
                 last_status_code = ?5, last_duration_ms = ?6, last_error = ?7, updated_at = ?8 WHERE id = ?1",
        )?
        .execute(params![r.delivery_id, status, r.attempt_number, next, r.status, r.duration_ms, error, now])?;
        if updated == 0 {
            return Ok(false); // deleted with its webhook meanwhile
        }
        self.insert_attempt(&r)?;
        // A failure after a success in the same batch: the success's mark must not stand alone.
        self.touched.retain(|&w| w != r.webhook_id);
        c.prepare_cached(
            "UPDATE webhooks SET last_failure_at = ?2, failure_count = failure_count + 1, failing_since = coalesce(failing_since, ?2)
             WHERE id = ?1",
        )?
        .execute(params![r.webhook_id, now])?;
        let failing_since: Option<i64> = c
            .prepare_cached("SELECT failing_since FROM webhooks WHERE id = ?1")?
            .query_row([r.webhook_id], |r| r.get(0))
            .optional()?
            .flatten();
        let reason = crate::domain::delivery::disable_reason(
            gone,
            failing_since,
            now,
            rules.auto_disable_after_ms,
        );
        let mut kind = None;
        if let Some(reason) = &reason {
            let n = c.execute(
                "UPDATE webhooks SET is_active = 0, disabled_at = ?2, disabled_reason = ?3, updated_at = ?2 WHERE id = ?1 AND is_active = 1",
                params![r.webhook_id, now, reason],
            )?;
            if n == 1 {
                tracing::warn!(webhook_id = r.webhook_id, %reason, "webhook disabled");
                kind = Some(crate::domain::notice::NoticeKind::WebhookDisabled);
                crate::metrics::global().webhooks_disabled.inc();
            }
        }
        if kind.is_none() && next.is_none() && !r.final_attempt {
            kind = Some(crate::domain::notice::NoticeKind::DeliveryFailed);
        }
        let Some(kind) = kind else { return Ok(false) };
        let last_error = r
            .error
            .clone()
            .unwrap_or_else(|| format!("HTTP {}", r.status.unwrap_or(0)));
        let disabled_reason =
            reason.filter(|_| kind == crate::domain::notice::NoticeKind::WebhookDisabled);
        super::notices::enqueue(
            c,
            &rules.notices,
            kind,
            r.webhook_id,
            r.delivery_id,
            &last_error,
            disabled_reason,
            now,
        )
    }
}

/// Schedules one more attempt now, whatever the status. `false` if there is no such delivery.
pub fn retry_now(conn: &Connection, workspace_id: i64, id: i64) -> Result<bool, DbError> {
    let now = now_ms();
    Ok(conn.execute(
        "UPDATE deliveries SET next_attempt_at = ?3, lease_until = NULL, updated_at = ?3,
             status = CASE WHEN status IN ('failed', 'succeeded') THEN 'retrying' ELSE status END
         WHERE id = ?1 AND workspace_id = ?2",
        params![id, workspace_id, now],
    )? == 1)
}

/// A bulk retry's batch: each delivery of `webhook_id` in `ids` that is still in `status`
/// gets one more attempt, due now. Returns how many did. One leased at publish is skipped;
/// one the dispatcher holds stays held, and its attempt under way decides what comes next.
pub fn retry_batch(
    conn: &Connection,
    webhook_id: i64,
    status: &str,
    ids: &[i64],
    now: i64,
) -> Result<usize, DbError> {
    let mut st = conn.prepare_cached(
        "UPDATE deliveries SET next_attempt_at = ?3, lease_until = NULL, updated_at = ?3,
             status = CASE WHEN status IN ('failed', 'succeeded') THEN 'retrying' ELSE status END
         WHERE id = ?1 AND webhook_id = ?2 AND status = ?4 AND lease_until IS NULL",
    )?;
    let mut n = 0;
    for id in ids {
        n += st.execute(params![id, webhook_id, now, status])?;
    }
    Ok(n)
}

/// A replay's delivery: the event sent again to the webhook as a new delivery of job
/// `job_id`, due now. At most one per (job, event, webhook), so a batch done twice (a crash
/// between its write and the job's progress) sends nothing twice. Returns whether it is new.
pub fn enqueue_replay(
    conn: &Connection,
    workspace_id: i64,
    webhook_id: i64,
    event_id: i64,
    event_type: &str,
    job_id: i64,
    now: i64,
) -> Result<bool, DbError> {
    Ok(conn
        .prepare_cached(
            "INSERT OR IGNORE INTO deliveries (workspace_id, webhook_id, event_id, event_type, status, next_attempt_at, created_at, updated_at, job_id)
             VALUES (?1, ?2, ?3, ?4, 'pending', ?5, ?5, ?5, ?6)",
        )?
        .execute(params![workspace_id, webhook_id, event_id, event_type, now, job_id])?
        == 1)
}

/// The queue at a glance, for `/metrics`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Gauges {
    /// Waiting for an attempt that is due.
    pub due: i64,
    /// Waiting for an attempt that is not due yet (a retry).
    pub scheduled: i64,
    /// Leased: an attempt is in flight.
    pub in_flight: i64,
    /// How long the oldest due delivery has waited, in seconds.
    pub oldest_due_seconds: i64,
}

/// Counts the queue. Two queries, each answered by its own partial index (`deliveries_due`
/// holds the rows waiting for an attempt and those held in memory by this process's
/// dispatcher, `deliveries_leased` the ones leased at publish), and the held ones counted
/// from `leases` (all of them due: a delivery is claimed only once due).
pub fn gauges(c: &Connection, now: i64, leases: &Leases) -> Result<Gauges, DbError> {
    let (due, scheduled, oldest): (i64, i64, Option<i64>) = c.query_row(
        "SELECT
            count(*) FILTER (WHERE next_attempt_at <= ?1),
            count(*) FILTER (WHERE next_attempt_at > ?1),
            min(next_attempt_at)
         FROM deliveries WHERE next_attempt_at IS NOT NULL AND lease_until IS NULL",
        [now],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
    )?;
    let leased: i64 = c.query_row(
        "SELECT count(*) FROM deliveries WHERE lease_until IS NOT NULL",
        [],
        |r| r.get(0),
    )?;
    let held = leases.lock().count() as i64;
    // The oldest due delivery that is not held: the held ones come first in due order.
    let oldest = match oldest {
        Some(_) if held > 0 => {
            let first: Vec<(i64, i64)> = c
                .prepare_cached(
                    "SELECT id, next_attempt_at FROM deliveries
                     WHERE next_attempt_at IS NOT NULL AND lease_until IS NULL
                     ORDER BY next_attempt_at LIMIT ?1",
                )?
                .query_map([held + 1], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<Result<_, _>>()?;
            let held_now = leases.lock();
            first
                .into_iter()
                .find(|(id, _)| !held_now.holds(*id))
                .map(|(_, t)| t)
        }
        o => o,
    };
    Ok(Gauges {
        due: (due - held).max(0),
        scheduled,
        in_flight: leased + held,
        oldest_due_seconds: oldest
            .filter(|t| *t <= now)
            .map(|t| (now - t) / 1000)
            .unwrap_or(0),
    })
}

/// Deletes up to `limit` events published before `cutoff` whose deliveries are all final
/// (with their deliveries and attempts); events with an attempt still to come stay until it
/// is done. Returns how many went.
///
/// The events before the cutoff are looked for among the ids below the first one created
/// past it for sure (see [`super::by_time`]), oldest first.
pub fn purge_finished_events(c: &Connection, cutoff: i64, limit: i64) -> Result<usize, DbError> {
    let end = super::by_time::first_event_past(c, cutoff)?.unwrap_or(i64::MAX);
    Ok(c.execute(
        "DELETE FROM events WHERE id IN (
            SELECT e.id FROM events e WHERE e.id < ?3 AND e.created_at < ?1
              AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.event_id = e.id AND d.next_attempt_at IS NOT NULL)
            ORDER BY e.id LIMIT ?2)",
        params![cutoff, limit, end],
    )?)
}

/// Stores events of one workspace with their deliveries, inside one write job. It reads the
/// workspace's active webhooks and their filters once, then stores each event and one pending
/// delivery per subscribed webhook with single-row inserts, and marks the webhooks triggered
/// once at the end.
///
/// Single-row `INSERT … VALUES` needs no statement journal; the former `INSERT … SELECT` with
/// a `json_each` filter per event did, and profiling showed that journal at 29% of the writer
/// thread in a fan-out-10 batch publish.
///
/// With a [`Handoff`](super::handoff::Handoff), a delivery is stored leased to this process's
/// dispatcher when it has room for the webhook and nothing of that webhook waits in the queue
/// already (so nothing is overtaken); [`Enqueuer::finish`] returns those, to be staged when
/// the job succeeds.
pub struct Enqueuer {
    workspace_id: i64,
    /// Active webhooks: (id, version, subscribed types; `*` is every type).
    webhooks: std::sync::Arc<Vec<Subscriber>>,
    /// Webhooks that got a delivery, with the latest event time.
    triggered: Vec<(i64, i64)>,
    /// Per webhook, whether deliveries of it wait in the queue (looked up at its first
    /// delivery in this job; true from its first delivery that was not handed off).
    waiting: Vec<(i64, bool)>,
    granted: super::handoff::Granted,
    /// What the dispatcher holds of the queue (for `waiting`), with a hand-off.
    leases: Option<std::sync::Arc<Leases>>,
    /// When the job began.
    now: i64,
}

/// Whether webhook ?1 has a delivery due by ?2 in `deliveries_due` after (due time ?3, id ?4):
/// one seek. The ones held in memory come first there, so the caller passes the last held.
const WAITING: &str = "SELECT 1 FROM deliveries
     WHERE webhook_id = ?1 AND next_attempt_at <= ?2 AND lease_until IS NULL
       AND next_attempt_at >= ?3 AND (next_attempt_at > ?3 OR id > ?4)
     LIMIT 1";

impl Enqueuer {
    /// With `handoff`, deliveries may be leased to this process's dispatcher as they are
    /// stored (`leases`: what it holds already).
    pub fn new(
        conn: &Connection,
        workspace_id: i64,
        handoff: Option<(
            std::sync::Arc<super::handoff::Handoff>,
            std::sync::Arc<Leases>,
        )>,
    ) -> Result<Enqueuer, DbError> {
        let webhooks = std::sync::Arc::new(super::subscribers::read_webhooks(conn, workspace_id)?);
        Ok(Enqueuer::with(workspace_id, webhooks, handoff))
    }

    /// As [`Enqueuer::new`], with the workspace's active webhooks already read.
    pub fn with(
        workspace_id: i64,
        webhooks: std::sync::Arc<Vec<Subscriber>>,
        handoff: Option<(
            std::sync::Arc<super::handoff::Handoff>,
            std::sync::Arc<Leases>,
        )>,
    ) -> Enqueuer {
        let (handoff, leases) = handoff.unzip();
        Enqueuer {
            workspace_id,
            webhooks,
            triggered: Vec::new(),
            waiting: Vec::new(),
            granted: super::handoff::Granted::new(handoff),
            leases,
            now: now_ms(),
        }
    }

    /// Stores an event and one pending delivery per active webhook that subscribes to its
    /// type. Returns (event row id, number of deliveries, how many of them were handed off).
    pub fn insert(
        &mut self,
        conn: &Connection,
        e: &hooks::NewEvent,
    ) -> Result<(i64, usize, usize), DbError> {
        conn.prepare_cached("INSERT INTO events (public_id, workspace_id, type, body, created_at) VALUES (?1, ?2, ?3, ?4, ?5)")?
            .execute(params![e.public_id, self.workspace_id, e.event_type, e.body, e.created_at])?;
        let event_id = conn.last_insert_rowid();
        let mut delivery = conn.prepare_cached(
            "INSERT INTO deliveries (workspace_id, webhook_id, event_id, event_type, status, next_attempt_at, lease_until, created_at, updated_at)
             VALUES (?1, ?2, ?3, ?4, 'pending', ?5, ?6, ?5, ?5)",
        )?;
        let (mut n, mut handed) = (0, 0);
        let mut body: Option<bytes::Bytes> = None;
        let webhooks = self.webhooks.clone();
        for (webhook_id, version, types) in webhooks.iter() {
            if !types.iter().any(|t| t == e.event_type || t == "*") {
                continue;
            }
            let lease = !self.granted_off()
                // Every held delivery was due when claimed, before this job began.
                && !Self::waiting(
                    conn,
                    &mut self.waiting,
                    self.leases.as_deref(),
                    *webhook_id,
                    e.created_at.max(self.now),
                )?
                && self.granted.ask(*webhook_id, *version);
            let lease_until = lease.then_some(e.created_at + LEASE_MS);
            delivery.execute(params![
                self.workspace_id,
                webhook_id,
                event_id,
                e.event_type,
                e.created_at,
                lease_until
            ])?;
            n += 1;
            if lease {
                handed += 1;
                let body = body
                    .get_or_insert_with(|| bytes::Bytes::copy_from_slice(e.body.as_bytes()))
                    .clone();
                self.granted.push(Claimed {
                    delivery_id: conn.last_insert_rowid(),
                    webhook_id: *webhook_id,
                    event_public_id: e.public_id.to_string(),
                    event_type: e.event_type.to_string(),
                    body,
                    attempt_count: 0,
                    created_at: e.created_at,
                });
            } else {
                if let Some(w) = self.waiting.iter_mut().find(|(id, _)| id == webhook_id) {
                    // From now on this webhook has work waiting: later events must not pass it.
                    w.1 = true;
                }
                // Stored due before the last held one (stamped before a claim round that
                // committed first): claim rounds walk this webhook from the start again.
                if let Some(l) = &self.leases {
                    if l.lock()
                        .last_of(*webhook_id)
                        .is_some_and(|(t, _)| e.created_at < t)
                    {
                        l.unsorted(*webhook_id);
                    }
                }
            }
            match self.triggered.iter_mut().find(|(id, _)| id == webhook_id) {
                Some((_, at)) => *at = (*at).max(e.created_at),
                None => self.triggered.push((*webhook_id, e.created_at)),
            }
        }
        Ok((event_id, n, handed))
    }

    /// No hand-off at all (none configured): skip the lookups it needs.
    fn granted_off(&self) -> bool {
        !self.granted.enabled()
    }

    /// Whether `webhook` has deliveries due by `at` (or this job's start) waiting for a
    /// claim, not held by the dispatcher: from what this job knows, or a walk of
    /// `deliveries_due` over the held ones (then remembered).
    fn waiting(
        conn: &Connection,
        known: &mut Vec<(i64, bool)>,
        leases: Option<&Leases>,
        webhook: i64,
        at: i64,
    ) -> Result<bool, DbError> {
        if let Some((_, w)) = known.iter().find(|(id, _)| *id == webhook) {
            return Ok(*w);
        }
        // After the last held one; a webhook whose rows may wait before it is taken as
        // waiting, until a claim round has walked it.
        let (at_least, after_id) = match leases.map(|l| {
            let held = l.lock();
            (held.after_held(webhook), held.last_of(webhook))
        }) {
            Some((None, Some(_))) => {
                known.push((webhook, true));
                return Ok(true);
            }
            Some((Some(after), _)) => after,
            _ => (i64::MIN, i64::MIN),
        };
        let w = conn
            .prepare_cached(WAITING)?
            .query_row(params![webhook, at, at_least, after_id], |_| Ok(()))
            .optional()?
            .is_some();
        known.push((webhook, w));
        Ok(w)
    }

    /// Marks the webhooks that got deliveries as triggered: now, or with `later` (on the
    /// writer) once for the whole transaction, before its commit. Hands back the deliveries
    /// granted to the dispatcher, to be staged once the job succeeds (dropped, they are given
    /// back).
    pub fn finish(
        self,
        conn: &Connection,
        later: Option<&super::triggered::LastTriggered>,
    ) -> Result<super::handoff::Granted, DbError> {
        let now = super::triggered::LastTriggered::default();
        let to = later.unwrap_or(&now);
        for &(id, at) in &self.triggered {
            to.note(id, at);
        }
        if later.is_none() {
            now.flush(conn)?;
        }
        Ok(self.granted)
    }
}

/// Stores an event delivered to one webhook only (Send Test). Returns (event id, delivery id).
pub fn enqueue_test(
    conn: &Connection,
    workspace_id: i64,
    webhook_id: i64,
    e: &hooks::NewEvent,
) -> Result<(i64, i64), DbError> {
    conn.execute(
        "INSERT INTO events (public_id, workspace_id, type, body, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![e.public_id, workspace_id, e.event_type, e.body, e.created_at],
    )?;
    let event_id = conn.last_insert_rowid();
    conn.execute(
        "INSERT INTO deliveries (workspace_id, webhook_id, event_id, event_type, status, next_attempt_at, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, 'pending', NULL, ?5, ?5)",
        params![workspace_id, webhook_id, event_id, e.event_type, e.created_at],
    )?;
    let delivery_id = conn.last_insert_rowid();
    conn.execute(
        "UPDATE webhooks SET last_triggered_at = ?2 WHERE id = ?1",
        params![webhook_id, e.created_at],
    )?;
    Ok((event_id, delivery_id))
}

// ---- units of work: the store's SQLite backend (see `crate::store`) ----

/// An event for one webhook only (Send Test).
#[derive(Debug, Clone)]
pub struct TestEvent {
    pub public_id: String,
    pub event_type: String,
    pub body: String,
    pub created_at: i64,
}

impl super::Db {
    /// At start: one process uses a data directory, so every lease found was left by a crash.
    pub async fn queue_start(
        &self,
        _wake: std::sync::Arc<tokio::sync::Notify>,
    ) -> Result<usize, DbError> {
        let leases = self.leases().clone();
        self.write(move |c| {
            let held = leases.lock().count();
            leases.clear();
            Ok(release_all(c)? + held)
        })
        .await
    }

    /// Nothing to give back: the next start drops what is left (see `queue_start`).
    pub async fn queue_stop(&self) -> Result<(), DbError> {
        Ok(())
    }

    pub async fn claim(
        &self,
        mut ask: ClaimRequest,
        mut ledger: Ledger,
    ) -> Result<(ClaimRound, Ledger), DbError> {
        let leases = self.leases().clone();
        let heavy_waits = self.heavy_waits();
        self.write_unguarded(Lane::Prompt, move |c| {
            ask.now = now_ms();
            if heavy_waits() {
                ask.budget = ask.budget.max(ask.budget_before_heavy);
            }
            claim(c, &ask, &mut ledger, &leases).map(|r| (r, ledger))
        })
        .await
    }

    pub async fn release(&self, ids: Vec<i64>) -> Result<(), DbError> {
        let leases = self.leases().clone();
        self.write_unguarded(Lane::Prompt, move |c| {
            let webhooks = release(c, &ids)?;
            leases.let_go(ids);
            // Given back, they wait before what is still held.
            for w in webhooks {
                leases.unsorted(w);
            }
            Ok(())
        })
        .await
    }

    pub async fn claim_test(
        &self,
        delivery_id: i64,
        webhook_id: i64,
        event_id: i64,
    ) -> Result<Option<(WebhookRow, Claimed)>, DbError> {
        self.read(move |c| claim_test(c, delivery_id, webhook_id, event_id))
            .await
    }

    /// Records attempt results: a small batch beside publishes and claims, a large one in the
    /// background (see [`RECORD_PROMPT_MOST`]).
    pub async fn record(
        &self,
        results: Vec<AttemptResult>,
        rules: std::sync::Arc<RecordRules>,
    ) -> Result<bool, DbError> {
        let prompt = results.len() <= RECORD_PROMPT_MOST;
        let leases = self.leases().clone();
        let job = move |c: &Connection| {
            let ids: Vec<i64> = results.iter().map(|r| r.delivery_id).collect();
            // The webhooks' hourly health, in the same write as the attempts.
            let mut tally = super::stats::Tally::default();
            for r in &results {
                tally.attempt(r.webhook_id, r.started_at, r.success, Some(r.duration_ms));
            }
            let mut noticed = false;
            let mut recording = Recording::new(c)?;
            for r in results {
                noticed |= recording.record(r, &rules)?;
            }
            drop(recording);
            super::stats::write(&tally, c)?;
            // Recorded: no longer held (a job that failed keeps them held, as a lease in
            // the row was kept, until the next start).
            leases.let_go(ids);
            Ok(noticed)
        };
        let lane = if prompt {
            Lane::Prompt
        } else {
            Lane::Background
        };
        self.write_unguarded(lane, job).await
    }

    pub async fn retry_now(&self, ws: i64, id: i64) -> Result<Option<hooks::DeliveryRow>, DbError> {
        self.write(move |c| {
            if !retry_now(c, ws, id)? {
                return Ok(None);
            }
            hooks::get_delivery(c, ws, id)
        })
        .await
    }

    pub async fn enqueue_test(
        &self,
        ws: i64,
        webhook_id: i64,
        e: TestEvent,
    ) -> Result<(i64, i64), DbError> {
        self.write(move |c| {
            enqueue_test(
                c,
                ws,
                webhook_id,
                &hooks::NewEvent {
                    public_id: &e.public_id,
                    event_type: &e.event_type,
                    body: &e.body,
                    created_at: e.created_at,
                },
            )
        })
        .await
    }

    /// The queue's gauges and how many webhooks are switched off.
    pub async fn queue_figures(&self, now: i64) -> Result<(Gauges, i64), DbError> {
        let leases = self.leases().clone();
        self.read(move |c| Ok((gauges(c, now, &leases)?, hooks::count_inactive_webhooks(c)?)))
            .await
    }

    /// A background write.
    pub async fn purge_finished_events(&self, cutoff: i64, limit: i64) -> Result<usize, DbError> {
        self.write_background(move |c| purge_finished_events(c, cutoff, limit))
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seed(c: &Connection, webhooks: i64, per_webhook: i64, due: i64) {
        c.execute_batch(
            "INSERT INTO workspaces (id, slug, name, created_at) VALUES (1, 'a', 'a', 0)",
        )
        .unwrap();
        for w in 1..=webhooks {
            add_webhook(c, w);
            for _ in 0..per_webhook {
                add_delivery(c, w, due);
            }
        }
    }

    /// An active webhook of workspace 1 subscribed to every type.
    fn add_webhook(c: &Connection, id: i64) {
        c.execute(
            "INSERT INTO webhooks (id, workspace_id, url, events, retry_schedule, retry_count, secret_enc, created_at, updated_at)
             VALUES (?1, 1, 'https://x.io', '[\"*\"]', '[]', 0, x'00', 0, 0)",
            [id],
        )
        .unwrap();
    }

    /// An event of workspace 1 with one pending delivery to `webhook`, due at `due`.
    fn add_delivery(c: &Connection, webhook: i64, due: i64) {
        c.execute("INSERT INTO events (public_id, workspace_id, type, body, created_at) VALUES (hex(randomblob(8)), 1, 't', '{}', 0)", [])
            .unwrap();
        c.execute(
            "INSERT INTO deliveries (workspace_id, webhook_id, event_id, event_type, status, next_attempt_at, created_at, updated_at)
             VALUES (1, ?1, last_insert_rowid(), 't', 'pending', ?2, 0, 0)",
            params![webhook, due],
        )
        .unwrap();
    }

    fn ask(now: i64, budget: usize, room: usize) -> ClaimRequest {
        ClaimRequest {
            now,
            budget,
            room,
            ..Default::default()
        }
    }

    fn rules(auto_disable_after_ms: i64) -> RecordRules {
        RecordRules {
            auto_disable_after_ms,
            notices: crate::domain::notice::NoticeSettings {
                public_url: "http://127.0.0.1".into(),
                smtp_configured: false,
                interval_ms: 3600 * 1000,
            },
        }
    }

    /// Small record jobs wait in the writer's prompt lane, beside publishes and claims, and
    /// large ones in the background lane.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn small_record_jobs_go_with_publishes_and_large_ones_wait_in_the_background() {
        let dir = tempfile::tempdir().unwrap();
        let db = crate::db::Db::open(dir.path()).unwrap();
        // A job holds the writer until the record jobs are queued.
        let (holder, go) = db.hold_writer().await;
        let rules = std::sync::Arc::new(rules(0));
        let mut jobs = Vec::new();
        for (n, prompt) in [(1, true), (128, true), (129, false), (512, false)] {
            let before = db.queued();
            let (db2, rules) = (db.clone(), rules.clone());
            jobs.push(tokio::spawn(async move {
                db2.record((0..n).map(|i| result(i, 200)).collect(), rules)
                    .await
            }));
            while db.queued() == before {
                tokio::time::sleep(std::time::Duration::from_millis(1)).await;
            }
            let (p, b) = db.queued();
            let expected = if prompt {
                (before.0 + 1, before.1)
            } else {
                (before.0, before.1 + 1)
            };
            assert_eq!((p, b), expected, "a job of {n} results");
        }
        go.send(()).unwrap();
        holder.await.unwrap().unwrap();
        for j in jobs {
            // Results for deliveries that do not exist change nothing.
            j.await.unwrap().unwrap();
        }
    }

    fn result(delivery_id: i64, status: u16) -> AttemptResult {
        AttemptResult {
            delivery_id,
            webhook_id: 1,
            attempt_number: 1,
            started_at: 0,
            request_headers_json: "{}".into(),
            response_headers_json: Some("{}".into()),
            error: (status >= 300).then(|| format!("HTTP {status}")),
            status: Some(status),
            duration_ms: 0,
            response_body: Vec::new(),
            success: (200..300).contains(&status),
            // A schedule of one minute, as the attempt would have drawn it.
            next_attempt_at: (status >= 300 && status != 410).then(|| now_ms() + 60_000),
            final_attempt: false,
        }
    }

    /// Publishes one event of workspace 1 (type `t`), as the publish job does; returns how
    /// many of its deliveries were handed off, and stages them.
    fn publish_one(
        c: &Connection,
        handoff: &std::sync::Arc<super::super::handoff::Handoff>,
        leases: &std::sync::Arc<Leases>,
    ) -> usize {
        let mut enq = Enqueuer::new(c, 1, Some((handoff.clone(), leases.clone()))).unwrap();
        let id = crate::domain::event::new_event_id(crate::clock::now_ms());
        let (_, _, handed) = enq
            .insert(
                c,
                &hooks::NewEvent {
                    public_id: &id,
                    event_type: "t",
                    body: "{}",
                    created_at: now_ms(),
                },
            )
            .unwrap();
        enq.finish(c, None).unwrap().stage();
        handed
    }

    fn leased(c: &Connection) -> i64 {
        c.query_row(
            "SELECT count(*) FROM deliveries WHERE lease_until IS NOT NULL",
            [],
            |r| r.get(0),
        )
        .unwrap()
    }

    #[test]
    fn publishes_hand_off_within_the_room_and_never_past_waiting_work() {
        use super::super::handoff::Handoff;
        let dir = tempfile::tempdir().unwrap();
        let c = crate::db::open_and_migrate(dir.path()).unwrap();
        seed(&c, 2, 0, 0);
        let handoff = std::sync::Arc::new(Handoff::default());
        let leases = std::sync::Arc::new(Leases::default());
        // What a claim round does: the dispatcher holds webhook 2's waiting deliveries.
        let claim_all = || {
            let holds: Vec<Hold> = c
                .prepare("SELECT id, webhook_id, next_attempt_at FROM deliveries WHERE webhook_id = 2 AND next_attempt_at IS NOT NULL AND lease_until IS NULL")
                .unwrap()
                .query_map([], |r| {
                    Ok(Hold {
                        delivery: r.get(0)?,
                        webhook: r.get(1)?,
                        due: r.get(2)?,
                    })
                })
                .unwrap()
                .map(Result::unwrap)
                .collect();
            leases.hold(holds);
            leases.committed(true);
        };
        // No dispatcher yet: stored due, nothing leased.
        assert_eq!(publish_one(&c, &handoff, &leases), 0);
        assert_eq!(leased(&c), 0);
        // The dispatcher runs with room 2 per webhook and holds webhook 2 open (version 0),
        // but webhook 2 has the first publish's delivery waiting: nothing may pass it.
        handoff.open(std::sync::Arc::new(tokio::sync::Notify::new()), 2, 100);
        handoff.watch(2, 0);
        assert_eq!(publish_one(&c, &handoff, &leases), 0);
        // Claimed by a round (held by the dispatcher), the waiting ones no longer wait: now
        // the deliveries of webhook 2 go straight to the dispatcher, leased in the same write.
        claim_all();
        assert_eq!(
            publish_one(&c, &handoff, &leases),
            1,
            "webhook 1 is not held open"
        );
        handoff.committed(true);
        let taken = handoff.take();
        assert_eq!(taken.len(), 1);
        assert_eq!(taken[0].webhook_id, 2);
        let lease: Option<i64> = c
            .query_row(
                "SELECT lease_until FROM deliveries WHERE id = ?1",
                [taken[0].delivery_id],
                |r| r.get(0),
            )
            .unwrap();
        assert!(lease.is_some(), "a delivery handed off is stored leased");
        // Room 2: one held, one more fits, the third waits in the queue.
        assert_eq!(publish_one(&c, &handoff, &leases), 1);
        assert_eq!(publish_one(&c, &handoff, &leases), 0);
        // Its webhook's version changed (the dispatcher holds an older one): no hand-off.
        handoff.held([(2, 0)], 0);
        claim_all();
        assert_eq!(
            publish_one(&c, &handoff, &leases),
            1,
            "held ones do not wait"
        );
        handoff.committed(true);
        handoff.take();
        handoff.held([(2, 0)], 0);
        // One stored due after the held ones (a retry now, say) waits: nothing passes it.
        add_delivery(&c, 2, now_ms());
        assert_eq!(publish_one(&c, &handoff, &leases), 0);
        claim_all();
        c.execute("UPDATE webhooks SET updated_at = 5 WHERE id = 2", [])
            .unwrap();
        assert_eq!(publish_one(&c, &handoff, &leases), 0);
    }

    #[test]
    fn a_batch_marks_webhook_health_in_arrival_order() {
        let dir = tempfile::tempdir().unwrap();
        let c = crate::db::open_and_migrate(dir.path()).unwrap();
        seed(&c, 1, 4, 1000);
        let health = |c: &Connection| -> (i64, Option<i64>, Option<i64>) {
            c.query_row(
                "SELECT failure_count, failing_since, last_success_at FROM webhooks WHERE id = 1",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .unwrap()
        };
        let day = 24 * 3600 * 1000;
        // Success, failure, success in one batch: the last success clears the failure,
        // although the first one already marked the webhook healthy in this batch.
        let mut batch = Recording::new(&c).unwrap();
        for r in [result(1, 200), result(2, 500), result(3, 204)] {
            batch.record(r, &rules(day)).unwrap();
        }
        drop(batch);
        let (failures, since, success) = health(&c);
        assert_eq!((failures, since), (0, None));
        assert!(success.is_some());
        // Success then failure: the failure stands.
        let mut batch = Recording::new(&c).unwrap();
        batch.record(result(4, 200), &rules(day)).unwrap();
        batch.record(result(1, 503), &rules(day)).unwrap();
        drop(batch);
        let (failures, since, _) = health(&c);
        assert_eq!(failures, 1);
        assert!(since.is_some());
    }

    #[test]
    fn the_queue_reads_its_partial_indexes_and_leases_move_rows_between_them() {
        let leases = Leases::default();
        let dir = tempfile::tempdir().unwrap();
        let c = crate::db::open_and_migrate(dir.path()).unwrap();
        seed(&c, 1, 3, 1000);
        let plan = |sql: &str, n: usize| -> String {
            let params: Vec<i64> = vec![1; n];
            c.prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
                .unwrap()
                .query_map(rusqlite::params_from_iter(params), |r| {
                    r.get::<_, String>(3)
                })
                .unwrap()
                .map(Result::unwrap)
                .collect::<Vec<_>>()
                .join("; ")
        };
        for (sql, n) in [
            (CLAIM_WALK, 1),
            (CLAIM_WALK_AFTER, 3),
            (CLAIM_WITH_WORK, 0),
            (WAITING, 4),
        ] {
            let p = plan(sql, n);
            assert!(
                p.contains("USING INDEX deliveries_due") && !p.contains("SCAN deliveries"),
                "{p}"
            );
        }
        let p = plan(
            "UPDATE deliveries SET lease_until = NULL WHERE lease_until IS NOT NULL",
            0,
        );
        assert!(p.contains("deliveries_leased"), "{p}");
        // (rows in deliveries_due, rows in deliveries_leased)
        let in_indexes = || -> (i64, i64) {
            let count = |index: &str, condition: &str| -> i64 {
                c.query_row(
                    &format!(
                        "SELECT count(*) FROM deliveries INDEXED BY {index} WHERE {condition}"
                    ),
                    [],
                    |r| r.get(0),
                )
                .unwrap()
            };
            (
                count(
                    "deliveries_due",
                    "next_attempt_at IS NOT NULL AND lease_until IS NULL",
                ),
                count("deliveries_leased", "lease_until IS NOT NULL"),
            )
        };
        // Two claimed: held in memory, they stay in the due index (nothing is written), count
        // as in flight, and the oldest due one that waits is the third.
        c.execute("UPDATE deliveries SET next_attempt_at = 900 + id", [])
            .unwrap();
        let jobs = claim(&c, &ask(5000, 2, 2), &mut Ledger::default(), &leases)
            .unwrap()
            .jobs;
        assert_eq!(jobs.len(), 2);
        assert_eq!(in_indexes(), (3, 0));
        let g = gauges(&c, 5000, &leases).unwrap();
        assert_eq!(
            (g.in_flight, g.due, g.oldest_due_seconds),
            (2, 1, (5000 - 903) / 1000)
        );
        // A publish's hand-off leases in the row, and the gauges count that one too.
        c.execute("UPDATE deliveries SET lease_until = 1 WHERE id = 3", [])
            .unwrap();
        let g = gauges(&c, 5000, &leases).unwrap();
        assert_eq!((g.in_flight, g.due, g.oldest_due_seconds), (3, 0, 0));
        c.execute("UPDATE deliveries SET lease_until = NULL WHERE id = 3", [])
            .unwrap();
        // One succeeds (gone from both), one fails with a retry left (due again later).
        let mut batch = Recording::new(&c).unwrap();
        batch
            .record(result(jobs[0].delivery_id, 200), &rules(1 << 40))
            .unwrap();
        batch
            .record(result(jobs[1].delivery_id, 500), &rules(1 << 40))
            .unwrap();
        drop(batch);
        // (What the record job does when it succeeds.)
        leases.let_go(jobs.iter().map(|j| j.delivery_id));
        assert_eq!(in_indexes(), (2, 0));
        let later = now_ms() + 2 * 3600 * 1000; // past the retry, whatever its jitter
        let again = claim(&c, &ask(later, 10, 10), &mut Ledger::default(), &leases)
            .unwrap()
            .jobs;
        assert_eq!(again.len(), 2, "the retry and the unclaimed one");
    }

    #[test]
    fn claims_respect_limits_and_rotate_between_webhooks() {
        let leases = Leases::default();
        let dir = tempfile::tempdir().unwrap();
        let c = crate::db::open_and_migrate(dir.path()).unwrap();
        seed(&c, 3, 10, 1000);
        let owners = |claims: &[Claimed]| claims.iter().map(|c| c.webhook_id).collect::<Vec<_>>();
        // Per-webhook limit 2, global 4: two webhooks get two each, starting where told.
        let r = claim(&c, &ask(5000, 4, 2), &mut Ledger::default(), &leases).unwrap();
        let ids = |rows: &[WebhookRow]| rows.iter().map(|w| w.id).collect::<Vec<_>>();
        assert_eq!(
            ids(&r.changed),
            vec![1, 2],
            "unknown webhooks with claims come with their rows, not the one left for later"
        );
        let with_busy = claim(
            &c,
            &ClaimRequest {
                busy: IdMap::from_iter([(3, 1usize)]),
                ..ask(0, 4, 2)
            },
            &mut Ledger::default(),
            &leases,
        )
        .unwrap();
        assert_eq!(
            ids(&with_busy.changed),
            vec![3],
            "nothing due yet, but webhook 3 has attempts waiting: its row comes along"
        );
        assert_eq!(
            &r.jobs[0].body[..],
            b"{}",
            "the event body comes with the claim"
        );
        let known: IdMap<i64> = r.active.iter().copied().collect();
        let (claims, next) = (r.jobs, r.next_due);
        assert_eq!(owners(&claims), vec![1, 1, 2, 2]);
        let again = claim(
            &c,
            &ClaimRequest {
                known: known.clone(),
                ..ask(5000, 1, 1)
            },
            &mut Ledger::default(),
            &leases,
        )
        .unwrap();
        assert!(
            again.changed.is_empty(),
            "known versions are not sent again"
        );
        assert_eq!(
            next,
            Some(6000),
            "due work left behind is looked at again soon"
        );
        let claims = claim(
            &c,
            &ClaimRequest {
                start: 2,
                ..ask(5000, 4, 2)
            },
            &mut Ledger::default(),
            &leases,
        )
        .unwrap()
        .jobs;
        assert_eq!(owners(&claims), vec![3, 3, 1, 1]);
        // What is in flight counts against the per-webhook limit; leased rows are not reclaimed.
        let busy = IdMap::from_iter([(2, 2usize)]);
        let claims = claim(
            &c,
            &ClaimRequest {
                busy: busy.clone(),
                start: 1,
                ..ask(5000, 10, 2)
            },
            &mut Ledger::default(),
            &leases,
        )
        .unwrap()
        .jobs;
        assert_eq!(owners(&claims), vec![3, 3, 1, 1]);
        // Nothing due yet: no claims, and the timer is set for the earliest due time.
        let dir2 = tempfile::tempdir().unwrap();
        let c2 = crate::db::open_and_migrate(dir2.path()).unwrap();
        seed(&c2, 1, 1, 9000);
        let r = claim(
            &c2,
            &ask(5000, 4, 2),
            &mut Ledger::default(),
            &Leases::default(),
        )
        .unwrap();
        let (claims, next) = (r.jobs, r.next_due);
        assert!(claims.is_empty());
        assert_eq!(next, Some(9000));
    }

    #[test]
    fn claim_rounds_look_only_at_webhooks_with_work() {
        let leases = Leases::default();
        let dir = tempfile::tempdir().unwrap();
        let c = crate::db::open_and_migrate(dir.path()).unwrap();
        // Webhooks 1 and 2 have deliveries waiting; 3 to 50 have nothing.
        seed(&c, 2, 3, 1000);
        for w in 3..=50 {
            add_webhook(&c, w);
        }
        let looked_at = |r: &ClaimRound| {
            let mut ids: Vec<i64> = r.active.iter().map(|(id, _)| *id).collect();
            ids.extend(&r.inactive);
            ids.sort();
            ids
        };
        let r = claim(&c, &ask(5000, 2, 10), &mut Ledger::default(), &leases).unwrap();
        assert_eq!(looked_at(&r), vec![1, 2], "idle webhooks cost nothing");
        assert_eq!(r.jobs.len(), 2);
        let known: IdMap<i64> = (1..=50).map(|w| (w, 0)).collect();
        // Webhook 1 is switched off with claims in flight (`busy`), and webhook 7 (known,
        // idle) is deleted: the round says so of the first, a revisit of the second.
        c.execute("UPDATE webhooks SET is_active = 0 WHERE id = 1", [])
            .unwrap();
        c.execute("DELETE FROM webhooks WHERE id = 7", []).unwrap();
        let busy = IdMap::from_iter([(1, 2usize)]);
        let r = claim(
            &c,
            &ClaimRequest {
                busy: busy.clone(),
                known: known.clone(),
                ..ask(5000, 10, 10)
            },
            &mut Ledger::default(),
            &leases,
        )
        .unwrap();
        assert_eq!(r.inactive, vec![1]);
        assert_eq!(
            r.active.iter().map(|(id, _)| *id).collect::<Vec<_>>(),
            vec![2]
        );
        assert!(
            r.jobs.iter().all(|j| j.webhook_id == 2),
            "nothing of a switched-off webhook"
        );
        let r = claim(
            &c,
            &ClaimRequest {
                busy: busy.clone(),
                known: known.clone(),
                revisit: true,
                ..ask(5000, 10, 10)
            },
            &mut Ledger::default(),
            &leases,
        )
        .unwrap();
        assert_eq!(
            r.inactive,
            vec![1, 7],
            "a revisit finds the deleted one too"
        );
        assert_eq!(looked_at(&r).len(), 50);
        // Only a retry scheduled for later (what recording the claimed ones' failures does,
        // which lets go of them): looked at, nothing claimed, and the timer set.
        c.execute(
            "UPDATE deliveries SET next_attempt_at = 9000, lease_until = NULL WHERE webhook_id = 2",
            [],
        )
        .unwrap();
        leases.clear();
        let r = claim(&c, &ask(5000, 10, 10), &mut Ledger::default(), &leases).unwrap();
        assert!(r.jobs.is_empty());
        assert_eq!(r.next_due, Some(9000));
    }

    #[test]
    fn a_round_starts_from_the_last_look_until_work_may_have_come() {
        let leases = Leases::default();
        let dir = tempfile::tempdir().unwrap();
        let c = crate::db::open_and_migrate(dir.path()).unwrap();
        // Webhooks 1 and 2: 20 deliveries each; 3 and 4: none yet.
        seed(&c, 2, 20, 1000);
        add_webhook(&c, 3);
        add_webhook(&c, 4);
        let mut ledger = Ledger::default();
        let claimed = |r: &ClaimRound, w: i64| r.jobs.iter().filter(|j| j.webhook_id == w).count();
        let r = claim(&c, &ask(5000, 10, 10), &mut ledger, &leases).unwrap();
        assert_eq!(r.jobs.len(), 10);
        // Work for webhook 3 that nobody announced (in the engine, every write that adds work
        // wakes the dispatcher, which asks the next round to look again): the next rounds
        // keep draining the webhooks of the last look, without looking at the queue again.
        add_delivery(&c, 3, 1000);
        for _ in 0..3 {
            let r = claim(&c, &ask(5100, 10, 40), &mut ledger, &leases).unwrap();
            assert_eq!(claimed(&r, 3), 0, "the round looked at the whole queue");
            assert_eq!(
                r.active.iter().map(|(id, _)| *id).collect::<Vec<_>>(),
                [1, 2]
            );
        }
        // 1 and 2 are drained now: a round finds them empty, and the next ones no longer
        // look at them.
        let r = claim(&c, &ask(5100, 10, 40), &mut ledger, &leases).unwrap();
        assert!(r.jobs.is_empty());
        let r = claim(&c, &ask(5100, 10, 40), &mut ledger, &leases).unwrap();
        assert!(r.active.is_empty(), "{:?}", r.active);
        // Asked to look again, the round finds webhook 3's delivery.
        let r = claim(
            &c,
            &ClaimRequest {
                rescan: true,
                ..ask(5100, 10, 40)
            },
            &mut ledger,
            &leases,
        )
        .unwrap();
        assert_eq!(claimed(&r, 3), 1);
        // A revisit looks again too.
        add_delivery(&c, 4, 1000);
        let r = claim(&c, &ask(5100, 10, 40), &mut ledger, &leases).unwrap();
        assert_eq!(claimed(&r, 4), 0);
        let r = claim(
            &c,
            &ClaimRequest {
                revisit: true,
                ..ask(5100, 10, 40)
            },
            &mut ledger,
            &leases,
        )
        .unwrap();
        assert_eq!(claimed(&r, 4), 1);
        // So does a round after a write by another process (another connection)...
        let other = Connection::open(crate::db::db_path(dir.path())).unwrap();
        add_delivery(&other, 4, 1000);
        let r = claim(&c, &ask(5100, 10, 40), &mut ledger, &leases).unwrap();
        assert_eq!(claimed(&r, 4), 1, "another process's write was missed");
        // ... and, whatever happened, one a second after the last look.
        add_delivery(&c, 3, 1000);
        let r = claim(&c, &ask(5100 + RESCAN_MS - 1, 10, 40), &mut ledger, &leases).unwrap();
        assert_eq!(claimed(&r, 3), 0);
        let r = claim(&c, &ask(5100 + RESCAN_MS, 10, 40), &mut ledger, &leases).unwrap();
        assert_eq!(claimed(&r, 3), 1);
        // A round with a fresh ledger (the last one failed) looks too.
        add_delivery(&c, 4, 1000);
        let r = claim(
            &c,
            &ask(5100 + RESCAN_MS, 10, 40),
            &mut Ledger::default(),
            &leases,
        )
        .unwrap();
        assert_eq!(claimed(&r, 4), 1);
    }

    #[test]
    fn a_widened_room_lets_only_its_webhook_claim_more() {
        let leases = Leases::default();
        let dir = tempfile::tempdir().unwrap();
        let c = crate::db::open_and_migrate(dir.path()).unwrap();
        c.execute_batch("BEGIN").unwrap();
        seed(&c, 3, 100, 1000); // webhooks 1-3: a backlog of 100 each
        c.execute_batch("COMMIT").unwrap();
        // Room 32 each, 40 for webhook 2, which already holds 10: webhook 2 takes 30 and
        // the others 32, and a widened room never passes the budget.
        let r = claim(
            &c,
            &ClaimRequest {
                wider: IdMap::from_iter([(2, 40)]),
                busy: IdMap::from_iter([(2, 10)]),
                ..ask(5000, 500, 32)
            },
            &mut Ledger::default(),
            &leases,
        )
        .unwrap();
        let taken = |w: i64| r.jobs.iter().filter(|j| j.webhook_id == w).count();
        assert_eq!((taken(1), taken(2), taken(3)), (32, 30, 32));
        let r = claim(
            &c,
            &ClaimRequest {
                wider: IdMap::from_iter([(1, 1000)]),
                ..ask(5000, 50, 32)
            },
            &mut Ledger::default(),
            &leases,
        )
        .unwrap();
        assert_eq!(r.jobs.len(), 50);
    }

    #[test]
    fn a_quiet_webhooks_delivery_is_claimed_beside_a_backlog_on_many_others() {
        let leases = Leases::default();
        let dir = tempfile::tempdir().unwrap();
        let c = crate::db::open_and_migrate(dir.path()).unwrap();
        c.execute_batch("BEGIN").unwrap();
        seed(&c, 20, 50, 1000); // webhooks 1-20: a backlog of 50 each
        c.execute_batch("COMMIT").unwrap();
        add_webhook(&c, 21);
        add_delivery(&c, 21, 4000);
        // A round with room for only two, while the twenty hold deliveries waiting or in
        // flight: the quiet one, holding none, comes first.
        let busy: IdMap<usize> = (1..=20).map(|w| (w, 16)).collect();
        for start in 0..21 {
            c.execute_batch("SAVEPOINT round").unwrap();
            let r = claim(
                &c,
                &ClaimRequest {
                    busy: busy.clone(),
                    start,
                    ..ask(5000, 2, 32)
                },
                &mut Ledger::default(),
                &leases,
            )
            .unwrap();
            c.execute_batch("ROLLBACK TO round; RELEASE round").unwrap();
            leases.committed(false);
            assert_eq!(r.jobs[0].webhook_id, 21, "start {start}");
        }
        // With room to spare, what is left of the budget goes round again.
        let r = claim(&c, &ask(5000, 100, 32), &mut Ledger::default(), &leases).unwrap();
        assert_eq!(r.jobs.len(), 100);
    }

    #[test]
    fn a_quiet_webhooks_delivery_is_claimed_in_the_round_it_appears() {
        let leases = Leases::default();
        // Fifty webhooks with a backlog each, whose claims are attempted before the next
        // round (they hold nothing), and rounds with room for sixteen: the quiet webhook's
        // new delivery is claimed in the first round after it was stored, wherever the
        // rotation stands. (Ties at "holds nothing" broken by the rotation alone left it
        // waiting up to fifty rounds.)
        let dir = tempfile::tempdir().unwrap();
        let c = crate::db::open_and_migrate(dir.path()).unwrap();
        c.execute_batch("BEGIN").unwrap();
        seed(&c, 50, 200, 1000);
        c.execute_batch("COMMIT").unwrap();
        add_webhook(&c, 51);
        let mut ledger = Ledger::default();
        // From round 30 on, when each busy webhook has had its first turn (two a round): until
        // then the quiet one is no different from those still waiting for theirs.
        let quiet_round = |round: usize| round >= 30 && round % 7 == 3;
        for round in 0..200 {
            if quiet_round(round) {
                add_delivery(&c, 51, 4000);
            }
            let r = claim(
                &c,
                &ClaimRequest {
                    start: round,
                    // The publish woke the dispatcher, which asks the round to look again.
                    rescan: quiet_round(round),
                    ..ask(5000, 16, 32)
                },
                &mut ledger,
                &leases,
            )
            .unwrap();
            assert_eq!(r.jobs.len(), 16);
            let quiet = r.jobs.iter().filter(|j| j.webhook_id == 51).count();
            assert_eq!(quiet, usize::from(quiet_round(round)), "round {round}");
        }
    }

    /// A claim round that a heavy publish waits behind takes what the dispatcher has room
    /// for (`budget_before_heavy`), not its usual budget: its next round would wait for the
    /// publish. With nothing heavy waiting, the usual budget.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_claim_round_before_a_heavy_publish_takes_all_there_is_room_for() {
        let dir = tempfile::tempdir().unwrap();
        let db = crate::db::Db::open(dir.path()).unwrap();
        db.write(|c| {
            seed(c, 2, 10, 1000);
            Ok(())
        })
        .await
        .unwrap();
        let ask = ClaimRequest {
            now: 0,
            budget: 3,
            budget_before_heavy: 7,
            room: 10,
            rescan: true,
            ..Default::default()
        };
        let (r, ledger) = db.claim(ask.clone(), Ledger::default()).await.unwrap();
        assert_eq!(r.jobs.len(), 3, "nothing heavy waits: the usual budget");
        // The writer busy; a heavy publish queued, then the round (in the prompt lane, so it
        // runs first, with a heavy publish waiting).
        let (holder, go) = db.hold_writer().await;
        let heavy = {
            let db = db.clone();
            tokio::spawn(async move { db.write_unguarded(Lane::Heavy, |_| Ok(())).await })
        };
        db.until_queued_in(Lane::Heavy, 1).await;
        let round = {
            let db = db.clone();
            tokio::spawn(async move { db.claim(ask, ledger).await })
        };
        db.until_queued_in(Lane::Prompt, 1).await;
        go.send(()).unwrap();
        holder.await.unwrap().unwrap();
        let (r, _) = round.await.unwrap().unwrap();
        assert_eq!(r.jobs.len(), 7, "a heavy publish waited: room for seven");
        heavy.await.unwrap().unwrap();
    }

    /// Through the writer: what a claim round took is held until its attempt is recorded or
    /// it is given back, and no round takes it meanwhile; a restart of the engine lets go of
    /// everything (it is attempted again, as after a crash).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn claimed_deliveries_are_held_until_recorded_or_given_back() {
        let dir = tempfile::tempdir().unwrap();
        let db = crate::db::Db::open(dir.path()).unwrap();
        db.write(|c| {
            seed(c, 2, 3, 1000);
            Ok(())
        })
        .await
        .unwrap();
        let round = |budget: usize| {
            let db = db.clone();
            async move {
                let ask = ClaimRequest {
                    now: 0,
                    budget,
                    room: 10,
                    rescan: true,
                    ..Default::default()
                };
                let (r, _) = db.claim(ask, Ledger::default()).await.unwrap();
                let mut ids: Vec<i64> = r.jobs.iter().map(|j| j.delivery_id).collect();
                ids.sort();
                ids
            }
        };
        let first = round(4).await;
        assert_eq!(first.len(), 4);
        let second = round(10).await;
        assert_eq!(second.len(), 2, "only what the first round left");
        assert!(second.iter().all(|id| !first.contains(id)));
        assert!(round(10).await.is_empty(), "all six are held");
        let g = db.queue_figures(now_ms()).await.unwrap().0;
        assert_eq!((g.in_flight, g.due), (6, 0));
        // Recorded (one fails and is due again in a minute) and given back: free again.
        let rules = std::sync::Arc::new(rules(1 << 40));
        let mut failed = result(first[1], 500);
        failed.webhook_id = 1;
        db.record(vec![result(first[0], 200), failed], rules.clone())
            .await
            .unwrap();
        db.release(vec![first[2], first[3]]).await.unwrap();
        assert_eq!(round(10).await, vec![first[2], first[3]]);
        let g = db.queue_figures(now_ms()).await.unwrap().0;
        assert_eq!((g.in_flight, g.due, g.scheduled), (4, 0, 1));
        // The engine starts again: nothing is held any more.
        assert_eq!(db.queue_start(Default::default()).await.unwrap(), 4);
        assert_eq!(round(10).await.len(), 4);
        db.close();
    }

    /// A claim round starts past a webhook's held rows, except where a row may wait before
    /// them: one stored with an earlier time than the last held one (a publish stamped before
    /// a claim round that committed first), which the next round still takes, and which
    /// the hand-off does not pass meanwhile.
    #[test]
    fn a_row_stored_before_the_held_ones_is_still_claimed_and_not_passed() {
        let dir = tempfile::tempdir().unwrap();
        let c = crate::db::open_and_migrate(dir.path()).unwrap();
        seed(&c, 1, 2, 1000);
        let leases = std::sync::Arc::new(Leases::default());
        let first = claim(&c, &ask(5000, 10, 10), &mut Ledger::default(), &leases)
            .unwrap()
            .jobs;
        assert_eq!(first.len(), 2);
        assert_eq!(leases.lock().after_held(1), Some((1000, 2)));
        // Stamped at 500, stored after the round, not handed off (as if this job had found
        // work waiting): the webhook is walked from the start.
        let handoff = std::sync::Arc::new(super::super::handoff::Handoff::default());
        handoff.open(std::sync::Arc::new(tokio::sync::Notify::new()), 100, 100);
        handoff.watch(1, 0);
        let mut enq = Enqueuer::new(&c, 1, Some((handoff.clone(), leases.clone()))).unwrap();
        enq.waiting.push((1, true));
        let (_, n, handed) = enq
            .insert(
                &c,
                &hooks::NewEvent {
                    public_id: "evt_early",
                    event_type: "t",
                    body: "{}",
                    created_at: 500,
                },
            )
            .unwrap();
        assert_eq!((n, handed), (1, 0));
        enq.finish(&c, None).unwrap().stage();
        assert_eq!(leases.lock().after_held(1), None);
        // The hand-off does not pass it while it waits.
        let mut known = Vec::new();
        assert!(Enqueuer::waiting(&c, &mut known, Some(&leases), 1, 5000).unwrap());
        // The next round takes it, and the webhook is in order again.
        let next = claim(&c, &ask(5000, 10, 10), &mut Ledger::default(), &leases)
            .unwrap()
            .jobs;
        assert_eq!(next.len(), 1);
        assert_eq!(next[0].event_public_id, "evt_early");
        assert_eq!(leases.lock().after_held(1), Some((1000, 2)));
    }
}
