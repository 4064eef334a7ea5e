//! The delivery queue as the engine uses it: claim due work, record attempts, release what
//! cannot start, Send Test's one-off delivery, Retry, the gauges; bulk jobs' batches,
//! notices waiting for the notifier, and retention.

use super::types::{
    AttemptResult, ClaimRequest, ClaimRound, Claimed, DeliveryRow, Gauges, JobRow, RecordRules,
    TestEvent, Waiting, WebhookRow,
};
use super::{store_methods, StoreResult};
use crate::domain::fair::Ledger;

store_methods! {
    /// At start: drops the leases a crash left (SQLite; on PostgreSQL, those of dead nodes),
    /// so that work is sent again, and (on a shared store) registers this node, keeps it alive
    /// and calls `wake` when another node has new due work. How many leases were dropped.
    fn queue_start(&self, wake: std::sync::Arc<tokio::sync::Notify>) -> StoreResult<usize>;
    /// At shutdown, after the last attempt was recorded: gives this node's remaining leases
    /// back (PostgreSQL; SQLite drops them at the next start, as only one process uses it).
    fn queue_stop(&self) -> StoreResult<()>;
    /// Leases due deliveries within the request's budget and per-webhook room, in the
    /// fairness ledger's order; the ledger comes back updated.
    fn claim(&self, ask: ClaimRequest, ledger: Ledger) -> StoreResult<(ClaimRound, Ledger)>;
    /// Gives claimed deliveries back (their webhook went away before they started).
    fn release(&self, ids: Vec<i64>) -> StoreResult<()>;
    /// The delivery Send Test just stored, with its webhook, for one attempt now.
    fn claim_test(&self, delivery_id: i64, webhook_id: i64, event_id: i64) -> StoreResult<Option<(WebhookRow, Claimed)>>;
    /// Writes attempts and moves their deliveries and webhooks on (health, auto-disable,
    /// notices, hourly stats) in one unit; true when a notice now waits for the notifier.
    fn record(&self, results: Vec<AttemptResult>, rules: std::sync::Arc<RecordRules>) -> StoreResult<bool>;
    /// Schedules one more attempt now; the delivery as it is then (`None`: no such delivery).
    fn retry_now(&self, ws: i64, id: i64) -> StoreResult<Option<DeliveryRow>>;
    /// Stores an event delivered to one webhook only (Send Test): (event id, delivery id).
    fn enqueue_test(&self, ws: i64, webhook_id: i64, event: TestEvent) -> StoreResult<(i64, i64)>;
    /// The queue's gauges and how many webhooks are switched off.
    fn queue_figures(&self, now: i64) -> StoreResult<(Gauges, i64)>;
    /// Deletes up to `limit` finished events published before `cutoff`; how many went.
    fn purge_finished_events(&self, cutoff: i64, limit: i64) -> StoreResult<usize>;
    /// Removes expired keys, sessions and links, and notices past retention.
    fn expire_tokens(&self, now: i64, cutoff: i64) -> StoreResult<()>;
    /// The bulk jobs still running.
    fn jobs_running(&self) -> StoreResult<Vec<JobRow>>;
    /// Moves job `id` on by one batch of up to `batch` rows (nothing if it was cancelled).
    fn job_run_batch(&self, id: i64, batch: i64) -> StoreResult<()>;
    /// Stops a job with an error.
    fn job_fail(&self, id: i64, error: String, now: i64) -> StoreResult<()>;
    /// Notices due to be emailed by `now`, grouped by webhook.
    fn notices_due(&self, now: i64) -> StoreResult<Vec<Waiting>>;
    /// When the next waiting notice is due.
    fn notices_next_due(&self) -> StoreResult<Option<i64>>;
    /// Moves waiting notices to `at`.
    fn notices_postpone(&self, ids: Vec<i64>, at: i64) -> StoreResult<()>;
    /// Records a failed send; `retry_at` when it is tried again.
    fn notices_mark_failed(&self, ids: Vec<i64>, error: String, retry_at: Option<i64>) -> StoreResult<()>;
    /// Records a sent email: (notice id, repeats it reported) per notice.
    fn notices_mark_sent(&self, webhook_id: i64, sent: Vec<(i64, i64)>, now: i64) -> StoreResult<()>;
}
