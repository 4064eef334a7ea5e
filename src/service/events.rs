//! Publishing events, and reading one back. An event and all its deliveries are stored in
//! one transaction, and the publisher hears only after that transaction committed: an
//! acknowledged event is never lost.

use crate::clock::now_ms;
use crate::db::hooks::{self, DeliveryRow, EventRow, Idempotent};
use crate::db::repo;
use crate::delivery::queue;
use crate::domain::event::{event_body, new_event_id};
use crate::domain::{EventTypeName, ValidationError, ValidationErrors};
use crate::state::AppState;

use super::{ServiceError, ServiceResult};

/// An event to publish, already checked at the edge (a well-formed type name, `data` a JSON
/// object of allowed size), with its id, time and exact body made here, before the write:
/// the writer thread only stores.
pub struct Draft {
    public_id: String,
    event_type: String,
    created_at: i64,
    body: String,
    /// The input field it came from, for errors (`type`, `events[3].type`, …).
    type_field: String,
}

impl Draft {
    /// `data` is the published JSON, byte for byte.
    pub fn new(event_type: &EventTypeName, data: &str, type_field: String) -> Draft {
        let public_id = new_event_id();
        let created_at = now_ms();
        let body = event_body(&public_id, event_type.as_str(), created_at, data);
        Draft {
            public_id,
            event_type: event_type.to_string(),
            created_at,
            body,
            type_field,
        }
    }
}

/// A stored event.
#[derive(Debug, Clone)]
pub struct Stored {
    pub public_id: String,
    pub event_type: String,
    pub created_at: i64,
    /// Deliveries created for it: one per subscribed active webhook.
    pub deliveries: usize,
}

/// An `Idempotency-Key` with what it guards: the same key and body within 24 hours get the
/// first answer again; the same key with another body is refused.
pub struct Idempotency {
    pub key: String,
    /// Which publish route the key belongs to.
    pub route: &'static str,
    /// SHA-256 of the request body.
    pub request_hash: Vec<u8>,
}

/// What a publish came to.
pub enum Published {
    /// Stored now; with the answer as it was remembered for the key.
    Fresh(Vec<Stored>, String),
    /// The same key and body were published before: that answer again.
    Replay { status: u16, body: String },
}

/// Stores `drafts` of workspace `ws` with their deliveries in one transaction (all or
/// none), unless `idempotency` finds an earlier answer. `answer` turns the stored events into
/// the response body that is remembered for the key (in the same transaction), and handed
/// back. Counts the events and wakes the engine after the commit.
pub async fn publish(
    state: &AppState,
    ws: i64,
    drafts: Vec<Draft>,
    idempotency: Option<Idempotency>,
    answer: impl FnOnce(&[Stored]) -> String + Send + 'static,
) -> ServiceResult<Published> {
    let outcome = state
        .db
        .try_write(move |c| -> ServiceResult<Published> {
            if let Some(i) = &idempotency {
                match hooks::idempotency_lookup(c, ws, i.route, &i.key, &i.request_hash)? {
                    Idempotent::New => {}
                    Idempotent::Replay { status, body } => {
                        return Ok(Published::Replay { status, body })
                    }
                    Idempotent::Mismatch => {
                        return Err(ValidationError::new(
                            "Idempotency-Key",
                            "this Idempotency-Key was used in the last 24 hours with a different body; use a new key",
                        )
                        .into())
                    }
                }
            }
            let mut stored = Vec::with_capacity(drafts.len());
            let mut writer = queue::Enqueuer::new(c, ws)?;
            let mut known: Vec<String> = Vec::new();
            for d in drafts {
                let event_type = d.event_type;
                if !known.contains(&event_type) {
                    if repo::event_type_by_name(c, &event_type)?.is_none() {
                        return Err(ValidationErrors::from(ValidationError::new(
                            d.type_field,
                            format!("unknown event type '{event_type}': define it first with `hookline event-type create {event_type}` (or POST /api/v1/event-types with an instance key); GET /api/v1/event-types lists the defined ones"),
                        ))
                        .into());
                    }
                    known.push(event_type.clone());
                }
                let (_, deliveries) = writer.insert(
                    c,
                    &hooks::NewEvent {
                        public_id: &d.public_id,
                        event_type: &event_type,
                        body: &d.body,
                        created_at: d.created_at,
                    },
                )?;
                stored.push(Stored {
                    public_id: d.public_id,
                    event_type,
                    created_at: d.created_at,
                    deliveries,
                });
            }
            writer.finish(c)?;
            let body = answer(&stored);
            if let Some(i) = &idempotency {
                hooks::idempotency_store(c, ws, i.route, &i.key, &i.request_hash, 202, &body)?;
            }
            Ok(Published::Fresh(stored, body))
        })
        .await?;
    if let Published::Fresh(stored, _) = &outcome {
        // Counted after the commit: only events that were really accepted.
        crate::metrics::global()
            .events_published
            .inc_by(stored.len() as u64);
        state.wake.notify_one();
    }
    Ok(outcome)
}

/// One event of the workspace by its public id, with its deliveries.
pub async fn get(
    state: &AppState,
    ws: i64,
    public_id: String,
) -> ServiceResult<(EventRow, Vec<DeliveryRow>)> {
    state
        .db
        .read(move |c| {
            let Some(e) = hooks::get_event(c, ws, &public_id)? else {
                return Ok(None);
            };
            let d = hooks::deliveries_of_event(c, ws, e.id)?;
            Ok(Some((e, d)))
        })
        .await?
        .ok_or(ServiceError::NotFound("event"))
}
