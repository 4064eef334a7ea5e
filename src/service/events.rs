//! Publishing events, and reading one back. An event and all its deliveries are stored in
//! one transaction, and the publisher hears only after that transaction committed: an
//! acknowledged event is never lost.

use crate::domain::{ValidationError, ValidationErrors};
use crate::state::AppState;
use crate::store::types::{self, DeliveryRow, EventRow};

use super::{ServiceError, ServiceResult};

pub use crate::store::types::{Draft, Idempotency, Stored};

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
    let outcome = state.store.publish(ws, drafts, idempotency, answer).await?;
    match outcome {
        types::Published::KeyMismatch => Err(ValidationError::new(
            "Idempotency-Key",
            "this Idempotency-Key was used in the last 24 hours with a different body; use a new key",
        )
        .into()),
        types::Published::UnknownType { field, name } => Err(ValidationErrors::from(ValidationError::new(
            field,
            format!("unknown event type '{name}': define it first with `hookline event-type create {name}` (or POST /api/v1/event-types with an instance key); GET /api/v1/event-types lists the defined ones"),
        ))
        .into()),
        types::Published::Fresh(stored, body) => {
            // Counted after the commit: only events that were really accepted.
            crate::metrics::global()
                .events_published
                .inc_by(stored.len() as u64);
            // Deliveries handed straight to the dispatcher need no claim round.
            if stored.iter().any(|s| s.deliveries > s.handed_off) {
                state.wake.notify_one();
            }
            Ok(Published::Fresh(stored, body))
        }
        types::Published::Replay { status, body } => Ok(Published::Replay { status, body }),
    }
}

/// One event of the workspace by its public id, with its deliveries.
pub async fn get(
    state: &AppState,
    ws: i64,
    public_id: String,
) -> ServiceResult<(EventRow, Vec<DeliveryRow>)> {
    state
        .store
        .event_with_deliveries(ws, public_id)
        .await?
        .ok_or(ServiceError::NotFound("event"))
}
