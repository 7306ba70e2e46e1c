//! `conflicts` against a real on-disk store: the pairs it lists are exactly
//! those whose lens conflict reaches the threshold (checked against `run`
//! pair by pair), pagination and the scan budget lose and repeat nothing,
//! and subjects outside the prefix are never read into the answer.

use serde_json::json;
use stemedb_lens::Lens;
use stemedb_query::{ConflictScan, Query, conflicts, run};
use stemedb_records::{SignedRecord, hlc::Hlc, wire};
use stemedb_storage::{Store, StoreConfig};

fn parse(v: serde_json::Value) -> SignedRecord {
    wire::parse_record(&v, &Hlc::new()).unwrap()
}

fn claim(subject: &str, predicate: &str, value: i64, agent: &str, ts: i64) -> SignedRecord {
    parse(json!({"subject": subject, "predicate": predicate,
                 "object": {"type": "number", "value": value}, "agent": agent, "timestamp": ts}))
}

/// 30 subjects under `c:` and 10 under `d:`, two predicates each; subject i
/// has (i % 4) dissenting agents on `p` and none on `q`.
fn build(store: &Store) {
    let mut ts = 1;
    for prefix in ["c:", "d:"] {
        let n = if prefix == "c:" { 30 } else { 10 };
        for i in 0..n {
            let s = format!("{prefix}{i:03}");
            let mut recs = vec![claim(&s, "q", 7, "a0", ts)];
            for a in 0..3 {
                recs.push(claim(&s, "p", 1, &format!("a{a}"), ts + 1));
            }
            for d in 0..(i % 4) {
                recs.push(claim(&s, "p", 2 + d, &format!("d{d}"), ts + 2));
            }
            ts += 10;
            store.append(recs).unwrap();
        }
    }
}

/// What `run` says each pair's conflict is, for every pair under `prefix`.
fn expected(store: &Store, prefix: &str, lens: Lens, min: f64) -> Vec<(String, String, f64)> {
    let mut out = Vec::new();
    for s in store.subjects(prefix, None, 10_000).unwrap() {
        for r in run(store, &Query::new(s.clone()).lens(lens))
            .unwrap()
            .results
        {
            let c = r.resolution.unwrap().conflict;
            if c > 0.0 && c >= min {
                out.push((s.clone(), r.predicate, c));
            }
        }
    }
    out
}

fn walk(store: &Store, mut scan: ConflictScan) -> (Vec<(String, String, f64)>, usize) {
    let mut out = Vec::new();
    let mut calls = 0;
    loop {
        calls += 1;
        assert!(calls < 1_000, "the walk must end");
        let page = conflicts(store, &scan).unwrap();
        assert!(page.pairs.len() <= scan.limit);
        for p in page.pairs {
            assert!(
                p.resolution.explanation.len() >= 2
                    && p.resolution.explanation.iter().all(|e| !e.ids.is_empty()),
                "a contested pair explains each value with its ids"
            );
            out.push((p.subject, p.predicate, p.resolution.conflict));
        }
        match page.next_cursor {
            Some(c) => scan.cursor = Some(c),
            None => return (out, calls),
        }
    }
}

#[test]
fn lists_exactly_the_contested_pairs_under_the_prefix() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(StoreConfig::new(dir.path())).unwrap();
    build(&store);
    let want = expected(&store, "c:", Lens::Consensus, 0.0);
    assert_eq!(want.len(), 22, "subjects with i % 4 != 0 disagree on p");

    let page = conflicts(&store, &ConflictScan::new("c:")).unwrap();
    let got: Vec<_> = page
        .pairs
        .iter()
        .map(|p| {
            (
                p.subject.clone(),
                p.predicate.clone(),
                p.resolution.conflict,
            )
        })
        .collect();
    assert_eq!(got, want);
    assert_eq!(page.next_cursor, None);
    assert_eq!(
        page.examined, 60,
        "only the prefix's 30 subjects × 2 predicates"
    );
    assert!(got.iter().all(|(s, p, _)| s.starts_with("c:") && p == "p"));

    // Threshold.
    let mut scan = ConflictScan::new("c:");
    scan.min_conflict = 0.85;
    let (got, _) = walk(&store, scan);
    assert_eq!(got, expected(&store, "c:", Lens::Consensus, 0.85));
    assert!(!got.is_empty() && got.len() < 22);

    // Another lens measures its own conflict.
    let mut scan = ConflictScan::new("c:");
    scan.lens = Lens::Skeptic;
    assert_eq!(
        walk(&store, scan).0,
        expected(&store, "c:", Lens::Skeptic, 0.0)
    );
}

#[test]
fn pages_and_budget_cuts_lose_and_repeat_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(StoreConfig::new(dir.path())).unwrap();
    build(&store);
    let want = expected(&store, "", Lens::Consensus, 0.0);
    for limit in [1, 3, 7] {
        let mut scan = ConflictScan::new("");
        scan.limit = limit;
        assert_eq!(walk(&store, scan).0, want, "limit {limit}");
    }
    // A tiny budget stops calls early (sometimes with no pair at all) but
    // every call makes progress and the union is the same.
    let mut scan = ConflictScan::new("");
    scan.budget = 5;
    let (got, calls) = walk(&store, scan);
    assert_eq!(got, want);
    assert!(
        calls > 20,
        "the budget cut the walk into many calls ({calls})"
    );
}

#[test]
fn as_of_and_bad_parameters() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(StoreConfig::new(dir.path())).unwrap();
    store.append(vec![claim("x:1", "p", 1, "a", 100)]).unwrap();
    store.append(vec![claim("x:1", "p", 2, "b", 200)]).unwrap();
    let mut scan = ConflictScan::new("x:");
    scan.as_of = Some(150);
    assert!(
        conflicts(&store, &scan).unwrap().pairs.is_empty(),
        "one claim before 150"
    );
    scan.as_of = None;
    let page = conflicts(&store, &scan).unwrap();
    assert_eq!(page.pairs.len(), 1);
    assert!((page.pairs[0].resolution.conflict - 1.0).abs() < 1e-9);

    for (field, mutate) in [
        (
            "limit",
            Box::new(|s: &mut ConflictScan| s.limit = 0) as Box<dyn Fn(&mut ConflictScan)>,
        ),
        ("limit", Box::new(|s: &mut ConflictScan| s.limit = 1_001)),
        (
            "min_conflict",
            Box::new(|s: &mut ConflictScan| s.min_conflict = 1.5),
        ),
        (
            "min_conflict",
            Box::new(|s: &mut ConflictScan| s.min_conflict = f64::NAN),
        ),
        (
            "cursor",
            Box::new(|s: &mut ConflictScan| s.cursor = Some("nothex".into())),
        ),
    ] {
        let mut scan = ConflictScan::new("x:");
        mutate(&mut scan);
        match conflicts(&store, &scan) {
            Err(stemedb_query::QueryError::BadParam { param, .. }) => assert_eq!(param, field),
            other => panic!("{field}: expected a bad-param error, got {other:?}"),
        }
    }
    // A cursor from another prefix is refused.
    let mut scan = ConflictScan::new("x:");
    scan.limit = 1;
    let c = conflicts(&store, &scan).unwrap().next_cursor.unwrap();
    let mut other = ConflictScan::new("y:");
    other.cursor = Some(c);
    assert!(conflicts(&store, &other).is_err());
}
