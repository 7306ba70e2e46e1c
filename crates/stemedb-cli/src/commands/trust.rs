//! `stemedb trust`: set an agent's trust score (PUT /v1/agents/{agent}/trust).

use serde_json::json;

use crate::client::{Client, encode_segment};
use crate::error::{CliError, Result};

/// Arguments of `stemedb trust`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The agent whose trust is set.
    pub agent: String,
    /// Trust score in [0, 1] (agents without one count as 0.5).
    pub score: f64,
}

/// Runs `stemedb trust`.
pub fn run(args: Args, client: &Client) -> Result<()> {
    if !(0.0..=1.0).contains(&args.score) {
        return Err(CliError::Input(format!(
            "SCORE must be in [0, 1], got {}",
            args.score
        )));
    }
    let path = format!("/v1/agents/{}/trust", encode_segment(&args.agent));
    let resp = client.put_json(&path, &json!({"score": args.score}))?;
    super::print_write(&resp);
    Ok(())
}
