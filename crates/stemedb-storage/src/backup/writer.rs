//! Writing a backup directory from a stream of segment pieces, whatever the
//! transport (HTTP for `stemedb backup`, local files for [`backup_store`]).

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use super::manifest::{self, FileEntry, Manifest};
use super::piece::{self, Depth, Ending};
use super::{BackupError, Result, sync_dir};
use crate::log::{self, LogPos};
use crate::store::Store;

/// One range of a segment a backup still needs: bytes `[from, to)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Needed {
    /// Segment number.
    pub segment: u32,
    /// First byte.
    pub from: u64,
    /// One past the last byte.
    pub to: u64,
}

/// A backup being written. Nothing marks it complete until [`Self::finish`]
/// writes the manifest, so an interrupted backup has none.
#[derive(Debug)]
pub struct BackupWriter {
    dir: PathBuf,
    manifest: Manifest,
    covered: BTreeMap<u32, u64>,
    base_commit_ms: Option<i64>,
    last_commit_ms: Option<i64>,
}

impl BackupWriter {
    /// Starts a backup of a log that ends at `log_end` into `dir` (new or
    /// empty), optionally incremental on top of the backup in `base`.
    pub fn create(
        dir: &Path,
        server: &str,
        base: Option<&Path>,
        log_end: LogPos,
    ) -> Result<BackupWriter> {
        if dir.exists() {
            let mut entries = fs::read_dir(dir).map_err(|e| BackupError::io(dir, e))?;
            if entries.next().is_some() {
                return Err(BackupError::NotEmpty(dir.to_path_buf()));
            }
        }
        let (covered, base_name, base_commit_ms) = match base {
            None => (BTreeMap::new(), None, None),
            Some(b) => {
                let chain = manifest::chain(b)?;
                super::verify::verify_backup(b)?;
                let abs = fs::canonicalize(b).map_err(|e| BackupError::io(b, e))?;
                let tip = chain
                    .last()
                    .map(|l| l.manifest.commit_time_ms)
                    .unwrap_or(None);
                (
                    manifest::covered(&chain)?,
                    Some(abs.to_string_lossy().into_owned()),
                    tip,
                )
            }
        };
        let log_dir = dir.join("log");
        fs::create_dir_all(&log_dir).map_err(|e| BackupError::io(&log_dir, e))?;
        Ok(BackupWriter {
            dir: dir.to_path_buf(),
            manifest: Manifest::new(server, base_name, log_end),
            covered,
            base_commit_ms,
            last_commit_ms: None,
        })
    }

    /// The ranges to copy given the server's committed extents: everything
    /// for a full backup, only what is new since the base otherwise. Fails
    /// when the base holds more of a segment than the server (not its ancestor).
    pub fn needed(&self, extents: &[(u32, u64)]) -> Result<Vec<Needed>> {
        let mut out = Vec::new();
        for &(segment, size) in extents {
            let have = self.covered.get(&segment).copied().unwrap_or(0);
            if have > size {
                return Err(BackupError::Gap(format!(
                    "the base backup holds {have} bytes of segment {segment}, the server only {size}: \
                     it is not a backup of this server's log"
                )));
            }
            if size > have {
                out.push(Needed {
                    segment,
                    from: have,
                    to: size,
                });
            }
        }
        if let Some((&last, _)) = self.covered.iter().next_back()
            && !extents.iter().any(|(s, _)| *s == last)
        {
            return Err(BackupError::Gap(format!(
                "the base backup holds segment {last}, which the server does not have"
            )));
        }
        Ok(out)
    }

    /// Copies one range from `src` into the backup (fsynced), then checks its
    /// frames and records. `progress` is called with each chunk's size.
    pub fn add(
        &mut self,
        need: Needed,
        mut src: impl Read,
        mut progress: impl FnMut(u64),
    ) -> Result<()> {
        let name = if need.from == 0 {
            log::segment_name(need.segment)
        } else {
            format!("{}.{}", log::segment_name(need.segment), need.from)
        };
        let rel = format!("log/{name}");
        let path = self.dir.join(&rel);
        let mut f = File::create(&path).map_err(|e| BackupError::io(&path, e))?;
        let want = need.to - need.from;
        let mut data = Vec::with_capacity(usize::try_from(want).unwrap_or(0));
        let mut buf = vec![0u8; 1 << 20];
        while (data.len() as u64) < want {
            let room = usize::try_from(want - data.len() as u64)
                .unwrap_or(usize::MAX)
                .min(buf.len());
            let n = match src.read(&mut buf[..room]) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(BackupError::io(&path, e)),
            };
            f.write_all(&buf[..n])
                .map_err(|e| BackupError::io(&path, e))?;
            data.extend_from_slice(&buf[..n]);
            progress(n as u64);
        }
        if data.len() as u64 != want {
            return Err(BackupError::Corrupt {
                path,
                offset: need.from + data.len() as u64,
                reason: format!("stream ended after {} of {want} bytes", data.len()),
            });
        }
        f.sync_all().map_err(|e| BackupError::io(&path, e))?;
        let info = piece::inspect(
            &path,
            need.segment,
            need.from,
            &data,
            Ending::Exact,
            Depth::Frames,
            |_, _| Ok(()),
        )?;
        if info.last_commit_ms.is_some() {
            self.last_commit_ms = info.last_commit_ms;
        }
        self.manifest.records += info.records;
        self.manifest.files.push(FileEntry {
            path: rel,
            segment: need.segment,
            offset: need.from,
            size: want,
            blake3: piece::blake3_hex(&data),
            records: info.records,
        });
        Ok(())
    }

    /// Writes the manifest last (temp file, fsync, rename, fsync): from now on
    /// the backup is complete.
    pub fn finish(mut self) -> Result<Manifest> {
        sync_dir(&self.dir.join("log"))?;
        self.manifest.commit_time_ms = self.last_commit_ms.or(self.base_commit_ms);
        self.manifest.created_ms = stemedb_records::hlc::Hlc::wall_ms();
        self.manifest.write(&self.dir)?;
        Ok(self.manifest)
    }
}

/// Backs up an open store from its own files (the same consistent extents
/// the HTTP endpoint serves). Used by tests and benchmarks; `stemedb backup`
/// does the same over HTTP.
pub fn backup_store(store: &Store, dir: &Path, base: Option<&Path>) -> Result<Manifest> {
    let (end, extents) = store.backup_extents()?;
    let mut w = BackupWriter::create(dir, "local", base, end)?;
    for need in w.needed(&extents)? {
        let path = store.segment_path(need.segment);
        let mut f = File::open(&path).map_err(|e| BackupError::io(&path, e))?;
        f.seek(SeekFrom::Start(need.from))
            .map_err(|e| BackupError::io(&path, e))?;
        w.add(need, f.take(need.to - need.from), |_| {})?;
    }
    w.finish()
}
