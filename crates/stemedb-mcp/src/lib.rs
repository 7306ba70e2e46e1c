//! StemeDB's MCP server: eight tools for AI agents (SPEC §8) written once
//! over a [`Backend`] and served over two transports — stdio by
//! `stemedb mcp --server URL` (the CLI's HTTP backend) and streamable HTTP
//! at `/mcp` on the API port (the server's in-process backend).
//!
//! # Layout
//! - [`backend`]: [`Backend`], the one call the tools make, and [`ToolError`].
//! - [`inputs`]: the JSON-schema'd tool arguments and the checks made before sending.
//! - [`tools`]: [`StemeTools`], the tool router and MCP server handler.

#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

pub mod backend;
pub mod inputs;
pub mod tools;

pub use backend::{ApiRequest, Backend, Method, ToolError};
pub use tools::{INSTRUCTIONS, StemeTools};

/// The rmcp crate, re-exported so both transports use the same version.
pub use rmcp;
