//! Clusters of real `stemedb-api` processes with generated TOML configs, each
//! on its own IP (127.0.0.x, or an address in a network namespace from
//! [`crate::netns`]). Every process is killed when its [`Nodes`] is dropped,
//! also when an assertion fails.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};

use crate::http::{call, json_of};
use crate::{netns, poll::eventually};

/// An unstamped assertion on `subject` (the receiving node stamps it).
pub fn assertion(subject: &str, value: &str) -> Value {
    json!({"subject": subject, "predicate": "p",
           "object": {"type": "text", "value": value}, "agent": "tester"})
}

/// Replica ids of `subject`'s partition among `members` (factor 2), as every node computes them.
pub fn replicas_of(subject: &str, members: &[&str]) -> Vec<String> {
    let p = stemedb_storage::partition::of_subject(subject);
    stemedb_cluster::placement::replicas(p, members, 2)
}

/// One node: its name, IP, directory (config, data, log) and process.
pub struct Node {
    /// `node1`, ...
    pub name: String,
    /// The address every port of the node binds.
    pub ip: String,
    /// Network namespace the process runs in, if any.
    pub netns: Option<String>,
    /// `config.toml`, `data/` and `log` live here.
    pub dir: PathBuf,
    child: Option<Child>,
}

/// A set of nodes sharing one port layout (`base` = API port, +1 gateway,
/// +2 gRPC, +3 SWIM) on distinct IPs.
pub struct Nodes {
    /// The nodes, in order.
    pub nodes: Vec<Node>,
    /// API port; the gateway, gRPC and SWIM ports follow it.
    pub base: u16,
    /// Extra `[replication]` lines for every config (e.g. `on_minority = "accept"`).
    pub replication_extra: String,
    /// Extra `[api]` lines for every config (e.g. `require_signatures = true`).
    pub api_extra: String,
    /// Extra `[storage]` lines per node index (e.g. `min_free_bytes = 0`).
    pub storage_extra: std::collections::HashMap<usize, String>,
    /// Extra `[cluster]` lines per node index (e.g. `secret_file = "..."`).
    pub cluster_extra: std::collections::HashMap<usize, String>,
    /// The namespaces the nodes run in; removed after the processes are killed.
    pub netns: Option<netns::Netns>,
    tmp: tempfile::TempDir,
}

impl Drop for Nodes {
    fn drop(&mut self) {
        for n in &mut self.nodes {
            if let Some(mut c) = n.child.take() {
                let _ = c.kill();
                let _ = c.wait();
            }
        }
    }
}

impl Nodes {
    /// Nodes `node1..nodeN` on `ips` (not started; see [`Nodes::start_all`]).
    pub fn new(ips: &[&str], netns: &[Option<String>], base: u16) -> Nodes {
        let tmp = tempfile::tempdir().expect("tempdir");
        let nodes = ips
            .iter()
            .enumerate()
            .map(|(i, ip)| {
                let name = format!("node{}", i + 1);
                let dir = tmp.path().join(&name);
                std::fs::create_dir_all(dir.join("data")).expect("dir");
                Node {
                    name,
                    ip: (*ip).to_owned(),
                    netns: netns.get(i).cloned().flatten(),
                    dir,
                    child: None,
                }
            })
            .collect();
        Nodes {
            nodes,
            base,
            replication_extra: String::new(),
            api_extra: String::new(),
            storage_extra: std::collections::HashMap::new(),
            cluster_extra: std::collections::HashMap::new(),
            netns: None,
            tmp,
        }
    }

    /// `n` nodes, each in its own network namespace (see [`netns::Netns::create`]), on the seed's ports.
    pub fn in_netns(prefix: &str, net: u8, n: usize) -> Nodes {
        let ns = netns::Netns::create(prefix, net, n);
        let ips: Vec<String> = (1..=n).map(|i| ns.ip(i)).collect();
        let names: Vec<Option<String>> = (1..=n).map(|i| Some(ns.name(i))).collect();
        let ip_refs: Vec<&str> = ips.iter().map(String::as_str).collect();
        let mut nodes = Nodes::new(&ip_refs, &names, 18180);
        nodes.netns = Some(ns);
        nodes
    }

    /// The namespaces (panics when the nodes are not in namespaces).
    pub fn ns(&self) -> &netns::Netns {
        self.netns
            .as_ref()
            .expect("nodes run in network namespaces")
    }

    /// Adds `nodeN+1` on `ip` (not started).
    pub fn add(&mut self, ip: &str) -> usize {
        let i = self.nodes.len();
        let name = format!("node{}", i + 1);
        let dir = self.tmp.path().join(&name);
        std::fs::create_dir_all(dir.join("data")).expect("dir");
        self.nodes.push(Node {
            name,
            ip: ip.to_owned(),
            netns: None,
            dir,
            child: None,
        });
        i
    }

    /// Names of every node, in order.
    pub fn names(&self) -> Vec<String> {
        self.nodes.iter().map(|n| n.name.clone()).collect()
    }

    /// Writes node `i`'s config: single-node, or cluster mode seeded with every other node.
    pub fn configure(&self, i: usize, cluster: bool) {
        let n = &self.nodes[i];
        let (ip, base, d) = (&n.ip, self.base, n.dir.join("data"));
        let mut config = format!(
            "[api]\nbind_addr = \"{ip}:{base}\"\n{}\n[storage]\ndata_dir = \"{}\"\nfsync = false\n{}\n",
            self.api_extra,
            d.display(),
            self.storage_extra.get(&i).map(String::as_str).unwrap_or("")
        );
        if cluster {
            let seeds: Vec<String> = self
                .nodes
                .iter()
                .enumerate()
                .filter(|(j, _)| *j != i)
                .map(|(_, m)| format!("\"{}:{}\"", m.ip, base + 3))
                .collect();
            config.push_str(&format!(
                "\n[cluster]\nenabled = true\nnode_id = \"{}\"\nbind_addr = \"{ip}:{}\"\n\
                 rpc_addr = \"{ip}:{}\"\nswim_addr = \"{ip}:{}\"\nseeds = [{}]\n{}\n\
                 [replication]\nfactor = 2\n{}",
                n.name,
                base + 1,
                base + 2,
                base + 3,
                seeds.join(", "),
                self.cluster_extra.get(&i).map(String::as_str).unwrap_or(""),
                self.replication_extra
            ));
        }
        std::fs::write(n.dir.join("config.toml"), config).expect("config");
    }

    /// Configures every node for cluster mode and starts it.
    pub fn start_all(&mut self) {
        for i in 0..self.nodes.len() {
            self.configure(i, true);
            self.spawn(i);
        }
    }

    /// Starts node `i` with its current config (in its namespace, if any).
    pub fn spawn(&mut self, i: usize) {
        let n = &mut self.nodes[i];
        assert!(n.child.is_none(), "{} already running", n.name);
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(n.dir.join("log"))
            .expect("log");
        let bin = crate::binary::api_bin();
        let mut cmd = match &n.netns {
            Some(ns) => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", ns]).arg(&bin);
                c
            }
            None => Command::new(&bin),
        };
        cmd.arg("--config")
            .arg(n.dir.join("config.toml"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log);
        for (k, _) in std::env::vars() {
            if k.starts_with("STEMEDB_") {
                cmd.env_remove(k);
            }
        }
        n.child = Some(cmd.spawn().expect("spawn stemedb-api"));
    }

    /// Whether node `i`'s process is running (`false` once it exited).
    pub fn alive(&mut self, i: usize) -> bool {
        self.nodes[i]
            .child
            .as_mut()
            .is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    /// SIGKILL (a crash).
    pub fn kill9(&mut self, i: usize) {
        if let Some(mut c) = self.nodes[i].child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Sends `signal` (`STOP`, `CONT`, ...) to node `i`'s process.
    pub fn signal(&self, i: usize, signal: &str) {
        let child = self.nodes[i].child.as_ref().expect("node is running");
        let ok = Command::new("kill")
            .args([&format!("-{signal}"), &child.id().to_string()])
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "kill -{signal} {}", self.nodes[i].name);
    }

    /// SIGTERM and wait for a clean exit (graceful shutdown).
    pub fn stop(&mut self, i: usize) {
        if let Some(mut c) = self.nodes[i].child.take() {
            let _ = Command::new("kill")
                .args(["-TERM", &c.id().to_string()])
                .status();
            let exited = eventually(Duration::from_secs(15), || {
                c.try_wait().ok().flatten().map(|_| ())
            });
            if exited.is_none() {
                let _ = c.kill();
                let _ = c.wait();
            }
        }
    }

    /// URL of `path` on node `i`'s API.
    pub fn api(&self, i: usize, path: &str) -> String {
        format!("http://{}:{}{path}", self.nodes[i].ip, self.base)
    }

    /// URL of `path` on node `i`'s gateway.
    pub fn gateway(&self, i: usize, path: &str) -> String {
        format!("http://{}:{}{path}", self.nodes[i].ip, self.base + 1)
    }

    /// Node `i`'s whole log (every run of it: restarts append).
    pub fn log(&self, i: usize) -> String {
        std::fs::read_to_string(self.nodes[i].dir.join("log")).unwrap_or_default()
    }

    /// The last 30 lines of node `i`'s log, for failure messages.
    pub fn log_tail(&self, i: usize) -> String {
        let text = std::fs::read_to_string(self.nodes[i].dir.join("log")).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }

    /// Waits until node `i` answers `/v1/ready` with 200.
    pub fn wait_ready(&self, i: usize, within: Duration) {
        let ok = eventually(within, || {
            (call("GET", &self.api(i, "/v1/ready"), None).0 == 200).then_some(())
        });
        assert!(
            ok.is_some(),
            "{} never became ready\n{}",
            self.nodes[i].name,
            self.log_tail(i)
        );
    }

    /// Statuses of `i`'s members by id.
    pub fn view(&self, i: usize) -> Vec<(String, String)> {
        let (s, _, body) = call("GET", &self.gateway(i, "/cluster/members"), None);
        if s != 200 {
            return Vec::new();
        }
        json_of(&body)["members"]
            .as_array()
            .map(|ms| {
                ms.iter()
                    .map(|m| {
                        let id = m["id"].as_str().unwrap_or("").to_owned();
                        (id, m["status"].as_str().unwrap_or("").to_owned())
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Node `i` sees exactly `n` members, all UP.
    pub fn all_up(&self, i: usize, n: usize) -> bool {
        let v = self.view(i);
        v.len() == n && v.iter().all(|(_, s)| s == "UP")
    }

    /// Node `i` sees `member` with `status`.
    pub fn sees(&self, i: usize, member: &str, status: &str) -> bool {
        self.view(i)
            .iter()
            .any(|(id, s)| id == member && s == status)
    }

    /// Waits until each of `nodes` sees `n` members UP.
    pub fn wait_formed(&self, nodes: &[usize], n: usize, within: Duration) {
        for &i in nodes {
            let ok = eventually(within, || self.all_up(i, n).then_some(()));
            assert!(
                ok.is_some(),
                "{} does not see {n} members UP: {:?}\n{}",
                self.nodes[i].name,
                self.view(i),
                self.log_tail(i)
            );
            // The gateway sees members before the API is installed: until
            // then every route answers 503 `recovering`.
            let api = eventually(within, || {
                let (s, _, body) = call("GET", &self.api(i, "/v1/ready"), None);
                (s != 503 || json_of(&body)["error"]["code"] != "recovering").then_some(())
            });
            assert!(
                api.is_some(),
                "{} is still recovering\n{}",
                self.nodes[i].name,
                self.log_tail(i)
            );
        }
    }

    /// `mode` from node `i`'s `/v1/ready` (`read_write` / `read_only`).
    pub fn mode(&self, i: usize) -> String {
        let (_, _, body) = call("GET", &self.api(i, "/v1/ready"), None);
        json_of(&body)["mode"].as_str().unwrap_or("").to_owned()
    }

    /// Posts an assertion to node `i`: (status, Retry-After, body).
    pub fn write(&self, i: usize, subject: &str, value: &str) -> (u16, Option<String>, Value) {
        let (s, retry, body) = call(
            "POST",
            &self.api(i, "/v1/assert"),
            Some(&assertion(subject, value)),
        );
        (s, retry, json_of(&body))
    }

    /// Writes `subject` with `value` to node `i`, expecting 201; returns the id.
    pub fn write_ok(&self, i: usize, subject: &str, value: &str) -> String {
        let (s, _, v) = self.write(i, subject, value);
        assert_eq!(s, 201, "write {subject} to {}: {v}", self.nodes[i].name);
        v["id"].as_str().expect("id").to_owned()
    }

    /// Node `i`'s query for `subject` lists `id`.
    pub fn query_has(&self, i: usize, subject: &str, id: &str) -> bool {
        let (s, _, body) = call(
            "GET",
            &self.api(i, &format!("/v1/query?subject={subject}")),
            None,
        );
        s == 200 && body.contains(id)
    }

    /// Node `i` stores `id` itself (`GET /v1/assertions/{id}?local=true`: no forwarding).
    pub fn stores(&self, i: usize, id: &str) -> bool {
        call(
            "GET",
            &self.api(i, &format!("/v1/assertions/{id}?local=true")),
            None,
        )
        .0 == 200
    }

    /// Runs anti-entropy on each of `nodes` in turn; returns the summaries.
    pub fn sync(&self, nodes: &[usize]) -> Vec<Value> {
        nodes
            .iter()
            .map(|&i| {
                let (s, _, body) = call("POST", &self.gateway(i, "/cluster/sync"), None);
                assert_eq!(s, 200, "sync on {}: {body}", self.nodes[i].name);
                json_of(&body)
            })
            .collect()
    }

    /// Syncs `nodes` until a full pass reports every two-way exchange ok with
    /// equal roots and no handoff pending (or `within` passes).
    pub fn converge(&self, nodes: &[usize], within: Duration) {
        let mut last = Vec::new();
        let done = eventually(within, || {
            last = self.sync(nodes);
            last.iter()
                .all(|s| {
                    s["handoff_pending"].as_array().is_some_and(Vec::is_empty)
                        && s["peers"].as_array().is_some_and(|ps| {
                            // Handoff passes compare partitions the node holds
                            // only part of; the two-way passes must agree.
                            ps.iter()
                                .filter(|p| p["pass"] != json!("handoff"))
                                .all(|p| {
                                    p["ok"] == json!(true) && p["partitions_differing"] == json!(0)
                                })
                        })
                })
                .then_some(())
        });
        assert!(done.is_some(), "replicas did not converge: {last:?}");
    }
}
