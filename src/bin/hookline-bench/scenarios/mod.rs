//! One module per scenario. `main` runs them in this order: baseline (client straight to the
//! receiver), then single, batch, fanout10 and latency on one shared `hookline` server, then
//! noisy (a server per phase), cold and million on servers of their own.

pub mod baseline;
pub mod batch;
pub mod cold;
pub mod fanout10;
pub mod latency;
pub mod million;
pub mod noisy;
pub mod single;

use crate::harness::{Hookline, Sink};

/// What every scenario shares: the HTTP client, the receiver, and what the counts are divided
/// by (1, 5 for `--quick`, 100 for `--smoke`).
pub struct Ctx<'a> {
    pub http: &'a reqwest::Client,
    pub sink: &'a Sink,
    /// The receiver's URL.
    pub rx_url: &'a str,
    pub scale: usize,
}

/// The shared `hookline` server that single, batch, fanout10 and latency publish to.
pub struct Server<'a> {
    pub hookline: &'a Hookline,
    /// On PostgreSQL, the other nodes on the same database.
    pub others: &'a [Hookline],
    /// On PostgreSQL, the database (for its transaction counts).
    pub pg: Option<&'a hookline::pg::Target>,
    /// The key of workspace "one": one webhook, to the receiver.
    pub key: &'a str,
}
