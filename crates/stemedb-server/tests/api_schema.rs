//! The OpenAPI document says exactly what the server accepts: schemathesis
//! (`st run`, from PyPI) generates requests from `/api-doc/openapi.json` —
//! schema-valid ones and ones that break exactly one rule — against this
//! build's `stemedb-api`, once on an open server and once with `[auth]` keys
//! (every gated route exercised with a valid admin key, and without one).
//!
//! Required: no 5xx, no undocumented status code, no schema-valid request
//! refused, no schema-violating request accepted, every response body and
//! content type as documented (`--checks all`). The few rules JSON Schema
//! cannot state (a signature must verify, an id must be the hash, byte vs
//! character lengths, ...) are listed in `api_schema/stemedb_schema_hooks.py`,
//! which accepts a refusal only when the request broke exactly such a rule.
//!
//! Needs `st` (`pip install schemathesis`, done by `.ci/run`): skipped with a
//! message outside CI when it is missing; with `CI=true` it fails.
//! `STEMEDB_SCHEMA_EXAMPLES` (default 10 per operation and mode),
//! `STEMEDB_SCHEMA_SEED` (default 1) and `STEMEDB_SCHEMA_SECONDS` (the time
//! budget of each of the two runs, default 50) change the run.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use stemedb_testkit::server::Server;

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

fn hooks_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/api_schema")
}

/// The schemathesis command line (`st`, run as `python3 -m schemathesis.cli`
/// so it is the one `pip install` put next to this python); else the reason.
fn schemathesis() -> Result<Command, String> {
    let st = || {
        let mut c = Command::new("python3");
        c.args(["-m", "schemathesis.cli"]);
        c
    };
    match st().arg("--version").output() {
        Ok(out) if out.status.success() => Ok(st()),
        Ok(out) => Err(format!(
            "schemathesis is not installed (pip install schemathesis): {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )),
        Err(e) => Err(format!("python3 not runnable: {e}")),
    }
}

fn show(out: &Output) -> String {
    format!(
        "exit {:?}\n--- stdout\n{}\n--- stderr\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn env_or(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_owned())
}

/// Runs schemathesis against `server`; returns its output after asserting success.
fn run(mut cmd: Command, server: &Server, scratch: &Path, label: &str, extra: &[&str]) -> String {
    let config = hooks_dir().join("schemathesis.toml");
    let examples = env_or("STEMEDB_SCHEMA_EXAMPLES", "10");
    let seed = env_or("STEMEDB_SCHEMA_SEED", "1");
    let max_time = env_or("STEMEDB_SCHEMA_SECONDS", "50");
    let url = server.url("/api-doc/openapi.json");
    let report = scratch.join(format!("{label}.xml"));
    cmd.arg("--config-file")
        .arg(&config)
        .arg("--no-color")
        .args(["run", &url, "--checks", "all"])
        .args(["--phases", "examples,coverage,fuzzing"])
        .args(["--max-examples", &examples, "--seed", &seed])
        .args(["--max-time", &max_time])
        .args(["--workers", "1", "--no-shrink", "--max-failures", "20"])
        .args(["--request-timeout", "20"])
        // /mcp is the MCP streamable-HTTP transport (JSON-RPC; the transport
        // also requires `Accept: application/json, text/event-stream`):
        // tests/http_api.rs checks its refusals and crates/stemedb-cli/tests/mcp.rs
        // drives it with the official MCP client.
        .args(["--exclude-path", "/mcp"])
        .args(["--report", "junit", "--report-junit-path"])
        .arg(&report)
        .args(extra)
        .env("SCHEMATHESIS_HOOKS", "stemedb_schema_hooks")
        .env("PYTHONPATH", hooks_dir())
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .env("HYPOTHESIS_STORAGE_DIRECTORY", scratch.join("hypothesis"))
        .current_dir(scratch)
        .stdin(Stdio::null());
    let out = cmd.output().expect("run st");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    eprintln!("--- schemathesis ({label}) ---\n{text}");
    assert!(
        out.status.success(),
        "schemathesis found differences between the schema and the server ({label}):\n{}\n--- server log\n{}",
        show(&out),
        server.log()
    );
    assert!(
        !server.log().contains("internal error"),
        "the server logged an internal error ({label}): {}",
        server.log()
    );
    text
}

/// `stemedb-api keys add`: the new secret.
fn add_key(file: &Path, name: &str, role: &str) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_stemedb-api"))
        .args(["keys", "add", "--keys-file"])
        .arg(file)
        .args(["--name", name, "--role", role])
        .output()
        .expect("run stemedb-api keys add");
    assert!(out.status.success(), "keys add: {}", show(&out));
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

#[test]
fn schemathesis_finds_the_server_doing_exactly_what_the_schema_says() {
    if let Err(reason) = schemathesis() {
        assert!(!in_ci(), "CI=true but schemathesis cannot run: {reason}");
        eprintln!("SKIPPED api_schema: {reason}");
        return;
    }
    let st = || schemathesis().expect("schemathesis");
    let scratch = tempfile::tempdir().expect("tempdir");

    // An open server: no keys, so the bearer requirement the document states
    // for `[auth]` deployments is not enforced (`ignored_auth` does not apply).
    let open = Server::start(&[]);
    let open_out = run(
        st(),
        &open,
        scratch.path(),
        "open",
        &["--exclude-checks", "ignored_auth"],
    );
    drop(open);

    // With [auth] keys: every gated route with a valid admin key, and
    // schemathesis's own requests without one / with a wrong one (401).
    let work = tempfile::tempdir().expect("tempdir");
    let keys = work.path().join("keys.toml");
    let secret = add_key(&keys, "fuzz-admin", "admin");
    std::fs::write(
        work.path().join("config.toml"),
        format!("[auth]\nkeys_file = {:?}\n", keys.display().to_string()),
    )
    .expect("config");
    let mut gated = Server::prepare(work.path(), &[]);
    gated.spawn();
    let header = format!("Authorization: Bearer {secret}");
    let gated_out = run(st(), &gated, scratch.path(), "keys", &["-H", &header]);

    for (label, out) in [("open", &open_out), ("keys", &gated_out)] {
        assert!(
            out.contains("passed") && !out.contains("No operations"),
            "schemathesis ran nothing ({label}): {out}"
        );
    }
}
