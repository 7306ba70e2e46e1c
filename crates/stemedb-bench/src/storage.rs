//! Storage load: durable appends with concurrent writers, bulk ingest
//! (optionally signed), point lookups, candidate fetches, reopen/replay and
//! rebuild.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use stemedb_records::{Assertion, Lifecycle, Object, Record, SignedRecord, Source, sign};
use stemedb_storage::{Store, StoreConfig};

/// The i-th synthetic assertion: 10 per subject, 3 predicates, 7 values.
pub fn assertion(i: u64, agent: &str) -> Record {
    Record::Assertion(Assertion {
        subject: format!("drug:{:07}", i / 10),
        predicate: format!("effect{}", i % 3),
        object: Object::Text(format!("value-{}", i % 7)),
        agent: agent.to_owned(),
        confidence: 0.9,
        timestamp: 1_700_000_000_000 + i as i64,
        source: Some(Source {
            uri: format!("https://ex.org/{}", i % 1000),
            class: (i % 6) as u8,
        }),
        valid_from: None,
        valid_to: None,
        lifecycle: Lifecycle::Proposed,
        parent: None,
        epoch: None,
    })
}

/// The p-quantile of sorted latencies, in µs.
pub fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1e6
}

/// `ROOT/name` (emptied) or a fresh temp dir.
pub fn dir_or_temp(
    arg: Option<String>,
    name: &str,
) -> (std::path::PathBuf, Option<tempfile::TempDir>) {
    match arg {
        Some(d) => {
            let p = std::path::PathBuf::from(d).join(name);
            let _ = std::fs::remove_dir_all(&p);
            (p, None)
        }
        None => {
            let t = tempfile::tempdir().expect("temp dir");
            (t.path().join(name), Some(t))
        }
    }
}

fn concurrent_appends(root: Option<String>) {
    for writers in [1usize, 8, 64] {
        let (dir, _t) = dir_or_temp(root.clone(), &format!("writers{writers}"));
        let mut cfg = store_config(&dir);
        // Diagnostic only: STEMEDB_BENCH_NO_FSYNC=1 shows what fsync costs.
        cfg.fsync = std::env::var_os("STEMEDB_BENCH_NO_FSYNC").is_none();
        let store = Store::open(cfg).expect("open");
        let run_for = Duration::from_secs(5);
        let done = Arc::new(AtomicU64::new(0));
        let start = Instant::now();
        let handles: Vec<_> = (0..writers)
            .map(|w| {
                let store = store.clone();
                let done = done.clone();
                std::thread::spawn(move || {
                    let mut lat = Vec::new();
                    let mut i = 0u64;
                    while start.elapsed() < run_for {
                        let rec = SignedRecord::new(
                            assertion(w as u64 * 1_000_000_000 + i, "bench"),
                            None,
                        )
                        .expect("valid");
                        let t = Instant::now();
                        store.append(vec![rec]).expect("append")[0]
                            .as_ref()
                            .expect("ok");
                        lat.push(t.elapsed());
                        i += 1;
                    }
                    done.fetch_add(i, Ordering::Relaxed);
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
        let n = done.load(Ordering::Relaxed);
        println!(
            "durable single appends, {writers:>2} writers: {:>8.0}/s  p50 {:.0} µs  p99 {:.0} µs",
            n as f64 / secs,
            percentile(&lat, 0.5),
            percentile(&lat, 0.99)
        );
    }
}

/// The store configuration of the embedded runs: the defaults, with the id
/// filter budget from `STEMEDB_STORAGE_ID_FILTER_BYTES` when it is set.
pub fn store_config(dir: &std::path::Path) -> StoreConfig {
    let mut cfg = StoreConfig::new(dir);
    if let Ok(v) = std::env::var("STEMEDB_STORAGE_ID_FILTER_BYTES") {
        cfg.id_filter_bytes = v.parse().unwrap_or_else(|e| {
            eprintln!("STEMEDB_STORAGE_ID_FILTER_BYTES={v:?} is not a byte count: {e}");
            std::process::exit(2)
        });
    }
    cfg
}

/// Ingests `n` assertions in batches of 1,000 with two appenders; returns
/// the seconds taken. Signed records are signed before the clock starts:
/// signing is the client's work, verification (in `append`) is measured.
pub fn ingest(store: &Store, n: u64, signed: bool) -> f64 {
    let key = sign::generate_key().expect("key");
    let agent = if signed {
        sign::public_hex(&key)
    } else {
        "bench-agent".into()
    };
    const BATCH: u64 = 1000;
    let build = move |i: u64| -> Vec<SignedRecord> {
        (i..(i + BATCH).min(n))
            .map(|j| {
                let rec = assertion(j, &agent);
                let sig = signed.then(|| sign::sign(&rec, &key));
                SignedRecord::new(rec, sig).expect("valid")
            })
            .collect()
    };
    let presigned: Vec<Vec<SignedRecord>> = if signed {
        (0..n).step_by(BATCH as usize).map(&build).collect()
    } else {
        Vec::new()
    };
    // Unsigned batches are built on a producer thread while others append.
    let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<SignedRecord>>(4);
    let producer = std::thread::spawn(move || {
        if signed {
            for batch in presigned {
                if tx.send(batch).is_err() {
                    break;
                }
            }
            return;
        }
        let mut i = 0;
        while i < n {
            if tx.send(build(i)).is_err() {
                break;
            }
            i += BATCH;
        }
    });
    let start = Instant::now();
    let mut appended = 0u64;
    let progress = Arc::new(AtomicU64::new(0));
    let curve = curve_printer(store.clone(), n, progress.clone());
    // Two appenders so signature verification of one batch overlaps the commit of another.
    let rx = Arc::new(std::sync::Mutex::new(rx));
    let workers: Vec<_> = (0..2)
        .map(|_| {
            let rx = rx.clone();
            let store = store.clone();
            let progress = progress.clone();
            std::thread::spawn(move || {
                let mut c = 0u64;
                loop {
                    let batch = match rx.lock().expect("lock").recv() {
                        Ok(b) => b,
                        Err(_) => break,
                    };
                    let ok = store
                        .append(batch)
                        .expect("append")
                        .iter()
                        .filter(|r| r.is_ok())
                        .count() as u64;
                    c += ok;
                    progress.fetch_add(ok, Ordering::Relaxed);
                }
                c
            })
        })
        .collect();
    producer.join().expect("producer");
    for w in workers {
        appended += w.join().expect("worker");
    }
    progress.store(u64::MAX, Ordering::Relaxed);
    curve.join().expect("curve");
    let secs = start.elapsed().as_secs_f64();
    assert_eq!(appended, n, "every record must be created");
    secs
}

/// Prints the ingest curve: at every tenth of `n` records (from 1M records
/// on), the rate over that tenth, the process's resident memory and the data
/// on disk — whether ingest rate and memory stay flat as the store grows.
/// Stops when `progress` is `u64::MAX`.
fn curve_printer(store: Store, n: u64, progress: Arc<AtomicU64>) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        if n < 1_000_000 {
            return;
        }
        let step = n / 10;
        let (mut next, mut last_n, mut last_t) = (step, 0u64, Instant::now());
        loop {
            let done = progress.load(Ordering::Relaxed);
            if done == u64::MAX {
                return;
            }
            if done < next {
                std::thread::sleep(Duration::from_millis(50));
                continue;
            }
            let rate = (done - last_n) as f64 / last_t.elapsed().as_secs_f64();
            let rss = std::fs::read_to_string("/proc/self/statm")
                .ok()
                .and_then(|s| s.split_whitespace().nth(1)?.parse::<u64>().ok())
                .map_or(0, |pages| pages * 4096);
            let (log, index) = store.disk_usage().unwrap_or((0, 0));
            println!(
                "  curve: {done} records, {rate:.0}/s over the last {}, RSS {:.0} MiB, disk {:.0} MiB",
                done - last_n,
                rss as f64 / 1048576.0,
                (log + index) as f64 / 1048576.0
            );
            (last_n, last_t) = (done, Instant::now());
            next = (done / step + 1) * step;
        }
    })
}

/// Bulk ingest of `n` (signed or not) with on-disk size, and for unsigned
/// data the lookup, rebuild, replay and verify measurements.
pub fn bulk(n: u64, signed: bool, root: Option<String>) {
    let (dir, _t) = dir_or_temp(root, if signed { "bulk-signed" } else { "bulk" });
    let store = Store::open(store_config(&dir)).expect("open");
    let secs = ingest(&store, n, signed);
    let appended = n;
    store.flush_indexes().expect("flush");
    let (log, index) = store.disk_usage().expect("usage");
    println!(
        "bulk ingest{} of {n}: {:.0} assertions/s ({secs:.1} s); on disk: log {:.1} MiB + index {:.1} MiB = {:.0} bytes/assertion",
        if signed {
            " (signed, batch-verified)"
        } else {
            ""
        },
        appended as f64 / secs,
        log as f64 / 1048576.0,
        index as f64 / 1048576.0,
        (log + index) as f64 / n as f64
    );
    if signed {
        return;
    }
    // Point lookups and candidate fetches, hot.
    let mut lat_get = Vec::new();
    let mut lat_sp = Vec::new();
    let mut x = 0x9e3779b97f4a7c15u64;
    for _ in 0..100_000 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let i = x % n;
        let id = SignedRecord::new(assertion(i, "bench-agent"), None)
            .expect("valid")
            .id();
        let t = Instant::now();
        let got = store.get(id).expect("get");
        lat_get.push(t.elapsed());
        assert!(got.is_some());
        let t = Instant::now();
        let entries = store
            .subject_entries(
                &format!("drug:{:07}", i / 10),
                Some(&format!("effect{}", i % 3)),
            )
            .expect("entries");
        for e in &entries {
            store.read_at(e.pos).expect("read");
        }
        lat_sp.push(t.elapsed());
    }
    lat_get.sort();
    lat_sp.sort();
    println!(
        "point get by id at {n}: p50 {:.1} µs  p99 {:.1} µs; (subject, predicate) candidates fetched and decoded: p50 {:.1} µs  p99 {:.1} µs",
        percentile(&lat_get, 0.5),
        percentile(&lat_get, 0.99),
        percentile(&lat_sp, 0.5),
        percentile(&lat_sp, 0.99)
    );
    if std::env::var_os("STEMEDB_BENCH_LOOKUPS_ONLY").is_some() {
        return;
    }
    let t = Instant::now();
    let rebuilt = store.rebuild().expect("rebuild");
    let secs = t.elapsed().as_secs_f64();
    println!(
        "index rebuild of {rebuilt} records: {secs:.1} s ({:.0} records/s)",
        rebuilt as f64 / secs
    );
    drop(store);
    // Replay: drop the index and let open replay the whole log.
    std::fs::remove_dir_all(dir.join("index")).expect("rm index");
    let t = Instant::now();
    let store = Store::open(store_config(&dir)).expect("reopen");
    let secs = t.elapsed().as_secs_f64();
    let replayed = store.open_report().replayed;
    println!(
        "open with full replay of {replayed} records: {secs:.1} s ({:.0} records/s)",
        replayed as f64 / secs
    );
    let t = Instant::now();
    let report = store.verify().expect("verify");
    println!(
        "verify (CRC + re-hash + index check) of {} records: {:.1} s, problems: {}",
        report.records,
        t.elapsed().as_secs_f64(),
        report.problems.len()
    );
}

/// Runs every storage measurement with `n` assertions for the bulk phases.
pub fn run(n: u64, root: Option<String>) {
    concurrent_appends(root.clone());
    if n == 0 {
        return;
    }
    bulk(n, false, root.clone());
    bulk(n / 4, true, root);
    println!("peak RSS of this process: {:.0} MiB", crate::peak_rss_mib());
}

/// Ingests `n` (unless DIR already holds a store) then times one full rebuild.
pub fn rebuild_only(n: u64, root: Option<String>) {
    let (dir, _t) = dir_or_temp(root, "rebuild");
    let store = Store::open(store_config(&dir)).expect("open");
    ingest(&store, n, false);
    let t = Instant::now();
    let rebuilt = store.rebuild().expect("rebuild");
    let secs = t.elapsed().as_secs_f64();
    println!(
        "index rebuild of {rebuilt} records: {secs:.2} s ({:.0} records/s)",
        rebuilt as f64 / secs
    );
}

/// Ingests `n` assertions (fsync off: only the log's content matters
/// here), drops the index, then times opening the store — which replays the
/// whole log into a fresh index — and, for comparison, a scan that only
/// reads, CRC-checks, decodes and re-hashes every record.
pub fn replay_only(n: u64, root: Option<String>) {
    let (dir, _t) = dir_or_temp(root, "replay");
    let cfg = || StoreConfig {
        fsync: false,
        ..store_config(&dir)
    };
    let store = Store::open(cfg()).expect("open");
    ingest(&store, n, false);
    let t = Instant::now();
    let mut scanned = 0u64;
    store
        .scan(
            stemedb_storage::LogPos {
                segment: 0,
                offset: 0,
            },
            |_, _| {
                scanned += 1;
                Ok(())
            },
        )
        .expect("scan");
    let scan_secs = t.elapsed().as_secs_f64();
    drop(store);
    std::fs::remove_dir_all(dir.join("index")).expect("rm index");
    let t = Instant::now();
    let store = Store::open(cfg()).expect("reopen");
    let secs = t.elapsed().as_secs_f64();
    let replayed = store.open_report().replayed;
    assert_eq!(replayed, n, "every record must be replayed");
    println!(
        "open with full replay of {replayed} records: {secs:.2} s ({:.0} records/s); read + CRC + decode + re-hash alone: {scan_secs:.2} s ({:.0} records/s)",
        replayed as f64 / secs,
        scanned as f64 / scan_secs
    );
    drop(store);
    let t = Instant::now();
    let store = Store::open(cfg()).expect("reopen");
    let restart = t.elapsed().as_secs_f64();
    assert_eq!(store.open_report().replayed, 0, "nothing left to replay");
    println!("open after a clean close (nothing to replay): {restart:.2} s");
}
