//! HTTP batch ingest against a running server: T threads post NDJSON bodies of
//! 1,000 assertions each (`POST /v1/assertions`), the same synthetic records
//! as the storage benchmark, so `query` measurements can follow on that data.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use stemedb_records::{Record, SignedRecord, wire};

use crate::storage::percentile;

/// Posts `n` assertions (`make(i)` for i in 0..n) to `url` in batches of
/// 1,000 from `threads` threads.
pub fn ingest(url: &str, n: u64, threads: u64, make: fn(u64) -> Record) {
    const BATCH: u64 = 1000;
    let next = Arc::new(AtomicU64::new(0));
    let created = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let handles: Vec<_> = (0..threads)
        .map(|_| {
            let (next, created, url) = (next.clone(), created.clone(), url.to_owned());
            std::thread::spawn(move || {
                let agent = ureq::Agent::new_with_defaults();
                let mut lat: Vec<Duration> = Vec::new();
                loop {
                    let from = next.fetch_add(BATCH, Ordering::Relaxed);
                    if from >= n {
                        break;
                    }
                    let mut body = String::with_capacity(300 * BATCH as usize);
                    for i in from..(from + BATCH).min(n) {
                        let rec = SignedRecord::new(make(i), None).expect("valid");
                        body.push_str(&wire::to_json(&rec).to_string());
                        body.push('\n');
                    }
                    let t = Instant::now();
                    let mut resp = agent
                        .post(format!("{url}/v1/assertions"))
                        .header("Content-Type", "application/x-ndjson")
                        .send(body)
                        .expect("request");
                    let text = resp.body_mut().read_to_string().expect("reply body");
                    let reply: serde_json::Value = serde_json::from_str(&text).expect("json reply");
                    lat.push(t.elapsed());
                    created.fetch_add(reply["created"].as_u64().unwrap_or(0), Ordering::Relaxed);
                }
                lat
            })
        })
        .collect();
    let mut lat: Vec<Duration> = handles
        .into_iter()
        .flat_map(|h| h.join().expect("join"))
        .collect();
    let secs = start.elapsed().as_secs_f64();
    lat.sort();
    println!(
        "HTTP batch ingest of {n} ({threads} connections, 1,000 per request): {:.0} assertions/s, created {}, request p50 {:.1} ms p99 {:.1} ms",
        n as f64 / secs,
        created.load(Ordering::Relaxed),
        percentile(&lat, 0.5) / 1000.0,
        percentile(&lat, 0.99) / 1000.0
    );
}
