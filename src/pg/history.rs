//! Delivery history on PostgreSQL: lists and bounded searches, one delivery with its payload
//! and attempts, stored response bodies, an event with its deliveries, and hourly health.
//! The search walks the same indexes as on SQLite and stops after `SEARCH_SPAN` rows when a
//! filter is checked on rows rather than by an index.

use std::collections::BTreeMap;
use std::sync::Arc;

use deadpool_postgres::GenericClient;
use tokio_postgres::types::ToSql;
use tokio_postgres::Row;

use super::PgStore;
use crate::domain::{DeliveryFilter, DeliveryStatus};
use crate::store::types::{
    AttemptRow, DeliveryDetail, DeliveryPage, DeliveryRow, EventRow, HourStats, StoreError,
    SEARCH_SPAN,
};

type Result<T> = std::result::Result<T, StoreError>;

pub(super) const DELIVERY_COLS: &str = "d.id, d.webhook_id, d.event_id, e.public_id, d.event_type, d.status, d.attempt_count, \
    d.next_attempt_at, d.last_status_code, d.last_duration_ms, d.last_error, d.created_at, d.updated_at, substr(e.body, 1, 301), d.job_id";

pub(super) fn delivery(r: &Row) -> DeliveryRow {
    DeliveryRow {
        id: r.get(0),
        webhook_id: r.get(1),
        event_id: r.get(2),
        event_public_id: r.get(3),
        event_type: r.get(4),
        status: DeliveryStatus::parse(r.get::<_, &str>(5)).unwrap_or(DeliveryStatus::Failed),
        attempt_count: r.get(6),
        next_attempt_at: r.get(7),
        last_status_code: r.get(8),
        last_duration_ms: r.get(9),
        last_error: r.get(10),
        created_at: r.get(11),
        updated_at: r.get(12),
        preview: r.get(13),
        job_id: r.get(14),
    }
}

pub(super) async fn delivery_of<C: GenericClient>(
    c: &C,
    ws: i64,
    id: i64,
) -> Result<Option<DeliveryRow>> {
    Ok(c.query_opt(
        &format!(
            "SELECT {DELIVERY_COLS} FROM deliveries d JOIN events e ON e.id = d.event_id
                 WHERE d.id = $1 AND d.workspace_id = $2"
        ),
        &[&id, &ws],
    )
    .await?
    .as_ref()
    .map(delivery))
}

/// The workspace's first delivery made at or after `at` (its id), if any.
pub(super) async fn first_delivery_at<C: GenericClient>(
    c: &C,
    ws: i64,
    at: i64,
) -> Result<Option<i64>> {
    Ok(c.query_opt(
        "SELECT id FROM deliveries WHERE workspace_id = $1 AND created_at >= $2
             ORDER BY created_at, id LIMIT 1",
        &[&ws, &at],
    )
    .await?
    .map(|r| r.get(0)))
}

async fn webhook_is<C: GenericClient>(c: &C, ws: i64, webhook: i64) -> Result<bool> {
    Ok(c.query_opt(
        "SELECT 1 FROM webhooks WHERE id = $1 AND workspace_id = $2",
        &[&webhook, &ws],
    )
    .await?
    .is_some())
}

/// The search (see `db::hooks::search_deliveries`, the same walk).
async fn search<C: GenericClient>(
    c: &C,
    ws: i64,
    webhook_id: Option<i64>,
    filter: &DeliveryFilter,
    before: i64,
    limit: usize,
) -> Result<DeliveryPage> {
    let webhook_id = webhook_id.or(filter.webhook_id);
    let mut before = before;
    let mut from_id = 0i64;
    if let Some(since) = filter.since {
        match first_delivery_at(c, ws, since).await? {
            Some(id) => from_id = id,
            None => return Ok(DeliveryPage::default()),
        }
    }
    if let Some(until) = filter.until {
        if let Some(id) = first_delivery_at(c, ws, until).await? {
            before = before.min(id);
        }
    }
    let event_id: Option<i64> = match &filter.event_id {
        None => None,
        Some(public) => match c
            .query_opt(
                "SELECT id FROM events WHERE public_id = $1 AND workspace_id = $2",
                &[public, &ws],
            )
            .await?
        {
            Some(r) => Some(r.get(0)),
            None => return Ok(DeliveryPage::default()),
        },
    };
    let checked_on_rows = event_id.is_none()
        && (filter.http_status.is_some()
            || (webhook_id.is_none() && (filter.status.is_some() || filter.event_type.is_some()))
            || (filter.status.is_some() && filter.event_type.is_some()));
    let mut resume_before = None;
    if checked_on_rows {
        let floor = match webhook_id {
            Some(w) => c
                .query_opt(
                    "SELECT id FROM deliveries WHERE webhook_id = $1 AND id < $2 ORDER BY id DESC LIMIT 1 OFFSET $3",
                    &[&w, &before, &SEARCH_SPAN],
                )
                .await?,
            None => c
                .query_opt(
                    "SELECT id FROM deliveries WHERE workspace_id = $1 AND id < $2 ORDER BY id DESC LIMIT 1 OFFSET $3",
                    &[&ws, &before, &SEARCH_SPAN],
                )
                .await?,
        }
        .map(|r| r.get::<_, i64>(0));
        if let Some(floor) = floor.filter(|f| *f >= from_id) {
            from_id = floor + 1;
            resume_before = Some(floor + 1);
        }
    }
    let status = filter.status.map(|s| s.as_str());
    let event_type = filter.event_type.as_ref().map(|t| t.as_str());
    let codes = filter.http_status.map(|h| h.range());
    let mut sql = format!(
        "SELECT {DELIVERY_COLS} FROM deliveries d JOIN events e ON e.id = d.event_id
         WHERE d.workspace_id = $1 AND d.id < $2 AND d.id >= $3"
    );
    let mut args: Vec<&(dyn ToSql + Sync)> = vec![&ws, &before, &from_id];
    fn and<'a>(
        sql: &mut String,
        args: &mut Vec<&'a (dyn ToSql + Sync)>,
        cond: &str,
        arg: &'a (dyn ToSql + Sync),
    ) {
        args.push(arg);
        sql.push_str(&cond.replace('?', &format!("${}", args.len())));
    }
    if let Some(w) = &webhook_id {
        and(&mut sql, &mut args, " AND d.webhook_id = ?", w);
    }
    if let Some(s) = &status {
        and(&mut sql, &mut args, " AND d.status = ?", s);
    }
    if let Some(t) = &event_type {
        and(&mut sql, &mut args, " AND d.event_type = ?", t);
    }
    if let Some(e) = &event_id {
        and(&mut sql, &mut args, " AND d.event_id = ?", e);
    }
    if let Some((lo, hi)) = &codes {
        and(&mut sql, &mut args, " AND d.last_status_code >= ?", lo);
        and(&mut sql, &mut args, " AND d.last_status_code <= ?", hi);
    }
    if let Some(since) = &filter.since {
        and(&mut sql, &mut args, " AND d.created_at >= ?", since);
    }
    if let Some(until) = &filter.until {
        and(&mut sql, &mut args, " AND d.created_at < ?", until);
    }
    let limit = limit as i64;
    and(&mut sql, &mut args, " ORDER BY d.id DESC LIMIT ?", &limit);
    let rows: Vec<DeliveryRow> = c.query(&sql, &args).await?.iter().map(delivery).collect();
    let resume_before = resume_before.filter(|_| rows.len() < limit as usize);
    Ok(DeliveryPage {
        rows,
        resume_before,
    })
}

fn attempt(r: &Row) -> Result<AttemptRow> {
    let headers: &str = r.get(4);
    let response_headers: Option<&str> = r.get(6);
    Ok(AttemptRow {
        id: r.get(0),
        attempt_number: r.get(1),
        started_at: r.get(2),
        duration_ms: r.get(3),
        request_headers: serde_json::from_str(headers)
            .map_err(|e| StoreError::Corrupt(Arc::new(e)))?,
        response_status: r.get(5),
        response_headers: response_headers.and_then(|s| serde_json::from_str(s).ok()),
        response_body: r.get(7),
        error: r.get(8),
    })
}

impl PgStore {
    pub async fn deliveries_page(
        &self,
        ws: i64,
        webhook: Option<i64>,
        filter: DeliveryFilter,
        before: i64,
        limit: usize,
    ) -> Result<Option<Vec<DeliveryRow>>> {
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
    ) -> Result<Option<DeliveryPage>> {
        let c = self.conn().await?;
        if let Some(w) = webhook {
            if !webhook_is(&c, ws, w).await? {
                return Ok(None);
            }
        }
        Ok(Some(search(&c, ws, webhook, &filter, before, limit).await?))
    }

    pub async fn delivery_get(&self, ws: i64, id: i64) -> Result<Option<DeliveryRow>> {
        let c = self.conn().await?;
        delivery_of(&c, ws, id).await
    }

    pub async fn delivery_detail(
        &self,
        ws: i64,
        id: i64,
        limit: Option<usize>,
    ) -> Result<Option<DeliveryDetail>> {
        let c = self.conn().await?;
        let Some(delivery) = delivery_of(&c, ws, id).await? else {
            return Ok(None);
        };
        let payload: String = c
            .query_opt(
                "SELECT body FROM events WHERE id = $1",
                &[&delivery.event_id],
            )
            .await?
            .map(|r| r.get(0))
            .unwrap_or_default();
        let take = limit.map_or(i64::MAX, |l| i64::try_from(l).unwrap_or(i64::MAX));
        let attempts = c
            .query(
                "SELECT * FROM (SELECT id, attempt_number, started_at, duration_ms, request_headers, response_status,
                        response_headers, response_body, error
                     FROM attempts WHERE delivery_id = $1 ORDER BY id DESC LIMIT $2) a ORDER BY id",
                &[&delivery.id, &take],
            )
            .await?
            .iter()
            .map(attempt)
            .collect::<Result<Vec<_>>>()?;
        let attempts_total = match limit {
            Some(l) if attempts.len() >= l => c
                .query_one(
                    "SELECT count(*) FROM attempts WHERE delivery_id = $1",
                    &[&delivery.id],
                )
                .await?
                .get::<_, i64>(0) as usize,
            _ => attempts.len(),
        };
        Ok(Some(DeliveryDetail {
            delivery,
            payload,
            attempts,
            attempts_total,
        }))
    }

    pub async fn delivery_payload(&self, ws: i64, id: i64) -> Result<Option<(String, String)>> {
        let c = self.conn().await?;
        Ok(c.query_opt(
            "SELECT e.public_id, e.body FROM deliveries d JOIN events e ON e.id = d.event_id
                 WHERE d.id = $1 AND d.workspace_id = $2",
            &[&id, &ws],
        )
        .await?
        .map(|r| (r.get(0), r.get(1))))
    }

    pub async fn attempt_response(&self, ws: i64, id: i64, number: i64) -> Result<Option<Vec<u8>>> {
        let c = self.conn().await?;
        Ok(c.query_opt(
            "SELECT a.response_body FROM attempts a JOIN deliveries d ON d.id = a.delivery_id
                 WHERE a.delivery_id = $1 AND d.workspace_id = $2 AND a.attempt_number = $3
                 ORDER BY a.id DESC LIMIT 1",
            &[&id, &ws, &number],
        )
        .await?
        .and_then(|r| r.get(0)))
    }

    pub async fn event_with_deliveries(
        &self,
        ws: i64,
        public_id: String,
    ) -> Result<Option<(EventRow, Vec<DeliveryRow>)>> {
        if public_id.contains('\0') {
            return Ok(None); // PostgreSQL text holds no NUL: nothing can match
        }
        let c = self.conn().await?;
        let Some(e) = c
            .query_opt(
                "SELECT id, public_id, type, body, created_at FROM events WHERE public_id = $1 AND workspace_id = $2",
                &[&public_id, &ws],
            )
            .await?
        else {
            return Ok(None);
        };
        let event = EventRow {
            id: e.get(0),
            public_id: e.get(1),
            event_type: e.get(2),
            body: e.get(3),
            created_at: e.get(4),
        };
        let deliveries = c
            .query(
                &format!(
                    "SELECT {DELIVERY_COLS} FROM deliveries d JOIN events e ON e.id = d.event_id
                     WHERE d.event_id = $1 AND d.workspace_id = $2 ORDER BY d.id"
                ),
                &[&event.id, &ws],
            )
            .await?
            .iter()
            .map(delivery)
            .collect();
        Ok(Some((event, deliveries)))
    }

    pub async fn webhook_hours(
        &self,
        ws: i64,
        webhook: i64,
        from: i64,
        to: i64,
    ) -> Result<Option<BTreeMap<i64, HourStats>>> {
        let c = self.conn().await?;
        if !webhook_is(&c, ws, webhook).await? {
            return Ok(None);
        }
        let mut out = BTreeMap::new();
        for r in c
            .query(
                "SELECT hour, succeeded, failed, attempts, latency FROM webhook_stats
                 WHERE webhook_id = $1 AND hour >= $2 AND hour < $3 ORDER BY hour",
                &[&webhook, &from, &to],
            )
            .await?
        {
            let mut s = HourStats {
                succeeded: r.get(1),
                failed: r.get(2),
                attempts: r.get(3),
                ..Default::default()
            };
            let counts: Vec<i64> = r.get(4);
            for (a, b) in s.latency.iter_mut().zip(counts) {
                *a = b;
            }
            out.insert(r.get(0), s);
        }
        Ok(Some(out))
    }
}
