//! Randomized fault injection with an independent checker (issue 10, item 2).
//!
//! Three `stemedb-api` nodes, each in its own network namespace; node3's
//! data directory is a small tmpfs. Client threads write unique assertions
//! to random nodes and read them back ([`client`]); a seeded nemesis
//! injects faults one at a time ([`nemesis`]); afterwards everything is
//! healed, the replicas are synced until they agree, and the [`checker`]
//! compares what the nodes hold with what the clients were told. The last
//! line printed is the summary
//! `acknowledged=N failed=N unknown=N lost=N duplicated=N stale_reads=N lens_divergent=N converged_in=Xs`.
//!
//! Used by `crates/stemedb-server/tests/chaos.rs` (a short schedule in `cargo test`, a long one
//! through `scripts/chaos.sh --duration S --seed N`).

pub mod checker;
pub mod client;
pub mod nemesis;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::cluster::Nodes;
use crate::rng::Rng;
use crate::tmpfs::Tmpfs;
use client::{Outcome, Target};
use nemesis::{DISK_NODE, Nemesis};

const NAMES: [&str; 3] = ["node1", "node2", "node3"];
const MIB: u64 = 1024 * 1024;

/// How a run is shaped.
#[derive(Debug, Clone)]
pub struct Settings {
    /// PRNG seed (schedule and client choices).
    pub seed: u64,
    /// How long faults are injected (writes run meanwhile).
    pub duration: Duration,
    /// Client threads.
    pub clients: usize,
    /// Writes per client at most (a bound on the load loop).
    pub max_writes: u64,
    /// Subjects the writes are spread over.
    pub subjects: usize,
    /// Network namespace prefix.
    pub prefix: &'static str,
    /// Subnet: 198.18.`net`.0/24.
    pub net: u8,
    /// Size of node3's tmpfs data directory.
    pub disk_bytes: u64,
}

/// What a run found.
#[derive(Debug)]
pub struct Report {
    /// Writes answered 2xx.
    pub acknowledged: usize,
    /// Writes definitely not stored.
    pub failed: usize,
    /// Writes that may or may not be stored.
    pub unknown: usize,
    /// Acknowledged writes missing on a replica (details).
    pub lost: Vec<String>,
    /// Duplicated or unexpected records (details).
    pub duplicated: Vec<String>,
    /// Reads at the acknowledging node that missed the write (details).
    pub stale_reads: Vec<String>,
    /// Lens answers (or candidate sets) that differ between nodes (details).
    pub lens_divergent: Vec<String>,
    /// From the heal to the first clean anti-entropy pass (`None`: never).
    pub converged_in: Option<Duration>,
    /// Nodes that died without being killed by the nemesis.
    pub crashed: Vec<String>,
}

impl Report {
    /// The summary line (always the last line a run prints).
    pub fn line(&self) -> String {
        format!(
            "acknowledged={} failed={} unknown={} lost={} duplicated={} stale_reads={} lens_divergent={} converged_in={}",
            self.acknowledged,
            self.failed,
            self.unknown,
            self.lost.len(),
            self.duplicated.len(),
            self.stale_reads.len(),
            self.lens_divergent.len(),
            self.converged_in
                .map_or("never".to_owned(), |d| format!("{:.1}s", d.as_secs_f64())),
        )
    }
}

fn elapsed(t0: Instant) -> String {
    format!("{:7.1}s", t0.elapsed().as_secs_f64())
}

/// Runs the whole thing; prints the seed first and the summary line last.
/// Prints every "write path failed" line of each node's log (a store that
/// failed refuses writes with 503 `unavailable` until it is restarted), and
/// with `CHAOS_KEEP_LOGS=DIR` copies each node's whole log to
/// `DIR/node<N>.log`.
fn report_node_logs(nodes: &Nodes) {
    let keep = std::env::var_os("CHAOS_KEEP_LOGS").map(std::path::PathBuf::from);
    if let Some(dir) = &keep
        && let Err(e) = std::fs::create_dir_all(dir)
    {
        println!("could not create {}: {e}", dir.display());
    }
    for i in 0..3 {
        let log = nodes.log(i);
        for line in log
            .lines()
            .filter(|l| l.contains("write path failed"))
            .take(5)
        {
            println!("STORE FAILED node{}: {line}", i + 1);
        }
        if let Some(dir) = &keep {
            let path = dir.join(format!("node{}.log", i + 1));
            match std::fs::write(&path, &log) {
                Ok(()) => println!("node{} log kept at {}", i + 1, path.display()),
                Err(e) => println!("could not keep {}: {e}", path.display()),
            }
        }
    }
}

pub fn run(s: &Settings) -> Report {
    println!(
        "chaos: seed={} duration={}s clients={} (rerun: scripts/chaos.sh --duration {} --seed {})",
        s.seed,
        s.duration.as_secs(),
        s.clients,
        s.duration.as_secs(),
        s.seed
    );
    let t0 = Instant::now();
    let mut rng = Rng::new(s.seed);
    let mut nodes = Nodes::in_netns(s.prefix, s.net, 3);
    // Small segments (node3's disk is small); node3 refuses writes below 32 MiB free.
    for i in 0..3 {
        let floor = if i == DISK_NODE { 32 * MIB } else { 64 * MIB };
        nodes.storage_extra.insert(
            i,
            format!("segment_size = {}\nmin_free_bytes = {floor}\n", 8 * MIB),
        );
    }
    nodes.replication_extra = "anti_entropy_interval_ms = 10000\n".to_owned();
    let disk = Tmpfs::mount(&nodes.nodes[DISK_NODE].dir.join("data"), s.disk_bytes);
    nodes.start_all();
    nodes.wait_formed(&[0, 1, 2], 3, Duration::from_secs(60));
    println!("[{}] cluster formed", elapsed(t0));

    let apis: Vec<String> = (0..3).map(|i| nodes.api(i, "")).collect();
    let gateways: Vec<String> = (0..3).map(|i| nodes.gateway(i, "")).collect();
    let subjects: Arc<Vec<String>> =
        Arc::new((0..s.subjects).map(|k| format!("chaos:s{k:03}")).collect());
    let target = Target {
        apis: apis.clone(),
        subjects: subjects.clone(),
    };
    let steps = nemesis::schedule(&mut rng, s.duration);
    let stop = Arc::new(AtomicBool::new(false));
    // Clients stop by themselves a little after the schedule's end at the latest.
    let deadline = Instant::now() + s.duration + Duration::from_secs(60);
    let clients: Vec<_> = (0..s.clients)
        .map(|c| {
            let (r, t, st) = (rng.fork(), target.clone(), stop.clone());
            let max = s.max_writes;
            std::thread::spawn(move || client::run(c, r, t, st, deadline, max))
        })
        .collect();

    let mut crashed = Vec::new();
    {
        let mut nem = Nemesis {
            nodes: &mut nodes,
            disk: &disk,
            disk_leave: 16 * MIB,
            counts: Default::default(),
        };
        let started = Instant::now();
        for step in &steps {
            if started.elapsed() >= s.duration {
                break;
            }
            for i in 0..3 {
                if !nem.nodes.alive(i) {
                    println!(
                        "[{}] node{} died by itself; restarting it",
                        elapsed(t0),
                        i + 1
                    );
                    crashed.push(format!("node{} (before step {})", i + 1, step.fault));
                    nem.nodes.kill9(i);
                    nem.nodes.spawn(i);
                }
            }
            println!(
                "[{}] {} for {:.1}s",
                elapsed(t0),
                step.fault,
                step.hold.as_secs_f64()
            );
            nem.apply(step.fault);
            std::thread::sleep(step.hold);
            nem.heal(step.fault);
            std::thread::sleep(step.gap);
        }
        stop.store(true, Ordering::Relaxed);
        crashed.extend(nem.heal_all());
        println!("[{}] faults by kind: {:?}", elapsed(t0), nem.counts);
    }
    let mut writes = Vec::new();
    let mut stale = Vec::new();
    let (mut reads, mut elsewhere) = (0, 0);
    for c in clients {
        let h = c.join().expect("client thread");
        writes.extend(h.writes);
        stale.extend(h.stale);
        reads += h.reads;
        elsewhere += h.elsewhere_missing;
    }
    println!(
        "[{}] healed; {} writes, answers {:?}; {} read-backs at the acknowledging node, {} reads elsewhere not yet there",
        elapsed(t0),
        writes.len(),
        client::answers(&writes),
        reads,
        elsewhere
    );

    let healed = Instant::now();
    nodes.wait_formed(&[0, 1, 2], 3, Duration::from_secs(90));
    let converged_in =
        checker::converge(&gateways, Duration::from_secs(180)).map(|_| healed.elapsed());
    println!("[{}] converged in {:?}", elapsed(t0), converged_in);
    let findings = checker::check(&apis, &NAMES, &subjects, &writes, &mut rng);
    let count = |o: Outcome| writes.iter().filter(|w| w.outcome == o).count();
    let report = Report {
        acknowledged: count(Outcome::Acknowledged),
        failed: count(Outcome::Failed),
        unknown: count(Outcome::Unknown),
        lost: findings.lost,
        duplicated: findings.duplicated,
        stale_reads: stale,
        lens_divergent: findings.lens_divergent,
        converged_in,
        crashed,
    };
    for (what, list) in [
        ("LOST", &report.lost),
        ("DUPLICATED", &report.duplicated),
        ("STALE", &report.stale_reads),
        ("LENS", &report.lens_divergent),
        ("CRASHED", &report.crashed),
    ] {
        for item in list.iter().take(20) {
            println!("{what}: {item}");
        }
    }
    println!(
        "[{}] unknown writes found stored after convergence: {} of {}",
        elapsed(t0),
        findings.unknown_stored,
        report.unknown
    );
    for i in 0..3 {
        nodes.stop(i);
    }
    report_node_logs(&nodes);
    drop(disk);
    println!("{}", report.line());
    report
}
