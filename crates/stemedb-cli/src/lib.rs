//! `stemedb`: the command-line client for a StemeDB server (SPEC §3).
//!
//! Writes assertions, retractions, votes and trust scores (optionally signed
//! locally with an Ed25519 key file), queries through lenses, traces lineage,
//! and bulk-imports / exports JSON Lines.
//!
//! # Layout
//! - [`cli`]: the clap definition of the command line (global `--server`, `--token`).
//! - [`commands`]: one module per subcommand, each with `Args` and `run`.
//! - [`client`]: blocking HTTP client; server errors become [`CliError::Server`].
//! - [`input`]: JSON Lines / CSV parsing into validated records with line-numbered errors.
//! - [`signing`]: building and signing records exactly as the server hashes them.
//! - [`keyfile`]: creating (mode 0600, never overwriting) and loading key files.
//! - [`render`]: human-readable query tables.
//! - [`error`]: [`CliError`], printed by `main` before exiting with status 1.

#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

pub mod cli;
pub mod client;
pub mod commands;
pub mod error;
pub mod input;
pub mod keyfile;
pub mod render;
pub mod signing;

pub use error::CliError;
