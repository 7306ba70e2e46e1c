//! The `stemedb` binary: parse the command line, run it, report errors.

use std::process::ExitCode;

use clap::Parser;
use stemedb_cli::cli::Cli;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(1)
        }
    }
}
