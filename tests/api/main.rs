//! Integration tests: one binary, one harness (`helpers`). Each test starts the real
//! application on 127.0.0.1:0 with its own temporary data directory.

mod api_auth;
mod binary;
mod delivery;
mod events_api;
mod helpers;
mod receiver;
mod ui_auth;
mod ui_pages;
mod webhooks_api;
