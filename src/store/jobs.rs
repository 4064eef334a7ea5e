//! Bulk retries and replays as stored jobs: made (counted in the same unit), previewed,
//! read and cancelled. The background runner works through them (`delivery::bulk`).

use super::types::{JobKind, JobParams, JobRefused, JobRow};
use super::{store_methods, StoreResult};

store_methods! {
    /// Counts what the job will touch and stores it (one with nothing to do is done at once),
    /// unless the webhook is not the workspace's or is switched off.
    fn job_create(&self, ws: i64, webhook: i64, kind: JobKind, params: JobParams, by: String, now: i64) -> StoreResult<Result<JobRow, JobRefused>>;
    /// How many deliveries or events a job would touch now; `None` when the webhook is not
    /// the workspace's.
    fn job_preview(&self, ws: i64, webhook: i64, kind: JobKind, params: JobParams) -> StoreResult<Option<i64>>;
    /// A job of the workspace.
    fn job_get(&self, ws: i64, id: i64) -> StoreResult<Option<JobRow>>;
    /// Cancels a running job; returns the job as it is now (`None`: no such job).
    fn job_cancel(&self, ws: i64, id: i64, now: i64) -> StoreResult<Option<JobRow>>;
}
