//! The checker: after the faults are healed and the replicas converged, it
//! reads what every node stores and compares it with what the clients were
//! told.
//!
//! - **lost**: an acknowledged write absent on one of its `factor` replicas
//!   (each replica answers a query for its own partitions from local data;
//!   a sample is also checked with `GET /v1/assertions/{id}?local=true`).
//! - **duplicated**: an id listed twice in one answer, or a record nobody
//!   wrote (a copy stored under another id).
//! - **lens_divergent**: a (subject, lens) for which the three nodes do not
//!   answer identically (and subjects whose candidate sets differ).

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::time::Duration;

use serde_json::Value;

use super::client::{Outcome, Write};
use crate::cluster::replicas_of;
use crate::http::{call, json_of};
use crate::rng::Rng;

/// The six lenses of SPEC §2.
pub const LENSES: [&str; 6] = [
    "recency",
    "authority",
    "consensus",
    "confidence",
    "skeptic",
    "layered",
];

/// What the checker found.
#[derive(Debug, Default)]
pub struct Findings {
    /// Acknowledged writes missing on a replica, with where.
    pub lost: Vec<String>,
    /// Duplicated or unexpected records.
    pub duplicated: Vec<String>,
    /// Subjects/lenses answered differently by the nodes.
    pub lens_divergent: Vec<String>,
    /// Unknown writes that ended up stored (informational).
    pub unknown_stored: usize,
}

/// Every candidate id of `subject` on node `api` (all pages), in answer order.
fn candidates(api: &str, subject: &str) -> Result<Vec<String>, String> {
    let mut ids = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut url = format!("{api}/v1/query?subject={subject}&limit=10000");
        if let Some(c) = &cursor {
            url.push_str(&format!("&cursor={c}"));
        }
        let (s, _, body) = call("GET", &url, None);
        if s != 200 {
            return Err(format!("{url}: {s} {body}"));
        }
        let v = json_of(&body);
        for r in v["results"].as_array().into_iter().flatten() {
            for c in r["candidates"].as_array().into_iter().flatten() {
                if let Some(id) = c["id"].as_str() {
                    ids.push(id.to_owned());
                }
            }
        }
        match v["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => return Ok(ids),
        }
    }
}

/// Checks every write against what the nodes hold. `apis` are the nodes'
/// API base URLs, `names` their node ids (placement input).
pub fn check(
    apis: &[String],
    names: &[&str],
    subjects: &[String],
    writes: &[Write],
    rng: &mut Rng,
) -> Findings {
    let mut f = Findings::default();
    let issued: HashSet<&str> = writes.iter().map(|w| w.id.as_str()).collect();
    // subject -> node -> ids it holds (as its queries list them)
    let mut held: HashMap<&str, Vec<HashSet<String>>> = HashMap::new();
    for subject in subjects {
        let mut per_node = Vec::new();
        for (i, api) in apis.iter().enumerate() {
            let ids =
                candidates(api, subject).unwrap_or_else(|e| panic!("checker query failed: {e}"));
            let mut seen = HashSet::new();
            for id in &ids {
                if !seen.insert(id.clone()) {
                    f.duplicated
                        .push(format!("{id} listed twice for {subject} on node{}", i + 1));
                }
                if !issued.contains(id.as_str()) {
                    f.duplicated.push(format!(
                        "{id} on node{} for {subject} was never written",
                        i + 1
                    ));
                }
            }
            per_node.push(seen);
        }
        if per_node.windows(2).any(|w| w[0] != w[1]) {
            let sizes: Vec<usize> = per_node.iter().map(HashSet::len).collect();
            f.lens_divergent.push(format!(
                "{subject}: candidate sets differ between nodes ({sizes:?})"
            ));
        }
        held.insert(subject.as_str(), per_node);
    }
    let mut acked = Vec::new();
    for w in writes {
        let replicas = replicas_of(&w.subject, names);
        let on = &held[w.subject.as_str()];
        match w.outcome {
            Outcome::Acknowledged => {
                for r in &replicas {
                    let i = names
                        .iter()
                        .position(|n| n == r)
                        .expect("replica is a node");
                    if !on[i].contains(&w.id) {
                        f.lost.push(format!(
                            "{} ({}) acknowledged by node{} is missing on replica {r}",
                            w.id,
                            w.subject,
                            w.node + 1
                        ));
                    }
                }
                acked.push((w, replicas));
            }
            Outcome::Unknown => {
                if on.iter().any(|s| s.contains(&w.id)) {
                    f.unknown_stored += 1;
                }
            }
            Outcome::Failed => {}
        }
    }
    // A sample by id, straight from each replica's own data.
    for _ in 0..acked.len().min(300) {
        let (w, replicas) = &acked[rng.below(acked.len() as u64) as usize];
        for r in replicas {
            let i = names
                .iter()
                .position(|n| n == r)
                .expect("replica is a node");
            let (s, _, _) = call(
                "GET",
                &format!("{}/v1/assertions/{}?local=true", apis[i], w.id),
                None,
            );
            if s != 200 {
                f.lost.push(format!(
                    "{} ({}): GET ?local=true on replica {r} answered {s}",
                    w.id, w.subject
                ));
            }
        }
    }
    // Lenses: every node must answer every lens identically.
    let sample: BTreeSet<usize> = (0..subjects.len().min(16))
        .map(|_| rng.below(subjects.len() as u64) as usize)
        .collect();
    for &s in &sample {
        let subject = &subjects[s];
        for lens in LENSES {
            let answers: Vec<Value> = apis
                .iter()
                .map(|api| {
                    let (st, _, body) = call(
                        "GET",
                        &format!("{api}/v1/query?subject={subject}&lens={lens}&candidates=false&limit=10000"),
                        None,
                    );
                    assert_eq!(st, 200, "lens query {lens} on {api}: {body}");
                    json_of(&body)["results"].clone()
                })
                .collect();
            if answers.windows(2).any(|w| w[0] != w[1]) {
                f.lens_divergent
                    .push(format!("{subject} lens={lens}: nodes answer differently"));
            }
        }
    }
    f
}

/// Runs `POST /cluster/sync` on every node until one full pass finds every
/// two-way exchange ok with equal roots and no handoff pending; returns how
/// long that took, or `None` after `limit`.
pub fn converge(gateways: &[String], limit: Duration) -> Option<Duration> {
    let started = std::time::Instant::now();
    let mut last = BTreeMap::new();
    while started.elapsed() < limit {
        let mut clean = true;
        for g in gateways {
            let (s, _, body) = call("POST", &format!("{g}/cluster/sync"), None);
            let v = json_of(&body);
            let syncs: Vec<&Value> = v["peers"]
                .as_array()
                .map(|ps| ps.iter().filter(|p| p["pass"] == "sync").collect())
                .unwrap_or_default();
            // Every peer compared, every comparison clean, no handoff owed.
            let ok = s == 200
                && v["handoff_pending"].as_array().is_some_and(Vec::is_empty)
                && syncs.len() == gateways.len() - 1
                && syncs
                    .iter()
                    .all(|p| p["ok"] == true && p["partitions_differing"] == 0);
            if !ok {
                clean = false;
                last.insert(g.clone(), body);
            }
        }
        if clean {
            return Some(started.elapsed());
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    eprintln!("not converged after {limit:?}; last answers: {last:?}");
    None
}
