//! The invariants the fuzz targets check. Each function takes arbitrary
//! bytes, must never panic on its own, and panics (a finding) only when an
//! invariant breaks. The same invariants run on stable as proptest suites in
//! the main workspace (`crates/*/tests/*_props.rs`).

use std::fs;
use std::path::Path;

use prost::Message;
use serde_json::Value;
use stemedb_records::hlc::Hlc;
use stemedb_records::model::{Assertion, Lifecycle, Object};
use stemedb_records::{Record, RecordId, SignedRecord, canonical, validate::validate, wire};
use stemedb_replication::prefix::{
    BucketPrefixes, answer, decode_answers, encode_answer, pack_groups, unpack_groups,
    unpack_groups_within,
};
use stemedb_replication::proto::{
    DigestsReply, FetchReply, FetchRequest, MatchReply, MatchRequest, PartitionMatch, PushRequest,
};
use stemedb_replication::wire::{pack_buckets, pack_ids, unpack_buckets, unpack_ids};
use stemedb_storage::LogPos;
use stemedb_storage::log::{Entry, LogWriter, segment};

/// Canonical decoder: `decode(b) = Ok(r)` implies `encode(r) == b` (one
/// record, one byte string, one id) and `r` is valid; the storage framing
/// round-trips and its id is the hash of its canonical bytes.
pub fn canonical_decode(data: &[u8]) {
    if let Ok(r) = canonical::decode(data) {
        assert_eq!(canonical::encode(&r), data, "non-canonical bytes accepted");
        assert!(validate(&r).is_ok(), "decoded an invalid record");
        let s = SignedRecord::new(r.clone(), None).expect("a decoded record is valid");
        assert_eq!(s.canonical(), data);
        assert_eq!(s.record(), &r);
    }
    if let Ok(s) = SignedRecord::from_stored(data) {
        assert_eq!(s.to_stored(), data, "storage framing does not round-trip");
        assert_eq!(s.id(), RecordId::of(s.canonical()), "id is not the hash");
        let r = canonical::decode(s.canonical()).expect("stored canonical bytes decode");
        assert_eq!(&r, s.record());
    }
}

/// JSON wire parser: an accepted document is a valid record whose canonical
/// bytes decode back to it, and whose rendering (as a value and as text)
/// parses to the same record and id.
pub fn wire_json(data: &[u8]) {
    let Ok(v) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    let clock = Hlc::new();
    let parsed = [
        wire::parse_record(&v, &clock),
        wire::parse_assertion(&v, &clock),
        wire::parse_retraction(&v, &clock),
        wire::parse_vote(&v, &clock),
        wire::parse_trust(&v, None, &clock),
        wire::parse_trust(&v, Some("agent"), &clock),
        wire::parse_epoch(&v, &clock),
    ];
    for rec in parsed.into_iter().flatten() {
        assert!(validate(rec.record()).is_ok(), "accepted an invalid record");
        assert_eq!(
            canonical::decode(rec.canonical()).as_ref(),
            Ok(rec.record()),
            "canonical bytes do not decode to the record"
        );
        if let Some(claimed) = v.get("id").and_then(Value::as_str) {
            assert_eq!(
                RecordId::from_hex(claimed).ok(),
                Some(rec.id()),
                "accepted a wrong id"
            );
        }
        let rendered = wire::to_json(&rec);
        let again = wire::parse_record(&rendered, &clock).expect("rendered record parses");
        assert_eq!(again, rec, "render/parse changed the record");
        let text = serde_json::to_string(&rendered).expect("serialise");
        let from_text: Value = serde_json::from_str(&text).expect("own output is JSON");
        let again = wire::parse_record(&from_text, &clock).expect("rendered text parses");
        assert_eq!(again.id(), rec.id(), "text round trip changed the id");
    }
}

fn fixed_record(n: u8) -> SignedRecord {
    SignedRecord::new(
        Record::Assertion(Assertion {
            subject: format!("fuzz:{n}"),
            predicate: "p".into(),
            object: Object::Number(f64::from(n)),
            agent: "fuzzer".into(),
            confidence: 1.0,
            timestamp: 1_700_000_000_000 + i64::from(n),
            source: None,
            valid_from: None,
            valid_to: None,
            lifecycle: Lifecycle::Proposed,
            parent: None,
            epoch: None,
        }),
        None,
    )
    .expect("valid record")
}

fn frame(payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    segment::write_frame(&mut out, payload.len(), |o| o.extend_from_slice(payload));
    out
}

/// Every frame of the log in `dir`: position and payload.
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

fn clear(dir: &Path) {
    if let Ok(rd) = fs::read_dir(dir) {
        for e in rd.flatten() {
            let _ = fs::remove_file(e.path());
        }
    }
}

/// Log-frame recovery: `data[0] % 4` acknowledged records, then the rest of
/// `data` as the torn tail of the last segment. Opening never fails or
/// panics, keeps every acknowledged frame byte for byte, returns only frames
/// whose CRC verifies, and leaves a log that takes a new append which a
/// reopen finds after exactly the frames recovery kept (nothing stale behind
/// the cut comes back).
pub fn log_recovery(data: &[u8]) {
    thread_local! {
        static DIR: tempfile::TempDir = tempfile::tempdir().expect("tempdir");
    }
    DIR.with(|d| log_recovery_in(d.path(), data));
}

fn log_recovery_in(dir: &Path, data: &[u8]) {
    let Some((&n, tail)) = data.split_first() else {
        return;
    };
    if tail.len() > 256 * 1024 {
        return; // keeps the new append inside the segment
    }
    clear(dir);
    let acked: Vec<SignedRecord> = (0..n % 4).map(fixed_record).collect();
    let mut seg = segment::header(1).to_vec();
    if !acked.is_empty() {
        segment::write_commit_marker(&mut seg, 1_700_000_000_000);
        for r in &acked {
            seg.extend_from_slice(&frame(&r.to_stored()));
        }
    }
    let acked_len = seg.len();
    seg.extend_from_slice(tail);
    fs::write(dir.join("0000000001.seg"), &seg).expect("write segment");

    let segment_size = 1 << 20;
    let (mut writer, reader, report) =
        LogWriter::open(dir, segment_size, false).expect("recovery never fails on a torn tail");
    let end = report.end.expect("end");
    assert!(
        end.segment == 1 && end.offset as usize >= acked_len,
        "recovery cut into acknowledged frames: end {end}, acknowledged up to {acked_len}"
    );
    let kept = entries(&reader);
    let mut expect: Vec<Vec<u8>> = Vec::new();
    if !acked.is_empty() {
        expect.push(seg[16..16 + segment::COMMIT_MARKER_FRAME_LEN][8..].to_vec());
        expect.extend(acked.iter().map(SignedRecord::to_stored));
    }
    assert!(kept.len() >= expect.len(), "acknowledged frames lost");
    for (i, want) in expect.iter().enumerate() {
        assert_eq!(&kept[i].1, want, "acknowledged frame {i} changed");
    }
    for (pos, payload, is_record) in &kept {
        // The frame on disk verifies independently of the scan.
        let off = pos.offset as usize;
        match segment::read_frame(&seg[off..]) {
            segment::Frame::Ok { payload: p, .. } => assert_eq!(p, &payload[..]),
            other => panic!("scan returned a frame that does not verify: {other:?}"),
        }
        if *is_record {
            assert_eq!(&reader.read(*pos).expect("read"), payload);
            if let Ok(r) = SignedRecord::from_stored(payload) {
                assert_eq!(r.id(), RecordId::of(r.canonical()));
            }
        }
    }
    let fresh = fixed_record(200);
    writer.append(&[&fresh]).expect("append after recovery");
    drop(writer);
    drop(reader);
    let (_w, reader, _) = LogWriter::open(dir, segment_size, false).expect("reopen");
    let after = entries(&reader);
    assert_eq!(
        after.len(),
        kept.len() + 2,
        "reopen found other frames than those kept plus one commit"
    );
    for (a, b) in kept.iter().zip(&after) {
        assert_eq!(a.1, b.1, "a kept frame changed across the reopen");
    }
    assert_eq!(
        after.last().map(|e| &e.1),
        Some(&fresh.to_stored()),
        "the new record is not the last frame"
    );
}

fn check_groups(groups: &[BucketPrefixes]) {
    for g in groups {
        assert!((1..=31).contains(&g.len), "prefix length {}", g.len);
        assert_eq!(g.prefixes.len() % usize::from(g.len), 0);
    }
    let again = unpack_groups(&pack_groups(groups));
    assert_eq!(again.as_deref(), Ok(groups), "prefix groups do not round-trip");
}

fn check_ids(bytes: &[u8]) {
    if let Some(ids) = unpack_ids(bytes) {
        assert_eq!(pack_ids(&ids), bytes);
    } else {
        assert!(!bytes.len().is_multiple_of(32));
    }
}

fn check_stored(bytes: &[u8]) {
    if let Ok(r) = SignedRecord::from_stored(bytes) {
        assert_eq!(r.to_stored(), bytes);
        assert_eq!(r.id(), RecordId::of(r.canonical()));
    }
}

/// Replication messages: arbitrary bytes decoded as each message a node
/// receives (requests as a server, replies as a client), then our own
/// validation of the packed fields: it never panics, honours its limits, and
/// what it accepts re-encodes to what was sent.
pub fn replication_decode(data: &[u8]) {
    let Some((&which, msg)) = data.split_first() else {
        return;
    };
    let server_ids: Vec<RecordId> = (0u8..8).map(|i| RecordId::of(&[i])).collect();
    match which % 6 {
        0 => {
            if let Ok(req) = PushRequest::decode(msg) {
                req.records.iter().for_each(|r| check_stored(r));
            }
        }
        1 => {
            if let Ok(req) = FetchRequest::decode(msg) {
                check_ids(&req.ids);
                if let Ok(groups) = unpack_groups_within(&req.prefixes, 64, 4096) {
                    assert!(groups.len() <= 64);
                    let n: usize = groups.iter().map(BucketPrefixes::count).sum();
                    assert!(n <= 4096, "{n} prefixes past the limit");
                    check_groups(&groups);
                }
            }
        }
        2 => {
            let Ok(req) = MatchRequest::decode(msg) else {
                return;
            };
            let Ok(groups) = unpack_groups_within(&req.partitions, 64, 4096) else {
                return;
            };
            check_groups(&groups);
            // Answer as a server would, then decode as the caller does.
            let mut parts: Vec<PartitionMatch> = Vec::new();
            let mut answers = Vec::new();
            for g in &groups {
                let a = answer(&server_ids, g, req.extras);
                assert_eq!(a.differs.len(), g.count().div_ceil(8));
                if parts.last().is_none_or(|p| p.partition != u32::from(g.partition)) {
                    parts.push(PartitionMatch {
                        partition: u32::from(g.partition),
                        buckets: Vec::new(),
                    });
                }
                if let Some(p) = parts.last_mut() {
                    encode_answer(&mut p.buckets, g.bucket, g.len, &a);
                }
                answers.push(a);
            }
            assert_eq!(
                decode_answers(&parts, &groups),
                Ok(answers),
                "answers do not round-trip"
            );
        }
        3 => {
            let Ok(reply) = DigestsReply::decode(msg) else {
                return;
            };
            for d in reply.partitions {
                let len = if d.digest_len == 0 {
                    32
                } else {
                    d.digest_len as usize
                };
                if let Some(b) = unpack_buckets(&d.buckets, len) {
                    assert!((1..=32).contains(&len));
                    for c in d.buckets.chunks_exact(1 + len) {
                        let slot = &b[usize::from(c[0])];
                        assert!(slot[..32 - len].iter().all(|x| *x == 0));
                    }
                    let again = unpack_buckets(&pack_buckets(&b, len), len);
                    assert_eq!(again.as_deref(), Some(&*b), "buckets do not round-trip");
                }
            }
        }
        4 => {
            if let Ok(reply) = FetchReply::decode(msg) {
                reply.records.iter().for_each(|r| check_stored(r));
                check_ids(&reply.missing);
                check_ids(&reply.deferred);
                if let Ok(groups) = unpack_groups(&reply.deferred_prefixes) {
                    check_groups(&groups);
                }
            }
        }
        _ => {
            let Ok(reply) = MatchReply::decode(msg) else {
                return;
            };
            let asked = vec![
                BucketPrefixes::of_ids(0, 0, 2, &server_ids[..3]),
                BucketPrefixes::of_ids(0, 7, 31, &server_ids[3..4]),
                BucketPrefixes::of_ids(5, 1, 4, &[]),
            ];
            if let Ok(answers) = decode_answers(&reply.partitions, &asked) {
                assert!(answers.len() <= asked.len());
                for (a, q) in answers.iter().zip(&asked) {
                    assert_eq!(a.differs.len(), q.count().div_ceil(8));
                    assert_eq!(a.extras.len() % usize::from(q.len), 0);
                }
            }
        }
    }
}
