//! Bulk jobs (retry failed deliveries, replay events) as stored: the job rows, and the scans
//! that pick each batch's deliveries or events. What a batch then does to deliveries is the
//! queue's (`db::queue`), the only writer of delivery rows.

use rusqlite::{params, Connection, OptionalExtension};
use serde::{Deserialize, Serialize};

use super::DbError;
use crate::clock::now_ms;
use crate::domain::DeliveryStatus;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobKind {
    BulkRetry,
    Replay,
}

impl JobKind {
    pub fn as_str(self) -> &'static str {
        match self {
            JobKind::BulkRetry => "bulk_retry",
            JobKind::Replay => "replay",
        }
    }
    pub fn parse(s: &str) -> JobKind {
        if s == "replay" {
            JobKind::Replay
        } else {
            JobKind::BulkRetry
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobState {
    Running,
    Done,
    Cancelled,
    Failed,
}

impl JobState {
    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Running => "running",
            JobState::Done => "done",
            JobState::Cancelled => "cancelled",
            JobState::Failed => "failed",
        }
    }
    pub fn parse(s: &str) -> JobState {
        match s {
            "done" => JobState::Done,
            "cancelled" => JobState::Cancelled,
            "failed" => JobState::Failed,
            _ => JobState::Running,
        }
    }
}

/// What a job works through: a webhook's deliveries or its workspace's events in a window.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobParams {
    /// Bulk retry: the deliveries' status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// Unix ms, inclusive.
    pub since: i64,
    /// Unix ms, exclusive.
    pub until: i64,
    /// Bulk retry: one type; replay: any of these (empty: every type the webhook takes).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub event_types: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct JobRow {
    pub id: i64,
    pub workspace_id: i64,
    pub webhook_id: i64,
    pub kind: JobKind,
    pub params: JobParams,
    pub state: JobState,
    pub total: i64,
    pub done: i64,
    pub cursor: i64,
    pub error: Option<String>,
    pub created_by: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
    pub finished_at: Option<i64>,
}

const COLS: &str = "id, workspace_id, webhook_id, kind, params, state, total, done, cursor, error, created_by, created_at, updated_at, finished_at";

fn map_job(r: &rusqlite::Row) -> rusqlite::Result<JobRow> {
    let params: String = r.get(4)?;
    Ok(JobRow {
        id: r.get(0)?,
        workspace_id: r.get(1)?,
        webhook_id: r.get(2)?,
        kind: JobKind::parse(&r.get::<_, String>(3)?),
        params: serde_json::from_str(&params).map_err(|e| {
            rusqlite::Error::FromSqlConversionFailure(4, rusqlite::types::Type::Text, Box::new(e))
        })?,
        state: JobState::parse(&r.get::<_, String>(5)?),
        total: r.get(6)?,
        done: r.get(7)?,
        cursor: r.get(8)?,
        error: r.get(9)?,
        created_by: r.get(10)?,
        created_at: r.get(11)?,
        updated_at: r.get(12)?,
        finished_at: r.get(13)?,
    })
}

pub struct NewJob<'a> {
    pub workspace_id: i64,
    pub webhook_id: i64,
    pub kind: JobKind,
    pub params: &'a JobParams,
    pub total: i64,
    pub created_by: &'a str,
    pub now: i64,
}

/// Stores a job; one with nothing to do is done at once.
pub fn create_job(conn: &Connection, j: &NewJob) -> Result<JobRow, DbError> {
    let state = if j.total == 0 { "done" } else { "running" };
    conn.execute(
        "INSERT INTO jobs (workspace_id, webhook_id, kind, params, state, total, created_by, created_at, updated_at, finished_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8, CASE WHEN ?5 = 'done' THEN ?8 END)",
        params![
            j.workspace_id,
            j.webhook_id,
            j.kind.as_str(),
            serde_json::to_string(j.params)?,
            state,
            j.total,
            j.created_by,
            j.now
        ],
    )?;
    let id = conn.last_insert_rowid();
    Ok(job(conn, id)?.expect("just inserted"))
}

pub fn job(conn: &Connection, id: i64) -> Result<Option<JobRow>, DbError> {
    Ok(conn
        .prepare_cached(&format!("SELECT {COLS} FROM jobs WHERE id = ?1"))?
        .query_row([id], map_job)
        .optional()?)
}

/// A job of the workspace.
pub fn get_job(conn: &Connection, workspace_id: i64, id: i64) -> Result<Option<JobRow>, DbError> {
    Ok(job(conn, id)?.filter(|j| j.workspace_id == workspace_id))
}

/// Jobs still to run (also those a restart interrupted), oldest first.
pub fn running_jobs(conn: &Connection) -> Result<Vec<JobRow>, DbError> {
    let mut st = conn.prepare_cached(&format!(
        "SELECT {COLS} FROM jobs WHERE state = 'running' ORDER BY id"
    ))?;
    let rows = st.query_map([], map_job)?.collect::<Result<_, _>>()?;
    Ok(rows)
}

/// Stops a running job; `Ok(None)`: no such job in the workspace.
pub fn cancel_job(
    conn: &Connection,
    workspace_id: i64,
    id: i64,
    now: i64,
) -> Result<Option<JobRow>, DbError> {
    conn.execute(
        "UPDATE jobs SET state = 'cancelled', updated_at = ?3, finished_at = ?3
         WHERE id = ?1 AND workspace_id = ?2 AND state = 'running'",
        params![id, workspace_id, now],
    )?;
    get_job(conn, workspace_id, id)
}

/// Records a batch's progress: the last row handled, how many more were done, and whether
/// the job is now finished (then `done` is `total`: rows that stopped matching meanwhile, a
/// delivery retried by hand, count as handled). Only a running job moves (a cancelled one stays cancelled).
pub fn advance(
    conn: &Connection,
    id: i64,
    cursor: i64,
    done: i64,
    finished: bool,
    now: i64,
) -> Result<(), DbError> {
    conn.prepare_cached(
        "UPDATE jobs SET cursor = ?2, done = CASE WHEN ?4 THEN total ELSE min(total, done + ?3) END, updated_at = ?5,
             state = CASE WHEN ?4 THEN 'done' ELSE state END,
             finished_at = CASE WHEN ?4 THEN ?5 ELSE finished_at END
         WHERE id = ?1 AND state = 'running'",
    )?
    .execute(params![id, cursor, done, finished, now])?;
    Ok(())
}

/// Marks a job failed, with why.
pub fn fail_job(conn: &Connection, id: i64, error: &str, now: i64) -> Result<(), DbError> {
    conn.execute(
        "UPDATE jobs SET state = 'failed', error = ?2, updated_at = ?3, finished_at = ?3 WHERE id = ?1 AND state = 'running'",
        params![id, error, now],
    )?;
    Ok(())
}

// ---- what a bulk retry works through ----

/// An id at or before every delivery of the workspace created at or after `at`, or past
/// every id.
fn first_delivery_at(conn: &Connection, workspace_id: i64, at: i64) -> Result<i64, DbError> {
    Ok(super::by_time::first_delivery_from(conn, workspace_id, at)?.unwrap_or(i64::MAX))
}

/// The scan of a bulk retry's deliveries: its count, or its next ids (the limit the last
/// argument). `status` as the job stores it: a retrying or failed one walks
/// `deliveries_webhook_failing` (see [`super::hooks::FAILING`]).
fn retry_scan_sql(count: bool, typed: bool, status: &str) -> String {
    let indexed = DeliveryStatus::parse(status).is_ok_and(super::hooks::status_indexed);
    format!(
        "SELECT {} FROM deliveries WHERE webhook_id = ?1 AND status = ?2 {} AND id > ?3
           AND created_at >= ?4 AND created_at < ?5 {} {}",
        if count { "COUNT(*)" } else { "id" },
        if indexed {
            format!("AND {}", super::hooks::FAILING)
        } else {
            String::new()
        },
        if typed { "AND event_type = ?6" } else { "" },
        match (count, typed) {
            (true, _) => "",
            (false, true) => "ORDER BY id LIMIT ?7",
            (false, false) => "ORDER BY id LIMIT ?6",
        }
    )
}

/// How many of the webhook's deliveries a bulk retry would touch.
pub fn count_for_retry(
    conn: &Connection,
    workspace_id: i64,
    webhook_id: i64,
    p: &JobParams,
) -> Result<i64, DbError> {
    let status = p
        .status
        .as_deref()
        .unwrap_or(DeliveryStatus::Failed.as_str());
    let from = first_delivery_at(conn, workspace_id, p.since)?.saturating_sub(1);
    let typed = !p.event_types.is_empty();
    let mut st = conn.prepare_cached(&retry_scan_sql(true, typed, status))?;
    let n = if typed {
        st.query_row(
            params![webhook_id, status, from, p.since, p.until, p.event_types[0]],
            |r| r.get(0),
        )?
    } else {
        st.query_row(params![webhook_id, status, from, p.since, p.until], |r| {
            r.get(0)
        })?
    };
    Ok(n)
}

/// The next batch of a bulk retry: ids of matching deliveries above `cursor`.
pub fn next_for_retry(conn: &Connection, job: &JobRow, limit: i64) -> Result<Vec<i64>, DbError> {
    let p = &job.params;
    let status = p
        .status
        .as_deref()
        .unwrap_or(DeliveryStatus::Failed.as_str());
    let from = job
        .cursor
        .max(first_delivery_at(conn, job.workspace_id, p.since)?.saturating_sub(1));
    let typed = !p.event_types.is_empty();
    let mut st = conn.prepare_cached(&retry_scan_sql(false, typed, status))?;
    let ids = if typed {
        st.query_map(
            params![
                job.webhook_id,
                status,
                from,
                p.since,
                p.until,
                p.event_types[0],
                limit
            ],
            |r| r.get(0),
        )?
        .collect::<Result<_, _>>()?
    } else {
        st.query_map(
            params![job.webhook_id, status, from, p.since, p.until, limit],
            |r| r.get(0),
        )?
        .collect::<Result<_, _>>()?
    };
    Ok(ids)
}

// ---- what a replay works through ----

/// An event a replay may send.
#[derive(Debug, Clone)]
pub struct ReplayEvent {
    pub id: i64,
    pub event_type: String,
}

/// An event id at or before every event created at or after `at`, or past every id.
fn first_event_at(conn: &Connection, at: i64) -> Result<i64, DbError> {
    Ok(super::by_time::first_event_from(conn, at)?.unwrap_or(i64::MAX))
}

/// The workspace's events in the window above `cursor`, oldest first, at most `limit`, of
/// any type (the caller keeps the ones the webhook takes).
pub fn events_in_window(
    conn: &Connection,
    workspace_id: i64,
    p: &JobParams,
    cursor: i64,
    limit: i64,
) -> Result<Vec<ReplayEvent>, DbError> {
    let from = cursor.max(first_event_at(conn, p.since)?.saturating_sub(1));
    let mut st = conn.prepare_cached(
        "SELECT id, type FROM events WHERE workspace_id = ?1 AND id > ?2 AND created_at >= ?3 AND created_at < ?4
         ORDER BY id LIMIT ?5",
    )?;
    let rows = st
        .query_map(params![workspace_id, from, p.since, p.until, limit], |r| {
            Ok(ReplayEvent {
                id: r.get(0)?,
                event_type: r.get(1)?,
            })
        })?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}

/// How many of the workspace's events in the window a replay would send: those whose type
/// `takes` accepts.
pub fn count_for_replay(
    conn: &Connection,
    workspace_id: i64,
    p: &JobParams,
    takes: impl Fn(&str) -> bool,
) -> Result<i64, DbError> {
    let from = first_event_at(conn, p.since)?.saturating_sub(1);
    let mut st = conn.prepare_cached(
        "SELECT type, COUNT(*) FROM events WHERE workspace_id = ?1 AND id > ?2 AND created_at >= ?3 AND created_at < ?4
         GROUP BY type",
    )?;
    let mut n = 0;
    for row in st.query_map(params![workspace_id, from, p.since, p.until], |r| {
        Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?))
    })? {
        let (t, c) = row?;
        if takes(&t) {
            n += c;
        }
    }
    Ok(n)
}

// ---- units of work: the store's SQLite backend (see `crate::store`) ----

/// Why a job was not made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobRefused {
    /// No such webhook in the workspace.
    NoWebhook,
    /// The webhook is switched off, so nothing would be sent.
    WebhookOff,
}

/// How many deliveries (a bulk retry) or events (a replay) a job with `params` would touch
/// now; `None` when the webhook is not the workspace's.
fn job_total(
    c: &Connection,
    ws: i64,
    webhook: i64,
    kind: JobKind,
    params: &JobParams,
    need_active: bool,
) -> Result<Result<i64, JobRefused>, DbError> {
    let Some(w) = super::hooks::get_webhook(c, ws, webhook)? else {
        return Ok(Err(JobRefused::NoWebhook));
    };
    if need_active && !w.is_active {
        return Ok(Err(JobRefused::WebhookOff));
    }
    Ok(Ok(match kind {
        JobKind::BulkRetry => count_for_retry(c, ws, webhook, params)?,
        JobKind::Replay => count_for_replay(c, ws, params, |t| {
            crate::domain::jobs::replay_takes(&w.events, &params.event_types, t)
        })?,
    }))
}

/// One batch of job `id`, in the caller's write: nothing if it was cancelled meanwhile.
pub fn run_batch(c: &Connection, id: i64, batch: i64) -> Result<(), DbError> {
    let Some(job) = job(c, id)? else {
        return Ok(());
    };
    if job.state != JobState::Running {
        return Ok(());
    }
    let now = now_ms();
    match job.kind {
        JobKind::BulkRetry => {
            let ids = next_for_retry(c, &job, batch)?;
            let status = job.params.status.as_deref().unwrap_or("failed");
            super::queue::retry_batch(c, job.webhook_id, status, &ids, now)?;
            let cursor = ids.last().copied().unwrap_or(job.cursor);
            advance(
                c,
                id,
                cursor,
                ids.len() as i64,
                (ids.len() as i64) < batch,
                now,
            )
        }
        JobKind::Replay => {
            let Some(webhook) = super::hooks::get_webhook(c, job.workspace_id, job.webhook_id)?
            else {
                return fail_job(c, id, "the webhook was deleted", now);
            };
            let events = events_in_window(c, job.workspace_id, &job.params, job.cursor, batch)?;
            let mut sent = 0;
            for e in &events {
                if crate::domain::jobs::replay_takes(
                    &webhook.events,
                    &job.params.event_types,
                    &e.event_type,
                ) {
                    super::queue::enqueue_replay(
                        c,
                        job.workspace_id,
                        job.webhook_id,
                        e.id,
                        &e.event_type,
                        id,
                        now,
                    )?;
                    sent += 1;
                }
            }
            let cursor = events.last().map(|e| e.id).unwrap_or(job.cursor);
            advance(c, id, cursor, sent, (events.len() as i64) < batch, now)
        }
    }
}

impl super::Db {
    pub async fn jobs_running(&self) -> Result<Vec<JobRow>, DbError> {
        self.read(running_jobs).await
    }

    /// A background write: publishes and claims go first.
    pub async fn job_run_batch(&self, id: i64, batch: i64) -> Result<(), DbError> {
        self.write_background(move |c| run_batch(c, id, batch))
            .await
    }

    pub async fn job_fail(&self, id: i64, error: String, now: i64) -> Result<(), DbError> {
        self.write(move |c| fail_job(c, id, &error, now)).await
    }

    pub async fn job_create(
        &self,
        ws: i64,
        webhook: i64,
        kind: JobKind,
        params: JobParams,
        by: String,
        now: i64,
    ) -> Result<Result<JobRow, JobRefused>, DbError> {
        self.write(move |c| {
            let total = match job_total(c, ws, webhook, kind, &params, true)? {
                Ok(n) => n,
                Err(why) => return Ok(Err(why)),
            };
            Ok(Ok(create_job(
                c,
                &NewJob {
                    workspace_id: ws,
                    webhook_id: webhook,
                    kind,
                    params: &params,
                    total,
                    created_by: &by,
                    now,
                },
            )?))
        })
        .await
    }

    pub async fn job_preview(
        &self,
        ws: i64,
        webhook: i64,
        kind: JobKind,
        params: JobParams,
    ) -> Result<Option<i64>, DbError> {
        self.read(move |c| Ok(job_total(c, ws, webhook, kind, &params, false)?.ok()))
            .await
    }

    pub async fn job_get(&self, ws: i64, id: i64) -> Result<Option<JobRow>, DbError> {
        self.read(move |c| get_job(c, ws, id)).await
    }

    pub async fn job_cancel(&self, ws: i64, id: i64, now: i64) -> Result<Option<JobRow>, DbError> {
        self.write(move |c| cancel_job(c, ws, id, now)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A bulk retry's scan walks one index in id order for every status, with or without an
    /// event type: the partial index for retrying and failed deliveries, the webhook's
    /// otherwise.
    #[test]
    fn a_bulk_retry_scan_walks_an_index_for_every_status() {
        let dir = tempfile::tempdir().unwrap();
        let c = crate::db::open_and_migrate(dir.path()).unwrap();
        for status in DeliveryStatus::ALL {
            for typed in [false, true] {
                for count in [false, true] {
                    let sql = retry_scan_sql(count, typed, status.as_str());
                    let n = 5 + typed as usize + !count as usize;
                    let args: Vec<Box<dyn rusqlite::ToSql>> = (0..n)
                        .map(|i| -> Box<dyn rusqlite::ToSql> {
                            match i {
                                1 => Box::new(status.as_str()),
                                5 if typed => Box::new("t"),
                                _ => Box::new(1i64),
                            }
                        })
                        .collect();
                    let plan = crate::db::test_support::plan(
                        &c,
                        &sql,
                        rusqlite::params_from_iter(args.iter()),
                    );
                    assert!(
                        !plan.contains("SCAN") && !plan.contains("TEMP B-TREE"),
                        "{sql}: {plan}"
                    );
                    let index = if super::super::hooks::status_indexed(status) {
                        "deliveries_webhook_failing"
                    } else {
                        "deliveries_webhook"
                    };
                    assert!(plan.contains(index), "{status:?} {typed} {count}: {plan}");
                }
            }
        }
        assert!(
            !retry_scan_sql(true, false, "nonsense").contains("OR"),
            "a status that does not parse adds no term"
        );
    }
}
