//! The MCP server under a real MCP client: the official Python SDK (`mcp`
//! on PyPI) runs `tests/mcp_client.py`, which spawns
//! `stemedb mcp --server URL` over stdio and connects to `URL/mcp` over
//! streamable HTTP, lists the tools and calls each one; then the same against
//! a server with API keys (no key, a reader key, a writer key).
//!
//! Outside CI the tests skip (with a message) when Python or the `mcp`
//! package is missing; with `CI=true` they fail instead.

mod support;

use std::path::Path;
use std::process::Command;

use support::{Server, add_key};

fn python_with_mcp() -> Option<String> {
    for py in ["python3", "python"] {
        let ok = Command::new(py)
            .args([
                "-c",
                "import mcp.client.streamable_http, mcp.client.stdio, httpx, httpx2",
            ])
            .output()
            .is_ok_and(|o| o.status.success());
        if ok {
            return Some(py.to_owned());
        }
    }
    None
}

/// Runs `mcp_client.py MODE --stemedb .. --server URL EXTRA..`; returns its
/// stdout, or None when the test is skipped.
fn run_client(mode: &str, server: &Server, extra: &[&str]) -> Option<String> {
    let Some(py) = python_with_mcp() else {
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!(
                "CI=true but python3 with the `mcp` package is not installed (.ci/run installs it)"
            );
        }
        eprintln!("SKIP: python3 with the `mcp` package not found (pip install mcp)");
        return None;
    };
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/mcp_client.py");
    let out = Command::new(py)
        .arg(&script)
        .args([
            mode,
            "--stemedb",
            env!("CARGO_BIN_EXE_stemedb"),
            "--server",
            &server.url,
        ])
        .args(extra)
        .output()
        .expect("run the MCP client script");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "MCP client ({mode}) failed\n--- stdout\n{stdout}\n--- stderr\n{stderr}"
    );
    Some(stdout)
}

#[test]
fn python_mcp_client_calls_every_tool_over_stdio_and_http() {
    let server = Server::start();
    let Some(stdout) = run_client("check", &server, &[]) else {
        return;
    };
    assert!(stdout.contains("stdio: all 8 tools checked"), "{stdout}");
    assert!(stdout.contains("http: all 8 tools checked"), "{stdout}");
}

#[test]
fn python_mcp_client_under_api_keys_over_stdio_and_http() {
    let dir = tempfile::tempdir().expect("tmp");
    let file = dir.path().join("keys.toml");
    let reader = add_key(&file, "mcp-reader", "reader");
    let writer = add_key(&file, "mcp-writer", "writer");
    let keys = file.to_str().expect("utf-8 path");
    let server = Server::start_with(&[("STEMEDB_AUTH_KEYS_FILE", keys)]);
    let Some(stdout) = run_client(
        "auth",
        &server,
        &["--reader-key", &reader, "--writer-key", &writer],
    ) else {
        return;
    };
    assert!(
        stdout.contains("auth: no key refused, reader reads, writer writes, over http and stdio"),
        "{stdout}"
    );
}
