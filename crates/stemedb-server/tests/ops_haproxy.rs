//! The shipped HAProxy config (`deploy/haproxy/haproxy.cfg`, only its
//! addresses and log target changed) in front of three real nodes on
//! loopback: writes go to ready nodes (active `GET /v1/ready` checks) and
//! survive a node kill; with two nodes down HAProxy answers writes 503
//! `read_only` in the API's error shape while reads still work; writes come
//! back once a majority is up again.
//!
//! Needs `haproxy` (`.ci/run` installs it); skipped with a message outside
//! CI when it is missing, a failure in CI. No privileges needed.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::json;
use stemedb_testkit::ops::{deploy_dir, tool_or_skip};
use stemedb_testkit::{Nodes, assertion, call, eventually, free_base, json_of};

const IPS: [&str; 3] = ["127.0.0.71", "127.0.0.72", "127.0.0.73"];

struct Haproxy(Child);

impl Drop for Haproxy {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn write(lb: &str, subject: &str) -> (u16, Option<String>, serde_json::Value) {
    let (s, retry, body) = call(
        "POST",
        &format!("{lb}/v1/assert"),
        Some(&assertion(subject, "v")),
    );
    (s, retry, json_of(&body))
}

#[test]
fn haproxy_routes_writes_to_ready_nodes() {
    let Some(bin) = tool_or_skip("haproxy_routes_writes_to_ready_nodes", "haproxy") else {
        return;
    };
    let mut c = Nodes::new(&IPS, &[], free_base(&IPS));
    c.start_all();
    c.wait_formed(&[0, 1, 2], 3, Duration::from_secs(20));
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("port");
    let shipped = std::fs::read_to_string(deploy_dir().join("haproxy/haproxy.cfg")).expect("cfg");
    assert!(shipped.contains("    bind :80\n") && shipped.contains("log /dev/log local0"));
    let mut cfg = shipped
        .replace("    bind :80\n", &format!("    bind 127.0.0.1:{port}\n"))
        .replace("log /dev/log local0", "log stderr format raw local0");
    for (i, ip) in IPS.iter().enumerate() {
        let from = format!("10.0.1.5{}:18180", i + 1);
        assert!(cfg.contains(&from));
        cfg = cfg.replace(&from, &format!("{ip}:{}", c.base));
    }
    let tmp = tempfile::tempdir().expect("tmp");
    let path = tmp.path().join("haproxy.cfg");
    std::fs::write(&path, cfg).expect("cfg");
    let log = std::fs::File::create(tmp.path().join("log")).expect("log");
    let _lb = Haproxy(
        Command::new(&bin)
            .arg("-db")
            .arg("-f")
            .arg(&path)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawn haproxy"),
    );
    let lb = format!("http://127.0.0.1:{port}");
    let up = eventually(Duration::from_secs(15), || {
        (write(&lb, "hx:first").0 == 201).then_some(())
    });
    assert!(up.is_some(), "writes through HAProxy never succeeded");
    for k in 0..12 {
        let (s, _, v) = write(&lb, &format!("hx:all:{k}"));
        assert_eq!(s, 201, "{v}");
    }

    // One node killed: the connection failures are retried on another node.
    c.kill9(2);
    for k in 0..12 {
        let (s, _, v) = write(&lb, &format!("hx:one:{k}"));
        assert_eq!(s, 201, "write {k} with node3 dead: {v}");
    }

    // Two down: no node is ready; HAProxy answers 503 read_only itself, reads work.
    c.kill9(1);
    let refused = eventually(Duration::from_secs(20), || {
        let (s, retry, v) = write(&lb, "hx:two");
        (s == 503 && v["error"]["code"] == json!("read_only")).then_some(retry)
    });
    let retry = refused.unwrap_or_else(|| panic!("writes were not refused with read_only"));
    assert!(retry.is_some(), "503 carries Retry-After");
    let (s, _, body) = call("GET", &format!("{lb}/v1/subjects?limit=5"), None);
    assert_eq!(s, 200, "reads work while no node is ready: {body}");

    // A majority back: node1 is ready again and writes resume.
    c.spawn(1);
    let resumed = eventually(Duration::from_secs(30), || {
        (write(&lb, "hx:back").0 == 201).then_some(())
    });
    assert!(resumed.is_some(), "writes never resumed\n{}", c.log_tail(0));
}
