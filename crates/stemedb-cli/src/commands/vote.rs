//! `stemedb vote`: endorse or dispute an assertion (POST /v1/vote).

use std::path::PathBuf;

use serde_json::{Map, json};
use stemedb_records::Kind;

use crate::client::Client;
use crate::error::Result;

/// Arguments of `stemedb vote`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Id of the assertion voted on.
    pub target: String,
    /// Who votes (set from the key with --sign-with).
    #[arg(long)]
    pub agent: Option<String>,
    /// Weight in [-1, 1]: positive endorses, negative disputes.
    #[arg(long, allow_negative_numbers = true)]
    pub weight: f64,
    /// When, ms since the Unix epoch (server clock if absent and unsigned).
    #[arg(long)]
    pub timestamp: Option<i64>,
    /// Sign with this key file; agent becomes the public key.
    #[arg(long, value_name = "KEYFILE")]
    pub sign_with: Option<PathBuf>,
}

/// Runs `stemedb vote`.
pub fn run(args: Args, client: &Client) -> Result<()> {
    let mut m = Map::new();
    m.insert("target".into(), json!(args.target));
    m.insert("weight".into(), json!(args.weight));
    if let Some(a) = args.agent {
        m.insert("agent".into(), json!(a));
    }
    if let Some(t) = args.timestamp {
        m.insert("timestamp".into(), json!(t));
    }
    let body = super::body_for(Kind::Vote, m, args.sign_with.as_ref())?;
    let resp = client.post_json("/v1/vote", &body)?;
    super::print_write(&resp);
    Ok(())
}
