//! `stemedb retract`: withdraw an assertion (POST /v1/retract).

use std::path::PathBuf;

use serde_json::{Map, json};
use stemedb_records::Kind;

use crate::client::Client;
use crate::error::Result;

/// Arguments of `stemedb retract`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Id of the assertion to retract.
    pub target: String,
    /// Who retracts it (its author or an admin; set from the key with --sign-with).
    #[arg(long)]
    pub agent: Option<String>,
    /// Why it is withdrawn.
    #[arg(long)]
    pub reason: Option<String>,
    /// When, ms since the Unix epoch (server clock if absent and unsigned).
    #[arg(long)]
    pub timestamp: Option<i64>,
    /// Sign with this key file; agent becomes the public key.
    #[arg(long, value_name = "KEYFILE")]
    pub sign_with: Option<PathBuf>,
}

/// Runs `stemedb retract`.
pub fn run(args: Args, client: &Client) -> Result<()> {
    let mut m = Map::new();
    m.insert("target".into(), json!(args.target));
    if let Some(a) = args.agent {
        m.insert("agent".into(), json!(a));
    }
    if let Some(r) = args.reason {
        m.insert("reason".into(), json!(r));
    }
    if let Some(t) = args.timestamp {
        m.insert("timestamp".into(), json!(t));
    }
    let body = super::body_for(Kind::Retraction, m, args.sign_with.as_ref())?;
    let resp = client.post_json("/v1/retract", &body)?;
    super::print_write(&resp);
    Ok(())
}
