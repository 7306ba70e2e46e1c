//! The peer workload of issue 13, generated identically for StemeDB and
//! PostgreSQL: N claims over N/10 subjects with one predicate each, 10 claims
//! per (subject, predicate) carrying 3 competing values from 100 agents.
//! `peers-csv` writes it as CSV for PostgreSQL's COPY; `peers-ingest` posts
//! the same claims to a server in NDJSON batches of 1,000.

use std::io::Write;

use stemedb_records::{Assertion, Lifecycle, Object, Record, Source};

/// First timestamp of the generated claims (ms since the Unix epoch).
const BASE_TS: i64 = 1_700_000_000_000;

/// Deterministic mix of `i` (SplitMix64 finaliser) so values and agents
/// are spread without a random number generator.
fn mix(i: u64) -> u64 {
    let mut z = i.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The fields of the i-th claim, shared by both outputs.
struct Claim {
    subject: String,
    value: String,
    agent: String,
    confidence: f64,
    timestamp: i64,
    class: u8,
}

fn claim(i: u64) -> Claim {
    let h = mix(i);
    Claim {
        subject: format!("drug:{:07}", i / 10),
        value: format!("value-{}", h % 3),
        agent: format!("agent-{:03}", (h >> 8) % 100),
        // Two decimals in 0.50..=0.99: exact in CSV and JSON alike.
        confidence: 0.5 + ((h >> 16) % 50) as f64 / 100.0,
        timestamp: BASE_TS + i as i64,
        class: ((h >> 24) % 6) as u8,
    }
}

/// The i-th claim as a StemeDB assertion (predicate `effect`).
pub fn assertion(i: u64) -> Record {
    let c = claim(i);
    Record::Assertion(Assertion {
        subject: c.subject,
        predicate: "effect".to_owned(),
        object: Object::Text(c.value),
        agent: c.agent,
        confidence: c.confidence,
        timestamp: c.timestamp,
        source: Some(Source {
            uri: format!("https://ex.org/{}", i % 1000),
            class: c.class,
        }),
        valid_from: None,
        valid_to: None,
        lifecycle: Lifecycle::Proposed,
        parent: None,
        epoch: None,
    })
}

/// Writes the N claims as CSV (`id,subject,predicate,value,agent,confidence,ts,source_class,source_uri`)
/// to stdout, for `COPY claims FROM STDIN (FORMAT csv)`.
pub fn csv(n: u64) {
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::with_capacity(1 << 20, stdout.lock());
    for i in 0..n {
        let c = claim(i);
        if writeln!(
            out,
            "{i},{},effect,{},{},{:.2},{},{},https://ex.org/{}",
            c.subject,
            c.value,
            c.agent,
            c.confidence,
            c.timestamp,
            c.class,
            i % 1000
        )
        .is_err()
        {
            // Reader went away (e.g. `head`): stop quietly.
            return;
        }
    }
    let _ = out.flush();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ten_claims_per_pair_three_values_hundred_agents() {
        let n = 10_000;
        let mut values = std::collections::BTreeSet::new();
        let mut agents = std::collections::BTreeSet::new();
        let mut subjects = std::collections::BTreeMap::new();
        for i in 0..n {
            let c = claim(i);
            values.insert(c.value);
            agents.insert(c.agent);
            *subjects.entry(c.subject).or_insert(0u32) += 1;
            assert!((0.5..1.0).contains(&c.confidence));
        }
        assert_eq!(values.len(), 3);
        assert_eq!(agents.len(), 100);
        assert_eq!(subjects.len() as u64, n / 10);
        assert!(subjects.values().all(|&k| k == 10));
    }
}
