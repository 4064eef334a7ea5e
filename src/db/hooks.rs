//! Queries for webhooks, events, deliveries and attempts. Every query that takes an id from
//! the outside also takes the workspace id: nothing crosses workspaces.

use std::collections::BTreeMap;

use rusqlite::{params, Connection, OptionalExtension};

use super::{by_time, DbError};
use crate::clock::now_ms;
use crate::domain::{
    DeliveryFilter, DeliveryStatus, Email, EventFilter, WebhookSettings, WebhookUrl,
};

/// A webhook as stored (the secret still sealed).
#[derive(Debug, Clone)]
pub struct WebhookRow {
    pub id: i64,
    pub workspace_id: i64,
    pub name: String,
    pub description: String,
    pub url: String,
    pub events: Vec<String>,
    pub is_active: bool,
    pub headers: BTreeMap<String, String>,
    pub retry_schedule: Vec<u32>,
    pub timeout_seconds: u32,
    pub notification_email: Option<String>,
    pub secret_enc: Vec<u8>,
    pub previous_secret_enc: Option<Vec<u8>>,
    pub previous_secret_expires_at: Option<i64>,
    pub disabled_at: Option<i64>,
    pub disabled_reason: Option<String>,
    pub last_triggered_at: Option<i64>,
    pub last_success_at: Option<i64>,
    pub last_failure_at: Option<i64>,
    pub failure_count: i64,
    pub created_at: i64,
    pub updated_at: i64,
    /// Who made the last change: an account's email, a portal visitor, or an API key.
    pub changed_by: Option<String>,
}

const WEBHOOK_COLS: &str = "id, workspace_id, name, description, url, events, is_active, headers, retry_schedule, \
    timeout_seconds, notification_email, secret_enc, previous_secret_enc, previous_secret_expires_at, disabled_at, \
    disabled_reason, last_triggered_at, last_success_at, last_failure_at, failure_count, created_at, updated_at, changed_by";

fn json_col<T: serde::de::DeserializeOwned>(r: &rusqlite::Row, i: usize) -> rusqlite::Result<T> {
    let s: String = r.get(i)?;
    serde_json::from_str(&s).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(i, rusqlite::types::Type::Text, Box::new(e))
    })
}

fn map_webhook(r: &rusqlite::Row) -> rusqlite::Result<WebhookRow> {
    Ok(WebhookRow {
        id: r.get(0)?,
        workspace_id: r.get(1)?,
        name: r.get(2)?,
        description: r.get(3)?,
        url: r.get(4)?,
        events: json_col(r, 5)?,
        is_active: r.get(6)?,
        headers: json_col(r, 7)?,
        retry_schedule: json_col(r, 8)?,
        timeout_seconds: r.get(9)?,
        notification_email: r.get(10)?,
        secret_enc: r.get(11)?,
        previous_secret_enc: r.get(12)?,
        previous_secret_expires_at: r.get(13)?,
        disabled_at: r.get(14)?,
        disabled_reason: r.get(15)?,
        last_triggered_at: r.get(16)?,
        last_success_at: r.get(17)?,
        last_failure_at: r.get(18)?,
        failure_count: r.get(19)?,
        created_at: r.get(20)?,
        updated_at: r.get(21)?,
        changed_by: r.get(22)?,
    })
}

impl WebhookRow {
    /// The row's settings as typed values (stored values were valid when they were saved).
    pub fn settings(&self) -> WebhookSettings {
        WebhookSettings {
            name: self.name.clone(),
            description: self.description.clone(),
            url: WebhookUrl::stored(self.url.clone()),
            events: EventFilter::stored(self.events.clone()),
            is_active: self.is_active,
            headers: self.headers.clone(),
            retry_schedule: self.retry_schedule.clone(),
            timeout_seconds: self.timeout_seconds,
            notification_email: self.notification_email.clone().map(Email::stored),
        }
    }
}

pub fn insert_webhook(
    conn: &Connection,
    workspace_id: i64,
    s: &WebhookSettings,
    secret_enc: &[u8],
) -> Result<i64, DbError> {
    let now = now_ms();
    conn.execute(
        "INSERT INTO webhooks (workspace_id, name, description, url, events, is_active, headers, retry_schedule, retry_count,
             timeout_seconds, notification_email, secret_enc, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?13)",
        params![
            workspace_id,
            s.name,
            s.description,
            s.url.as_str(),
            serde_json::to_string(&s.events.to_list())?,
            s.is_active,
            serde_json::to_string(&s.headers)?,
            serde_json::to_string(&s.retry_schedule)?,
            s.retry_schedule.len() as i64,
            s.timeout_seconds,
            s.notification_email.as_ref().map(Email::as_str),
            secret_enc,
            now
        ],
    )?;
    Ok(conn.last_insert_rowid())
}

/// Replaces the settings. Turning a webhook on clears why it was disabled.
pub fn update_webhook(
    conn: &Connection,
    workspace_id: i64,
    id: i64,
    s: &WebhookSettings,
) -> Result<bool, DbError> {
    let n = conn.execute(
        "UPDATE webhooks SET name = ?3, description = ?4, url = ?5, events = ?6, headers = ?7, retry_schedule = ?8,
             retry_count = ?9, timeout_seconds = ?10, notification_email = ?11, updated_at = ?12,
             disabled_at = CASE WHEN ?13 THEN NULL ELSE disabled_at END,
             disabled_reason = CASE WHEN ?13 THEN NULL ELSE disabled_reason END,
             failing_since = CASE WHEN ?13 AND is_active = 0 THEN NULL ELSE failing_since END,
             is_active = ?13
         WHERE id = ?1 AND workspace_id = ?2",
        params![
            id,
            workspace_id,
            s.name,
            s.description,
            s.url.as_str(),
            serde_json::to_string(&s.events.to_list())?,
            serde_json::to_string(&s.headers)?,
            serde_json::to_string(&s.retry_schedule)?,
            s.retry_schedule.len() as i64,
            s.timeout_seconds,
            s.notification_email.as_ref().map(Email::as_str),
            now_ms(),
            s.is_active
        ],
    )?;
    Ok(n == 1)
}

pub fn get_webhook(
    conn: &Connection,
    workspace_id: i64,
    id: i64,
) -> Result<Option<WebhookRow>, DbError> {
    Ok(conn
        .query_row(
            &format!("SELECT {WEBHOOK_COLS} FROM webhooks WHERE id = ?1 AND workspace_id = ?2"),
            params![id, workspace_id],
            map_webhook,
        )
        .optional()?)
}

/// Any workspace's webhook: for the delivery engine only.
pub fn get_webhook_any(conn: &Connection, id: i64) -> Result<Option<WebhookRow>, DbError> {
    Ok(conn
        .query_row(
            &format!("SELECT {WEBHOOK_COLS} FROM webhooks WHERE id = ?1"),
            [id],
            map_webhook,
        )
        .optional()?)
}

/// A page of webhooks, oldest first, after the id `after`.
pub fn list_webhooks(
    conn: &Connection,
    workspace_id: i64,
    after: i64,
    limit: usize,
) -> Result<Vec<WebhookRow>, DbError> {
    let mut st = conn.prepare_cached(&format!(
        "SELECT {WEBHOOK_COLS} FROM webhooks WHERE workspace_id = ?1 AND id > ?2 ORDER BY id LIMIT ?3"
    ))?;
    let rows = st
        .query_map(params![workspace_id, after, limit as i64], map_webhook)?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}

/// How many webhooks are switched off (by people or automatically), in all workspaces.
pub fn count_inactive_webhooks(conn: &Connection) -> Result<i64, DbError> {
    Ok(conn.query_row(
        "SELECT count(*) FROM webhooks WHERE is_active = 0",
        [],
        |r| r.get(0),
    )?)
}

/// Records who made the webhook's latest change.
pub fn set_changed_by(conn: &Connection, id: i64, by: &str) -> Result<(), DbError> {
    conn.prepare_cached("UPDATE webhooks SET changed_by = ?2 WHERE id = ?1")?
        .execute(params![id, by])?;
    Ok(())
}

pub fn delete_webhook(conn: &Connection, workspace_id: i64, id: i64) -> Result<bool, DbError> {
    Ok(conn.execute(
        "DELETE FROM webhooks WHERE id = ?1 AND workspace_id = ?2",
        params![id, workspace_id],
    )? == 1)
}

/// Installs a new secret; the old one keeps signing until `previous_expires_at`.
pub fn rotate_secret(
    conn: &Connection,
    workspace_id: i64,
    id: i64,
    new_enc: &[u8],
    previous_expires_at: i64,
) -> Result<bool, DbError> {
    Ok(conn.execute(
        "UPDATE webhooks SET previous_secret_enc = secret_enc, previous_secret_expires_at = ?4, secret_enc = ?3, updated_at = ?5
         WHERE id = ?1 AND workspace_id = ?2",
        params![id, workspace_id, new_enc, previous_expires_at, now_ms()],
    )? == 1)
}

// ---- events and fan-out ----

pub struct NewEvent<'a> {
    pub public_id: &'a str,
    pub event_type: &'a str,
    pub body: &'a str,
    pub created_at: i64,
}

#[derive(Debug, Clone)]
pub struct EventRow {
    pub id: i64,
    pub public_id: String,
    pub event_type: String,
    pub body: String,
    pub created_at: i64,
}

pub fn get_event(
    conn: &Connection,
    workspace_id: i64,
    public_id: &str,
) -> Result<Option<EventRow>, DbError> {
    Ok(conn
        .query_row(
            "SELECT id, public_id, type, body, created_at FROM events WHERE public_id = ?1 AND workspace_id = ?2",
            params![public_id, workspace_id],
            |r| Ok(EventRow { id: r.get(0)?, public_id: r.get(1)?, event_type: r.get(2)?, body: r.get(3)?, created_at: r.get(4)? }),
        )
        .optional()?)
}

// ---- idempotency ----

pub enum Idempotent {
    /// Not seen: go ahead.
    New,
    /// Seen with the same body: here is the first answer.
    Replay { status: u16, body: String },
    /// Seen with another body.
    Mismatch,
}

pub const IDEMPOTENCY_TTL_MS: i64 = 24 * 3600 * 1000;

pub fn idempotency_lookup(
    conn: &Connection,
    workspace_id: i64,
    route: &str,
    key: &str,
    request_hash: &[u8],
) -> Result<Idempotent, DbError> {
    let row: Option<(Vec<u8>, u16, String)> = conn
        .prepare_cached(
            "SELECT request_hash, response_status, response_body FROM idempotency_keys
             WHERE workspace_id = ?1 AND route = ?2 AND key = ?3 AND created_at > ?4",
        )?
        .query_row(
            params![workspace_id, route, key, now_ms() - IDEMPOTENCY_TTL_MS],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .optional()?;
    Ok(match row {
        None => Idempotent::New,
        Some((h, status, body)) if h == request_hash => Idempotent::Replay { status, body },
        Some(_) => Idempotent::Mismatch,
    })
}

pub fn idempotency_store(
    conn: &Connection,
    workspace_id: i64,
    route: &str,
    key: &str,
    request_hash: &[u8],
    status: u16,
    body: &str,
) -> Result<(), DbError> {
    conn.prepare_cached(
        "INSERT OR REPLACE INTO idempotency_keys (workspace_id, key, route, request_hash, response_status, response_body, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?
    .execute(params![workspace_id, key, route, request_hash, status, body, now_ms()])?;
    Ok(())
}

// ---- deliveries ----

#[derive(Debug, Clone)]
pub struct DeliveryRow {
    pub id: i64,
    pub webhook_id: i64,
    pub event_id: i64,
    pub event_public_id: String,
    pub event_type: String,
    pub status: DeliveryStatus,
    pub attempt_count: i64,
    pub next_attempt_at: Option<i64>,
    pub last_status_code: Option<i64>,
    pub last_duration_ms: Option<i64>,
    pub last_error: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
    /// The first [`PREVIEW_HEAD`] characters of the event body, for previews; one more when
    /// the body is longer, so a reader can tell a whole body from a cut one.
    pub preview: String,
    /// The replay job that made this delivery, if one did.
    pub job_id: Option<i64>,
}

/// How many characters of an event body a delivery row carries for its preview.
pub const PREVIEW_HEAD: usize = 300;

const DELIVERY_COLS: &str = "d.id, d.webhook_id, d.event_id, e.public_id, d.event_type, d.status, d.attempt_count, \
    d.next_attempt_at, d.last_status_code, d.last_duration_ms, d.last_error, d.created_at, d.updated_at, substr(e.body, 1, 301), d.job_id";

fn map_delivery(r: &rusqlite::Row) -> rusqlite::Result<DeliveryRow> {
    Ok(DeliveryRow {
        id: r.get(0)?,
        webhook_id: r.get(1)?,
        event_id: r.get(2)?,
        event_public_id: r.get(3)?,
        event_type: r.get(4)?,
        status: r.get(5)?,
        attempt_count: r.get(6)?,
        next_attempt_at: r.get(7)?,
        last_status_code: r.get(8)?,
        last_duration_ms: r.get(9)?,
        last_error: r.get(10)?,
        created_at: r.get(11)?,
        updated_at: r.get(12)?,
        preview: r.get(13)?,
        job_id: r.get(14)?,
    })
}

impl rusqlite::types::FromSql for DeliveryStatus {
    fn column_result(v: rusqlite::types::ValueRef<'_>) -> rusqlite::types::FromSqlResult<Self> {
        let s = v.as_str()?;
        DeliveryStatus::parse(s).map_err(|e| rusqlite::types::FromSqlError::Other(Box::new(e)))
    }
}

impl rusqlite::types::ToSql for DeliveryStatus {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        Ok(self.as_str().into())
    }
}

/// A page of deliveries of the workspace (or of one webhook), newest first, with ids below
/// `before`, matching every filter. Each walks one index backwards: `deliveries_webhook*` for
/// a webhook, `deliveries_workspace` otherwise. A time window becomes an id range first
/// (ids and creation times grow together; see [`super::by_time`]), so the scan starts and
/// stops at the window's edges; the times are still checked on every row.
pub fn list_deliveries(
    conn: &Connection,
    workspace_id: i64,
    webhook_id: Option<i64>,
    filter: &DeliveryFilter,
    before: i64,
    limit: usize,
) -> Result<Vec<DeliveryRow>, DbError> {
    Ok(search_deliveries(conn, workspace_id, webhook_id, filter, before, limit)?.rows)
}

/// The predicate of `deliveries_webhook_failing` (schema v10), which indexes a webhook's
/// deliveries by status only while they are retrying or failed. SQLite walks a partial index
/// only for a query whose WHERE holds its predicate as written, so a query filtering on one
/// of these statuses adds this term beside its `status = ?`. (`status` unqualified: the
/// searches join `events`, which has no such column.)
pub(super) const FAILING: &str = "(status = 'retrying' OR status = 'failed')";

/// Whether a webhook's deliveries of this status have an index of their own
/// (`deliveries_webhook_failing`); the others are checked on the rows of the webhook's.
pub(super) fn status_indexed(status: DeliveryStatus) -> bool {
    matches!(status, DeliveryStatus::Retrying | DeliveryStatus::Failed)
}

/// Rows one filtered search looks through at most (see [`search_deliveries`]).
pub const SEARCH_SPAN: i64 = 50_000;

/// A page of a search.
#[derive(Debug, Default)]
pub struct DeliveryPage {
    /// Newest first, at most the limit asked for.
    pub rows: Vec<DeliveryRow>,
    /// The search stopped at [`SEARCH_SPAN`] rows with more below: continue with ids below
    /// this (a page can then hold fewer rows than asked for, even none, and still go on).
    pub resume_before: Option<i64>,
}

/// [`list_deliveries`], bounded: a filter that the index walked does not answer by itself
/// (a status or event type across the workspace, an HTTP status anywhere) is checked on at
/// most [`SEARCH_SPAN`] rows per call, so a filter matching nothing in a million rows answers
/// as fast as one matching everything. The page then says where to resume.
pub fn search_deliveries(
    conn: &Connection,
    workspace_id: i64,
    webhook_id: Option<i64>,
    filter: &DeliveryFilter,
    before: i64,
    limit: usize,
) -> Result<DeliveryPage, DbError> {
    let webhook_id = webhook_id.or(filter.webhook_id);
    let mut before = before;
    let mut from_id = 0i64;
    if let Some(since) = filter.since {
        match by_time::first_delivery_from(conn, workspace_id, since)? {
            Some(id) => from_id = id,
            None => return Ok(DeliveryPage::default()),
        }
    }
    if let Some(until) = filter.until {
        if let Some(id) = by_time::first_delivery_past(conn, workspace_id, until)? {
            before = before.min(id);
        }
    }
    let event_id = match &filter.event_id {
        None => None,
        Some(public) => match conn
            .prepare_cached("SELECT id FROM events WHERE public_id = ?1 AND workspace_id = ?2")?
            .query_row(params![public, workspace_id], |r| r.get::<_, i64>(0))
            .optional()?
        {
            Some(id) => Some(id),
            None => return Ok(DeliveryPage::default()),
        },
    };
    // Which filters the index walk leaves to row checks: those get a bounded span. (A
    // webhook's event type, and its retrying or failed deliveries, have their own indexes;
    // an event's deliveries are few.)
    let checked_on_rows = event_id.is_none()
        && (filter.http_status.is_some()
            || (webhook_id.is_none() && (filter.status.is_some() || filter.event_type.is_some()))
            || (filter.status.is_some() && filter.event_type.is_some())
            || filter.status.is_some_and(|s| !status_indexed(s)));
    let mut resume_before = None;
    if checked_on_rows {
        // The id SEARCH_SPAN rows down the (covering) index: rows below it wait for the next call.
        let floor: Option<i64> = match webhook_id {
            Some(w) => conn
                .prepare_cached("SELECT id FROM deliveries WHERE webhook_id = ?1 AND id < ?2 ORDER BY id DESC LIMIT 1 OFFSET ?3")?
                .query_row(params![w, before, SEARCH_SPAN], |r| r.get(0))
                .optional()?,
            None => conn
                .prepare_cached("SELECT id FROM deliveries WHERE workspace_id = ?1 AND id < ?2 ORDER BY id DESC LIMIT 1 OFFSET ?3")?
                .query_row(params![workspace_id, before, SEARCH_SPAN], |r| r.get(0))
                .optional()?,
        };
        if let Some(floor) = floor.filter(|f| *f >= from_id) {
            from_id = floor + 1;
            resume_before = Some(floor + 1);
        }
    }
    let page = PageQuery {
        workspace_id,
        before,
        from_id,
        webhook_id,
        event_id,
        filter,
        event_type: filter.event_type.as_ref().map(|t| t.as_str()),
        codes: filter.http_status.map(|h| h.range()),
        limit: limit as i64,
    };
    let (sql, args) = page.sql();
    let mut st = conn.prepare_cached(&sql)?;
    let rows: Vec<DeliveryRow> = st
        .query_map(args.as_slice(), map_delivery)?
        .collect::<Result<_, _>>()?;
    // A full page ends the call where it is; the span's end matters only to a short one.
    let resume_before = resume_before.filter(|_| rows.len() < limit);
    Ok(DeliveryPage {
        rows,
        resume_before,
    })
}

/// One page's query of [`search_deliveries`], once the event's id and the id range are known.
struct PageQuery<'a> {
    workspace_id: i64,
    /// Ids below this...
    before: i64,
    /// ...and at or above this.
    from_id: i64,
    webhook_id: Option<i64>,
    event_id: Option<i64>,
    filter: &'a DeliveryFilter,
    /// The filter's event type, as text.
    event_type: Option<&'a str>,
    /// The HTTP status filter as a range of codes.
    codes: Option<(i64, i64)>,
    limit: i64,
}

impl PageQuery<'_> {
    /// The statement and its arguments.
    fn sql(&self) -> (String, Vec<&dyn rusqlite::ToSql>) {
        // Which index to walk. SQLite has no statistics here and, left to itself, walks the
        // whole workspace's index for one webhook's rows, and the webhook's rather than its
        // event type's. So with a webhook the workspace is checked on the rows (`+`: not an
        // index term), and an event type names its index, unless a retrying or failed
        // status has the (smaller, partial) index that SQLite then prefers.
        let webhook = self.webhook_id.is_some();
        let typed =
            webhook && self.event_type.is_some() && !self.filter.status.is_some_and(status_indexed);
        let mut sql = format!(
            "SELECT {DELIVERY_COLS} FROM deliveries d {} JOIN events e ON e.id = d.event_id
             WHERE {}d.workspace_id = ?1 AND d.id < ?2 AND d.id >= ?3",
            if typed {
                "INDEXED BY deliveries_webhook_type"
            } else {
                ""
            },
            if webhook { "+" } else { "" }
        );
        let mut args: Vec<&dyn rusqlite::ToSql> =
            vec![&self.workspace_id, &self.before, &self.from_id];
        let and = |sql: &mut String, cond: &str, args: &mut Vec<&dyn rusqlite::ToSql>| {
            sql.push_str(&cond.replace('?', &format!("?{}", args.len())));
        };
        let f = self.filter;
        if let Some(w) = &self.webhook_id {
            args.push(w);
            and(&mut sql, " AND d.webhook_id = ?", &mut args);
        }
        if let Some(s) = &f.status {
            args.push(s);
            and(&mut sql, " AND d.status = ?", &mut args);
            if status_indexed(*s) {
                sql.push_str(" AND ");
                sql.push_str(FAILING);
            }
        }
        if let Some(t) = &self.event_type {
            args.push(t);
            and(&mut sql, " AND d.event_type = ?", &mut args);
        }
        if let Some(e) = &self.event_id {
            args.push(e);
            and(&mut sql, " AND d.event_id = ?", &mut args);
        }
        if let Some((lo, hi)) = &self.codes {
            args.push(lo);
            and(&mut sql, " AND d.last_status_code >= ?", &mut args);
            args.push(hi);
            and(&mut sql, " AND d.last_status_code <= ?", &mut args);
        }
        if let Some(since) = &f.since {
            args.push(since);
            and(&mut sql, " AND d.created_at >= ?", &mut args);
        }
        if let Some(until) = &f.until {
            args.push(until);
            and(&mut sql, " AND d.created_at < ?", &mut args);
        }
        args.push(&self.limit);
        and(&mut sql, " ORDER BY d.id DESC LIMIT ?", &mut args);
        (sql, args)
    }
}

pub fn get_delivery(
    conn: &Connection,
    workspace_id: i64,
    id: i64,
) -> Result<Option<DeliveryRow>, DbError> {
    Ok(conn
        .query_row(
            &format!("SELECT {DELIVERY_COLS} FROM deliveries d JOIN events e ON e.id = d.event_id WHERE d.id = ?1 AND d.workspace_id = ?2"),
            params![id, workspace_id],
            map_delivery,
        )
        .optional()?)
}

pub fn deliveries_of_event(
    conn: &Connection,
    workspace_id: i64,
    event_id: i64,
) -> Result<Vec<DeliveryRow>, DbError> {
    let mut st = conn.prepare_cached(&format!(
        "SELECT {DELIVERY_COLS} FROM deliveries d JOIN events e ON e.id = d.event_id
         WHERE d.event_id = ?1 AND d.workspace_id = ?2 ORDER BY d.id"
    ))?;
    let rows = st
        .query_map(params![event_id, workspace_id], map_delivery)?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}

#[derive(Debug, Clone)]
pub struct AttemptRow {
    pub id: i64,
    pub attempt_number: i64,
    pub started_at: i64,
    pub duration_ms: Option<i64>,
    pub request_headers: BTreeMap<String, String>,
    pub response_status: Option<i64>,
    pub response_headers: Option<BTreeMap<String, String>>,
    pub response_body: Option<Vec<u8>>,
    pub error: Option<String>,
}

/// The newest `limit` attempts of a delivery, oldest first.
pub fn newest_attempts_of(
    conn: &Connection,
    delivery_id: i64,
    limit: usize,
) -> Result<Vec<AttemptRow>, DbError> {
    let mut st = conn.prepare_cached(
        "SELECT * FROM (SELECT id, attempt_number, started_at, duration_ms, request_headers, response_status,
                response_headers, response_body, error
             FROM attempts WHERE delivery_id = ?1 ORDER BY id DESC LIMIT ?2) ORDER BY id",
    )?;
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let rows = st
        .query_map(params![delivery_id, limit], |r| {
            let rh: Option<String> = r.get(6)?;
            Ok(AttemptRow {
                id: r.get(0)?,
                attempt_number: r.get(1)?,
                started_at: r.get(2)?,
                duration_ms: r.get(3)?,
                request_headers: json_col(r, 4)?,
                response_status: r.get(5)?,
                response_headers: rh.and_then(|s| serde_json::from_str(&s).ok()),
                response_body: r.get(7)?,
                error: r.get(8)?,
            })
        })?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}

/// How many attempts a delivery has had.
pub fn attempt_count(conn: &Connection, delivery_id: i64) -> Result<usize, DbError> {
    let n: i64 = conn
        .prepare_cached("SELECT count(*) FROM attempts WHERE delivery_id = ?1")?
        .query_row([delivery_id], |r| r.get(0))?;
    Ok(n as usize)
}

/// The response body attempt `number` of a delivery stored, if it got a response.
pub fn attempt_response_body(
    conn: &Connection,
    delivery_id: i64,
    number: i64,
) -> Result<Option<Option<Vec<u8>>>, DbError> {
    Ok(conn
        .prepare_cached(
            "SELECT response_body FROM attempts WHERE delivery_id = ?1 AND attempt_number = ?2
             ORDER BY id DESC LIMIT 1",
        )?
        .query_row(params![delivery_id, number], |r| r.get(0))
        .optional()?)
}

/// The event body of a delivery (what is signed and sent).
pub fn event_body(conn: &Connection, event_id: i64) -> Result<Option<String>, DbError> {
    Ok(conn
        .query_row("SELECT body FROM events WHERE id = ?1", [event_id], |r| {
            r.get(0)
        })
        .optional()?)
}

/// Webhook id → the status of its newest delivery and that delivery's last HTTP status code.
pub type LastDeliveries = std::collections::HashMap<i64, (String, Option<i64>)>;

/// The newest delivery of every webhook of a workspace: webhook id → (status, last HTTP
/// status code). One query; each webhook's lookup walks the `deliveries_webhook` index.
pub fn last_delivery_by_webhook(
    conn: &Connection,
    workspace_id: i64,
) -> Result<LastDeliveries, DbError> {
    let mut st = conn.prepare_cached(
        "SELECT w.id, d.status, d.last_status_code FROM webhooks w
         JOIN deliveries d ON d.id = (SELECT max(x.id) FROM deliveries x WHERE x.webhook_id = w.id)
         WHERE w.workspace_id = ?1",
    )?;
    let rows = st
        .query_map([workspace_id], |r| Ok((r.get(0)?, (r.get(1)?, r.get(2)?))))?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}

// ---- units of work: the store's SQLite backend (see `crate::store`) ----

/// The plan check, run inside the write that makes the change (so two creations at once
/// cannot both take the last place). Only a creation needs the count.
fn plan_refuses(
    c: &Connection,
    ws: i64,
    creating: bool,
) -> Result<Option<crate::domain::PlanRefusal>, DbError> {
    let Some(w) = super::workspaces::workspace_by_id(c, ws)? else {
        return Ok(None);
    };
    let count = if creating && w.webhooks_enabled && w.max_webhooks.is_some() {
        super::workspaces::count_webhooks(c, ws)?
    } else {
        0
    };
    Ok(crate::domain::plan_refusal(
        w.webhooks_enabled,
        w.max_webhooks,
        count,
        creating,
    ))
}

impl super::Db {
    pub async fn webhook_plan(
        &self,
        ws: i64,
    ) -> Result<Option<crate::domain::PlanRefusal>, DbError> {
        self.read(move |c| plan_refuses(c, ws, false)).await
    }

    pub async fn webhook_create(
        &self,
        ws: i64,
        settings: WebhookSettings,
        secret_enc: Vec<u8>,
        by: String,
    ) -> Result<Result<WebhookRow, crate::domain::PlanRefusal>, DbError> {
        self.write(move |c| {
            if let Some(refusal) = plan_refuses(c, ws, true)? {
                return Ok(Err(refusal));
            }
            let id = insert_webhook(c, ws, &settings, &secret_enc)?;
            set_changed_by(c, id, &by)?;
            let row = get_webhook(c, ws, id)?.expect("the webhook was just stored");
            Ok(Ok(row))
        })
        .await
    }

    pub async fn webhook_get(&self, ws: i64, id: i64) -> Result<Option<WebhookRow>, DbError> {
        self.read(move |c| get_webhook(c, ws, id)).await
    }

    pub async fn webhooks_page(
        &self,
        ws: i64,
        after: i64,
        limit: usize,
    ) -> Result<Vec<WebhookRow>, DbError> {
        self.read(move |c| list_webhooks(c, ws, after, limit)).await
    }

    pub async fn webhooks_with_last_delivery(
        &self,
        ws: i64,
        after: i64,
        limit: usize,
    ) -> Result<(Vec<WebhookRow>, LastDeliveries), DbError> {
        self.read(move |c| {
            Ok((
                list_webhooks(c, ws, after, limit)?,
                last_delivery_by_webhook(c, ws)?,
            ))
        })
        .await
    }

    pub async fn webhook_save(
        &self,
        ws: i64,
        id: i64,
        settings: WebhookSettings,
        by: String,
    ) -> Result<Option<WebhookRow>, DbError> {
        self.write(move |c| {
            if !update_webhook(c, ws, id, &settings)? {
                return Ok(None);
            }
            set_changed_by(c, id, &by)?;
            get_webhook(c, ws, id)
        })
        .await
    }

    pub async fn webhook_delete(&self, ws: i64, id: i64) -> Result<bool, DbError> {
        self.write(move |c| delete_webhook(c, ws, id)).await
    }

    pub async fn webhook_rotate(
        &self,
        ws: i64,
        id: i64,
        secret_enc: Vec<u8>,
        previous_expires_at: i64,
        by: String,
    ) -> Result<bool, DbError> {
        self.write(move |c| {
            let done = rotate_secret(c, ws, id, &secret_enc, previous_expires_at)?;
            if done {
                set_changed_by(c, id, &by)?;
            }
            Ok(done)
        })
        .await
    }

    pub async fn webhooks_inactive_count(&self) -> Result<i64, DbError> {
        self.read(count_inactive_webhooks).await
    }

    pub async fn event_type_by_name(
        &self,
        name: &str,
    ) -> Result<Option<super::repo::EventTypeRow>, DbError> {
        let name = name.to_string();
        self.read(move |c| super::repo::event_type_by_name(c, &name))
            .await
    }
}

/// A delivery with what it sent and its attempts.
#[derive(Debug, Clone)]
pub struct DeliveryDetail {
    pub delivery: DeliveryRow,
    /// The request body, byte-identical on every attempt to what was signed.
    pub payload: String,
    /// Oldest first: every attempt, or the newest ones when the read was limited.
    pub attempts: Vec<AttemptRow>,
    /// How many attempts there are in all.
    pub attempts_total: usize,
}

impl super::Db {
    pub async fn deliveries_page(
        &self,
        ws: i64,
        webhook: Option<i64>,
        filter: DeliveryFilter,
        before: i64,
        limit: usize,
    ) -> Result<Option<Vec<DeliveryRow>>, DbError> {
        Ok(self
            .deliveries_search(ws, webhook, filter, before, limit)
            .await?
            .map(|p| p.rows))
    }

    pub async fn deliveries_search(
        &self,
        ws: i64,
        webhook: Option<i64>,
        filter: DeliveryFilter,
        before: i64,
        limit: usize,
    ) -> Result<Option<DeliveryPage>, DbError> {
        self.read(move |c| {
            if let Some(w) = webhook {
                if get_webhook(c, ws, w)?.is_none() {
                    return Ok(None);
                }
            }
            Ok(Some(search_deliveries(
                c, ws, webhook, &filter, before, limit,
            )?))
        })
        .await
    }

    pub async fn delivery_get(&self, ws: i64, id: i64) -> Result<Option<DeliveryRow>, DbError> {
        self.read(move |c| get_delivery(c, ws, id)).await
    }

    pub async fn delivery_detail(
        &self,
        ws: i64,
        id: i64,
        limit: Option<usize>,
    ) -> Result<Option<DeliveryDetail>, DbError> {
        self.read(move |c| {
            let Some(delivery) = get_delivery(c, ws, id)? else {
                return Ok(None);
            };
            let payload = event_body(c, delivery.event_id)?.unwrap_or_default();
            let attempts = newest_attempts_of(c, delivery.id, limit.unwrap_or(usize::MAX))?;
            let attempts_total = match limit {
                Some(l) if attempts.len() >= l => attempt_count(c, delivery.id)?,
                _ => attempts.len(),
            };
            Ok(Some(DeliveryDetail {
                delivery,
                payload,
                attempts,
                attempts_total,
            }))
        })
        .await
    }

    pub async fn delivery_payload(
        &self,
        ws: i64,
        id: i64,
    ) -> Result<Option<(String, String)>, DbError> {
        self.read(move |c| {
            let Some(d) = get_delivery(c, ws, id)? else {
                return Ok(None);
            };
            Ok(event_body(c, d.event_id)?.map(|b| (d.event_public_id, b)))
        })
        .await
    }

    pub async fn attempt_response(
        &self,
        ws: i64,
        id: i64,
        number: i64,
    ) -> Result<Option<Vec<u8>>, DbError> {
        self.read(move |c| {
            if get_delivery(c, ws, id)?.is_none() {
                return Ok(None);
            }
            Ok(attempt_response_body(c, id, number)?.flatten())
        })
        .await
    }

    pub async fn webhook_hours(
        &self,
        ws: i64,
        webhook: i64,
        from: i64,
        to: i64,
    ) -> Result<Option<std::collections::BTreeMap<i64, super::stats::HourStats>>, DbError> {
        self.read(move |c| {
            if get_webhook(c, ws, webhook)?.is_none() {
                return Ok(None);
            }
            Ok(Some(super::stats::hours(c, webhook, from, to)?))
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::test_support::plan;

    /// Two workspaces with one webhook each; webhook 1's deliveries take the statuses given,
    /// oldest first (ids from 1).
    fn stored(statuses: &[&str]) -> (tempfile::TempDir, Connection) {
        let (dir, c) = crate::db::test_support::two_workspaces();
        c.execute_batch(
            "INSERT INTO events (id, public_id, workspace_id, type, body, created_at) VALUES (1, 'evt_1', 1, 't', '{}', 0);
             BEGIN;",
        )
        .unwrap();
        let mut add = c
            .prepare(
                "INSERT INTO deliveries (workspace_id, webhook_id, event_id, event_type, status, next_attempt_at, created_at, updated_at)
                 VALUES (1, 1, 1, 't', ?1, CASE WHEN ?1 IN ('pending', 'retrying') THEN 0 END, 0, 0)",
            )
            .unwrap();
        for s in statuses {
            add.execute([s]).unwrap();
        }
        drop(add);
        c.execute_batch("COMMIT").unwrap();
        (dir, c)
    }

    fn filter(status: DeliveryStatus) -> DeliveryFilter {
        DeliveryFilter {
            status: Some(status),
            ..Default::default()
        }
    }

    #[test]
    fn the_failing_term_is_the_partial_indexs_predicate_as_written() {
        let (_dir, c) = stored(&[]);
        let sql: String = c
            .query_row(
                "SELECT sql FROM sqlite_schema WHERE type = 'index' AND name = 'deliveries_webhook_failing'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        let predicate = sql.split_once(" WHERE ").unwrap().1.trim();
        assert_eq!(format!("({predicate})"), FAILING);
        let unindexed: Vec<_> = DeliveryStatus::ALL
            .into_iter()
            .filter(|s| !FAILING.contains(&format!("'{}'", s.as_str())))
            .collect();
        for s in DeliveryStatus::ALL {
            assert_eq!(status_indexed(s), !unindexed.contains(&s), "{s:?}");
        }
    }

    /// The plan of a page's statement as [`search_deliveries`] makes it, and of the same
    /// without [`FAILING`] if it has that term.
    fn page_plans(
        c: &Connection,
        webhook: Option<i64>,
        f: &DeliveryFilter,
    ) -> (String, Option<String>) {
        let page = PageQuery {
            workspace_id: 1,
            before: i64::MAX,
            from_id: 0,
            webhook_id: webhook,
            event_id: None,
            filter: f,
            event_type: f.event_type.as_ref().map(|t| t.as_str()),
            codes: f.http_status.map(|h| h.range()),
            limit: 50,
        };
        let (sql, args) = page.sql();
        let p = plan(c, &sql, args.as_slice());
        assert!(
            !p.contains("TEMP B-TREE") && !p.contains("SCAN d"),
            "{f:?}: {p}"
        );
        let bare = sql.replace(&format!(" AND {FAILING}"), "");
        (p, (bare != sql).then(|| plan(c, &bare, args.as_slice())))
    }

    /// A list walks one index in id order and never sorts: a webhook's list walks the
    /// webhook's rows (never the whole workspace's), its retrying or failed ones the partial
    /// index (which the statement may use only with the term), its event type that index.
    #[test]
    fn each_list_walks_the_narrowest_index_without_sorting() {
        let (_dir, c) = stored(&["pending", "succeeded", "failed", "retrying"]);
        let typed = |status: Option<DeliveryStatus>| DeliveryFilter {
            status,
            event_type: Some(crate::domain::EventTypeName::parse("t").unwrap()),
            ..Default::default()
        };
        let cases: Vec<(Option<i64>, DeliveryFilter, &str)> = vec![
            (Some(1), DeliveryFilter::default(), "deliveries_webhook "),
            (
                Some(1),
                filter(DeliveryStatus::Pending),
                "deliveries_webhook ",
            ),
            (
                Some(1),
                filter(DeliveryStatus::Succeeded),
                "deliveries_webhook ",
            ),
            (
                Some(1),
                filter(DeliveryStatus::Retrying),
                "deliveries_webhook_failing ",
            ),
            (
                Some(1),
                filter(DeliveryStatus::Failed),
                "deliveries_webhook_failing ",
            ),
            (Some(1), typed(None), "deliveries_webhook_type "),
            (
                Some(1),
                typed(Some(DeliveryStatus::Succeeded)),
                "deliveries_webhook_type ",
            ),
            (
                Some(1),
                typed(Some(DeliveryStatus::Failed)),
                "deliveries_webhook_failing ",
            ),
            (None, DeliveryFilter::default(), "deliveries_workspace "),
            (
                None,
                filter(DeliveryStatus::Failed),
                "deliveries_workspace ",
            ),
            (None, typed(None), "deliveries_workspace "),
        ];
        for (webhook, f, index) in cases {
            let (p, bare) = page_plans(&c, webhook, &f);
            assert!(p.contains(index), "{webhook:?} {f:?}: {p}");
            assert_eq!(bare.is_some(), f.status.is_some_and(status_indexed));
            if index.starts_with("deliveries_webhook_failing") {
                // Without the term SQLite cannot tell that the index holds these rows.
                let bare = bare.unwrap();
                assert!(!bare.contains("deliveries_webhook_failing"), "{bare}");
            }
        }
    }

    /// Every status finds exactly its rows, on the webhook's list and workspace-wide.
    #[test]
    fn each_status_lists_its_deliveries_newest_first() {
        let statuses = ["pending", "succeeded", "failed", "retrying"];
        let all: Vec<&str> = (0..40).map(|i| statuses[(i * 7 / 3) % 4]).collect();
        let (_dir, c) = stored(&all);
        for status in DeliveryStatus::ALL {
            let want: Vec<i64> = (1..=all.len() as i64)
                .rev()
                .filter(|id| all[*id as usize - 1] == status.as_str())
                .collect();
            assert!(!want.is_empty());
            for webhook in [Some(1), None] {
                let page =
                    search_deliveries(&c, 1, webhook, &filter(status), i64::MAX, 100).unwrap();
                let got: Vec<i64> = page.rows.iter().map(|r| r.id).collect();
                assert_eq!(got, want, "{status:?} on {webhook:?}");
                assert!(page.rows.iter().all(|r| r.status == status));
                assert_eq!(page.resume_before, None);
            }
            assert!(
                search_deliveries(&c, 2, Some(2), &filter(status), i64::MAX, 100)
                    .unwrap()
                    .rows
                    .is_empty()
            );
        }
    }

    /// A status the webhook's index walk checks on the rows looks through a bounded span per
    /// call, and the page says where to go on: a needle far below a haystack is still found.
    #[test]
    fn an_unindexed_status_far_down_is_found_by_resuming() {
        let mut all = vec!["pending"];
        all.extend(std::iter::repeat_n("succeeded", SEARCH_SPAN as usize + 10));
        let (_dir, c) = stored(&all);
        let f = filter(DeliveryStatus::Pending);
        let first = search_deliveries(&c, 1, Some(1), &f, i64::MAX, 20).unwrap();
        assert!(first.rows.is_empty());
        let resume = first
            .resume_before
            .expect("a bounded search says where to go on");
        assert!(resume > 1);
        let next = search_deliveries(&c, 1, Some(1), &f, resume, 20).unwrap();
        assert_eq!(next.rows.iter().map(|r| r.id).collect::<Vec<_>>(), vec![1]);
        assert_eq!(next.resume_before, None);
        // Failed has its own index: no span, nothing to resume.
        let failed = search_deliveries(
            &c,
            1,
            Some(1),
            &filter(DeliveryStatus::Failed),
            i64::MAX,
            20,
        )
        .unwrap();
        assert!(failed.rows.is_empty());
        assert_eq!(failed.resume_before, None);
    }
}
