//! StemeDB load tools. Every figure in `docs/benchmarks.md` comes from here.
//!
//! ```text
//! stemedb-bench storage [N] [DIR]   durable appends (1/8/64 writers), bulk ingest of N
//!                                   (plain and signed), lookups, rebuild, replay, verify
//! stemedb-bench query [N] [DIR]     end-to-end query (index fetch + lens) at N assertions
//! stemedb-bench rebuild [N] [DIR]   ingest N, then time one full index rebuild
//! stemedb-bench replay [N] [DIR]    ingest N, drop the index, time the open that replays the log
//! stemedb-bench signed [N] [DIR]    bulk ingest of N pre-signed assertions (verification timed)
//! stemedb-bench bulk [N] [DIR]      bulk ingest of N, lookups, rebuild, replay, verify
//! stemedb-bench http-ingest [N] [URL]  POST N assertions as NDJSON batches of 1,000
//!                                      (START=K: assertions K..K+N, for fresh writes into a loaded store)
//!                                   (THREADS connections, default 4) to a running server
//! stemedb-bench peers-csv [N]       the issue-13 peer workload as CSV on stdout (PostgreSQL COPY)
//! stemedb-bench peers-ingest [N] [URL]  the same N claims posted like http-ingest
//! stemedb-bench cluster-load --urls URL[,URL...] --seconds S [--rate N] [--batch B] [--threads T]
//!                                   paced (or max-rate) writes spread round-robin over API
//!                                   nodes, then each node's replication delay metrics
//! ```
//! N defaults to 1,000,000; DIR defaults to a temporary directory.
//! `STEMEDB_BENCH_LOOKUPS_ONLY=1 stemedb-bench storage N` stops after the lookup
//! measurements (used for the 10M-assertion figures).
//! `STEMEDB_STORAGE_ID_FILTER_BYTES=B` sets the store's id filter budget in the
//! embedded runs (`storage.id_filter_bytes`, as the server reads it).

mod cluster;
mod http;
mod peers;
mod query;
mod storage;

/// The allocator of the server binary (`stemedb-api`), so that what the
/// storage and query benchmarks measure is what the server would do.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Peak resident set size of this process (VmHWM), MiB.
pub fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}

fn main() {
    // As in the server: without it the load client spends its CPU zeroing huge pages.
    if let Err(e) = stemedb_storage::memory::no_transparent_huge_pages() {
        eprintln!("stemedb-bench: transparent huge pages stay on: {e}");
    }
    let all: Vec<String> = std::env::args().skip(1).collect();
    if all.first().map(String::as_str) == Some("cluster-load") {
        return cluster::run(&all[1..]);
    }
    let mut args = all.into_iter();
    let what = args.next().unwrap_or_default();
    let n: u64 = args
        .next()
        .and_then(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let root = args.next();
    match what.as_str() {
        "storage" => storage::run(n, root),
        "query" => query::run(n, root),
        "rebuild" => storage::rebuild_only(n, root),
        "replay" => storage::replay_only(n, root),
        "signed" => storage::bulk(n, true, root),
        "bulk" => storage::bulk(n, false, root),
        "http-ingest" => http::ingest(
            root.as_deref().unwrap_or("http://127.0.0.1:18180"),
            n,
            std::env::var("THREADS")
                .ok()
                .and_then(|t| t.parse().ok())
                .unwrap_or(4),
            env_u64("START"),
            |i| storage::assertion(i, "bench-agent"),
        ),
        "peers-csv" => peers::csv(n),
        "peers-ingest" => http::ingest(
            root.as_deref().unwrap_or("http://127.0.0.1:18180"),
            n,
            std::env::var("THREADS")
                .ok()
                .and_then(|t| t.parse().ok())
                .unwrap_or(4),
            env_u64("START"),
            peers::assertion,
        ),
        _ => {
            eprintln!(
                "usage: stemedb-bench storage|query|rebuild|replay|signed|bulk [N] [DIR] | http-ingest [N] [URL] | peers-csv [N] | peers-ingest [N] [URL] | cluster-load --urls URL[,URL...] --seconds S [--rate N] [--batch B] [--threads T]"
            );
            std::process::exit(2);
        }
    }
}

/// A whole number from the environment, 0 when unset or not a number.
fn env_u64(name: &str) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}
