//! `stemedb-api verify` and `stemedb-api restore`: thin command-line wrappers
//! over `stemedb_storage::backup`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use stemedb_storage::backup;

/// Arguments of `stemedb-api verify`.
#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("what").required(true).args(["data_dir", "backup"])))]
pub struct VerifyArgs {
    /// A data directory of a stopped server (opened like the server does:
    /// a torn, never-acknowledged tail is cut).
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// A backup directory (with its incremental chain).
    #[arg(long, value_name = "DIR")]
    pub backup: Option<PathBuf>,
}

/// Arguments of `stemedb-api restore`.
#[derive(Debug, clap::Args)]
pub struct RestoreArgs {
    /// A backup directory (full or the tip of an incremental chain) or an
    /// archive directory; repeat to combine (per segment the longest copy wins),
    /// e.g. the last backup plus the archive.
    #[arg(long, value_name = "DIR", required = true)]
    pub from: Vec<PathBuf>,
    /// The new data directory (must not exist or be empty).
    #[arg(long, value_name = "DIR")]
    pub data_dir: PathBuf,
    /// Keep only the records whose commit time is at or before this time
    /// (milliseconds since the Unix epoch).
    #[arg(long, value_name = "MS")]
    pub until: Option<i64>,
}

/// Runs `stemedb-api verify`.
pub fn verify(a: &VerifyArgs) -> ExitCode {
    let started = Instant::now();
    let (what, result) = match (&a.data_dir, &a.backup) {
        (Some(d), _) => (d, backup::verify_data_dir(d)),
        (None, Some(b)) => (b, backup::verify_backup(b)),
        (None, None) => {
            eprintln!("stemedb-api verify: give --data-dir DIR or --backup DIR");
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(r) => {
            for n in &r.notes {
                println!("note: {n}");
            }
            println!(
                "{}: sound — {} files, {} bytes, {} records re-hashed, {} signatures verified, {} index entries checked, last commit time {} ({} ms)",
                what.display(),
                r.files,
                r.bytes,
                r.records,
                r.signatures,
                r.index_entries,
                r.last_commit_ms.map_or("none".into(), |m| m.to_string()),
                started.elapsed().as_millis()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("stemedb-api verify: FAILED: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Runs `stemedb-api restore`.
pub fn restore(a: &RestoreArgs) -> ExitCode {
    let started = Instant::now();
    match backup::restore(&a.from, &a.data_dir, a.until) {
        Ok(r) => {
            println!(
                "restored {} records ({} segments, {} log bytes) into {}; last commit time {}{}; index rebuilt ({} ms)",
                r.records,
                r.segments,
                r.bytes,
                a.data_dir.display(),
                r.last_commit_ms.map_or("none".into(), |m| m.to_string()),
                r.cut_at
                    .map(|p| format!("; log cut at {p} (first commit after --until)"))
                    .unwrap_or_default(),
                started.elapsed().as_millis()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("stemedb-api restore: FAILED: {e}");
            ExitCode::FAILURE
        }
    }
}
