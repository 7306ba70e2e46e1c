//! Queries against a real on-disk store, checked against a naive reference
//! implementation computed here from the same records.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use serde_json::json;
use stemedb_lens::{Candidate, CandidateVote, Lens, TrustMap};
use stemedb_query::{Query, run};
use stemedb_records::{Lifecycle, Record, RecordId, SignedRecord, hlc::Hlc, wire};
use stemedb_storage::{Store, StoreConfig};

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// Everything appended, in append (= log) order.
struct World {
    records: Vec<SignedRecord>,
}

fn parse(v: serde_json::Value) -> SignedRecord {
    wire::parse_record(&v, &Hlc::new()).unwrap()
}

fn build(store: &Store, seed: u64) -> World {
    let mut rng = Rng(seed);
    let mut records = Vec::new();
    let mut assertions: Vec<(RecordId, String)> = Vec::new();
    let e1 = parse(
        json!({"kind": "epoch", "name": "old", "subject_prefix": "s:", "agent": "adm", "timestamp": 10}),
    );
    let e2 = parse(
        json!({"kind": "epoch", "name": "new", "subject_prefix": "s:1", "supersedes": e1.id().to_hex(), "agent": "adm", "timestamp": 2_500}),
    );
    for r in [&e1, &e2] {
        store.append(vec![r.clone()]).unwrap()[0].as_ref().unwrap();
        records.push(r.clone());
    }
    for i in 0..3000u64 {
        let subject = format!("s:{}", rng.below(3));
        let predicate = format!("p{}", rng.below(4));
        let agent = format!("ag{}", rng.below(6));
        let mut a = json!({
            "subject": subject, "predicate": predicate,
            "object": {"type": "text", "value": format!("v{}", rng.below(3))},
            "agent": agent, "timestamp": 1000 + rng.below(3000) as i64,
            "confidence": (rng.below(11) as f64) / 10.0,
            "lifecycle": Lifecycle::ALL[rng.below(5) as usize].as_str(),
        });
        if rng.below(3) > 0 {
            a["source"] = json!({"uri": format!("u{i}"), "class": rng.below(6)});
        }
        if rng.below(4) == 0 {
            let f = 1000 + rng.below(2000) as i64;
            a["valid_from"] = json!(f);
            a["valid_to"] = json!(f + rng.below(1000) as i64);
        }
        if rng.below(10) == 0 {
            a["epoch"] = json!(e1.id().to_hex());
        }
        let rec = parse(a);
        assertions.push((rec.id(), agent));
        store.append(vec![rec.clone()]).unwrap()[0]
            .as_ref()
            .unwrap();
        records.push(rec);
        if rng.below(8) == 0 {
            let (target, author) = assertions[rng.below(assertions.len() as u64) as usize].clone();
            let r = parse(
                json!({"kind": "retraction", "target": target.to_hex(), "agent": author, "timestamp": 1000 + rng.below(4000) as i64}),
            );
            store.append(vec![r.clone()]).unwrap()[0].as_ref().unwrap();
            records.push(r);
        }
        if rng.below(4) == 0 {
            let (target, _) = assertions[rng.below(assertions.len() as u64) as usize].clone();
            let w = (rng.below(21) as f64 - 10.0) / 10.0;
            let v = parse(
                json!({"kind": "vote", "target": target.to_hex(), "agent": format!("voter{}", rng.below(3)), "weight": w, "timestamp": 1000 + rng.below(4000) as i64}),
            );
            store.append(vec![v.clone()]).unwrap()[0].as_ref().unwrap();
            records.push(v);
        }
        if i % 1000 == 0 {
            let t = parse(
                json!({"kind": "trust", "agent": agent_name(rng.below(6)), "score": rng.below(10) as f64 / 10.0, "timestamp": 1000 + rng.below(3000) as i64}),
            );
            store.append(vec![t.clone()]).unwrap()[0].as_ref().unwrap();
            records.push(t);
        }
    }
    World { records }
}

fn agent_name(i: u64) -> String {
    format!("ag{i}")
}

/// Per predicate: listed (id, retracted) in order, lens candidates, trust.
type Expected = (String, Vec<(RecordId, bool)>, Vec<Candidate>, TrustMap);

/// The naive answer: (listed ids in order, lens candidates) per predicate.
fn reference(w: &World, q: &Query) -> Vec<Expected> {
    let visible = |t: i64| q.as_of.is_none_or(|a| t <= a);
    let mut retracted = HashSet::new();
    let mut votes: HashMap<RecordId, Vec<CandidateVote>> = HashMap::new();
    let mut superseded = HashSet::new();
    let mut trust: HashMap<String, (i64, RecordId, f64)> = HashMap::new();
    for r in &w.records {
        match r.record() {
            Record::Retraction(x) if visible(x.timestamp) => {
                retracted.insert(x.target);
            }
            Record::Vote(v) if visible(v.timestamp) => votes
                .entry(v.target)
                .or_default()
                .push(CandidateVote::from_vote(r.id(), v)),
            Record::Epoch(e)
                if visible(e.timestamp) && q.subject.starts_with(&e.subject_prefix) =>
            {
                if let Some(s) = e.supersedes {
                    superseded.insert(s);
                }
            }
            Record::Trust(t) if visible(t.timestamp) => {
                let cur = trust.get(&t.agent).copied();
                if cur.is_none_or(|(ts, id, _)| (t.timestamp, r.id()) > (ts, id)) {
                    trust.insert(t.agent.clone(), (t.timestamp, r.id(), t.score));
                }
            }
            _ => {}
        }
    }
    let mut groups: HashMap<String, Vec<(i64, usize, &SignedRecord)>> = HashMap::new();
    for (i, r) in w.records.iter().enumerate() {
        let Record::Assertion(a) = r.record() else {
            continue;
        };
        if a.subject != q.subject || q.predicate.as_ref().is_some_and(|p| *p != a.predicate) {
            continue;
        }
        let keep = visible(a.timestamp)
            && q.lifecycle.is_none_or(|l| l == a.lifecycle)
            && q.source_class
                .is_none_or(|c| c == a.source.as_ref().map_or(6, |s| s.class))
            && q.agent.as_ref().is_none_or(|ag| *ag == a.agent)
            && q.valid_at.is_none_or(|t| {
                a.valid_from.is_none_or(|f| f <= t) && a.valid_to.is_none_or(|u| t <= u)
            })
            && match q.epoch {
                Some(e) => a.epoch == Some(e),
                None => a.epoch.is_none_or(|e| !superseded.contains(&e)),
            };
        groups.entry(a.predicate.clone()).or_default();
        if keep {
            groups
                .get_mut(&a.predicate)
                .unwrap()
                .push((a.timestamp, i, r));
        }
    }
    if let (Some(p), true) = (&q.predicate, groups.is_empty()) {
        groups.insert(p.clone(), Vec::new());
    }
    let mut preds: Vec<_> = groups.keys().cloned().collect();
    preds.sort();
    let mut tm = TrustMap::new();
    for (agent, (_, _, s)) in &trust {
        tm.set(agent.clone(), *s);
    }
    preds
        .into_iter()
        .map(|p| {
            let mut g = groups.remove(&p).unwrap();
            g.sort_by_key(|(t, i, _)| (*t, *i));
            let listed = g
                .iter()
                .filter(|(_, _, r)| q.include_retracted || !retracted.contains(&r.id()))
                .map(|(_, _, r)| (r.id(), retracted.contains(&r.id())))
                .collect();
            let cands = g
                .iter()
                .filter(|(_, _, r)| !retracted.contains(&r.id()))
                .map(|(_, _, r)| {
                    let a = r.record().as_assertion().unwrap().clone();
                    Candidate::new(r.id(), Arc::new(a))
                        .with_votes(votes.get(&r.id()).cloned().unwrap_or_default())
                })
                .collect();
            (p, listed, cands, tm.clone())
        })
        .collect()
}

/// The response body built as a `serde_json::Value` tree from the wire
/// module's field rendering (how the server built it before typed
/// serialization); the typed bytes must equal its rendering exactly.
fn value_form(res: &stemedb_query::QueryResult, with_candidates: bool) -> serde_json::Value {
    use serde_json::{Value, json};
    let results: Vec<Value> = res
        .results
        .iter()
        .map(|r| {
            let mut m = serde_json::Map::new();
            m.insert("subject".into(), json!(r.subject));
            m.insert("predicate".into(), json!(r.predicate));
            if with_candidates {
                let cands = r
                    .candidates
                    .iter()
                    .map(|c| {
                        let mut o = serde_json::Map::new();
                        o.insert("id".into(), json!(c.id.to_hex()));
                        o.extend(stemedb_records::wire::record_fields(&Record::Assertion(
                            (*c.assertion).clone(),
                        )));
                        if let Some(sig) = &c.signature {
                            o.insert("signature".into(), json!(hex::encode(sig)));
                        }
                        o.insert("retracted".into(), json!(c.retracted));
                        Value::Object(o)
                    })
                    .collect();
                m.insert("candidates".into(), Value::Array(cands));
            }
            m.insert(
                "resolution".into(),
                r.resolution.as_ref().map_or(Value::Null, |x| x.to_json()),
            );
            Value::Object(m)
        })
        .collect();
    json!({"results": results, "next_cursor": res.next_cursor})
}

fn check(store: &Store, w: &World, q: Query) {
    let want = reference(w, &q);
    let mut got: Vec<(String, Vec<(RecordId, bool)>)> = Vec::new();
    let mut resolutions: HashMap<String, serde_json::Value> = HashMap::new();
    let mut page = q.clone();
    let mut pages = 0;
    loop {
        let res = run(store, &page).unwrap();
        pages += 1;
        for with_candidates in [true, false] {
            let bytes = res.to_json_bytes(with_candidates).unwrap();
            assert_eq!(
                String::from_utf8(bytes).unwrap(),
                value_form(&res, with_candidates).to_string(),
                "typed response bytes differ from the Value rendering for {page:?}"
            );
        }
        for r in &res.results {
            if let Some(res) = &r.resolution {
                resolutions.insert(r.predicate.clone(), res.to_json());
            }
            let ids: Vec<_> = r.candidates.iter().map(|c| (c.id, c.retracted)).collect();
            match got.last_mut() {
                Some((p, v)) if *p == r.predicate => v.extend(ids),
                _ => got.push((r.predicate.clone(), ids)),
            }
        }
        match res.next_cursor {
            Some(c) => page.cursor = Some(c),
            None => break,
        }
        assert!(pages < 10_000, "pagination does not terminate");
    }
    let want_listing: Vec<_> = want
        .iter()
        .map(|(p, l, _, _)| (p.clone(), l.clone()))
        .collect();
    assert_eq!(got, want_listing, "listing differs for {q:?}");
    if let Some(lens) = q.lens {
        for (p, _, cands, trust) in &want {
            let expected = lens.resolve(cands, trust).to_json();
            assert_eq!(
                resolutions.get(p),
                Some(&expected),
                "resolution differs for {p} in {q:?}"
            );
        }
    }
}

#[test]
fn filters_pagination_and_lenses_match_the_reference() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(StoreConfig::new(dir.path())).unwrap();
    let w = build(&store, 0x5eed_1234_abcd_9876);
    let e1 = w.records[0].id();
    let base = |s: &str| Query::new(s);
    let mut queries = vec![
        base("s:0"),
        base("s:1").predicate("p2").lens(Lens::Consensus),
        base("s:2").lens(Lens::Authority),
    ];
    let mut q = base("s:0").lens(Lens::Recency);
    q.as_of = Some(2000);
    queries.push(q);
    let mut q = base("s:1").lens(Lens::Layered);
    q.include_retracted = true;
    queries.push(q);
    let mut q = base("s:2").predicate("p1").lens(Lens::Skeptic);
    q.lifecycle = Some(Lifecycle::Approved);
    queries.push(q);
    let mut q = base("s:0").lens(Lens::Confidence);
    q.source_class = Some(6);
    queries.push(q);
    let mut q = base("s:1").lens(Lens::Consensus);
    q.agent = Some("ag3".into());
    q.valid_at = Some(2100);
    queries.push(q);
    let mut q = base("s:1");
    q.epoch = Some(e1);
    queries.push(q);
    let mut q = base("s:0");
    q.epoch = Some(e1);
    q.as_of = Some(1500);
    queries.push(q);
    queries.push(base("s:nothing").predicate("p0").lens(Lens::Consensus));
    for limit in [1, 7, 100, 10_000] {
        for q in &queries {
            let mut q = q.clone();
            q.limit = limit;
            if limit == 1 && q.lens.is_some() {
                // Resolution is recomputed on every page; one page size with a lens suffices.
                continue;
            }
            check(&store, &w, q);
        }
    }
}

#[test]
fn cursors_are_stable_while_records_arrive_and_reject_other_queries() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(StoreConfig::new(dir.path())).unwrap();
    let add = |v: &str, ts: i64| {
        let r = parse(
            json!({"subject": "s", "predicate": "p", "object": {"type": "text", "value": v}, "agent": "a", "timestamp": ts}),
        );
        store.append(vec![r.clone()]).unwrap();
        r.id()
    };
    let first: Vec<_> = (0..10).map(|i| add(&format!("v{i}"), 100 + i)).collect();
    let mut q = Query::new("s").predicate("p");
    q.limit = 4;
    let p1 = run(&store, &q).unwrap();
    let ids1: Vec<_> = p1.results[0].candidates.iter().map(|c| c.id).collect();
    assert_eq!(ids1, first[..4]);
    // New records: one sorting before the cursor (older timestamp), one after.
    add("early", 50);
    let late = add("late", 1_000);
    q.cursor = p1.next_cursor.clone();
    let mut rest = Vec::new();
    loop {
        let p = run(&store, &q).unwrap();
        rest.extend(
            p.results
                .iter()
                .flat_map(|r| r.candidates.iter().map(|c| c.id)),
        );
        match p.next_cursor {
            Some(c) => q.cursor = Some(c),
            None => break,
        }
    }
    let mut want = first[4..].to_vec();
    want.push(late);
    assert_eq!(
        rest, want,
        "no repeats, no skips of existing records; later arrivals appear"
    );

    let other = Query {
        cursor: p1.next_cursor.clone(),
        ..Query::new("s").predicate("other")
    };
    let err = run(&store, &other).unwrap_err().to_string();
    assert!(err.starts_with("cursor:"), "{err}");
    let bad = Query {
        cursor: Some("zz".into()),
        ..Query::new("s")
    };
    assert!(
        run(&store, &bad)
            .unwrap_err()
            .to_string()
            .starts_with("cursor:")
    );
}

#[test]
fn as_of_before_and_after_a_retraction() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(StoreConfig::new(dir.path())).unwrap();
    let a = parse(
        json!({"subject": "s", "predicate": "p", "object": {"type": "number", "value": 1}, "agent": "a", "timestamp": 100}),
    );
    let b = parse(
        json!({"subject": "s", "predicate": "p", "object": {"type": "number", "value": 2}, "agent": "b", "timestamp": 150}),
    );
    let r = parse(
        json!({"kind": "retraction", "target": b.id().to_hex(), "agent": "b", "timestamp": 200}),
    );
    for x in [a, b.clone(), r] {
        store.append(vec![x]).unwrap()[0].as_ref().unwrap();
    }
    let value = |as_of: Option<i64>| {
        let mut q = Query::new("s").predicate("p").lens(Lens::Recency);
        q.as_of = as_of;
        run(&store, &q).unwrap().results[0]
            .resolution
            .as_ref()
            .unwrap()
            .to_json()["value"]["value"]
            .clone()
    };
    assert_eq!(
        value(Some(199)),
        json!(2.0),
        "before the retraction the newer claim wins"
    );
    assert_eq!(
        value(Some(200)),
        json!(1.0),
        "from the retraction on it is skipped"
    );
    assert_eq!(value(None), json!(1.0));
    assert_eq!(
        value(Some(i64::MAX)),
        value(None),
        "as_of = +inf equals no as_of"
    );
    assert_eq!(value(Some(120)), json!(1.0));
    let mut q = Query::new("s").predicate("p").lens(Lens::Recency);
    q.as_of = Some(99);
    assert_eq!(
        run(&store, &q).unwrap().results[0]
            .resolution
            .as_ref()
            .unwrap()
            .value,
        None
    );
}
