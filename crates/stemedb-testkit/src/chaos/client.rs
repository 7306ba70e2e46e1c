//! Client threads: each writes unique assertions (fixed timestamps, so every
//! id is computed before the write is sent) to random nodes, classifies
//! every answer, and reads acknowledged writes back at the node that
//! acknowledged them.
//!
//! Classification (docs/http-api.md, docs/cluster.md):
//! - **acknowledged**: 201 (or 200 `exists`).
//! - **failed** (nothing stored): a definite 4xx; 507 `insufficient_storage`;
//!   503 `read_only` (refused before the append), `overloaded` (never
//!   queued) and `recovering` (the node is starting; no route runs yet).
//! - **unknown** (maybe stored): no answer (connection refused or reset,
//!   timeout), 503 `replication_unavailable` (kept locally and hinted), 503
//!   `timeout` (may still complete), 503 `unavailable` (the store failed; the
//!   record may be in the log), and any 5xx not listed above.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use stemedb_records::hlc::Hlc;

use crate::rng::Rng;

/// Timestamps start here (2023-11-14); each client owns a range of 10^9 ms.
const BASE_TS: i64 = 1_700_000_000_000;
/// Values and agents are few so lenses see agreement and conflict.
const VALUES: [&str; 4] = ["amber", "blue", "cyan", "dune"];
const AGENTS: [&str; 3] = ["agent-a", "agent-b", "agent-c"];
const CONFIDENCE: [f64; 3] = [0.5, 0.75, 0.9];

/// What became of a write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// 2xx.
    Acknowledged,
    /// Definitely not stored.
    Failed,
    /// Maybe stored.
    Unknown,
}

/// One write and its answer.
#[derive(Debug, Clone)]
pub struct Write {
    /// The id computed before sending.
    pub id: String,
    /// Its subject.
    pub subject: String,
    /// The node it was sent to.
    pub node: usize,
    /// Classified answer.
    pub outcome: Outcome,
    /// `status code` of the answer (`0` = no answer).
    pub answer: String,
}

/// Everything one client saw.
#[derive(Debug, Default)]
pub struct History {
    /// Every write, in order.
    pub writes: Vec<Write>,
    /// Reads at the acknowledging node, after the ack, that answered 200 without the record.
    pub stale: Vec<String>,
    /// Read-backs that got an answer.
    pub reads: u64,
    /// Reads through another node that did not (yet) find the record (not an error: replication is asynchronous to that node).
    pub elsewhere_missing: u64,
}

/// What a client needs: node API base URLs and the subjects to write.
#[derive(Clone)]
pub struct Target {
    /// `http://ip:port` of each node's API.
    pub apis: Vec<String>,
    /// The subjects writes are spread over.
    pub subjects: Arc<Vec<String>>,
}

fn agent(timeout: Duration) -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(timeout))
        .build()
        .into()
}

/// (status, body); status 0 when there was no answer.
fn send(a: &ureq::Agent, url: &str, body: Option<&Value>) -> (u16, String) {
    let resp = match body {
        Some(b) => a
            .post(url)
            .header("content-type", "application/json")
            .send(b.to_string().as_bytes()),
        None => a.get(url).call(),
    };
    match resp {
        Ok(mut r) => (
            r.status().as_u16(),
            r.body_mut().read_to_string().unwrap_or_default(),
        ),
        Err(_) => (0, String::new()),
    }
}

/// Classifies an answer to a write.
pub fn classify(status: u16, code: &str) -> Outcome {
    match (status, code) {
        (200 | 201, _) => Outcome::Acknowledged,
        (507, _) | (503, "read_only" | "overloaded" | "recovering") => Outcome::Failed,
        (400..=499, _) => Outcome::Failed,
        _ => Outcome::Unknown,
    }
}

/// The assertion client `c` writes as its `k`-th write, and its id.
pub fn claim(rng: &mut Rng, subjects: &[String], c: usize, k: u64) -> (Value, String, String) {
    let subject = subjects[rng.below(subjects.len() as u64) as usize].clone();
    let body = json!({
        "subject": subject,
        "predicate": "colour",
        "object": {"type": "text", "value": VALUES[rng.below(4) as usize]},
        "agent": AGENTS[rng.below(3) as usize],
        "confidence": CONFIDENCE[rng.below(3) as usize],
        "timestamp": BASE_TS + (c as i64) * 1_000_000_000 + k as i64,
    });
    let rec = stemedb_records::wire::parse_assertion(&body, &Hlc::new())
        .expect("the client's assertion is valid");
    (body, rec.id().to_string(), subject)
}

/// Runs one client until `stop` is set, `deadline` passes or `max` writes were sent.
pub fn run(
    c: usize,
    mut rng: Rng,
    target: Target,
    stop: Arc<AtomicBool>,
    deadline: Instant,
    max: u64,
) -> History {
    let writer = agent(Duration::from_secs(5));
    let reader = agent(Duration::from_secs(3));
    let mut h = History::default();
    let mut acked: Vec<(String, String, usize)> = Vec::new();
    let n = target.apis.len() as u64;
    for k in 0..max {
        if stop.load(Ordering::Relaxed) || Instant::now() >= deadline {
            break;
        }
        let (body, id, subject) = claim(&mut rng, &target.subjects, c, k);
        let node = rng.below(n) as usize;
        let (status, text) = send(
            &writer,
            &format!("{}/v1/assert", target.apis[node]),
            Some(&body),
        );
        let v: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        let code = v["error"]["code"].as_str().unwrap_or("").to_owned();
        let outcome = classify(status, &code);
        if outcome == Outcome::Acknowledged {
            assert_eq!(
                v["id"].as_str(),
                Some(id.as_str()),
                "server computed another id: {text}"
            );
            acked.push((id.clone(), subject.clone(), node));
            read_back(&reader, &target, &mut h, &id, node);
        }
        h.writes.push(Write {
            id,
            subject,
            node,
            outcome,
            answer: format!("{status} {code}").trim().to_owned(),
        });
        // An earlier acknowledged write, at the node that acknowledged it
        // (which may have been killed and restarted since).
        if !acked.is_empty() && rng.below(2) == 0 {
            let from = acked.len().saturating_sub(1000);
            let (id, _, node) =
                acked[from + rng.below((acked.len() - from) as u64) as usize].clone();
            read_back(&reader, &target, &mut h, &id, node);
        }
        // Through another node (may fetch from a replica): only counted.
        if !acked.is_empty() && rng.below(4) == 0 {
            let (id, _, node) = acked[rng.below(acked.len() as u64) as usize].clone();
            let other = (node + 1 + rng.below(n - 1) as usize) % n as usize;
            let (s, _) = send(
                &reader,
                &format!("{}/v1/assertions/{id}", target.apis[other]),
                None,
            );
            if s == 404 {
                h.elsewhere_missing += 1;
            }
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    h
}

/// Reads `id` at `node` from its own data; a 200-class answer without it is stale.
fn read_back(reader: &ureq::Agent, target: &Target, h: &mut History, id: &str, node: usize) {
    let url = format!("{}/v1/assertions/{id}?local=true", target.apis[node]);
    match send(reader, &url, None).0 {
        200 => h.reads += 1,
        404 => {
            h.reads += 1;
            h.stale.push(format!(
                "{id} missing at node{} after it acknowledged it",
                node + 1
            ));
        }
        _ => {} // no answer (node down, paused, cut off): not a read
    }
}

/// Counts answers by `status code`, for the report.
pub fn answers(writes: &[Write]) -> BTreeMap<String, usize> {
    let mut m = BTreeMap::new();
    for w in writes {
        *m.entry(if w.answer.is_empty() {
            "0".into()
        } else {
            w.answer.clone()
        })
        .or_default() += 1;
    }
    m
}
