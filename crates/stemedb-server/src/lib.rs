//! StemeDB HTTP API server: the axum application behind the `stemedb-api`
//! binary, usable as a library so tests and the cluster crate can start it.
//!
//! # Layout
//! - [`archive`]: continuous archival of sealed log segments (`[archive]`).
//! - [`auth`]: API keys and roles (the route × role matrix), rate limits, the keys file.
//! - [`cluster`]: cluster mode (membership, replication, write/read coordination).
//! - [`config`]: the TOML configuration, `STEMEDB_<SECTION>_<KEY>` overrides, validation.
//! - [`server`]: [`server::router`] (the app) and [`server::serve`] (store open, listen, shutdown).
//! - [`state`]: [`state::AppState`], shared by every handler.
//! - [`error`]: [`error::ApiError`], the one JSON error body of every failure.
//! - [`extract`]: JSON / NDJSON bodies and query parameters with precise errors.
//! - [`write`]: the write service every write route calls after parsing
//!   (policy → append → replicate), detached from the request in cluster mode.
//! - [`routes`]: one module per endpoint group (writes, annotations, admin,
//!   reads, query, listings and export, operations, docs).
//! - [`mcp`]: `/mcp`, the MCP tools over streamable HTTP with an in-process backend.
//! - [`openapi`]: the OpenAPI 3.1 document generated from the handlers.
//! - [`metrics`]: the Prometheus recorder, request metrics and gauges.
//! - [`shutdown`]: SIGTERM/SIGINT handling and the grace period.
//! - [`startup`]: what the API port answers (`recovering`) while the store opens.
//! - [`restart`]: re-executes the process once a failed store can recover (`storage.failure_restart_ms`).
//! - [`listen`]: the accept loop (TLS, HTTP/1.1 and HTTP/2, read timeouts, connection cap).
//! - [`tls`]: certificate loading and reload on SIGHUP.
//! - [`tools`]: `stemedb-api verify` and `stemedb-api restore` (offline).
//!
//! See `docs/http-api.md` for the endpoint reference.

#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

pub mod archive;
pub mod auth;
pub mod cluster;
pub mod config;
pub mod error;
pub mod extract;
pub mod listen;
pub mod mcp;
pub mod metrics;
pub mod openapi;
pub mod readiness;
pub mod restart;
pub mod routes;
pub mod server;
pub mod shutdown;
pub mod startup;
pub mod state;
pub mod tls;
pub mod tools;
pub mod write;

pub use config::{Config, ConfigError};
pub use error::ApiError;
pub use server::{ServerError, router, serve};
pub use state::AppState;
