//! Hookline: self-hosted webhook delivery. One binary, SQLite inside.
//!
//! The binary (`src/main.rs`) only calls [`cli::main`]; everything lives here so tests can
//! start the real application in-process.

pub mod api;
pub mod auth;
pub mod brand;
pub mod cli;
pub mod clock;
pub mod config;
pub mod crypto;
pub mod data_dir_lock;
pub mod db;
pub mod delivery;
pub mod domain;
pub mod metrics;
pub mod notify;
pub mod pg;
pub mod retention;
pub mod service;
pub mod startup;
pub mod state;
pub mod store;
pub mod telemetry;
pub mod ui;

/// The version printed by `hookline --version` and sent as `User-Agent: Hookline/<version>`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
