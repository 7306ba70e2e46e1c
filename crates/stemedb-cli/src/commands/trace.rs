//! `stemedb trace`: show a record's lineage (GET /v1/trace/{id}).

use crate::client::{Client, encode_segment};
use crate::error::Result;

/// Arguments of `stemedb trace`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The record id (64 hex).
    pub id: String,
}

/// Runs `stemedb trace`, printing the server's JSON.
pub fn run(args: Args, client: &Client) -> Result<()> {
    let v = client.get_json(&format!("/v1/trace/{}", encode_segment(&args.id)), &[])?;
    super::print_json(&v);
    Ok(())
}
