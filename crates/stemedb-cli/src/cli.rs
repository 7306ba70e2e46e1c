//! The command-line definition.

use clap::Parser;

use crate::commands::Command;
use crate::error::Result;

/// StemeDB command-line client: claims, not facts, resolved at read time by lenses.
#[derive(Debug, Parser)]
#[command(name = "stemedb", version, about, long_about = None)]
pub struct Cli {
    /// Base URL of the StemeDB server.
    #[arg(
        long,
        global = true,
        env = "STEMEDB_SERVER",
        default_value = "http://127.0.0.1:18180"
    )]
    pub server: String,
    /// API key sent as `Authorization: Bearer <token>` (needed when the server has `[auth]`; admin calls need an admin key).
    #[arg(long, global = true, env = "STEMEDB_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// PEM file of the CA certificate(s) that signed an https:// server's certificate
    /// (instead of the built-in public roots).
    #[arg(long, global = true, env = "STEMEDB_CACERT", value_name = "PEM")]
    pub cacert: Option<std::path::PathBuf>,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

impl Cli {
    /// Runs the chosen subcommand.
    pub fn run(self) -> Result<()> {
        self.command
            .run(&self.server, self.token, self.cacert.as_deref())
    }
}
