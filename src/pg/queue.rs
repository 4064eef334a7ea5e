//! The queue on PostgreSQL, the parts that need no node identity yet: Retry, Send Test's
//! one-off delivery and its attempt's read, and the gauges. Claims, leases with their owner,
//! recording attempts and the reaper come next (plan §3.4–3.5).

use super::history::delivery_of;
use super::webhooks::{webhook, WEBHOOK_COLS};
use super::PgStore;
use crate::store::types::{Claimed, DeliveryRow, Gauges, StoreError, TestEvent, WebhookRow};

type Result<T> = std::result::Result<T, StoreError>;

impl PgStore {
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
