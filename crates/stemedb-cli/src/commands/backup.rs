//! `stemedb backup`: an online, consistent copy of a server's log
//! (`GET /v1/admin/backup` then each segment's committed bytes), checked
//! frame by frame and finished with `manifest.json` written last.

use std::io::IsTerminal;
use std::path::PathBuf;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::Value;
use stemedb_storage::LogPos;
use stemedb_storage::backup::{BackupError, BackupWriter};

use crate::client::Client;
use crate::error::{CliError, Result};

/// Arguments of `stemedb backup`.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Needs the admin token (--token) when the server has one. \
The server keeps taking writes; the backup holds every record committed when it started. \
DIR/manifest.json is written last: a directory without it is an interrupted backup. \
Check it with `stemedb-api verify --backup DIR`; restore with `stemedb-api restore --from DIR --data-dir NEW`."
)]
pub struct Args {
    /// Directory to write the backup into (must not exist or be empty).
    #[arg(long, short, value_name = "DIR")]
    pub output: PathBuf,
    /// Copy only what is new since this earlier backup of the same server
    /// (the new backup references it; keep both).
    #[arg(long, value_name = "DIR0")]
    pub incremental_from: Option<PathBuf>,
}

fn backup_err(e: BackupError) -> CliError {
    CliError::Input(format!("backup failed: {e}"))
}

fn field<'a>(v: &'a Value, path: &[&str]) -> Result<&'a Value> {
    let mut cur = v;
    for p in path {
        cur = cur.get(p).ok_or_else(|| CliError::Http {
            url: "/v1/admin/backup".into(),
            detail: format!("the backup plan has no {}", path.join(".")),
        })?;
    }
    Ok(cur)
}

fn num(v: &Value, path: &[&str]) -> Result<u64> {
    field(v, path)?.as_u64().ok_or_else(|| CliError::Http {
        url: "/v1/admin/backup".into(),
        detail: format!("{} is not a number", path.join(".")),
    })
}

/// Runs `stemedb backup`.
pub fn run(args: Args, client: &Client) -> Result<()> {
    let plan = client.get_json("/v1/admin/backup", &[])?;
    let end = LogPos {
        segment: u32::try_from(num(&plan, &["log_end", "segment"])?).unwrap_or(u32::MAX),
        offset: u32::try_from(num(&plan, &["log_end", "offset"])?).unwrap_or(u32::MAX),
    };
    let mut extents = Vec::new();
    for s in field(&plan, &["segments"])?
        .as_array()
        .into_iter()
        .flatten()
    {
        let seg = u32::try_from(num(s, &["segment"])?).unwrap_or(u32::MAX);
        extents.push((seg, num(s, &["size"])?));
    }
    let mut writer = BackupWriter::create(
        &args.output,
        client.base(),
        args.incremental_from.as_deref(),
        end,
    )
    .map_err(backup_err)?;
    let needed = writer.needed(&extents).map_err(backup_err)?;
    let total: u64 = needed.iter().map(|n| n.to - n.from).sum();
    let bar = progress_bar(total);
    for need in needed {
        let reader = client.get_reader(
            &format!("/v1/admin/backup/segments/{}", need.segment),
            &[("from", need.from.to_string()), ("to", need.to.to_string())],
        )?;
        writer
            .add(need, reader, |n| bar.inc(n))
            .map_err(backup_err)?;
    }
    let manifest = writer.finish().map_err(backup_err)?;
    bar.finish_and_clear();
    let bytes: u64 = manifest.files.iter().map(|f| f.size).sum();
    println!(
        "backup complete: {} files, {} bytes, {} records, log end {}:{}, commit time {}{} -> {}",
        manifest.files.len(),
        bytes,
        manifest.records,
        manifest.log_end.segment,
        manifest.log_end.offset,
        manifest
            .commit_time_ms
            .map_or("none".into(), |m| m.to_string()),
        manifest
            .base
            .as_deref()
            .map(|b| format!(" (incremental on {b})"))
            .unwrap_or_default(),
        args.output.display()
    );
    Ok(())
}

fn progress_bar(len: u64) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::stderr());
    if let Ok(style) = ProgressStyle::with_template(
        "[{elapsed_precise}] {wide_bar} {bytes}/{total_bytes} {bytes_per_sec} eta {eta}",
    ) {
        bar.set_style(style);
    }
    bar
}
