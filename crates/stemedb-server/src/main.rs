//! `stemedb-api`: the StemeDB HTTP API server.

#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use tracing_subscriber::EnvFilter;

/// mimalloc instead of glibc malloc: request handling allocates many small,
/// short-lived objects across threads (JSON values, index keys), where glibc
/// spent about a fifth of a query's CPU.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// StemeDB HTTP API server.
#[derive(Debug, Parser)]
#[command(name = "stemedb-api", version, about)]
struct Args {
    /// Configuration file (default: /etc/stemedb/config.toml when it exists).
    #[arg(long, value_name = "PATH")]
    config: Option<PathBuf>,
    /// Log as JSON lines instead of text.
    #[arg(long)]
    log_json: bool,
    /// Without a subcommand the server runs.
    #[command(subcommand)]
    command: Option<Sub>,
}

#[derive(Debug, clap::Subcommand)]
enum Sub {
    /// Manage the API keys file (`[auth] keys_file`): add, list, revoke.
    #[command(subcommand)]
    Keys(KeysCmd),
    /// Check a data directory or a backup (offline): every frame's CRC, every
    /// record re-hashed, the manifest (backup) or the indexes against the log
    /// (data dir). Exit 0 when sound; otherwise the first bad file and offset, exit 1.
    Verify(stemedb_server::tools::VerifyArgs),
    /// Build a new data directory from a backup (full or incremental chain)
    /// and/or an archive directory, optionally only up to a commit time.
    Restore(stemedb_server::tools::RestoreArgs),
}

#[derive(Debug, clap::Subcommand)]
enum KeysCmd {
    /// Add a key; prints its secret once (only a hash is stored).
    Add {
        /// The keys file (created when absent).
        #[arg(long, value_name = "FILE")]
        keys_file: PathBuf,
        /// A unique name for the key (letters, digits, '.', '_', '-').
        #[arg(long)]
        name: String,
        /// reader (GET), writer (+ writes, votes, own retractions) or admin (+ trust, epochs, any retraction).
        #[arg(long)]
        role: stemedb_server::auth::Role,
    },
    /// List keys: name, role, created, revoked (never secrets or hashes).
    List {
        /// The keys file.
        #[arg(long, value_name = "FILE")]
        keys_file: PathBuf,
    },
    /// Revoke a key; a running server stops accepting it within about a second.
    Revoke {
        /// The keys file.
        #[arg(long, value_name = "FILE")]
        keys_file: PathBuf,
        /// The key's name.
        #[arg(long)]
        name: String,
    },
}

fn run_keys(cmd: KeysCmd) -> ExitCode {
    use stemedb_server::auth::keys;
    let result = match cmd {
        KeysCmd::Add {
            keys_file,
            name,
            role,
        } => keys::add(&keys_file, &name, role).map(|secret| {
            println!("{secret}");
            eprintln!(
                "added key {name:?} ({}) to {}; the secret above is shown only once. \
                 Clients send: Authorization: Bearer <secret> (stemedb --token / STEMEDB_TOKEN)",
                role.as_str(),
                keys_file.display()
            );
        }),
        KeysCmd::List { keys_file } => keys::load(&keys_file).map(|set| {
            println!("{:<24} {:<7} {:<21} REVOKED", "NAME", "ROLE", "CREATED");
            for k in &set.records {
                println!(
                    "{:<24} {:<7} {:<21} {}",
                    k.name,
                    k.role.as_str(),
                    k.created,
                    k.revoked.as_deref().unwrap_or("-")
                );
            }
        }),
        KeysCmd::Revoke { keys_file, name } => keys::revoke(&keys_file, &name).map(|()| {
            eprintln!(
                "revoked key {name:?} in {}; running servers reload the file within about a second \
                 (or on SIGHUP)",
                keys_file.display()
            );
        }),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("stemedb-api keys: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The log filter when `STEMEDB_LOG` is not set: our own INFO lines; the
/// index engine's (fjall, lsm-tree) routine INFO chatter only at WARN.
const DEFAULT_LOG_FILTER: &str = "info,fjall=warn,lsm_tree=warn";

fn init_logging(json: bool) {
    let filter = EnvFilter::try_from_env("STEMEDB_LOG")
        .unwrap_or_else(|_| EnvFilter::new(DEFAULT_LOG_FILTER));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        // Colour codes only on a terminal, never into a file or journald.
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
}

fn main() -> ExitCode {
    let thp = stemedb_storage::memory::no_transparent_huge_pages();
    let args = Args::parse();
    if let Some(Sub::Keys(cmd)) = args.command {
        return run_keys(cmd);
    }
    init_logging(args.log_json);
    if let Err(e) = thp {
        tracing::warn!(
            error = %e,
            "could not turn transparent huge pages off; writes may stall while the kernel zeroes huge pages"
        );
    }
    match args.command {
        Some(Sub::Verify(a)) => return stemedb_server::tools::verify(&a),
        Some(Sub::Restore(a)) => {
            return stemedb_server::tools::restore(&a, args.config.as_deref());
        }
        Some(Sub::Keys(_)) | None => {}
    }
    let env = std::env::vars_os()
        .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)));
    let loaded = match stemedb_server::config::load(args.config.as_deref(), env) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("stemedb-api: configuration error: {e}");
            return ExitCode::from(2);
        }
    };
    for w in &loaded.warnings {
        tracing::warn!("{w}");
    }
    if let Err(e) = loaded.check_runnable() {
        eprintln!("stemedb-api: configuration error: {e}");
        return ExitCode::from(2);
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("stemedb-api")
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("stemedb-api: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(stemedb_server::serve(
        loaded.config,
        stemedb_server::shutdown::signal_received(),
    ));
    // A store open abandoned by a stop signal still runs on a blocking
    // thread: do not wait for it (the process exits; the log is crash-safe).
    runtime.shutdown_timeout(std::time::Duration::from_secs(1));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "stemedb-api failed");
            eprintln!("stemedb-api: {e}");
            ExitCode::FAILURE
        }
    }
}
