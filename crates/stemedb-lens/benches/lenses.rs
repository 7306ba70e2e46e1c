//! Resolve with every lens over 10, 100 and 1000 candidates: about five
//! distinct values, a pool of agents (some asserting more than once), a few
//! votes, mixed source classes and trust scores.

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use stemedb_lens::{Candidate, CandidateVote, Lens, TrustMap, resolve};
use stemedb_records::{Assertion, Lifecycle, Object, Record, Source, Vote};

const VALUES: [&str; 5] = ["nausea", "vomiting", "pancreatitis", "hair loss", "fatigue"];

/// A small deterministic generator (xorshift64*), so runs are comparable.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn candidates(n: usize) -> Vec<Candidate> {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ n as u64);
    // Roughly 0.7 assertions per agent: most agents assert once, some change their mind.
    let agents = (n * 7 / 10).max(3) as u64;
    (0..n)
        .map(|i| {
            // Skewed towards the first values.
            let v = (rng.below(5) * rng.below(5) / 4) as usize;
            let class = rng.below(8);
            let agent = format!("agent-{}", rng.below(agents));
            let a = Assertion {
                subject: "drug:semaglutide".into(),
                predicate: "side_effect".into(),
                object: Object::Text(VALUES[v].into()),
                agent,
                confidence: (50 + rng.below(51)) as f64 / 100.0,
                timestamp: 1_700_000_000_000 + (i as i64) * 1_000 + rng.below(500) as i64,
                source: (class < 6).then(|| Source {
                    uri: format!("https://example.org/{i}"),
                    class: class as u8,
                }),
                valid_from: None,
                valid_to: None,
                lifecycle: Lifecycle::Proposed,
                parent: None,
                epoch: None,
            };
            let id = Record::Assertion(a.clone()).id();
            let votes = (0..rng.below(4).saturating_sub(1))
                .map(|_| {
                    let v = Vote {
                        target: id,
                        agent: format!("voter-{}", rng.below(20)),
                        weight: (rng.below(201) as f64 - 100.0) / 100.0,
                        timestamp: a.timestamp + 1 + rng.below(1_000) as i64,
                    };
                    CandidateVote::from_vote(Record::Vote(v.clone()).id(), &v)
                })
                .collect();
            Candidate::new(id, a).with_votes(votes)
        })
        .collect()
}

fn trust() -> TrustMap {
    (0..50)
        .map(|i| (format!("agent-{i}"), (i % 10) as f64 / 10.0))
        .collect()
}

fn bench(c: &mut Criterion) {
    let trust = trust();
    for n in [10, 100, 1000] {
        let set = candidates(n);
        let mut group = c.benchmark_group(format!("resolve/{n}"));
        for lens in Lens::ALL {
            group.bench_with_input(BenchmarkId::from_parameter(lens), &set, |b, set| {
                b.iter(|| resolve(black_box(lens), black_box(set), black_box(&trust)))
            });
        }
        group.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
