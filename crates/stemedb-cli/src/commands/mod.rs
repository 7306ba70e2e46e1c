//! One module per subcommand; each has an `Args` struct and a `run` function.

use std::path::PathBuf;

use serde_json::{Map, Value};
use stemedb_records::Kind;

use crate::client::Client;
use crate::error::{CliError, Result};

pub mod assert;
pub mod backup;
pub mod export;
pub mod get;
pub mod import;
pub mod keygen;
pub mod mcp;
pub mod query;
pub mod retract;
pub mod trace;
pub mod trust;
pub mod vote;

/// The subcommands of `stemedb`.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Write one assertion (a claim by an agent).
    Assert(assert::Args),
    /// Read candidates for a subject (and predicate), resolved through a lens.
    Query(query::Args),
    /// Show one record with its signature status, votes and retraction.
    Get(get::Args),
    /// Show the lineage of a record: parents, children, votes, retraction, epoch.
    Trace(trace::Args),
    /// Withdraw an assertion (by its author or an admin).
    Retract(retract::Args),
    /// Endorse (+) or dispute (−) an assertion with a weight in [-1, 1].
    Vote(vote::Args),
    /// Set an agent's trust score in [0, 1] (admin; uses --token).
    Trust(trust::Args),
    /// Bulk-load records from a JSON Lines or CSV file.
    Import(import::Args),
    /// Stream every record (optionally under a subject prefix) as JSON Lines.
    Export(export::Args),
    /// Create an Ed25519 key file for signing records.
    Keygen(keygen::Args),
    /// Serve the StemeDB MCP tools over stdio for an AI agent (tools call --server).
    Mcp(mcp::Args),
    /// Take an online, consistent backup of a server into a directory (admin; uses --token).
    Backup(backup::Args),
}

impl Command {
    /// Runs the subcommand against `server` with the optional bearer `token`
    /// (and, for https, the CA file `cacert`).
    pub fn run(
        self,
        server: &str,
        token: Option<String>,
        cacert: Option<&std::path::Path>,
    ) -> Result<()> {
        if let Command::Keygen(a) = self {
            return keygen::run(a);
        }
        let client = Client::with_cacert(server, token, cacert)?;
        match self {
            Command::Assert(a) => assert::run(a, &client),
            Command::Query(a) => query::run(a, &client),
            Command::Get(a) => get::run(a, &client),
            Command::Trace(a) => trace::run(a, &client),
            Command::Retract(a) => retract::run(a, &client),
            Command::Vote(a) => vote::run(a, &client),
            Command::Trust(a) => trust::run(a, &client),
            Command::Import(a) => import::run(a, &client),
            Command::Export(a) => export::run(a, &client),
            Command::Backup(a) => backup::run(a, &client),
            Command::Keygen(a) => keygen::run(a),
            Command::Mcp(a) => mcp::run(a, &client),
        }
    }
}

/// Signs `fields` with the key in `sign_with` when given, else sends them as they are.
pub(crate) fn body_for(
    kind: Kind,
    fields: Map<String, Value>,
    sign_with: Option<&PathBuf>,
) -> Result<Value> {
    match sign_with {
        Some(path) => {
            let key = crate::keyfile::load(path)?;
            crate::signing::signed_json(kind, fields, &key)
        }
        None => {
            if !fields.contains_key("agent") {
                return Err(CliError::Input(
                    "either --agent or --sign-with KEYFILE is required".into(),
                ));
            }
            Ok(Value::Object(fields))
        }
    }
}

/// Prints a write answer `{"id", "status"}` as `STATUS ID`.
pub(crate) fn print_write(resp: &Value) {
    let id = resp.get("id").and_then(Value::as_str).unwrap_or("?");
    let status = resp.get("status").and_then(Value::as_str).unwrap_or("ok");
    println!("{status} {id}");
}

/// Pretty-prints a JSON value on stdout.
pub(crate) fn print_json(v: &Value) {
    match serde_json::to_string_pretty(v) {
        Ok(s) => println!("{s}"),
        Err(_) => println!("{v}"),
    }
}
