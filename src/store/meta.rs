//! Facts about the installation itself (`hookline_meta`), such as the secret key's check
//! value, and a sample of the secrets stored, to test a key against.

use super::{store_methods, StoreResult};

store_methods! {
    /// The value stored under `name`.
    fn meta_get(&self, name: String) -> StoreResult<Option<Vec<u8>>>;
    /// Stores `value` under `name` unless a value is there already; the value stored then
    /// (the first writer's, when two race).
    fn meta_put_new(&self, name: String, value: Vec<u8>) -> StoreResult<Vec<u8>>;
    /// One webhook's sealed secret, any webhook's (deleted workspaces' too); `None` when
    /// there is none.
    fn webhook_secret_sample(&self) -> StoreResult<Option<Vec<u8>>>;
}
