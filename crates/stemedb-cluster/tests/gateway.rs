//! The gateway router on a real TCP port, backed by real membership sockets.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use stemedb_cluster::gateway::{self, BoxFuture};
use stemedb_cluster::{
    GatewayState, Membership, MembershipConfig, OnMinority, Status, StatusSource, SyncError,
    SyncRequest, SyncTrigger,
};

struct Figures;

impl StatusSource for Figures {
    fn hints_pending(&self) -> Option<u64> {
        Some(7)
    }
    fn replication_lag_seconds(&self) -> Option<f64> {
        Some(1.5)
    }
}

#[derive(Default)]
struct StubSync {
    calls: Mutex<Vec<SyncRequest>>,
}

impl SyncTrigger for StubSync {
    fn trigger(&self, request: SyncRequest) -> BoxFuture<'_, Result<Value, SyncError>> {
        Box::pin(async move {
            let peer = request.peer.clone();
            let n = match self.calls.lock() {
                Ok(mut c) => {
                    c.push(request);
                    c.len()
                }
                Err(_) => 0,
            };
            if n >= 3 {
                return Err(SyncError::unavailable("sync_running", "a round is running"));
            }
            Ok(json!({"rounds": 1, "peer": peer, "repaired": 3}))
        })
    }
}

fn local(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

async fn node(id: &str, seeds: Vec<String>) -> Membership {
    let mut c = MembershipConfig::new(id, local(0), local(18180), local(18181), local(18182));
    c.seeds = seeds;
    Membership::start(c).await.expect("membership")
}

fn call(method: &str, url: &str) -> (u16, Value) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(10)))
        .build()
        .into();
    let resp = match method {
        "POST" => agent.post(url).send_empty(),
        _ => agent.get(url).call(),
    };
    let mut r = resp.expect("http");
    let status = r.status().as_u16();
    let text = r.body_mut().read_to_string().expect("body");
    (status, serde_json::from_str(&text).expect("json body"))
}

async fn http(method: &'static str, url: String) -> (u16, Value) {
    tokio::task::spawn_blocking(move || call(method, &url))
        .await
        .expect("client thread")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn members_status_and_sync() {
    let a = node("node1", vec![]).await;
    let seed = a.me().info.swim_addr.to_string();
    let b = node("node2", vec![seed]).await;
    let start = Instant::now();
    while a
        .members()
        .iter()
        .filter(|m| m.status == Status::Up)
        .count()
        < 2
    {
        assert!(start.elapsed() < Duration::from_secs(10), "no convergence");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let sync = Arc::new(StubSync::default());
    let state = GatewayState::new(a.clone(), 2, OnMinority::ReadOnly)
        .with_status(Arc::new(Figures))
        .with_sync(sync.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("tcp");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(gateway::serve(listener, state, async {
        let _ = stop_rx.await;
    }));

    let (s, v) = http("GET", format!("{base}/cluster/members")).await;
    assert_eq!(s, 200, "{v}");
    let members = v["members"].as_array().expect("members array");
    let ids: Vec<&str> = members.iter().filter_map(|m| m["id"].as_str()).collect();
    assert_eq!(ids, ["node1", "node2"]);
    for m in members {
        assert_eq!(m["status"], "UP");
        for key in ["swim_addr", "rpc_addr", "api_addr", "gateway_addr"] {
            assert!(m[key].is_string(), "{key} missing in {m}");
        }
        assert!(m["last_seen"].is_u64(), "{m}");
    }
    assert_eq!(members[0]["rpc_addr"], "127.0.0.1:18182");

    let (s, v) = http("GET", format!("{base}/cluster/status")).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["mode"], "read_write");
    assert_eq!(v["node_id"], "node1");
    assert_eq!(v["quorum"]["visible"], 2);
    assert_eq!(v["replication"]["hints_pending"], 7);
    assert_eq!(v["replication"]["replication_lag_seconds"], 1.5);
    assert!(v["replication"]["last_anti_entropy"].is_null());
    let parts = v["partitions"].as_array().expect("partitions");
    assert_eq!(parts.len(), 256);
    for (i, p) in parts.iter().enumerate() {
        assert_eq!(p["partition"], i);
        assert_eq!(p["replicas"].as_array().map(Vec::len), Some(2));
    }

    let (s, v) = http("POST", format!("{base}/cluster/sync")).await;
    assert_eq!((s, &v["repaired"]), (200, &json!(3)), "{v}");
    let (s, v) = http("POST", format!("{base}/cluster/sync?peer=node2")).await;
    assert_eq!((s, &v["peer"]), (200, &json!("node2")), "{v}");
    let (s, v) = http("POST", format!("{base}/cluster/sync?peer=nodeX")).await;
    assert_eq!(s, 400);
    assert_eq!(v["error"]["code"], "unknown_peer");
    assert_eq!(v["error"]["field"], "peer");
    let (s, v) = http("POST", format!("{base}/cluster/sync?bogus=1")).await;
    assert_eq!(
        (s, &v["error"]["code"]),
        (400, &json!("invalid_query")),
        "{v}"
    );
    assert_eq!(sync.calls.lock().map(|c| c.len()).unwrap_or(0), 2);
    let (s, v) = http("POST", format!("{base}/cluster/sync")).await;
    assert_eq!(
        (s, &v["error"]["code"]),
        (503, &json!("sync_running")),
        "{v}"
    );

    let (s, v) = http("GET", format!("{base}/cluster/nope")).await;
    assert_eq!((s, &v["error"]["code"]), (404, &json!("not_found")));
    assert!(v["error"]["field"].is_null());
    let (s, v) = http("GET", format!("{base}/cluster/sync")).await;
    assert_eq!(
        (s, &v["error"]["code"]),
        (405, &json!("method_not_allowed"))
    );

    // The node alone after its peer leaves: read-only by default.
    b.shutdown().await;
    let start = Instant::now();
    loop {
        let (_, v) = http("GET", format!("{base}/cluster/status")).await;
        if v["mode"] == "read_only" {
            assert_eq!(v["quorum"]["total"], 2);
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(10), "still {v}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let _ = stop_tx.send(());
    server.await.expect("join").expect("serve");
    a.shutdown().await;
}
