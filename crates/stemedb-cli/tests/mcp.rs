//! The MCP server under a real MCP client: the official Python SDK (`mcp`
//! on PyPI) runs `tests/mcp_client.py`, which spawns
//! `stemedb mcp --server URL` over stdio and connects to `URL/mcp` over
//! streamable HTTP, lists the tools and calls each one.
//!
//! Outside CI the test skips (with a message) when Python or the `mcp`
//! package is missing; with `CI=true` it fails instead.

mod support;

use std::path::Path;
use std::process::Command;

use support::Server;

fn python_with_mcp() -> Option<String> {
    for py in ["python3", "python"] {
        let ok = Command::new(py)
            .args(["-c", "import mcp.client.streamable_http, mcp.client.stdio"])
            .output()
            .is_ok_and(|o| o.status.success());
        if ok {
            return Some(py.to_owned());
        }
    }
    None
}

#[test]
fn python_mcp_client_calls_every_tool_over_stdio_and_http() {
    let Some(py) = python_with_mcp() else {
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!(
                "CI=true but python3 with the `mcp` package is not installed (.ci/run installs it)"
            );
        }
        eprintln!("SKIP: python3 with the `mcp` package not found (pip install mcp)");
        return;
    };
    let server = Server::start();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/mcp_client.py");
    let out = Command::new(py)
        .arg(&script)
        .args([
            "check",
            "--stemedb",
            env!("CARGO_BIN_EXE_stemedb"),
            "--server",
            &server.url,
        ])
        .output()
        .expect("run the MCP client script");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "MCP client failed\n--- stdout\n{stdout}\n--- stderr\n{stderr}"
    );
    assert!(stdout.contains("stdio: all 8 tools checked"), "{stdout}");
    assert!(stdout.contains("http: all 8 tools checked"), "{stdout}");
}
