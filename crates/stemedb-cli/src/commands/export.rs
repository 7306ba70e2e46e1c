//! `stemedb export`: stream records as JSON Lines (GET /v1/export).

use std::fs::File;
use std::io::{self, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use crate::client::Client;
use crate::error::{CliError, Result};

/// Arguments of `stemedb export`.
#[derive(Debug, clap::Args)]
#[command(after_help = "Each line is one record in the wire form \
(\"kind\", \"id\", its fields, \"signature\" when signed); \
`stemedb import` reads it back unchanged.")]
pub struct Args {
    /// Only records whose subject starts with this prefix.
    #[arg(long)]
    pub prefix: Option<String>,
    /// Write to this file (via a temporary file renamed on success) instead of stdout.
    #[arg(long, short)]
    pub output: Option<PathBuf>,
}

/// Copies `reader` to `out`, returning (bytes, lines).
pub fn copy_counting(mut reader: impl Read, out: &mut impl Write) -> io::Result<(u64, u64)> {
    let mut buf = vec![0u8; 64 * 1024];
    let (mut bytes, mut lines) = (0u64, 0u64);
    let mut last = b'\n';
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        let chunk = &buf[..n];
        out.write_all(chunk)?;
        bytes += n as u64;
        lines += chunk.iter().filter(|b| **b == b'\n').count() as u64;
        last = chunk[n - 1];
    }
    if last != b'\n' {
        lines += 1;
    }
    Ok((bytes, lines))
}

fn partial_path(path: &Path) -> PathBuf {
    let mut name = path
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_default();
    name.push(".partial");
    path.with_file_name(name)
}

/// Runs `stemedb export`.
pub fn run(args: Args, client: &Client) -> Result<()> {
    let query: Vec<(&str, String)> = args.prefix.iter().map(|p| ("prefix", p.clone())).collect();
    let reader = client.get_reader("/v1/export", &query)?;
    match &args.output {
        None => {
            let stdout = io::stdout();
            let mut out = BufWriter::new(stdout.lock());
            let res = copy_counting(reader, &mut out).and_then(|r| out.flush().map(|()| r));
            match res {
                Ok(_) => Ok(()),
                // `stemedb export | head` closes the pipe early: not an error.
                Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(()),
                Err(e) => Err(CliError::io("writing the export to stdout", e)),
            }
        }
        Some(path) => {
            let tmp = partial_path(path);
            let file = File::create(&tmp)
                .map_err(|e| CliError::io(format!("creating {}", tmp.display()), e))?;
            let mut out = BufWriter::new(file);
            let copied = copy_counting(reader, &mut out)
                .and_then(|r| out.flush().map(|()| r))
                .and_then(|r| out.get_ref().sync_all().map(|()| r));
            let (bytes, lines) = match copied {
                Ok(r) => r,
                Err(e) => {
                    // Leave no half-written export behind that could pass for a whole one.
                    let _ = std::fs::remove_file(&tmp);
                    return Err(CliError::io(format!("exporting to {}", tmp.display()), e));
                }
            };
            std::fs::rename(&tmp, path)
                .map_err(|e| CliError::io(format!("renaming to {}", path.display()), e))?;
            eprintln!(
                "exported {lines} records ({bytes} bytes) to {}",
                path.display()
            );
            Ok(())
        }
    }
}
