//! Webhooks on PostgreSQL: the plan check, create, read, change, delete and rotate. A creation
//! locks its workspace's row while it counts, so two at once cannot both take the plan's last
//! place.

use std::sync::Arc;

use deadpool_postgres::GenericClient;
use tokio_postgres::Row;

use super::PgStore;
use crate::clock::now_ms;
use crate::domain::{plan_refusal, Email, PlanRefusal, WebhookSettings};
use crate::store::types::{LastDeliveries, StoreError, WebhookRow};

type Result<T> = std::result::Result<T, StoreError>;

pub(super) const WEBHOOK_COLS: &str = "id, workspace_id, name, description, url, events, is_active, headers, retry_schedule, \
    timeout_seconds, notification_email, secret_enc, previous_secret_enc, previous_secret_expires_at, disabled_at, \
    disabled_reason, last_triggered_at, last_success_at, last_failure_at, failure_count, created_at, updated_at, changed_by";

fn json<T: serde::de::DeserializeOwned>(r: &Row, i: usize) -> Result<T> {
    serde_json::from_str(r.get::<_, &str>(i)).map_err(|e| StoreError::Corrupt(Arc::new(e)))
}

pub(super) fn webhook(r: &Row) -> Result<WebhookRow> {
    Ok(WebhookRow {
        id: r.get(0),
        workspace_id: r.get(1),
        name: r.get(2),
        description: r.get(3),
        url: r.get(4),
        events: json(r, 5)?,
        is_active: r.get(6),
        headers: json(r, 7)?,
        retry_schedule: json(r, 8)?,
        timeout_seconds: u32::try_from(r.get::<_, i64>(9)).unwrap_or(30),
        notification_email: r.get(10),
        secret_enc: r.get(11),
        previous_secret_enc: r.get(12),
        previous_secret_expires_at: r.get(13),
        disabled_at: r.get(14),
        disabled_reason: r.get(15),
        last_triggered_at: r.get(16),
        last_success_at: r.get(17),
        last_failure_at: r.get(18),
        failure_count: r.get(19),
        created_at: r.get(20),
        updated_at: r.get(21),
        changed_by: r.get(22),
    })
}

pub(super) async fn webhook_of<C: GenericClient>(
    c: &C,
    ws: i64,
    id: i64,
) -> Result<Option<WebhookRow>> {
    c.query_opt(
        &format!("SELECT {WEBHOOK_COLS} FROM webhooks WHERE id = $1 AND workspace_id = $2"),
        &[&id, &ws],
    )
    .await?
    .as_ref()
    .map(webhook)
    .transpose()
}

/// How many webhooks are switched off, in all workspaces.
pub(super) async fn inactive_count<C: GenericClient>(c: &C) -> Result<i64> {
    Ok(
        c.query_one("SELECT count(*) FROM webhooks WHERE NOT is_active", &[])
            .await?
            .get(0),
    )
}

/// The plan check. `lock` holds the workspace's row until the transaction ends (creations).
async fn plan_refuses<C: GenericClient>(
    c: &C,
    ws: i64,
    creating: bool,
) -> Result<Option<PlanRefusal>> {
    let lock = if creating { " FOR UPDATE" } else { "" };
    let Some(w) = c
        .query_opt(
            &format!(
                "SELECT webhooks_enabled, max_webhooks FROM workspaces WHERE id = $1 AND deleted_at IS NULL{lock}"
            ),
            &[&ws],
        )
        .await?
    else {
        return Ok(None);
    };
    let (enabled, max): (bool, Option<i64>) = (w.get(0), w.get(1));
    let count: i64 = if creating && enabled && max.is_some() {
        c.query_one(
            "SELECT count(*) FROM webhooks WHERE workspace_id = $1",
            &[&ws],
        )
        .await?
        .get(0)
    } else {
        0
    };
    Ok(plan_refusal(enabled, max, count, creating))
}

fn texts(s: &WebhookSettings) -> Result<(String, String, String)> {
    let corrupt = |e| StoreError::Corrupt(Arc::new(e));
    Ok((
        serde_json::to_string(&s.events.to_list()).map_err(corrupt)?,
        serde_json::to_string(&s.headers).map_err(corrupt)?,
        serde_json::to_string(&s.retry_schedule).map_err(corrupt)?,
    ))
}

impl PgStore {
    pub async fn webhook_plan(&self, ws: i64) -> Result<Option<PlanRefusal>> {
        let c = self.conn().await?;
        plan_refuses(&c, ws, false).await
    }

    pub async fn webhook_create(
        &self,
        ws: i64,
        s: WebhookSettings,
        secret_enc: Vec<u8>,
        by: String,
    ) -> Result<std::result::Result<WebhookRow, PlanRefusal>> {
        let mut c = self.conn().await?;
        let tx = c.transaction().await?;
        if let Some(refusal) = plan_refuses(&tx, ws, true).await? {
            return Ok(Err(refusal));
        }
        let (events, headers, schedule) = texts(&s)?;
        let row = tx
            .query_one(
                &format!(
                    "INSERT INTO webhooks (workspace_id, name, description, url, events, is_active, headers, retry_schedule,
                         retry_count, timeout_seconds, notification_email, secret_enc, created_at, updated_at, changed_by)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $13, $14)
                     RETURNING {WEBHOOK_COLS}"
                ),
                &[
                    &ws,
                    &s.name,
                    &s.description,
                    &s.url.as_str(),
                    &events,
                    &s.is_active,
                    &headers,
                    &schedule,
                    &(s.retry_schedule.len() as i64),
                    &i64::from(s.timeout_seconds),
                    &s.notification_email.as_ref().map(Email::as_str),
                    &secret_enc,
                    &now_ms(),
                    &by,
                ],
            )
            .await?;
        let row = webhook(&row)?;
        tx.commit().await?;
        Ok(Ok(row))
    }

    pub async fn webhook_get(&self, ws: i64, id: i64) -> Result<Option<WebhookRow>> {
        let c = self.conn().await?;
        webhook_of(&c, ws, id).await
    }

    pub async fn webhooks_page(
        &self,
        ws: i64,
        after: i64,
        limit: usize,
    ) -> Result<Vec<WebhookRow>> {
        let c = self.conn().await?;
        c.query(
            &format!(
                "SELECT {WEBHOOK_COLS} FROM webhooks WHERE workspace_id = $1 AND id > $2 ORDER BY id LIMIT $3"
            ),
            &[&ws, &after, &(limit as i64)],
        )
        .await?
        .iter()
        .map(webhook)
        .collect()
    }

    pub async fn webhooks_with_last_delivery(
        &self,
        ws: i64,
        after: i64,
        limit: usize,
    ) -> Result<(Vec<WebhookRow>, LastDeliveries)> {
        let rows = self.webhooks_page(ws, after, limit).await?;
        let c = self.conn().await?;
        let last = c
            .query(
                "SELECT w.id, d.status, d.last_status_code FROM webhooks w
                 JOIN deliveries d ON d.id = (SELECT max(x.id) FROM deliveries x WHERE x.webhook_id = w.id)
                 WHERE w.workspace_id = $1",
                &[&ws],
            )
            .await?
            .iter()
            .map(|r| (r.get(0), (r.get(1), r.get(2))))
            .collect();
        Ok((rows, last))
    }

    pub async fn webhook_save(
        &self,
        ws: i64,
        id: i64,
        s: WebhookSettings,
        by: String,
    ) -> Result<Option<WebhookRow>> {
        let c = self.conn().await?;
        let (events, headers, schedule) = texts(&s)?;
        // Turning a webhook on clears why it was disabled.
        c.query_opt(
            &format!(
                "UPDATE webhooks SET name = $3, description = $4, url = $5, events = $6, headers = $7, retry_schedule = $8,
                     retry_count = $9, timeout_seconds = $10, notification_email = $11, updated_at = $12,
                     disabled_at = CASE WHEN $13::boolean THEN NULL ELSE disabled_at END,
                     disabled_reason = CASE WHEN $13::boolean THEN NULL ELSE disabled_reason END,
                     failing_since = CASE WHEN $13::boolean AND NOT is_active THEN NULL ELSE failing_since END,
                     is_active = $13, changed_by = $14
                 WHERE id = $1 AND workspace_id = $2 RETURNING {WEBHOOK_COLS}"
            ),
            &[
                &id,
                &ws,
                &s.name,
                &s.description,
                &s.url.as_str(),
                &events,
                &headers,
                &schedule,
                &(s.retry_schedule.len() as i64),
                &i64::from(s.timeout_seconds),
                &s.notification_email.as_ref().map(Email::as_str),
                &now_ms(),
                &s.is_active,
                &by,
            ],
        )
        .await?
        .as_ref()
        .map(webhook)
        .transpose()
    }

    /// Deletes a webhook with its deliveries and attempts. The delete locks the webhook's row
    /// and then (the cascade) its deliveries, the order a record takes them in, so the two
    /// wait for each other. A deadlock with anything else runs the delete again (up to three
    /// times) rather than answering 500.
    pub async fn webhook_delete(&self, ws: i64, id: i64) -> Result<bool> {
        let c = self.conn().await?;
        let mut retries = super::Retries::default();
        loop {
            match c
                .execute(
                    "DELETE FROM webhooks WHERE id = $1 AND workspace_id = $2",
                    &[&id, &ws],
                )
                .await
            {
                Err(e) if retries.again(&e) => retries.pause().await,
                Err(e) => return Err(e.into()),
                Ok(n) => return Ok(n == 1),
            }
        }
    }

    pub async fn webhook_rotate(
        &self,
        ws: i64,
        id: i64,
        secret_enc: Vec<u8>,
        previous_expires_at: i64,
        by: String,
    ) -> Result<bool> {
        let c = self.conn().await?;
        Ok(c.execute(
            "UPDATE webhooks SET previous_secret_enc = secret_enc, previous_secret_expires_at = $4,
                 secret_enc = $3, updated_at = $5, changed_by = $6
             WHERE id = $1 AND workspace_id = $2",
            &[&id, &ws, &secret_enc, &previous_expires_at, &now_ms(), &by],
        )
        .await?
            == 1)
    }

    pub async fn webhooks_inactive_count(&self) -> Result<i64> {
        let c = self.conn().await?;
        inactive_count(&c).await
    }
}
