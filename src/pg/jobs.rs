//! Bulk retries and replays on PostgreSQL: made (counted in the same transaction), previewed,
//! read, cancelled, and worked through one batch per transaction. A job's row is locked while
//! its batch runs, so two nodes cannot run the same batch; a replay's deliveries are unique
//! per job, event and webhook, so a batch run twice makes them once.

use std::sync::Arc;

use deadpool_postgres::GenericClient;
use tokio_postgres::Row;

use super::webhooks::webhook_of;
use super::PgStore;
use crate::domain::jobs::replay_takes;
use crate::domain::DeliveryStatus;
use crate::store::types::{JobKind, JobParams, JobRefused, JobRow, JobState, StoreError};

type Result<T> = std::result::Result<T, StoreError>;

const COLS: &str = "id, workspace_id, webhook_id, kind, params, state, total, done, cursor, error, created_by, created_at, updated_at, finished_at";

fn job(r: &Row) -> Result<JobRow> {
    Ok(JobRow {
        id: r.get(0),
        workspace_id: r.get(1),
        webhook_id: r.get(2),
        kind: JobKind::parse(r.get::<_, &str>(3)),
        params: serde_json::from_str(r.get::<_, &str>(4))
            .map_err(|e| StoreError::Corrupt(Arc::new(e)))?,
        state: JobState::parse(r.get::<_, &str>(5)),
        total: r.get(6),
        done: r.get(7),
        cursor: r.get(8),
        error: r.get(9),
        created_by: r.get(10),
        created_at: r.get(11),
        updated_at: r.get(12),
        finished_at: r.get(13),
    })
}

/// The workspace's first delivery made at or after `at`, or past every id.
async fn first_delivery_at<C: GenericClient>(c: &C, ws: i64, at: i64) -> Result<i64> {
    Ok(super::history::first_delivery_at(c, ws, at)
        .await?
        .unwrap_or(i64::MAX))
}

/// The status a bulk retry takes (failed, unless the job names another) and its one type.
fn retry_filter(p: &JobParams) -> (String, Option<String>) {
    let status = p
        .status
        .clone()
        .unwrap_or_else(|| DeliveryStatus::Failed.as_str().to_string());
    (status, p.event_types.first().cloned())
}

async fn first_event_at<C: GenericClient>(c: &C, at: i64) -> Result<i64> {
    Ok(c.query_opt(
        "SELECT id FROM events WHERE created_at >= $1 ORDER BY created_at, id LIMIT 1",
        &[&at],
    )
    .await?
    .map_or(i64::MAX, |r| r.get(0)))
}

/// The next `limit` deliveries a bulk retry takes, after `from`.
async fn retry_scan<C: GenericClient>(
    c: &C,
    webhook: i64,
    p: &JobParams,
    from: i64,
    limit: i64,
) -> Result<Vec<i64>> {
    let (status, event_type) = retry_filter(p);
    let rows = c
        .query(
            "SELECT id FROM deliveries WHERE webhook_id = $1 AND status = $2 AND id > $3
               AND created_at >= $4 AND created_at < $5 AND ($6::text IS NULL OR event_type = $6)
             ORDER BY id LIMIT $7",
            &[
                &webhook,
                &status,
                &from,
                &p.since,
                &p.until,
                &event_type,
                &limit,
            ],
        )
        .await?;
    Ok(rows.iter().map(|r| r.get(0)).collect())
}

async fn count_for_retry<C: GenericClient>(
    c: &C,
    ws: i64,
    webhook: i64,
    p: &JobParams,
) -> Result<i64> {
    let (status, event_type) = retry_filter(p);
    let from = first_delivery_at(c, ws, p.since).await?.saturating_sub(1);
    Ok(c.query_one(
        "SELECT count(*) FROM deliveries WHERE webhook_id = $1 AND status = $2 AND id > $3
               AND created_at >= $4 AND created_at < $5 AND ($6::text IS NULL OR event_type = $6)",
        &[&webhook, &status, &from, &p.since, &p.until, &event_type],
    )
    .await?
    .get(0))
}

async fn count_for_replay<C: GenericClient>(
    c: &C,
    ws: i64,
    p: &JobParams,
    subscribed: &[String],
) -> Result<i64> {
    let from = first_event_at(c, p.since).await?.saturating_sub(1);
    let mut n = 0;
    for r in c
        .query(
            "SELECT type, count(*) FROM events WHERE workspace_id = $1 AND id > $2
               AND created_at >= $3 AND created_at < $4 GROUP BY type",
            &[&ws, &from, &p.since, &p.until],
        )
        .await?
    {
        if replay_takes(subscribed, &p.event_types, r.get::<_, &str>(0)) {
            n += r.get::<_, i64>(1);
        }
    }
    Ok(n)
}

async fn job_total<C: GenericClient>(
    c: &C,
    ws: i64,
    webhook: i64,
    kind: JobKind,
    params: &JobParams,
    need_active: bool,
) -> Result<std::result::Result<i64, JobRefused>> {
    let Some(w) = webhook_of(c, ws, webhook).await? else {
        return Ok(Err(JobRefused::NoWebhook));
    };
    if need_active && !w.is_active {
        return Ok(Err(JobRefused::WebhookOff));
    }
    Ok(Ok(match kind {
        JobKind::BulkRetry => count_for_retry(c, ws, webhook, params).await?,
        JobKind::Replay => count_for_replay(c, ws, params, &w.events).await?,
    }))
}

async fn advance<C: GenericClient>(
    c: &C,
    id: i64,
    cursor: i64,
    done: i64,
    finished: bool,
    now: i64,
) -> Result<()> {
    c.execute(
        "UPDATE jobs SET cursor = $2, done = CASE WHEN $4::boolean THEN total ELSE least(total, done + $3) END,
             updated_at = $5,
             state = CASE WHEN $4::boolean THEN 'done' ELSE state END,
             finished_at = CASE WHEN $4::boolean THEN $5 ELSE finished_at END
         WHERE id = $1 AND state = 'running'",
        &[&id, &cursor, &done, &finished, &now],
    )
    .await?;
    Ok(())
}

async fn fail<C: GenericClient>(c: &C, id: i64, error: &str, now: i64) -> Result<()> {
    c.execute(
        "UPDATE jobs SET state = 'failed', error = $2, updated_at = $3, finished_at = $3
         WHERE id = $1 AND state = 'running'",
        &[&id, &error, &now],
    )
    .await?;
    Ok(())
}

impl PgStore {
    pub async fn job_create(
        &self,
        ws: i64,
        webhook: i64,
        kind: JobKind,
        params: JobParams,
        by: String,
        now: i64,
    ) -> Result<std::result::Result<JobRow, JobRefused>> {
        let mut c = self.conn().await?;
        let tx = c.transaction().await?;
        let total = match job_total(&tx, ws, webhook, kind, &params, true).await? {
            Ok(n) => n,
            Err(why) => return Ok(Err(why)),
        };
        let state = if total == 0 { "done" } else { "running" };
        let text = serde_json::to_string(&params).map_err(|e| StoreError::Corrupt(Arc::new(e)))?;
        let row = tx
            .query_one(
                &format!(
                    "INSERT INTO jobs (workspace_id, webhook_id, kind, params, state, total, created_by, created_at, updated_at, finished_at)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8, CASE WHEN $5::text = 'done' THEN $8::bigint END)
                     RETURNING {COLS}"
                ),
                &[&ws, &webhook, &kind.as_str(), &text, &state, &total, &by, &now],
            )
            .await?;
        let made = job(&row)?;
        tx.commit().await?;
        Ok(Ok(made))
    }

    pub async fn job_preview(
        &self,
        ws: i64,
        webhook: i64,
        kind: JobKind,
        params: JobParams,
    ) -> Result<Option<i64>> {
        let c = self.conn().await?;
        Ok(job_total(&c, ws, webhook, kind, &params, false).await?.ok())
    }

    pub async fn job_get(&self, ws: i64, id: i64) -> Result<Option<JobRow>> {
        let c = self.conn().await?;
        c.query_opt(
            &format!("SELECT {COLS} FROM jobs WHERE id = $1 AND workspace_id = $2"),
            &[&id, &ws],
        )
        .await?
        .as_ref()
        .map(job)
        .transpose()
    }

    pub async fn job_cancel(&self, ws: i64, id: i64, now: i64) -> Result<Option<JobRow>> {
        let c = self.conn().await?;
        c.execute(
            "UPDATE jobs SET state = 'cancelled', updated_at = $3, finished_at = $3
             WHERE id = $1 AND workspace_id = $2 AND state = 'running'",
            &[&id, &ws, &now],
        )
        .await?;
        drop(c);
        self.job_get(ws, id).await
    }

    pub async fn jobs_running(&self) -> Result<Vec<JobRow>> {
        let c = self.conn().await?;
        c.query(
            &format!("SELECT {COLS} FROM jobs WHERE state = 'running' ORDER BY id"),
            &[],
        )
        .await?
        .iter()
        .map(job)
        .collect()
    }

    pub async fn job_fail(&self, id: i64, error: String, now: i64) -> Result<()> {
        let c = self.conn().await?;
        fail(&c, id, &error, now).await
    }

    pub async fn job_run_batch(&self, id: i64, batch: i64) -> Result<()> {
        let mut c = self.conn().await?;
        let tx = c.transaction().await?;
        // The job's row, locked: the batch runs once however many nodes try; one that is
        // running elsewhere right now is skipped, not waited for.
        let Some(row) = tx
            .query_opt(
                &format!("SELECT {COLS} FROM jobs WHERE id = $1 FOR UPDATE SKIP LOCKED"),
                &[&id],
            )
            .await?
        else {
            return Ok(());
        };
        let j = job(&row)?;
        if j.state != JobState::Running {
            return Ok(());
        }
        let now = crate::clock::now_ms();
        match j.kind {
            JobKind::BulkRetry => {
                let from = j.cursor.max(
                    first_delivery_at(&tx, j.workspace_id, j.params.since)
                        .await?
                        .saturating_sub(1),
                );
                let ids = retry_scan(&tx, j.webhook_id, &j.params, from, batch).await?;
                let status = j.params.status.as_deref().unwrap_or("failed");
                tx.execute(
                    "UPDATE deliveries SET next_attempt_at = $3, lease_until = NULL, lease_owner = NULL, updated_at = $3,
                         status = CASE WHEN status IN ('failed', 'succeeded') THEN 'retrying' ELSE status END
                     WHERE id = ANY($1) AND webhook_id = $2 AND status = $4 AND lease_until IS NULL",
                    &[&ids, &j.webhook_id, &now, &status],
                )
                .await?;
                let cursor = ids.last().copied().unwrap_or(j.cursor);
                advance(
                    &tx,
                    id,
                    cursor,
                    ids.len() as i64,
                    (ids.len() as i64) < batch,
                    now,
                )
                .await?;
            }
            JobKind::Replay => {
                let Some(webhook) = webhook_of(&tx, j.workspace_id, j.webhook_id).await? else {
                    fail(&tx, id, "the webhook was deleted", now).await?;
                    tx.commit().await?;
                    return Ok(());
                };
                let from = j
                    .cursor
                    .max(first_event_at(&tx, j.params.since).await?.saturating_sub(1));
                let events = tx
                    .query(
                        "SELECT id, type FROM events WHERE workspace_id = $1 AND id > $2
                           AND created_at >= $3 AND created_at < $4 ORDER BY id LIMIT $5",
                        &[
                            &j.workspace_id,
                            &from,
                            &j.params.since,
                            &j.params.until,
                            &batch,
                        ],
                    )
                    .await?;
                let mut sent = 0;
                for e in &events {
                    let (event_id, event_type): (i64, &str) = (e.get(0), e.get(1));
                    if replay_takes(&webhook.events, &j.params.event_types, event_type) {
                        tx.execute(
                            "INSERT INTO deliveries (workspace_id, webhook_id, event_id, event_type, status,
                                 next_attempt_at, created_at, updated_at, job_id)
                             VALUES ($1, $2, $3, $4, 'pending', $5, $5, $5, $6)
                             ON CONFLICT (job_id, event_id, webhook_id) WHERE job_id IS NOT NULL DO NOTHING",
                            &[&j.workspace_id, &j.webhook_id, &event_id, &event_type, &now, &id],
                        )
                        .await?;
                        sent += 1;
                    }
                }
                let cursor = events
                    .last()
                    .map(|e| e.get::<_, i64>(0))
                    .unwrap_or(j.cursor);
                advance(&tx, id, cursor, sent, (events.len() as i64) < batch, now).await?;
            }
        }
        // The batch's deliveries are due now, for whichever node claims first.
        tx.execute("SELECT pg_notify($1, '')", &[&super::node::DUE_CHANNEL])
            .await?;
        tx.commit().await?;
        Ok(())
    }
}
