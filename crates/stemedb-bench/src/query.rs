//! End-to-end query latency: index fetch + filters + lens, hot, at N stored
//! assertions (10 per subject over 3 predicates, so 3–4 candidates per pair).

use std::time::{Duration, Instant};

use stemedb_lens::Lens;
use stemedb_query::{Query, run as run_query};
use stemedb_storage::Store;

use crate::storage::{dir_or_temp, ingest, percentile, store_config};

/// Ingests `n` assertions, then measures queries with each lens, current and `as_of`.
pub fn run(n: u64, root: Option<String>) {
    let (dir, _t) = dir_or_temp(root, "query");
    let store = Store::open(store_config(&dir)).expect("open");
    let secs = ingest(&store, n, false);
    println!("ingested {n} assertions in {secs:.1} s");
    let subjects = n / 10;
    for lens in Lens::ALL {
        for as_of in [None, Some(1_700_000_000_000 + (n / 2) as i64)] {
            let mut lat: Vec<Duration> = Vec::with_capacity(50_000);
            let mut x = 0x2545_f491_4f6c_dd1du64;
            for _ in 0..50_000 {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                let s = x % subjects;
                let mut q = Query::new(format!("drug:{s:07}"))
                    .predicate(format!("effect{}", x % 3))
                    .lens(lens);
                q.as_of = as_of;
                let t = Instant::now();
                let r = run_query(&store, &q).expect("query");
                lat.push(t.elapsed());
                assert_eq!(r.results.len(), 1);
            }
            lat.sort();
            println!(
                "query {:<10} {:<7}: p50 {:>6.1} µs  p99 {:>6.1} µs",
                lens.as_str(),
                if as_of.is_some() { "as_of" } else { "current" },
                percentile(&lat, 0.5),
                percentile(&lat, 0.99)
            );
        }
    }
    println!("peak RSS of this process: {:.0} MiB", crate::peak_rss_mib());
}
