//! Delivery: the engine's pipeline (queue → dispatcher → attempt → recorder, with the retry
//! rules apart), and the HTTP parts it stands on: signatures, the SSRF guard and the sender.

pub mod attempt;
pub mod bulk;
pub mod connections;
pub mod dispatcher;
pub mod engine;
pub mod http;
pub mod recorder;
pub mod retry;
pub mod sign;
pub mod ssrf;

pub use http::{
    parse_retry_after, AttemptError, ErrorKind, Outcome, OutgoingRequest, Sender, SenderConfig,
    IDLE_CONNECTION_TIMEOUT, MAX_RESPONSE_BODY,
};
pub use sign::{hex_signature, signature_header, standard_signature, Secret};
pub use ssrf::{forbidden_reason, Blocked, Guard, GuardedResolver, ResolveError};
