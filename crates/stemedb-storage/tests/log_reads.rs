//! Reading single frames by position: through memory maps
//! (`StoreConfig::map_log_segments`, the default) and with `pread` the log
//! answers byte for byte the same — sealed segments, segments sealed while
//! the log is open, and the active segment while it is written — and damage
//! or a position past the written frames is a corruption error naming the
//! segment and offset in both modes, never a crash or a short payload.

use std::fs;
use std::path::Path;

use stemedb_records::hlc::Hlc;
use stemedb_records::{SignedRecord, wire};
use stemedb_storage::log::{LogWriter, segment_path};
use stemedb_storage::{LogPos, StorageError};

/// Small segments: a few dozen records each, so the log rotates often.
const SEGMENT: u64 = 8 * 1024;

fn record(n: u32) -> SignedRecord {
    let v = serde_json::json!({
        "subject": format!("read:{n}"), "predicate": "p", "agent": "a",
        "object": {"type": "text", "value": "v".repeat(40 + (n as usize % 200))},
        "timestamp": 1_700_000_000_000u64 + u64::from(n),
    });
    wire::parse_record(&v, &Hlc::new()).expect("valid record")
}

/// Appends `n` records in groups of 7; returns each one's position and stored bytes.
fn write_log(dir: &Path, n: u32, map: bool) -> Vec<(LogPos, Vec<u8>)> {
    let (mut writer, reader, _) = LogWriter::open(dir, SEGMENT, false, map).expect("open");
    let recs: Vec<SignedRecord> = (0..n).map(record).collect();
    let mut out = Vec::new();
    for group in recs.chunks(7) {
        let refs: Vec<&SignedRecord> = group.iter().collect();
        let positions = writer.append(&refs).expect("append");
        for (pos, rec) in positions.into_iter().zip(group) {
            out.push((pos, rec.to_stored()));
        }
        // Read back everything written so far while the log is open: the
        // segments sealed by this append are read through their new state.
        for (pos, want) in &out {
            assert_eq!(&reader.read(*pos).expect("read while open"), want);
        }
        let end = writer.end();
        assert_eq!(reader.is_mapped(end.segment), map, "the active segment");
        if end.segment > 1 {
            assert_eq!(
                reader.is_mapped(end.segment - 1),
                map,
                "a segment sealed while open"
            );
        }
        // Past the last frame, in the active segment's preallocated space.
        let (p, off, why) = corruption(reader.read(end).expect_err("past the last frame"));
        assert!(
            p.ends_with(".seg") && off == u64::from(end.offset),
            "{p} {off}"
        );
        assert_eq!(why, "implausible frame length 0", "map={map}");
    }
    out
}

#[test]
fn mapped_and_pread_reads_answer_the_same_bytes() {
    for map in [true, false] {
        let dir = tempfile::tempdir().expect("tempdir");
        let written = write_log(dir.path(), 400, map);
        let last = written.last().map(|(p, _)| p.segment).unwrap_or(0);
        assert!(
            last >= 5,
            "the test needs several sealed segments, got {last}"
        );
        // Reopen in both modes: sealed segments are mapped (or not) on first read.
        for reopen_map in [true, false] {
            let (_w, reader, _) =
                LogWriter::open(dir.path(), SEGMENT, false, reopen_map).expect("reopen");
            for (pos, want) in &written {
                assert_eq!(
                    &reader.read(*pos).expect("read after reopen"),
                    want,
                    "written with map={map}, read with map={reopen_map} at {pos:?}"
                );
            }
            for seg in 1..=last {
                assert_eq!(reader.is_mapped(seg), reopen_map, "segment {seg} of {last}");
            }
        }
    }
}

fn corruption(err: StorageError) -> (String, u64, String) {
    match err {
        StorageError::Corrupt {
            path,
            offset,
            reason,
        } => (path.display().to_string(), offset, reason),
        other => panic!("expected a corruption error, got {other}"),
    }
}

#[test]
fn damage_in_a_sealed_segment_is_a_corruption_error_in_both_modes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let written = write_log(dir.path(), 200, true);
    // Frames of segment 2 (sealed): flip a payload byte of the first, make the
    // last one's length run past the segment's end.
    let in_two: Vec<&(LogPos, Vec<u8>)> = written.iter().filter(|(p, _)| p.segment == 2).collect();
    let (Some((first, _)), Some((last, _))) = (in_two.first(), in_two.last()) else {
        panic!("segment 2 holds no record");
    };
    let path = segment_path(dir.path(), 2);
    let mut data = fs::read(&path).expect("read segment");
    data[first.offset as usize + 20] ^= 0x40;
    let at = last.offset as usize;
    data[at..at + 4].copy_from_slice(&60_000u32.to_le_bytes());
    fs::write(&path, &data).expect("write segment");
    let beyond = LogPos {
        segment: 2,
        offset: data.len() as u32 + 100,
    };

    for map in [true, false] {
        let (_w, reader, _) = LogWriter::open(dir.path(), SEGMENT, false, map).expect("reopen");
        let (p, off, why) = corruption(reader.read(*first).expect_err("flipped byte"));
        assert!(
            p.ends_with("0000000002.seg") && off == u64::from(first.offset),
            "{p} {off}"
        );
        assert_eq!(why, "CRC32C mismatch", "map={map}");
        for pos in [*last, beyond] {
            let (p, off, why) = corruption(reader.read(pos).expect_err("past the end"));
            assert!(
                p.ends_with("0000000002.seg") && off == u64::from(pos.offset),
                "{p} {off}"
            );
            assert_eq!(
                why, "frame runs past end of segment",
                "map={map} at {pos:?}"
            );
        }
        // The undamaged frames of the same segment still read.
        for (pos, want) in &in_two[1..in_two.len() - 1] {
            assert_eq!(&reader.read(*pos).expect("undamaged frame"), want);
        }
    }
}
