//! HTTP batch ingest against a running server: T threads post NDJSON bodies of
//! 1,000 assertions each (`POST /v1/assertions`), the same synthetic records
//! as the storage benchmark, so `query` measurements can follow on that data.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use stemedb_records::{Record, SignedRecord, wire};

use crate::storage::percentile;

/// Posts `n` assertions (`make(i)` for i in 0..n) to `url` in batches of
/// 1,000 from `threads` threads. Every NDJSON body is rendered before the
/// clock starts (as the peer benchmark writes PostgreSQL's CSV before
/// timing COPY), so the figure is the server's, not the client's encoding;
/// this holds all bodies in memory (~300 bytes per assertion).
pub fn ingest(url: &str, n: u64, threads: u64, start: u64, make: fn(u64) -> Record) {
    const BATCH: u64 = 1000;
    let bodies = Arc::new(render_bodies(start, n, BATCH, make));
    let next = Arc::new(AtomicU64::new(0));
    let created = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let handles: Vec<_> = (0..threads)
        .map(|_| {
            let (next, created, url, bodies) = (
                next.clone(),
                created.clone(),
                url.to_owned(),
                bodies.clone(),
            );
            std::thread::spawn(move || {
                let agent = ureq::Agent::new_with_defaults();
                let mut lat: Vec<Duration> = Vec::new();
                loop {
                    let k = next.fetch_add(1, Ordering::Relaxed) as usize;
                    let Some(body) = bodies.get(k) else {
                        break;
                    };
                    let t = Instant::now();
                    let mut resp = agent
                        .post(format!("{url}/v1/assertions"))
                        .header("Content-Type", "application/x-ndjson")
                        .send(body.as_str())
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

/// The NDJSON bodies of `n` assertions in batches of `batch`, rendered on
/// every core.
/// NDJSON bodies of `batch` records each: records `start..start + n`.
fn render_bodies(start: u64, n: u64, batch: u64, make: fn(u64) -> Record) -> Vec<String> {
    let chunks = n.div_ceil(batch);
    let workers = std::thread::available_parallelism().map_or(2, |p| p.get() as u64);
    let per = chunks.div_ceil(workers.max(1));
    let parts: Vec<Vec<String>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..workers)
            .map(|w| {
                s.spawn(move || {
                    (w * per..((w + 1) * per).min(chunks))
                        .map(|c| {
                            let mut body = String::with_capacity(300 * batch as usize);
                            for i in c * batch..((c + 1) * batch).min(n) {
                                let rec = SignedRecord::new(make(start + i), None).expect("valid");
                                body.push_str(&wire::to_json(&rec).to_string());
                                body.push('\n');
                            }
                            body
                        })
                        .collect()
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("render"))
            .collect()
    });
    parts.into_iter().flatten().collect()
}
