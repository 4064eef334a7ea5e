//! Publishing on PostgreSQL: the events and all their deliveries in one transaction, with the
//! `Idempotency-Key` lookup and the remembered answer in the same one. The key is locked for
//! the transaction (an advisory lock on its hash), so the same key published on two nodes at
//! once stores one event set: the second waits, then finds the first answer.

use super::PgStore;
use crate::store::types::{Draft, Idempotency, Published, StoreError, Stored, IDEMPOTENCY_TTL_MS};

type Result<T> = std::result::Result<T, StoreError>;

impl PgStore {
    pub async fn publish(
        &self,
        ws: i64,
        drafts: Vec<Draft>,
        idempotency: Option<Idempotency>,
        answer: impl FnOnce(&[Stored]) -> String + Send + 'static,
    ) -> Result<Published> {
        let mut c = self.conn().await?;
        let tx = c.transaction().await?;
        let now = crate::clock::now_ms();
        if let Some(i) = &idempotency {
            tx.execute(
                "SELECT pg_advisory_xact_lock(hashtextextended($1 || ':' || $2 || ':' || $3, 0))",
                &[&ws.to_string(), &i.route, &i.key],
            )
            .await?;
            let seen = tx
                .query_opt(
                    "SELECT request_hash, response_status, response_body FROM idempotency_keys
                     WHERE workspace_id = $1 AND route = $2 AND key = $3 AND created_at > $4",
                    &[&ws, &i.route, &i.key, &(now - IDEMPOTENCY_TTL_MS)],
                )
                .await?;
            if let Some(r) = seen {
                let hash: Vec<u8> = r.get(0);
                if hash != i.request_hash {
                    return Ok(Published::KeyMismatch);
                }
                return Ok(Published::Replay {
                    status: u16::try_from(r.get::<_, i64>(1)).unwrap_or(202),
                    body: r.get(2),
                });
            }
        }
        // Every distinct type must be defined.
        let mut known: Vec<&str> = Vec::new();
        for d in &drafts {
            if known.contains(&d.event_type.as_str()) {
                continue;
            }
            let defined = tx
                .query_opt(
                    "SELECT 1 FROM event_types WHERE name = $1 AND archived_at IS NULL",
                    &[&d.event_type],
                )
                .await?
                .is_some();
            if !defined {
                return Ok(Published::UnknownType {
                    field: d.type_field.clone(),
                    name: d.event_type.clone(),
                });
            }
            known.push(&d.event_type);
        }
        let hooks: Vec<(i64, Vec<String>)> = tx
            .query(
                "SELECT id, events FROM webhooks WHERE workspace_id = $1 AND is_active ORDER BY id",
                &[&ws],
            )
            .await?
            .iter()
            .map(|r| {
                let events: &str = r.get(1);
                Ok((
                    r.get(0),
                    serde_json::from_str(events)
                        .map_err(|e| StoreError::Corrupt(std::sync::Arc::new(e)))?,
                ))
            })
            .collect::<Result<_>>()?;
        let mut stored = Vec::with_capacity(drafts.len());
        let mut triggered: Vec<(i64, i64)> = Vec::new();
        for d in drafts {
            let event_id: i64 = tx
                .query_one(
                    "INSERT INTO events (public_id, workspace_id, type, body, created_at)
                     VALUES ($1, $2, $3, $4, $5) RETURNING id",
                    &[&d.public_id, &ws, &d.event_type, &d.body, &d.created_at],
                )
                .await?
                .get(0);
            let to: Vec<i64> = hooks
                .iter()
                .filter(|(_, types)| types.iter().any(|t| *t == d.event_type || t == "*"))
                .map(|(id, _)| *id)
                .collect();
            if !to.is_empty() {
                tx.execute(
                    "INSERT INTO deliveries (workspace_id, webhook_id, event_id, event_type, status, next_attempt_at, created_at, updated_at)
                     SELECT $1, w, $2, $3, 'pending', $4, $4, $4 FROM unnest($5::bigint[]) AS w",
                    &[&ws, &event_id, &d.event_type, &d.created_at, &to],
                )
                .await?;
            }
            for id in &to {
                match triggered.iter_mut().find(|(w, _)| w == id) {
                    Some((_, at)) => *at = (*at).max(d.created_at),
                    None => triggered.push((*id, d.created_at)),
                }
            }
            stored.push(Stored {
                public_id: d.public_id,
                event_type: d.event_type,
                created_at: d.created_at,
                deliveries: to.len(),
                handed_off: 0,
            });
        }
        for (id, at) in &triggered {
            tx.execute(
                // At most once a second: publishes to one webhook would otherwise queue on
                // its row's lock, each behind the previous one's commit.
                "UPDATE webhooks SET last_triggered_at = $2::bigint
                 WHERE id = $1 AND (last_triggered_at IS NULL OR last_triggered_at < $2::bigint - 1000)",
                &[id, at],
            )
            .await?;
        }
        if !triggered.is_empty() {
            // Heard by every node (on commit): one of them claims the deliveries at once.
            tx.execute("SELECT pg_notify($1, '')", &[&super::node::DUE_CHANNEL])
                .await?;
        }
        let body = answer(&stored);
        if let Some(i) = &idempotency {
            tx.execute(
                "INSERT INTO idempotency_keys (workspace_id, key, route, request_hash, response_status, response_body, created_at)
                 VALUES ($1, $2, $3, $4, 202, $5, $6)
                 ON CONFLICT (workspace_id, route, key) DO UPDATE SET request_hash = EXCLUDED.request_hash,
                     response_status = EXCLUDED.response_status, response_body = EXCLUDED.response_body,
                     created_at = EXCLUDED.created_at",
                &[&ws, &i.key, &i.route, &i.request_hash, &body, &now],
            )
            .await?;
        }
        tx.commit().await?;
        Ok(Published::Fresh(stored, body))
    }
}
