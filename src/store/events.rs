//! Publishing events (each with its deliveries, in one unit, acknowledged after the commit)
//! and reading one back.

use super::types::{DeliveryRow, Draft, EventRow, Idempotency, Published, Stored};
use super::{store_methods, Store, StoreResult};

impl Store {
    /// Stores `drafts` of workspace `ws` with their deliveries in one unit (all or none),
    /// unless `idempotency` finds an earlier answer or a draft's type is not defined.
    /// `answer` turns the stored events into the response body remembered for the key, in
    /// the same unit.
    pub async fn publish(
        &self,
        ws: i64,
        drafts: Vec<Draft>,
        idempotency: Option<Idempotency>,
        answer: impl FnOnce(&[Stored]) -> String + Send + 'static,
    ) -> StoreResult<Published> {
        match self {
            Store::Sqlite(db) => db.publish(ws, drafts, idempotency, answer).await,
            Store::Postgres(pg) => pg.publish(ws, drafts, idempotency, answer).await,
        }
    }
}

store_methods! {
    /// One event of the workspace by its public id, with its deliveries.
    fn event_with_deliveries(&self, ws: i64, public_id: String) -> StoreResult<Option<(EventRow, Vec<DeliveryRow>)>>;
}
