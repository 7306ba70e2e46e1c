//! `stemedb-api verify` and `stemedb-api restore`: thin command-line wrappers
//! over `stemedb_storage::backup`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use stemedb_storage::backup;

use crate::archive::{Target, fetch};
use crate::config::TargetUrl;

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
    /// archive: its directory, `file:///dir` or `s3://bucket/prefix` (endpoint
    /// and credentials from the `[archive]` settings of --config and
    /// STEMEDB_ARCHIVE_*). Repeat to combine (per segment the longest copy
    /// wins), e.g. the last backup plus the archive.
    #[arg(long, value_name = "DIR|URL", required = true)]
    pub from: Vec<String>,
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

/// A source of `restore --from` as a local directory: a path as is, a
/// `file://` URL's directory, or an `s3://` archive downloaded into a new
/// directory beside the target (added to `staged`, removed afterwards).
fn local_source(
    src: &str,
    a: &RestoreArgs,
    config: Option<&Path>,
    staged: &mut Vec<PathBuf>,
) -> Result<PathBuf, String> {
    if src.starts_with("file://") || src.starts_with("s3://") {
        let url = TargetUrl::parse(src).map_err(|e| format!("--from {e}"))?;
        if let TargetUrl::Dir(dir) = url {
            return Ok(dir);
        }
        let env = std::env::vars_os()
            .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)));
        let settings = crate::config::load(config, env)
            .map_err(|e| format!("configuration error: {e}"))?
            .config
            .archive;
        let target = Target::open(src, &settings).map_err(|e| e.to_string())?;
        let parent = match a.data_dir.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let stage = parent.join(format!(
            ".stemedb-restore-{}-{}",
            std::process::id(),
            staged.len()
        ));
        std::fs::create_dir(&stage)
            .map_err(|e| format!("cannot create {}: {e}", stage.display()))?;
        staged.push(stage.clone());
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| format!("cannot start the async runtime: {e}"))?;
        let got = runtime
            .block_on(fetch::fetch(&target, &stage))
            .map_err(|e| e.to_string())?;
        eprintln!(
            "downloaded {} archived segments ({} bytes) from {src}",
            got.segments, got.bytes
        );
        return Ok(stage);
    }
    Ok(PathBuf::from(src))
}

/// Runs `stemedb-api restore`; `config` supplies the `[archive]` endpoint
/// and credentials for `s3://` sources.
pub fn restore(a: &RestoreArgs, config: Option<&Path>) -> ExitCode {
    let started = Instant::now();
    let mut staged = Vec::new();
    let mut sources = Vec::new();
    let mut failure = None;
    for src in &a.from {
        match local_source(src, a, config, &mut staged) {
            Ok(p) => sources.push(p),
            Err(e) => {
                failure = Some(e);
                break;
            }
        }
    }
    let result = match failure {
        Some(e) => Err(e),
        None => backup::restore(&sources, &a.data_dir, a.until).map_err(|e| e.to_string()),
    };
    for dir in staged {
        let _ = std::fs::remove_dir_all(dir);
    }
    match result {
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
