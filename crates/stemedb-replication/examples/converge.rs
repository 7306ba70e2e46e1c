//! Measures anti-entropy convergence: store A holds `shared + missing`
//! records, store B only `shared`; B runs one round against A's gRPC server
//! on loopback. Prints time, bytes and records moved (and the bytes beyond
//! the missing records themselves: digests, id prefixes, framing), then a
//! no-op round.
//!
//! `cargo run --release -p stemedb-replication --example converge -- [shared] [missing]`
//! (defaults 100000 100000).

use std::time::Instant;

use stemedb_records::{Assertion, Lifecycle, Object, Record, SignedRecord, Vote};
use stemedb_replication::{
    Peer, PeerConfig, ReplicationState, all_partitions, serve_listener, sync_with,
};
use stemedb_storage::{Store, StoreConfig};

type Res<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

fn record(i: u64) -> Res<SignedRecord> {
    Ok(SignedRecord::new(
        Record::Assertion(Assertion {
            subject: format!("drug:{}", i % 50_000),
            predicate: format!("side_effect_{}", i % 7),
            object: Object::Text(format!("observed effect number {i}")),
            agent: format!("agent{}", i % 100),
            confidence: 0.8,
            timestamp: 1_700_000_000_000 + i as i64,
            source: None,
            valid_from: None,
            valid_to: None,
            lifecycle: Lifecycle::Proposed,
            parent: None,
            epoch: None,
        }),
        None,
    )?)
}

/// Writes `count` records starting at `from`, every tenth one a vote on the record before it.
fn fill(store: &Store, from: u64, count: u64) -> Res<usize> {
    let mut bytes = 0;
    let mut batch = Vec::with_capacity(10_000);
    let mut prev = None;
    for i in from..from + count {
        let rec = match prev {
            Some(target) if i % 10 == 0 => SignedRecord::new(
                Record::Vote(Vote {
                    target,
                    agent: format!("voter{i}"),
                    weight: 1.0,
                    timestamp: 1_700_000_000_000 + i as i64,
                }),
                None,
            )?,
            _ => record(i)?,
        };
        if matches!(rec.record(), Record::Assertion(_)) {
            prev = Some(rec.id());
        }
        bytes += rec.stored_len();
        batch.push(rec);
        if batch.len() == 10_000 {
            for r in store.append(std::mem::take(&mut batch))? {
                r?;
            }
        }
    }
    for r in store.append(batch)? {
        r?;
    }
    Ok(bytes)
}

fn open(dir: &std::path::Path) -> Res<Store> {
    let mut cfg = StoreConfig::new(dir);
    cfg.fsync = false;
    Ok(Store::open(cfg)?)
}

fn main() -> Res<()> {
    let mut args = std::env::args().skip(1);
    let shared: u64 = args
        .next()
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(100_000);
    let missing: u64 = args
        .next()
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(100_000);
    let dir = tempfile::tempdir()?;
    let a = open(&dir.path().join("a"))?;
    let b = open(&dir.path().join("b"))?;
    let t = Instant::now();
    fill(&a, 0, shared)?;
    fill(&b, 0, shared)?;
    let missing_bytes = fill(&a, shared, missing)?;
    println!(
        "setup: A {} records, B {} records, missing {missing} records = {missing_bytes} B in storage framing ({:.1}s)",
        shared + missing,
        shared,
        t.elapsed().as_secs_f64()
    );

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(serve_listener(
            listener,
            ReplicationState::new(a.clone()),
            async {
                let _ = stopped.await;
            },
        ));
        let peer = Peer::new(&addr.to_string(), PeerConfig::default())?;
        let t = Instant::now();
        let r = sync_with(&peer, &b, &all_partitions()).await?;
        let secs = t.elapsed().as_secs_f64();
        println!("round 1: {r:?}");
        println!(
            "  converge {missing} records: {secs:.2}s, {:.0} records/s, {} B sent + {} B received = {:.2}x the missing records' size",
            r.records_fetched as f64 / secs,
            r.bytes_sent,
            r.bytes_received,
            (r.bytes_sent + r.bytes_received) as f64 / missing_bytes as f64
        );
        println!(
            "  beyond the records: {} B ({:.1} B per differing bucket, {:.2} B per id held by B)",
            (r.bytes_sent + r.bytes_received).saturating_sub(missing_bytes as u64),
            (r.bytes_sent + r.bytes_received).saturating_sub(missing_bytes as u64) as f64
                / r.buckets_differing.max(1) as f64,
            (r.bytes_sent + r.bytes_received).saturating_sub(missing_bytes as u64) as f64
                / shared.max(1) as f64
        );
        let t = Instant::now();
        let r2 = sync_with(&peer, &b, &all_partitions()).await?;
        println!("round 2 (no difference): {:.3}s, {r2:?}", t.elapsed().as_secs_f64());
        let same = all_partitions()
            .into_iter()
            .map(|p| Ok(a.partition_ids(p)? == b.partition_ids(p)?))
            .collect::<Res<Vec<bool>>>()?
            .into_iter()
            .all(|x| x);
        println!("identical partition ids: {same}");
        let _ = stop.send(());
        server.await??;
        Res::Ok(())
    })?;
    Ok(())
}
