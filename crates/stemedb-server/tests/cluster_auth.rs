//! The cluster secret with real processes (127.0.0.61-64): three nodes
//! sharing `cluster.secret_file` form a cluster and replicate; a push with no
//! or a wrong secret is refused and stores nothing; with
//! `api.require_signatures` an authenticated peer's unsigned push is refused
//! too; garbage and foca-speaking impostor SWIM traffic (an impostor claiming
//! to be node2, which then "leaves") does not change membership; a node with
//! the wrong secret cannot join; `POST /cluster/sync` needs the secret. A
//! cluster without a secret logs that its ports are unauthenticated.

use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use stemedb_cluster::{Membership, MembershipConfig};
use stemedb_peer_auth::ClusterSecret;
use stemedb_records::hlc::Hlc;
use stemedb_records::{SignedRecord, wire};
use stemedb_replication::proto::PushStatus;
use stemedb_replication::{Peer, PeerConfig};
use stemedb_testkit::server::signed_record;
use stemedb_testkit::{Nodes, call, call_raw, eventually, free_base, json_of};

const SECRET: &str = "correct-horse-battery-staple-0123456789abcdef";
const WRONG: &str = "wrong-wrong-wrong-wrong-wrong-wrong-0123456789";

fn unsigned(subject: &str) -> SignedRecord {
    let body = json!({
        "subject": subject, "predicate": "p",
        "object": {"type": "text", "value": "forged"}, "agent": "mallory",
        "timestamp": 1_700_000_000_000i64,
    });
    wire::parse_assertion(&body, &Hlc::new()).expect("valid")
}

fn peer(c: &Nodes, i: usize, secret: Option<&str>) -> Peer {
    let addr = format!("{}:{}", c.nodes[i].ip, c.base + 2);
    let secret = secret.map(|s| Arc::new(ClusterSecret::from_secrets(&[s.as_bytes()])));
    Peer::with_secret(&addr, PeerConfig::default(), secret).expect("peer")
}

fn rejected_swim_packets(c: &Nodes, i: usize) -> f64 {
    let (_, _, text) = call("GET", &c.api(i, "/metrics"), None);
    text.lines()
        .filter(|l| l.starts_with("stemedb_swim_packets_rejected_total"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

fn sync_status(c: &Nodes, i: usize, bearer: Option<&str>) -> u16 {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .into();
    let mut req = agent.post(c.gateway(i, "/cluster/sync"));
    if let Some(b) = bearer {
        req = req.header("authorization", format!("Bearer {b}"));
    }
    req.send_empty().map(|r| r.status().as_u16()).unwrap_or(0)
}

#[test]
fn cluster_secret_guards_replication_membership_and_sync() {
    let ips = ["127.0.0.61", "127.0.0.62", "127.0.0.63"];
    let mut c = Nodes::new(
        &ips,
        &[],
        free_base(&["127.0.0.61", "127.0.0.62", "127.0.0.63", "127.0.0.64"]),
    );
    let secret_file = c.nodes[0].dir.join("cluster.secret");
    std::fs::write(&secret_file, format!("# current\n{SECRET}\n")).expect("secret");
    for i in 0..3 {
        c.cluster_extra
            .insert(i, format!("secret_file = \"{}\"", secret_file.display()));
    }
    c.api_extra = "require_signatures = true".into();
    c.start_all();
    c.wait_formed(&[0, 1, 2], 3, Duration::from_secs(20));
    let rt = tokio::runtime::Runtime::new().expect("runtime");

    // Authenticated replication works: a signed HTTP write reaches its replicas.
    let (body, rec) = signed_record("auth:ok", "v");
    let (s, _, resp) = call("POST", &c.api(0, "/v1/assert"), Some(&body));
    assert_eq!(s, 201, "{resp}");
    let id = rec.id().to_hex();
    let replicas = stemedb_testkit::replicas_of("auth:ok", &["node1", "node2", "node3"]);
    for r in &replicas {
        let i = c.names().iter().position(|n| n == r).expect("replica");
        let ok = eventually(Duration::from_secs(15), || c.stores(i, &id).then_some(()));
        assert!(ok.is_some(), "{r} never got the record: {}", c.log_tail(i));
    }

    // Forged pushes: no secret, a wrong secret. Refused, nothing stored.
    for secret in [None, Some(WRONG)] {
        let forged = signed_record(&format!("auth:forged:{secret:?}"), "x").1;
        let r = rt.block_on(async {
            peer(&c, 0, secret)
                .push(std::slice::from_ref(&forged))
                .await
        });
        let err = r.expect_err("an unauthenticated push was accepted");
        assert!(
            err.to_string().to_lowercase().contains("unauth")
                || err.to_string().contains("cluster-secret"),
            "unexpected error: {err}"
        );
        assert!(
            !c.stores(0, &forged.id().to_hex()),
            "a forged push stored a record"
        );
    }
    // The right secret, but an unsigned record while require_signatures is on.
    let bare = unsigned("auth:unsigned");
    let out = rt
        .block_on(async {
            peer(&c, 0, Some(SECRET))
                .push(std::slice::from_ref(&bare))
                .await
        })
        .expect("authenticated push");
    assert_eq!(out[0].status, PushStatus::Invalid, "{out:?}");
    assert!(out[0].error.contains("require_signatures"), "{out:?}");
    assert!(!c.stores(0, &bare.id().to_hex()));

    // SWIM: garbage, then a foca-speaking impostor without the secret that
    // claims to be node2 with a newer generation and then leaves.
    let before = rejected_swim_packets(&c, 0);
    let node1_swim: SocketAddr = format!("{}:{}", ips[0], c.base + 3).parse().expect("addr");
    let udp = UdpSocket::bind("127.0.0.64:0").expect("udp");
    for n in 0..50u8 {
        let len = 8 + 32 + usize::from(n) * 7;
        let junk: Vec<u8> = (0..len).map(|k| (k as u8).wrapping_mul(31) ^ n).collect();
        udp.send_to(&junk, node1_swim).expect("send");
    }
    let imp_addr =
        |port: u16| -> SocketAddr { format!("127.0.0.64:{port}").parse().expect("addr") };
    for secret in [None, Some(WRONG)] {
        rt.block_on(async {
            let mut mc = MembershipConfig::new(
                "node2",
                imp_addr(0),
                imp_addr(c.base),
                imp_addr(c.base + 1),
                imp_addr(c.base + 2),
            );
            mc.seeds = vec![node1_swim.to_string()];
            mc.secret = secret.map(|s| Arc::new(ClusterSecret::from_secrets(&[s.as_bytes()])));
            let impostor = Membership::start(mc).await.expect("impostor");
            tokio::time::sleep(Duration::from_secs(4)).await;
            assert!(
                impostor.members().iter().all(|m| m.is_self),
                "the impostor learned members: {:?}",
                impostor.members()
            );
            impostor.shutdown().await;
        });
    }
    std::thread::sleep(Duration::from_secs(3));
    assert!(
        rejected_swim_packets(&c, 0) >= before + 50.0,
        "node1 did not count the dropped packets"
    );
    for i in 0..3 {
        let view = c.view(i);
        assert_eq!(
            view.len(),
            3,
            "membership changed on node{}: {view:?}",
            i + 1
        );
        assert!(
            view.iter().all(|(_, s)| s == "UP"),
            "forged SWIM traffic changed a status on node{}: {view:?}",
            i + 1
        );
    }
    let (_, _, members) = call("GET", &c.gateway(0, "/cluster/members"), None);
    assert!(
        !members.contains("127.0.0.64"),
        "the impostor's address replaced node2: {members}"
    );

    // A real node with the wrong secret cannot join.
    let mut rogue = Nodes::new(&["127.0.0.64"], &[], c.base);
    let rogue_secret = rogue.nodes[0].dir.join("cluster.secret");
    std::fs::write(&rogue_secret, format!("{WRONG}\n")).expect("secret");
    rogue
        .cluster_extra
        .insert(0, format!("secret_file = \"{}\"", rogue_secret.display()));
    rogue.configure(0, true);
    let cfg_path = rogue.nodes[0].dir.join("config.toml");
    let seeds: Vec<String> = ips
        .iter()
        .map(|ip| format!("\"{ip}:{}\"", c.base + 3))
        .collect();
    let cfg = std::fs::read_to_string(&cfg_path)
        .expect("config")
        .replace("seeds = []", &format!("seeds = [{}]", seeds.join(", ")));
    std::fs::write(&cfg_path, cfg).expect("config");
    rogue.spawn(0);
    // Alone it is in the minority (read-only), so wait for liveness, not readiness.
    let up = eventually(Duration::from_secs(30), || {
        (call("GET", &rogue.api(0, "/v1/health"), None).0 == 200).then_some(())
    });
    assert!(
        up.is_some(),
        "rogue node did not start: {}",
        rogue.log_tail(0)
    );
    std::thread::sleep(Duration::from_secs(6));
    let rogue_view = rogue.view(0);
    assert_eq!(
        rogue_view.len(),
        1,
        "the rogue node sees members: {rogue_view:?}"
    );
    for i in 0..3 {
        let view = c.view(i);
        assert!(
            view.len() == 3 && view.iter().all(|(_, s)| s == "UP"),
            "node{} view after the rogue node: {view:?}",
            i + 1
        );
    }

    // The gateway's sync needs the secret as bearer.
    assert_eq!(sync_status(&c, 0, None), 401);
    assert_eq!(sync_status(&c, 0, Some(WRONG)), 401);
    assert_eq!(sync_status(&c, 0, Some(SECRET)), 200);
    let (s, _, _) = call("GET", &c.gateway(0, "/cluster/members"), None);
    assert_eq!(s, 200, "GETs stay open");
}

#[test]
fn without_a_secret_the_cluster_warns_that_its_ports_are_open() {
    let ips = ["127.0.0.65"];
    let mut c = Nodes::new(&ips, &[], free_base(&ips));
    c.start_all();
    c.wait_formed(&[0], 1, Duration::from_secs(20));
    let (s, _, body) = call_raw("POST", &c.gateway(0, "/cluster/sync"), None);
    assert_eq!(s, 200, "sync stays open without a secret: {body}");
    assert!(json_of(&body).is_object());
    let log = std::fs::read_to_string(c.nodes[0].dir.join("log")).expect("log");
    assert!(
        log.contains("UNAUTHENTICATED"),
        "no warning about open cluster ports: {log}"
    );
}
