//! `stemedb keygen`: create an Ed25519 key file for `--sign-with`.

use std::path::PathBuf;

use crate::error::Result;

/// Arguments of `stemedb keygen`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Where to write the key file (created with mode 0600; never overwritten).
    #[arg(long, short)]
    pub output: PathBuf,
}

/// Runs `stemedb keygen`, printing the public key (the agent name of signed records).
pub fn run(args: Args) -> Result<()> {
    let public = crate::keyfile::create(&args.output)?;
    println!("{public}");
    eprintln!(
        "wrote {} (mode 0600); use it with --sign-with; agent = {public}",
        args.output.display()
    );
    Ok(())
}
