//! Property tests of log recovery on hostile tails (the stable-toolchain twin
//! of `fuzz/fuzz_targets/log_recovery.rs`). A segment holds a few
//! acknowledged frames, then an arbitrary tail: random bytes, torn frames,
//! frames with a valid CRC around arbitrary payloads, zero runs. Opening never
//! fails or panics on it, keeps every acknowledged frame byte for byte,
//! returns only frames whose CRC verifies, and leaves a log that takes a new
//! append which a reopen finds right after the frames recovery kept.

use std::fs;
use std::path::Path;

use proptest::prelude::*;
use stemedb_records::hlc::Hlc;
use stemedb_records::{SignedRecord, wire};
use stemedb_storage::LogPos;
use stemedb_storage::log::{Entry, LogWriter, segment};

fn record(n: u32) -> SignedRecord {
    let v = serde_json::json!({
        "subject": format!("prop:{n}"), "predicate": "p", "agent": "a",
        "object": {"type": "number", "value": n}, "timestamp": 1_700_000_000_000u64 + u64::from(n),
    });
    wire::parse_record(&v, &Hlc::new()).expect("valid record")
}

fn frame(payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    segment::write_frame(&mut out, payload.len(), |o| o.extend_from_slice(payload));
    out
}

/// Pieces of a hostile tail.
fn piece() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..64),
        // A whole frame with a valid CRC around arbitrary bytes.
        proptest::collection::vec(any::<u8>(), 1..80).prop_map(|p| frame(&p)),
        // A valid record frame, possibly cut short.
        (0u32..50, any::<prop::sample::Index>()).prop_map(|(n, cut)| {
            let f = frame(&record(n).to_stored());
            let keep = cut.index(f.len() + 1);
            f[..keep].to_vec()
        }),
        // A valid frame with one flipped bit.
        (0u32..50, any::<prop::sample::Index>(), 0u8..8).prop_map(|(n, at, bit)| {
            let mut f = frame(&record(n).to_stored());
            let i = at.index(f.len());
            f[i] ^= 1 << bit;
            f
        }),
        (1usize..40).prop_map(|n| vec![0u8; n]),
        // A header claiming a huge or zero length.
        any::<u32>().prop_map(|len| {
            let mut h = len.to_le_bytes().to_vec();
            h.extend_from_slice(&[0xAB; 4]);
            h
        }),
    ]
}

fn entries(reader: &stemedb_storage::log::LogReader) -> Vec<(LogPos, Vec<u8>, bool)> {
    let mut out = Vec::new();
    let start = LogPos {
        segment: 1,
        offset: segment::HEADER_LEN as u32,
    };
    reader
        .scan_entries_from(start, |pos, e| {
            match e {
                Entry::Commit(ms) => {
                    let mut p = vec![segment::COMMIT_MARKER_FLAG];
                    p.extend_from_slice(&ms.to_le_bytes());
                    out.push((pos, p, false));
                }
                Entry::Record(p) => out.push((pos, p.to_vec(), true)),
            }
            Ok(())
        })
        .expect("a recovered log scans without error");
    out
}

fn check(dir: &Path, acked_n: u32, tail: &[u8]) -> Result<(), TestCaseError> {
    let acked: Vec<SignedRecord> = (0..acked_n).map(record).collect();
    let mut seg = segment::header(1).to_vec();
    let mut expect: Vec<Vec<u8>> = Vec::new();
    if !acked.is_empty() {
        segment::write_commit_marker(&mut seg, 1_700_000_000_000);
        expect.push(seg[16 + segment::FRAME_HEADER_LEN..].to_vec());
        for r in &acked {
            seg.extend_from_slice(&frame(&r.to_stored()));
            expect.push(r.to_stored());
        }
    }
    let acked_len = seg.len();
    seg.extend_from_slice(tail);
    fs::write(dir.join("0000000001.seg"), &seg).expect("write segment");

    let (mut writer, reader, report) =
        LogWriter::open(dir, 1 << 20, false, true).expect("recovery never fails on a torn tail");
    let end = report.end.expect("end");
    prop_assert!(end.segment == 1 && end.offset as usize >= acked_len);
    let kept = entries(&reader);
    prop_assert!(kept.len() >= expect.len(), "acknowledged frames lost");
    for (i, want) in expect.iter().enumerate() {
        prop_assert_eq!(&kept[i].1, want, "acknowledged frame {} changed", i);
    }
    for (pos, payload, is_record) in &kept {
        match segment::read_frame(&seg[pos.offset as usize..]) {
            segment::Frame::Ok { payload: p, .. } => prop_assert_eq!(p, &payload[..]),
            other => prop_assert!(false, "returned a frame that does not verify: {other:?}"),
        }
        if *is_record {
            prop_assert_eq!(&reader.read(*pos).expect("read"), payload);
        }
    }
    let fresh = record(999);
    writer.append(&[&fresh]).expect("append after recovery");
    drop(writer);
    drop(reader);
    let (_w, reader, _) = LogWriter::open(dir, 1 << 20, false, true).expect("reopen");
    let after = entries(&reader);
    prop_assert_eq!(after.len(), kept.len() + 2, "reopen found other frames");
    for (a, b) in kept.iter().zip(&after) {
        prop_assert_eq!(&a.1, &b.1, "a kept frame changed across the reopen");
    }
    let want = fresh.to_stored();
    prop_assert_eq!(after.last().map(|e| &e.1), Some(&want));
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn recovery_keeps_acknowledged_frames_and_only_verified_ones(
        acked in 0u32..4,
        pieces in proptest::collection::vec(piece(), 0..6),
    ) {
        let dir = tempfile::tempdir().expect("tempdir");
        check(dir.path(), acked, &pieces.concat())?;
    }
}
