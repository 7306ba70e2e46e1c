//! `stemedb get`: show one record (GET /v1/assertions/{id}).

use crate::client::{Client, encode_segment};
use crate::error::Result;

/// Arguments of `stemedb get`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The record id (64 hex).
    pub id: String,
}

/// Runs `stemedb get`, printing the server's JSON.
pub fn run(args: Args, client: &Client) -> Result<()> {
    let v = client.get_json(&format!("/v1/assertions/{}", encode_segment(&args.id)), &[])?;
    super::print_json(&v);
    Ok(())
}
