//! Integration tests: one binary, one harness (`helpers`). Each test starts the real
//! application on 127.0.0.1:0 with its own temporary data directory.

mod api_auth;
mod bad_input;
mod bench;
mod binary;
mod cluster;
mod crash;
mod delivery;
mod events_api;
mod examples;
mod helpers;
mod history;
mod metrics;
mod openapi;
#[path = "../common/pg.rs"]
mod pg_cluster;
#[path = "../common/pki.rs"]
mod pki;
mod provisioning;
mod receiver;
mod reliability;
mod smtp;
mod sql;
mod tls_receiver;
mod trust;
mod ui;
mod ui_auth;
mod upgrade;
mod webhooks_api;
