//! Delivery over HTTP: signatures, the SSRF guard and the sender that makes one attempt.

pub mod engine;
pub mod http;
pub mod retry;
pub mod sign;
pub mod ssrf;

pub use http::{
    parse_retry_after, AttemptError, ErrorKind, Outcome, OutgoingRequest, Sender, SenderConfig,
    MAX_RESPONSE_BODY,
};
pub use sign::{hex_signature, signature_header, standard_signature, Secret};
pub use ssrf::{forbidden_reason, Blocked, Guard, GuardedResolver, ResolveError};
