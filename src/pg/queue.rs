//! The queue on PostgreSQL, shared by every node (plan §3.4–3.5): claims lease due
//! deliveries to this node (`lease_owner`), one round at a time across the cluster; recording
//! an attempt is fenced by the lease, so a result that arrives after another node took the
//! delivery over changes nothing; Retry, Send Test's one-off delivery, and the gauges. The
//! node's identity, heartbeat and reaper are `node.rs`.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use deadpool_postgres::{GenericClient, Transaction};
use tokio_postgres::Statement;

use super::history::delivery_of;
use super::node::DUE_CHANNEL;
use super::webhooks::{webhook, WEBHOOK_COLS};
use super::PgStore;
use crate::clock::now_ms;
use crate::domain::fair::{claim_round, Ledger, Picker, Round};
use crate::domain::health::{self, Health, Outcome};
use crate::domain::notice::{NoticeCause, NoticeContext, NoticeKind, NoticeSettings};
use crate::domain::stats::Tally;
use crate::domain::DeliveryStatus;
use crate::store::types::{
    AttemptResult, ClaimRequest, ClaimRound, Claimed, DeliveryRow, Gauges, Looked, RecordRules,
    StoreError, TestEvent, WebhookRow, LEASE_MS,
};

type Result<T> = std::result::Result<T, StoreError>;

/// The advisory lock claim rounds take turns under, across the cluster ("hookclai"), so each
/// round counts the others' leases exactly against the per-webhook limit.
const CLAIM_LOCK: i64 = 0x686f_6f6b_636c_6169;

/// The webhooks with unleased deliveries waiting, in id order: a skip scan of the partial
/// index `deliveries_due`, one probe per webhook with work (as on SQLite). Each probe orders
/// by the index's own key, `(webhook_id, next_attempt_at)`, which only `deliveries_due`
/// gives without a sort: with `min(webhook_id)` the planner may walk `deliveries_webhook`
/// past every finished delivery instead, whenever the statistics were taken while most
/// deliveries were pending (measured: 25 ms a round instead of 0.7).
const CLAIM_WITH_WORK: &str = "WITH RECURSIVE w(id) AS (
        SELECT (SELECT webhook_id FROM deliveries
                WHERE next_attempt_at IS NOT NULL AND lease_until IS NULL
                ORDER BY webhook_id, next_attempt_at LIMIT 1)
        UNION ALL
        SELECT (SELECT webhook_id FROM deliveries
                WHERE webhook_id > w.id AND next_attempt_at IS NOT NULL AND lease_until IS NULL
                ORDER BY webhook_id, next_attempt_at LIMIT 1)
        FROM w WHERE w.id IS NOT NULL)
     SELECT w.id, h.is_active, h.updated_at, h.workspace_id FROM w LEFT JOIN webhooks h ON h.id = w.id
     WHERE w.id IS NOT NULL";

/// Leases up to $3 of webhook $1's deliveries due by $2 to node $4 until the database's clock
/// plus $5.
const CLAIM_PICK: &str = "UPDATE deliveries d SET lease_until = db_now_ms() + $5, lease_owner = $4
     FROM (SELECT id FROM deliveries
           WHERE webhook_id = $1 AND next_attempt_at <= $2 AND lease_until IS NULL
           ORDER BY next_attempt_at, id LIMIT $3 FOR UPDATE SKIP LOCKED) p
     WHERE d.id = p.id
     RETURNING d.id, d.event_id, d.attempt_count, d.next_attempt_at";

/// When webhook $1's next unleased delivery is due (ordered by `deliveries_due`'s key, as
/// above, whatever the statistics say).
const CLAIM_EARLIEST: &str = "SELECT next_attempt_at FROM deliveries
     WHERE webhook_id = $1 AND next_attempt_at IS NOT NULL AND lease_until IS NULL
     ORDER BY next_attempt_at LIMIT 1";

/// The claim round's statements on PostgreSQL (see [`claim_round`]).
struct PgPicker<'a> {
    tx: &'a Transaction<'a>,
    pick: Statement,
    earliest: Statement,
    now: i64,
    me: &'a str,
}

impl Picker for PgPicker<'_> {
    type Error = StoreError;

    async fn pick(&mut self, webhook: i64, take: usize) -> Result<Vec<(i64, i64, i64)>> {
        let rows = self
            .tx
            .query(
                &self.pick,
                &[&webhook, &self.now, &(take as i64), &self.me, &LEASE_MS],
            )
            .await?;
        // RETURNING keeps no order: oldest due first, as picked.
        let mut picked: Vec<(i64, i64, i64, i64)> = rows
            .iter()
            .map(|r| (r.get(3), r.get(0), r.get(1), r.get(2)))
            .collect();
        picked.sort_unstable();
        Ok(picked.into_iter().map(|(_, d, e, n)| (d, e, n)).collect())
    }

    async fn earliest(&mut self, webhook: i64) -> Result<Option<i64>> {
        Ok(self
            .tx
            .query_opt(&self.earliest, &[&webhook])
            .await?
            .map(|r| r.get(0)))
    }
}

impl PgStore {
    /// Claims due deliveries for this node: at most `budget` in all, and per webhook at most
    /// `room` held here and `in_flight_limit` leased across the cluster (held here plus the
    /// other nodes' leases), in the fairness ledger's order. Rounds of all nodes take turns
    /// under one advisory lock, so the per-webhook limit holds across the cluster.
    pub async fn claim(
        &self,
        mut ask: ClaimRequest,
        mut ledger: Ledger,
    ) -> Result<(ClaimRound, Ledger)> {
        let me = self.node.id();
        let mut c = self.conn().await?;
        let tx = c.transaction().await?;
        // A claim need not survive a crash of the database server: a lost lease makes the
        // delivery claimable again, and this node's result for it is then fenced off (sent
        // twice at most, as at-least-once allows). So it does not wait for the WAL flush.
        tx.batch_execute("SET LOCAL synchronous_commit TO off")
            .await?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&CLAIM_LOCK])
            .await?;
        ask.now = now_ms();
        let ClaimRequest {
            now,
            budget,
            // No heavy lane: PostgreSQL's publishes do not queue behind one writer.
            budget_before_heavy: _,
            room: _,
            wider: _,
            in_flight_limit,
            ref busy,
            start,
            ref known,
            revisit,
            // Several nodes add work: every round looks at the whole queue.
            rescan: _,
        } = ask;
        // (id, is_active, updated_at, workspace_id); a webhook deleted meanwhile has no row.
        let mut seen: Vec<Looked> = tx
            .query(CLAIM_WITH_WORK, &[])
            .await?
            .iter()
            .map(|r| {
                let active: Option<bool> = r.get(1);
                let rest = r.get::<_, Option<i64>>(2).zip(r.get::<_, Option<i64>>(3));
                (r.get(0), active.zip(rest).map(|(a, (u, w))| (a, u, w)))
            })
            .collect();
        let with_work: HashSet<i64> = seen.iter().map(|(id, _)| *id).collect();
        let mut others: Vec<i64> = busy.keys().copied().collect();
        if revisit {
            others.extend(known.keys().copied());
        }
        others.sort_unstable();
        others.dedup();
        others.retain(|id| !with_work.contains(id));
        if !others.is_empty() {
            let found: HashMap<i64, (bool, i64, i64)> = tx
                .query(
                    "SELECT id, is_active, updated_at, workspace_id FROM webhooks WHERE id = ANY($1)",
                    &[&others],
                )
                .await?
                .iter()
                .map(|r| (r.get(0), (r.get(1), r.get(2), r.get(3))))
                .collect();
            seen.extend(others.iter().map(|id| (*id, found.get(id).copied())));
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
        let ids: Vec<i64> = active.iter().map(|(id, _)| *id).collect();
        // The other nodes' leases, by webhook. Alone in the cluster there are none (a dead
        // node's leases are freed in the statement that removes its row), and the count is
        // not run at all: its one-time filter is false. That matters on a table whose
        // statistics are not in yet (a new database), where the planner reads every delivery
        // of the webhook instead of the partial index of leases.
        let elsewhere: HashMap<i64, usize> = tx
            .query(
                "SELECT webhook_id, count(*) FROM deliveries
                 WHERE EXISTS (SELECT 1 FROM hookline_nodes WHERE id <> $2)
                   AND lease_until IS NOT NULL AND webhook_id = ANY($1) AND lease_owner IS DISTINCT FROM $2
                 GROUP BY webhook_id",
                &[&ids, &&*me],
            )
            .await?
            .iter()
            .map(|r| (r.get(0), r.get::<_, i64>(1) as usize))
            .collect();
        let held = |wid: i64| busy.get(&wid).copied().unwrap_or(0);
        // Per webhook: its room here (widened or not), and at most the in-flight limit
        // leased across the cluster, which counts the other nodes' leases too.
        let cap = |wid: i64| {
            let room = ask.room_of(wid);
            if in_flight_limit == 0 {
                room
            } else {
                room.min(in_flight_limit)
            }
        };
        let mut picker = PgPicker {
            tx: &tx,
            pick: tx.prepare_cached(CLAIM_PICK).await?,
            earliest: tx.prepare_cached(CLAIM_EARLIEST).await?,
            now,
            me: &me,
        };
        let (picks, next_due) = claim_round(
            &mut picker,
            &mut ledger,
            Round {
                now,
                budget,
                start,
                active: &ids,
                workspaces: &workspaces,
            },
            |wid| cap(wid).saturating_sub(held(wid) + elsewhere.get(&wid).copied().unwrap_or(0)),
            held,
        )
        .await?;
        // The claimed events, each read once however many webhooks it goes to.
        let mut event_ids: Vec<i64> = picks.iter().map(|p| p.event_id).collect();
        event_ids.sort_unstable();
        event_ids.dedup();
        let events: HashMap<i64, (String, String, bytes::Bytes, i64)> = if event_ids.is_empty() {
            HashMap::new()
        } else {
            tx.query(
                "SELECT id, public_id, type, body, created_at FROM events WHERE id = ANY($1)",
                &[&event_ids],
            )
            .await?
            .iter()
            .map(|r| {
                (
                    r.get(0),
                    (
                        r.get(1),
                        r.get(2),
                        bytes::Bytes::from(r.get::<_, String>(3)),
                        r.get(4),
                    ),
                )
            })
            .collect()
        };
        let jobs: Vec<Claimed> = picks
            .iter()
            .filter_map(|p| {
                let (public_id, event_type, body, created_at) = events.get(&p.event_id)?.clone();
                Some(Claimed {
                    delivery_id: p.delivery_id,
                    webhook_id: p.webhook_id,
                    event_public_id: public_id,
                    event_type,
                    body,
                    attempt_count: p.attempt_count,
                    created_at,
                })
            })
            .collect();
        // Rows of the active webhooks with work whose version the dispatcher does not know.
        let with_jobs: HashSet<i64> = jobs.iter().map(|j| j.webhook_id).collect();
        let stale: Vec<i64> = active
            .iter()
            .filter(|(id, version)| {
                known.get(id) != Some(version) && (with_jobs.contains(id) || busy.contains_key(id))
            })
            .map(|(id, _)| *id)
            .collect();
        let changed = if stale.is_empty() {
            Vec::new()
        } else {
            tx.query(
                &format!("SELECT {WEBHOOK_COLS} FROM webhooks WHERE id = ANY($1) ORDER BY id"),
                &[&stale],
            )
            .await?
            .iter()
            .map(webhook)
            .collect::<Result<Vec<_>>>()?
        };
        tx.commit().await?;
        Ok((
            ClaimRound {
                jobs,
                next_due,
                active,
                inactive,
                changed,
            },
            ledger,
        ))
    }

    /// Gives this node's claimed deliveries back unattempted.
    pub async fn release(&self, ids: Vec<i64>) -> Result<()> {
        let me = self.node.id();
        self.conn()
            .await?
            .execute(
                "UPDATE deliveries SET lease_until = NULL, lease_owner = NULL
                 WHERE id = ANY($1) AND lease_owner = $2",
                &[&ids, &&*me],
            )
            .await?;
        Ok(())
    }

    /// Writes attempts and moves their deliveries and webhooks on, in one transaction: only
    /// deliveries this node still leases (or Send Test's, never leased) are recorded; a result
    /// whose lease passed to another node is counted as stale and dropped. Webhooks are
    /// locked first and in id order, so neither batches on different nodes nor a webhook's
    /// delete can deadlock with a record; a deadlock or serialization failure runs the
    /// transaction again, up to three times. Returns whether a notice now waits for the
    /// notifier.
    pub async fn record(
        &self,
        mut results: Vec<AttemptResult>,
        rules: Arc<RecordRules>,
    ) -> Result<bool> {
        // Stable: each webhook's results keep the order they arrived in.
        results.sort_by_key(|r| r.webhook_id);
        let me = self.node.id();
        let mut c = self.conn().await?;
        let mut retries = super::Retries::default();
        loop {
            match record_once(&mut c, &me, &results, &rules).await {
                Err(e) if retries.again(&e) => retries.pause().await,
                Err(e) => return Err(e.into()),
                Ok(noticed) => return Ok(noticed),
            }
        }
    }

    /// One more attempt now, whatever the status. A delivery leased by a node right now is left
    /// alone: its attempt is in flight, and its result will be recorded.
    pub async fn retry_now(&self, ws: i64, id: i64) -> Result<Option<DeliveryRow>> {
        let c = self.conn().await?;
        let now = crate::clock::now_ms();
        c.execute(
            "UPDATE deliveries SET next_attempt_at = $3, updated_at = $3,
                 status = CASE WHEN status IN ('failed', 'succeeded') THEN 'retrying' ELSE status END
             WHERE id = $1 AND workspace_id = $2 AND lease_until IS NULL",
            &[&id, &ws, &now],
        )
        .await?;
        c.execute("SELECT pg_notify($1, '')", &[&DUE_CHANNEL])
            .await?;
        delivery_of(&c, ws, id).await
    }

    pub async fn enqueue_test(&self, ws: i64, webhook_id: i64, e: TestEvent) -> Result<(i64, i64)> {
        let mut c = self.conn().await?;
        let tx = c.transaction().await?;
        let event_id: i64 = tx
            .query_one(
                "INSERT INTO events (public_id, workspace_id, type, body, created_at)
                 VALUES ($1, $2, $3, $4, $5) RETURNING id",
                &[&e.public_id, &ws, &e.event_type, &e.body, &e.created_at],
            )
            .await?
            .get(0);
        let delivery_id: i64 = tx
            .query_one(
                "INSERT INTO deliveries (workspace_id, webhook_id, event_id, event_type, status, next_attempt_at, created_at, updated_at)
                 VALUES ($1, $2, $3, $4, 'pending', NULL, $5, $5) RETURNING id",
                &[&ws, &webhook_id, &event_id, &e.event_type, &e.created_at],
            )
            .await?
            .get(0);
        tx.execute(
            "UPDATE webhooks SET last_triggered_at = $2 WHERE id = $1",
            &[&webhook_id, &e.created_at],
        )
        .await?;
        tx.commit().await?;
        Ok((event_id, delivery_id))
    }

    pub async fn claim_test(
        &self,
        delivery_id: i64,
        webhook_id: i64,
        event_id: i64,
    ) -> Result<Option<(WebhookRow, Claimed)>> {
        let c = self.conn().await?;
        let Some(hook) = c
            .query_opt(
                &format!("SELECT {WEBHOOK_COLS} FROM webhooks WHERE id = $1"),
                &[&webhook_id],
            )
            .await?
        else {
            return Ok(None);
        };
        let hook = webhook(&hook)?;
        let job = c
            .query_opt(
                "SELECT e.public_id, e.type, e.body, d.attempt_count, e.created_at
                 FROM deliveries d JOIN events e ON e.id = d.event_id WHERE d.id = $1 AND e.id = $2",
                &[&delivery_id, &event_id],
            )
            .await?
            .map(|r| Claimed {
                delivery_id,
                webhook_id,
                event_public_id: r.get(0),
                event_type: r.get(1),
                body: bytes::Bytes::from(r.get::<_, String>(2)),
                attempt_count: r.get(3),
                created_at: r.get(4),
            });
        Ok(job.map(|j| (hook, j)))
    }

    /// The queue's gauges and how many webhooks are switched off.
    pub async fn queue_figures(&self, now: i64) -> Result<(Gauges, i64)> {
        let c = self.conn().await?;
        let r = c
            .query_one(
                "SELECT
                    count(*) FILTER (WHERE next_attempt_at <= $1),
                    count(*) FILTER (WHERE next_attempt_at > $1),
                    min(next_attempt_at)
                 FROM deliveries WHERE next_attempt_at IS NOT NULL AND lease_until IS NULL",
                &[&now],
            )
            .await?;
        let (due, scheduled, oldest): (i64, i64, Option<i64>) = (r.get(0), r.get(1), r.get(2));
        let in_flight: i64 = c
            .query_one(
                "SELECT count(*) FROM deliveries WHERE lease_until IS NOT NULL",
                &[],
            )
            .await?
            .get(0);
        let inactive = super::webhooks::inactive_count(&c).await?;
        Ok((
            Gauges {
                due,
                scheduled,
                in_flight,
                oldest_due_seconds: oldest
                    .filter(|t| *t <= now)
                    .map(|t| (now - t) / 1000)
                    .unwrap_or(0),
            },
            inactive,
        ))
    }
}

async fn record_once(
    c: &mut deadpool_postgres::Object,
    me: &str,
    results: &[AttemptResult],
    rules: &RecordRules,
) -> std::result::Result<bool, tokio_postgres::Error> {
    let tx = c.transaction().await?;
    // Nor need a record (see `claim`): if the database server crashes before the WAL is
    // flushed, the delivery is attempted again. What must be durable is the publish.
    tx.batch_execute("SET LOCAL synchronous_commit TO off")
        .await?;
    let now = now_ms();
    // The batch's webhooks first, in id order, under the lock their health is changed under.
    // Deleting a webhook locks its row and then (the cascade) its deliveries; taking the
    // webhooks' locks before the deliveries' keeps that order, so a record and a delete wait
    // for each other instead of deadlocking. NO KEY UPDATE: the key does not change, and this
    // lock does not wait for publishes, whose new deliveries hold KEY SHARE on the webhook
    // (their foreign key) until they commit.
    let mut webhook_ids: Vec<i64> = results.iter().map(|r| r.webhook_id).collect();
    webhook_ids.dedup();
    let healths: HashMap<i64, Health> = tx
        .query(
            "SELECT id, failure_count, failing_since, last_success_at, last_failure_at, is_active
             FROM webhooks WHERE id = ANY($1) ORDER BY id FOR NO KEY UPDATE",
            &[&webhook_ids],
        )
        .await?
        .iter()
        .map(|row| {
            (
                row.get(0),
                Health {
                    failure_count: row.get(1),
                    failing_since: row.get(2),
                    last_success_at: row.get(3),
                    last_failure_at: row.get(4),
                    is_active: row.get(5),
                },
            )
        })
        .collect();
    // The deliveries, fenced by their lease.
    let mut cols = (
        Vec::new(),
        Vec::new(),
        Vec::new(),
        Vec::new(),
        Vec::new(),
        Vec::new(),
        Vec::new(),
        Vec::new(),
    );
    for r in results {
        let status = if r.success {
            DeliveryStatus::Succeeded
        } else if r.next_attempt_at.is_some() {
            DeliveryStatus::Retrying
        } else {
            DeliveryStatus::Failed
        };
        cols.0.push(r.delivery_id);
        cols.1.push(status.as_str());
        cols.2.push(r.attempt_number);
        cols.3
            .push(if r.success { None } else { r.next_attempt_at });
        cols.4.push(r.status.map(i64::from));
        cols.5.push(r.duration_ms);
        cols.6.push(if r.success { None } else { r.error.clone() });
        cols.7.push(r.final_attempt);
    }
    let recorded: HashSet<i64> = tx
        .query(
            "UPDATE deliveries d SET status = r.status, attempt_count = r.n, next_attempt_at = r.next,
                 lease_until = NULL, lease_owner = NULL, last_status_code = r.code,
                 last_duration_ms = r.dur, last_error = r.err, updated_at = $1
             FROM unnest($2::bigint[], $3::text[], $4::bigint[], $5::bigint[], $6::bigint[],
                         $7::bigint[], $8::text[], $9::boolean[]) AS r(id, status, n, next, code, dur, err, test)
             WHERE d.id = r.id AND (d.lease_owner = $10 OR (r.test AND d.lease_until IS NULL))
             RETURNING d.id",
            &[
                &now, &cols.0, &cols.1, &cols.2, &cols.3, &cols.4, &cols.5, &cols.6, &cols.7, &me,
            ],
        )
        .await?
        .iter()
        .map(|r| r.get(0))
        .collect();
    let results: Vec<&AttemptResult> = results
        .iter()
        .filter(|r| recorded.contains(&r.delivery_id))
        .collect();
    // Not recorded: deleted with their webhook, or taken over by another node (stale).
    let missed = cols.0.len() - results.len();
    if missed > 0 {
        let gone: i64 = tx
            .query_one(
                "SELECT count(*) FROM unnest($1::bigint[]) AS r(id) WHERE NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.id = r.id)",
                &[&cols.0],
            )
            .await?
            .get(0);
        let stale = missed as i64 - gone;
        if stale > 0 {
            tracing::warn!(
                stale,
                "attempt results arrived after another node took their deliveries over; not recorded (they are sent again)"
            );
            crate::metrics::global().stale_results.inc_by(stale as u64);
        }
    }
    if results.is_empty() {
        tx.commit().await?;
        return Ok(false);
    }
    // The attempts.
    let mut a = (
        Vec::new(),
        Vec::new(),
        Vec::new(),
        Vec::new(),
        Vec::new(),
        Vec::new(),
        Vec::new(),
        Vec::new(),
        Vec::new(),
    );
    for r in &results {
        a.0.push(r.delivery_id);
        a.1.push(r.attempt_number);
        a.2.push(r.started_at);
        a.3.push(r.duration_ms);
        a.4.push(r.request_headers_json.as_str());
        a.5.push(r.status.map(i64::from));
        a.6.push(r.response_headers_json.as_deref());
        a.7.push(r.status.map(|_| r.response_body.as_slice()));
        a.8.push(r.error.as_deref());
    }
    tx.execute(
        "INSERT INTO attempts (delivery_id, attempt_number, started_at, duration_ms, request_headers,
             response_status, response_headers, response_body, error)
         SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::bigint[], $5::text[],
                              $6::bigint[], $7::text[], $8::bytea[], $9::text[])",
        &[&a.0, &a.1, &a.2, &a.3, &a.4, &a.5, &a.6, &a.7, &a.8],
    )
    .await?;
    let failed_for_good = results
        .iter()
        .filter(|r| !r.success && r.next_attempt_at.is_none())
        .count();
    if failed_for_good > 0 {
        crate::metrics::global()
            .deliveries
            .get_or_create(&crate::metrics::OutcomeLabel { outcome: "failed" })
            .inc_by(failed_for_good as u64);
    }
    // Each webhook's health, under the row lock taken above (which also serialises the
    // folding of its notices). A webhook deleted before that lock has no row and no health.
    let mut noticed = false;
    for group in results.chunk_by(|a, b| a.webhook_id == b.webhook_id) {
        let webhook_id = group[0].webhook_id;
        let Some(before) = healths.get(&webhook_id) else {
            continue;
        };
        let outcomes: Vec<Outcome> = group
            .iter()
            .map(|r| Outcome {
                success: r.success,
                gone: r.gone(),
                gives_up: !r.success && r.next_attempt_at.is_none(),
                final_attempt: r.final_attempt,
            })
            .collect();
        let change = health::apply(before, &outcomes, now, rules.auto_disable_after_ms);
        if change.changed(before) {
            let h = &change.health;
            tx.execute(
                "UPDATE webhooks SET failure_count = $2, failing_since = $3, last_success_at = $4,
                     last_failure_at = $5, is_active = $6,
                     disabled_at = CASE WHEN $7::text IS NULL THEN disabled_at ELSE $8 END,
                     disabled_reason = coalesce($7::text, disabled_reason),
                     updated_at = CASE WHEN $7::text IS NULL THEN updated_at ELSE $8 END
                 WHERE id = $1",
                &[
                    &webhook_id,
                    &h.failure_count,
                    &h.failing_since,
                    &h.last_success_at,
                    &h.last_failure_at,
                    &h.is_active,
                    &change.disabled,
                    &now,
                ],
            )
            .await?;
        }
        if let Some(reason) = &change.disabled {
            tracing::warn!(webhook_id, %reason, "webhook disabled");
            crate::metrics::global().webhooks_disabled.inc();
        }
        for &(i, kind) in &change.notices {
            let r = group[i];
            let last_error = r
                .error
                .clone()
                .unwrap_or_else(|| format!("HTTP {}", r.status.unwrap_or(0)));
            let disabled_reason = change
                .disabled
                .clone()
                .filter(|_| kind == NoticeKind::WebhookDisabled);
            noticed |= enqueue_notice(
                &tx,
                &rules.notices,
                NoticeCause {
                    kind,
                    webhook_id,
                    delivery_id: r.delivery_id,
                    last_error,
                    disabled_reason,
                    now,
                },
            )
            .await?;
        }
    }
    // The webhooks' hourly health, added in SQL so two nodes adding to one hour lose nothing.
    let mut tally = Tally::default();
    for r in &results {
        tally.attempt(r.webhook_id, r.started_at, r.success, Some(r.duration_ms));
    }
    let upsert = tx
        .prepare_cached(
            "INSERT INTO webhook_stats (webhook_id, hour, succeeded, failed, attempts, latency)
             SELECT $1, $2, $3, $4, $5, $6 WHERE EXISTS (SELECT 1 FROM webhooks WHERE id = $1)
             ON CONFLICT (webhook_id, hour) DO UPDATE SET
                 succeeded = webhook_stats.succeeded + EXCLUDED.succeeded,
                 failed = webhook_stats.failed + EXCLUDED.failed,
                 attempts = webhook_stats.attempts + EXCLUDED.attempts,
                 latency = ARRAY(SELECT t.a + t.b FROM unnest(webhook_stats.latency, EXCLUDED.latency)
                                 WITH ORDINALITY AS t(a, b, i) ORDER BY t.i)",
        )
        .await?;
    for (&(webhook, hour), add) in tally.rows() {
        tx.execute(
            &upsert,
            &[
                &webhook,
                &hour,
                &add.succeeded,
                &add.failed,
                &add.attempts,
                &add.latency.as_slice(),
            ],
        )
        .await?;
    }
    tx.commit().await?;
    Ok(noticed)
}

/// Stores the notice `cause` calls for, in the record's transaction (see
/// `db::notices::enqueue`, its SQLite twin): a repeat while one of its kind waits for the same
/// webhook is folded into that one. Returns whether a new notice now waits to be emailed.
async fn enqueue_notice(
    tx: &Transaction<'_>,
    settings: &NoticeSettings,
    cause: NoticeCause,
) -> std::result::Result<bool, tokio_postgres::Error> {
    let Some(r) = tx
        .query_opt(
            "SELECT w.name, w.url, w.notification_email, s.slug, w.last_notified_at, e.public_id, e.type
             FROM webhooks w JOIN workspaces s ON s.id = w.workspace_id
             JOIN deliveries d ON d.id = $2 JOIN events e ON e.id = d.event_id
             WHERE w.id = $1",
            &[&cause.webhook_id, &cause.delivery_id],
        )
        .await?
    else {
        return Ok(false); // deleted meanwhile
    };
    let ctx = NoticeContext {
        webhook_name: r.get(0),
        webhook_url: r.get(1),
        notification_email: r.get(2),
        workspace_slug: r.get(3),
        last_notified_at: r.get(4),
        event_public_id: r.get(5),
        event_type: r.get(6),
    };
    let (webhook_id, delivery_id, kind, now) = (
        cause.webhook_id,
        cause.delivery_id,
        cause.kind.as_str(),
        cause.now,
    );
    let n = crate::domain::notice::compose(ctx, settings, cause);
    if n.due_at.is_some() {
        let folded = tx
            .execute(
                "UPDATE notifications SET repeats = repeats + 1
                 WHERE webhook_id = $1 AND kind = $2 AND due_at > $3",
                &[&webhook_id, &kind, &now],
            )
            .await?;
        if folded > 0 {
            return Ok(false);
        }
    }
    tx.execute(
        "INSERT INTO notifications (webhook_id, delivery_id, kind, recipient, subject, body, created_at, due_at, error)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        &[
            &webhook_id,
            &delivery_id,
            &kind,
            &n.recipient,
            &n.subject,
            &n.body,
            &now,
            &n.due_at,
            &n.error,
        ],
    )
    .await?;
    Ok(n.due_at.is_some())
}
