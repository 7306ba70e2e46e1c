//! Membership over real UDP sockets on 127.0.0.1: convergence, crash
//! detection, restart with a new generation, and joining when seeds come up late.

use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use stemedb_cluster::quorum::{self, Mode, OnMinority};
use stemedb_cluster::{Error, Membership, MembershipConfig, Status};

const BOUND: Duration = Duration::from_secs(10);

fn free_port() -> u16 {
    let s = UdpSocket::bind("127.0.0.1:0").expect("bind probe socket");
    s.local_addr().expect("local addr").port()
}

fn addr(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

fn config(id: &str, port: u16, seeds: &[u16], generation: Option<u64>) -> MembershipConfig {
    let mut c = MembershipConfig::new(id, addr(port), addr(1), addr(2), addr(3));
    c.seeds = seeds.iter().map(|p| format!("127.0.0.1:{p}")).collect();
    c.generation = generation;
    c
}

fn status_of(m: &Membership, id: &str) -> Option<Status> {
    m.members().iter().find(|x| x.id() == id).map(|x| x.status)
}

/// Polls `cond` every 20 ms; returns the time it took, or fails after [`BOUND`].
async fn within(what: &str, mut cond: impl FnMut() -> bool) -> Duration {
    let start = Instant::now();
    while !cond() {
        assert!(start.elapsed() < BOUND, "timed out after {BOUND:?}: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    start.elapsed()
}

fn all_up(nodes: &[&Membership], ids: &[&str]) -> bool {
    nodes
        .iter()
        .all(|n| ids.iter().all(|id| status_of(n, id) == Some(Status::Up)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn converge_detect_crash_and_restart() {
    let (pa, pb, pc) = (free_port(), free_port(), free_port());
    let a = Membership::start(config("a", pa, &[pb, pc], None))
        .await
        .expect("a");
    let b = Membership::start(config("b", pb, &[pa, pc], None))
        .await
        .expect("b");
    let c = Membership::start(config("c", pc, &[pa, pb], Some(1)))
        .await
        .expect("c");
    let t = within("all three UP everywhere", || {
        all_up(&[&a, &b, &c], &["a", "b", "c"])
    })
    .await;
    eprintln!("converged in {t:?}");
    let view = a.members();
    let ids: Vec<&str> = view.iter().map(|m| m.id()).collect();
    assert_eq!(ids, ["a", "b", "c"]);
    assert!(view.iter().all(|m| m.last_seen.is_some()));
    assert_eq!(view[2].info.swim_addr, addr(pc));
    assert_eq!(view[2].info.rpc_addr, addr(3));
    assert_eq!(a.me().info.id, "a");

    // Watch A and B for SUSPECT before DOWN.
    let watch = |m: &Membership| {
        let mut rx = m.subscribe();
        tokio::spawn(async move {
            let mut seen = Vec::new();
            loop {
                let s = rx
                    .borrow_and_update()
                    .iter()
                    .find(|x| x.id() == "c")
                    .map(|x| x.status);
                if let Some(s) = s
                    && seen.last() != Some(&s)
                {
                    seen.push(s);
                }
                if s == Some(Status::Down) || rx.changed().await.is_err() {
                    return seen;
                }
            }
        })
    };
    let (wa, wb) = (watch(&a), watch(&b));

    // Crash C: its task stops without leaving.
    c.abort().await;
    assert!(!c.is_running());
    let t = within("c DOWN on a and b", || {
        status_of(&a, "c") == Some(Status::Down) && status_of(&b, "c") == Some(Status::Down)
    })
    .await;
    eprintln!("crash detected (DOWN on both survivors) in {t:?}");
    let (sa, sb) = (wa.await.expect("watch a"), wb.await.expect("watch b"));
    eprintln!("c as seen by a: {sa:?}, by b: {sb:?}");
    assert!(
        sa.contains(&Status::Suspect) || sb.contains(&Status::Suspect),
        "c went DOWN without being SUSPECT first on either node"
    );
    let q = quorum::evaluate(&a.members(), OnMinority::ReadOnly, 0);
    assert_eq!((q.visible, q.total, q.mode), (2, 3, Mode::ReadWrite));

    // Restart C on the same address with a newer generation.
    let c2 = Membership::start(config("c", pc, &[pa, pb], Some(2)))
        .await
        .expect("c2");
    let t = within("restarted c UP everywhere with generation 2", || {
        all_up(&[&a, &b, &c2], &["a", "b", "c"])
            && [&a, &b].iter().all(|n| {
                n.members()
                    .iter()
                    .any(|m| m.id() == "c" && m.generation == 2)
            })
    })
    .await;
    eprintln!("restarted node UP again in {t:?}");

    // A graceful shutdown is seen as DOWN quickly, and the survivor goes read-only.
    b.shutdown().await;
    c2.shutdown().await;
    within("b and c DOWN on a", || {
        status_of(&a, "b") == Some(Status::Down) && status_of(&a, "c") == Some(Status::Down)
    })
    .await;
    let q = quorum::evaluate(&a.members(), OnMinority::ReadOnly, 0);
    assert_eq!((q.visible, q.total, q.mode), (1, 3, Mode::ReadOnly));
    assert_eq!(
        quorum::evaluate(&a.members(), OnMinority::Accept, 0).mode,
        Mode::ReadWrite
    );
    a.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn joins_when_seeds_come_up_later() {
    let (pa, pb, pc) = (free_port(), free_port(), free_port());
    // A's only seed is not running yet.
    let a = Membership::start(config("a", pa, &[pb], None))
        .await
        .expect("a");
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let ids: Vec<String> = a.members().iter().map(|m| m.id().to_owned()).collect();
    assert_eq!(ids, ["a"]);
    // B starts without seeds: A's announce loop must find it.
    let b = Membership::start(config("b", pb, &[], None))
        .await
        .expect("b");
    let t = within("a and b see each other", || all_up(&[&a, &b], &["a", "b"])).await;
    eprintln!("late seed joined in {t:?}");
    // C joins through B only and learns about A by gossip.
    let c = Membership::start(config("c", pc, &[pb], None))
        .await
        .expect("c");
    within("all three UP everywhere", || {
        all_up(&[&a, &b, &c], &["a", "b", "c"])
    })
    .await;
    for m in [&a, &b, &c] {
        m.shutdown().await;
    }
}

#[tokio::test]
async fn rejects_unusable_configs() {
    let mut c = config("x", 0, &[], None);
    c.swim_addr = "0.0.0.0:0".parse().expect("addr");
    let e = Membership::start(c.clone()).await.expect_err("unspecified");
    assert!(matches!(e, Error::UnspecifiedSwimAddr(_)), "{e}");
    c.advertise_swim_addr = Some(addr(4242));
    let m = Membership::start(c).await.expect("advertised");
    assert_eq!(m.me().info.swim_addr, addr(4242));
    m.abort().await;

    let e = Membership::start(config(" ", 0, &[], None))
        .await
        .expect_err("blank id");
    assert!(matches!(e, Error::InvalidNodeId(_)), "{e}");
    let mut c = config("x", 0, &[], None);
    c.timing.probe_rtt = c.timing.probe_period;
    let e = Membership::start(c).await.expect_err("timing");
    assert!(matches!(e, Error::InvalidTiming(_)), "{e}");

    let taken = UdpSocket::bind("127.0.0.1:0").expect("bind");
    let port = taken.local_addr().expect("addr").port();
    let e = Membership::start(config("x", port, &[], None))
        .await
        .expect_err("in use");
    assert!(matches!(e, Error::Bind { .. }), "{e}");
}
