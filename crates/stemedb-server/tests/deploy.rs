//! The files in `deploy/` are checked with the real tools an operator uses:
//! the server's own config loader (node configs), `systemd-analyze verify`
//! (unit), `nginx -t`, `haproxy -c`, `promtool check config|rules` and
//! `promtool test rules` (alert unit tests). Each tool check is also run on
//! a deliberately broken copy, so a check that cannot fail would be noticed.
//!
//! The tools come from Debian packages (`nginx-light`, `haproxy`,
//! `prometheus`, systemd); `.ci/run` installs them. Outside CI a missing
//! tool skips its test with a message; with `CI` set it is a failure.

use std::path::{Path, PathBuf};
use std::process::Command;

use stemedb_testkit::ops::{deploy_dir, tool_or_skip};

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_else(|e| panic!("read {}: {e}", p.display()))
}

/// Runs a tool; (success, stdout + stderr).
fn run(cmd: &mut Command) -> (bool, String) {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[test]
fn node_configs_load_with_the_server_config_loader() {
    let unit = read(&deploy_dir().join("systemd/stemedb-api.service"));
    for i in 1..=3 {
        let path = deploy_dir().join(format!("config/node{i}.toml"));
        let loaded = stemedb_server::config::load(Some(&path), Vec::new())
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        loaded
            .check_runnable()
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
        let c = &loaded.config;
        let ip = format!("10.0.1.5{i}");
        assert!(c.cluster.enabled);
        assert_eq!(c.cluster.node_id, format!("node{i}"));
        assert_eq!(c.api.bind_addr, format!("{ip}:18180"));
        assert_eq!(c.cluster.bind_addr, format!("{ip}:18181"));
        assert_eq!(c.cluster.rpc_addr, format!("{ip}:18182"));
        assert_eq!(c.cluster.swim_addr, format!("{ip}:18183"));
        let mut seeds = c.cluster.seeds.clone();
        seeds.sort();
        let expected: Vec<String> = (1..=3)
            .filter(|j| *j != i)
            .map(|j| format!("10.0.1.5{j}:18183"))
            .collect();
        assert_eq!(seeds, expected, "node{i} joins through the two others");
        assert_eq!(c.replication.factor, 2);
        // The unit's StateDirectory=stemedb is /var/lib/stemedb: the only
        // writable place under ProtectSystem=strict.
        assert_eq!(c.storage.data_dir, PathBuf::from("/var/lib/stemedb"));
        assert!(unit.contains("StateDirectory=stemedb\n"));
    }
}

#[test]
fn systemd_unit_verifies() {
    let Some(tool) = tool_or_skip("systemd_unit_verifies", "systemd-analyze") else {
        return;
    };
    let unit = read(&deploy_dir().join("systemd/stemedb-api.service"));
    for key in [
        "User=stemedb",
        "StateDirectory=stemedb",
        "ProtectSystem=strict",
        "NoNewPrivileges=yes",
        "Restart=on-failure",
        "LimitNOFILE=",
        "KillSignal=SIGTERM",
    ] {
        assert!(unit.contains(key), "the unit sets {key}");
    }
    // TimeoutStopSec covers the server's grace period (request timeout + 5 s).
    let stop: u64 = unit
        .lines()
        .find_map(|l| l.strip_prefix("TimeoutStopSec="))
        .and_then(|v| v.trim_end_matches('s').parse().ok())
        .expect("TimeoutStopSec=<n>s");
    let grace = stemedb_server::shutdown::grace_period(
        stemedb_server::config::ApiConfig::default().request_timeout_ms,
    );
    assert!(
        stop > grace.as_secs(),
        "TimeoutStopSec={stop}s must exceed the grace period {grace:?}"
    );
    // systemd-analyze insists that ExecStart's binary exists: point it at the built one.
    let tmp = tempfile::tempdir().expect("tmp");
    let bin = env!("CARGO_BIN_EXE_stemedb-api");
    let good = tmp.path().join("stemedb-api.service");
    std::fs::write(&good, unit.replace("/usr/local/bin/stemedb-api", bin)).expect("write");
    let (ok, out) = run(Command::new(&tool).arg("verify").arg(&good));
    assert!(
        ok && out.trim().is_empty(),
        "systemd-analyze verify complains:\n{out}"
    );
    let bad = tmp.path().join("stemedb-bad.service");
    std::fs::write(
        &bad,
        unit.replace("/usr/local/bin/stemedb-api", bin)
            .replace("Restart=on-failure", "Restart=on-falure"),
    )
    .expect("write");
    let (ok, out) = run(Command::new(&tool).arg("verify").arg(&bad));
    assert!(
        !ok || !out.trim().is_empty(),
        "a misspelt value must be reported"
    );
}

/// Writes an nginx.conf that includes `site` in its http block; returns the prefix dir.
fn nginx_prefix(site: &str) -> tempfile::TempDir {
    let tmp = tempfile::tempdir().expect("tmp");
    std::fs::create_dir_all(tmp.path().join("logs")).expect("logs");
    std::fs::write(tmp.path().join("stemedb.conf"), site).expect("site");
    let p = tmp.path().display();
    std::fs::write(
        tmp.path().join("nginx.conf"),
        format!(
            "pid {p}/nginx.pid;\nerror_log {p}/logs/error.log;\nevents {{}}\n\
             http {{\n    access_log off;\n    include {p}/stemedb.conf;\n}}\n"
        ),
    )
    .expect("nginx.conf");
    tmp
}

#[test]
fn nginx_config_passes_nginx_t() {
    let Some(tool) = tool_or_skip("nginx_config_passes_nginx_t", "nginx") else {
        return;
    };
    let site = read(&deploy_dir().join("nginx/stemedb.conf"));
    assert!(
        site.lines()
            .filter(|l| !l.trim_start().starts_with('#'))
            .all(|l| !l.contains("non_idempotent")),
        "nginx must not resend writes that reached a node"
    );
    let check = |text: &str| {
        let dir = nginx_prefix(text);
        run(Command::new(&tool)
            .arg("-t")
            .arg("-q")
            .arg("-p")
            .arg(dir.path())
            .arg("-c")
            .arg(dir.path().join("nginx.conf")))
    };
    let (ok, out) = check(&site);
    assert!(ok, "nginx -t rejects deploy/nginx/stemedb.conf:\n{out}");
    let (ok, _) =
        check(&site.replace("proxy_next_upstream_tries 3;", "proxy_next_upstream_tries;"));
    assert!(!ok, "nginx -t must reject a broken directive");
}

#[test]
fn haproxy_config_passes_haproxy_c() {
    let Some(tool) = tool_or_skip("haproxy_config_passes_haproxy_c", "haproxy") else {
        return;
    };
    let cfg = read(&deploy_dir().join("haproxy/haproxy.cfg"));
    assert!(
        cfg.contains("option httpchk GET /v1/ready"),
        "writes need ready nodes"
    );
    assert!(
        cfg.contains("option httpchk GET /v1/health"),
        "reads need live nodes"
    );
    let tmp = tempfile::tempdir().expect("tmp");
    let check = |name: &str, text: &str| {
        let p = tmp.path().join(name);
        std::fs::write(&p, text).expect("write");
        run(Command::new(&tool).arg("-c").arg("-f").arg(&p))
    };
    let (ok, out) = check("haproxy.cfg", &cfg);
    assert!(ok, "haproxy -c rejects deploy/haproxy/haproxy.cfg:\n{out}");
    assert!(!out.contains("WARNING"), "haproxy -c warns:\n{out}");
    let (ok, _) = check(
        "bad.cfg",
        &cfg.replace("balance roundrobin", "balance roundrobbin"),
    );
    assert!(!ok, "haproxy -c must reject an unknown algorithm");
}

#[test]
fn prometheus_config_and_alert_rules_pass_promtool() {
    let Some(tool) = tool_or_skip(
        "prometheus_config_and_alert_rules_pass_promtool",
        "promtool",
    ) else {
        return;
    };
    let dir = deploy_dir().join("prometheus");
    for args in [
        vec!["check", "config", "prometheus.yml"],
        vec!["check", "rules", "stemedb-alerts.yml"],
        vec!["test", "rules", "stemedb-alerts.test.yml"],
    ] {
        let (ok, out) = run(Command::new(&tool).args(&args).current_dir(&dir));
        assert!(ok, "promtool {args:?} failed:\n{out}");
    }
    let rules = read(&dir.join("stemedb-alerts.yml"));
    for alert in [
        "StemeDBNodeDown",
        "StemeDBReplicationLag",
        "StemeDBQuorumLost",
        "StemeDBDiskSpaceLow",
        "StemeDBFsyncLatencyHigh",
        "StemeDBHintBacklogGrowing",
        "StemeDBAntiEntropyFailing",
        "StemeDBStoreFailed",
        "StemeDBNodeReadOnly",
        "StemeDBArchiveLagging",
    ] {
        assert!(
            rules.contains(&format!("alert: {alert}\n")),
            "{alert} is defined"
        );
        let runbook = rules
            .split(&format!("alert: {alert}\n"))
            .nth(1)
            .and_then(|rest| rest.split("runbook: ").nth(1))
            .and_then(|r| r.lines().next())
            .expect("runbook annotation");
        let path = deploy_dir().join("..").join(runbook.trim());
        assert!(path.exists(), "{alert}'s runbook {runbook} exists");
    }
    // A rules file with a broken expression is refused.
    let tmp = tempfile::tempdir().expect("tmp");
    let bad = tmp.path().join("bad.yml");
    std::fs::write(
        &bad,
        rules.replace("replication_lag_seconds > 5", "replication_lag_seconds >"),
    )
    .expect("write");
    let (ok, _) = run(Command::new(&tool).arg("check").arg("rules").arg(&bad));
    assert!(!ok, "promtool must reject a broken expression");
}

#[test]
fn grafana_dashboard_has_the_seed_panels() {
    let path = deploy_dir().join("grafana/stemedb-cluster.json");
    let dash: serde_json::Value = serde_json::from_str(&read(&path)).expect("dashboard is JSON");
    let panels = dash["panels"].as_array().expect("panels");
    let titles: Vec<&str> = panels.iter().filter_map(|p| p["title"].as_str()).collect();
    for seed_panel in [
        "1. Cluster health",
        "2. Query latency",
        "3. Ingest",
        "4. Disk",
        "5. Network",
        "Replication lag",
        "Query latency p50",
        "Query latency p95",
        "Query latency p99",
        "Assertions/sec per node",
        "Disk usage per node (WAL + DB)",
        "Replication bandwidth (sent)",
    ] {
        assert!(
            titles.contains(&seed_panel),
            "panel {seed_panel:?} in {titles:?}"
        );
    }
    let mut ids: Vec<u64> = panels.iter().filter_map(|p| p["id"].as_u64()).collect();
    let n = ids.len();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), n, "panel ids are unique");
    for p in panels.iter().filter(|p| p["type"] != "row") {
        let targets = p["targets"].as_array().expect("targets");
        assert!(!targets.is_empty(), "{} has a query", p["title"]);
        for t in targets {
            assert!(t["expr"].as_str().is_some_and(|e| !e.is_empty()));
        }
    }
}

#[test]
fn deploy_files_hold_no_secret() {
    let mut stack = vec![deploy_dir()];
    let mut seen = 0;
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).expect("read_dir") {
            let p = e.expect("entry").path();
            if p.is_dir() {
                stack.push(p);
                continue;
            }
            seen += 1;
            let text = read(&p);
            for line in text.lines().map(str::trim) {
                if line.starts_with('#') || line.starts_with("//") {
                    continue;
                }
                let lower = line.to_ascii_lowercase();
                for needle in [
                    "private key-----",
                    "admin_token",
                    "password",
                    "secret =",
                    "bearer ",
                ] {
                    assert!(
                        !lower.contains(needle),
                        "{}: looks like a secret: {line}",
                        p.display()
                    );
                }
            }
        }
    }
    assert!(seen >= 10, "walked deploy/ ({seen} files)");
}

#[test]
fn backup_service_and_timer_verify() {
    let Some(tool) = tool_or_skip("backup_service_and_timer_verify", "systemd-analyze") else {
        return;
    };
    let service = read(&deploy_dir().join("systemd/stemedb-backup.service"));
    let timer = read(&deploy_dir().join("systemd/stemedb-backup.timer"));
    assert!(
        service.contains("stemedb backup --output"),
        "runs `stemedb backup`"
    );
    assert!(service.contains("Type=oneshot"));
    assert!(timer.contains("Unit=stemedb-backup.service"));
    assert!(timer.contains("Persistent=true"));
    let tmp = tempfile::tempdir().expect("tmp");
    std::fs::write(tmp.path().join("stemedb-backup.service"), &service).expect("write");
    std::fs::write(tmp.path().join("stemedb-backup.timer"), &timer).expect("write");
    let (ok, out) = run(Command::new(&tool)
        .arg("verify")
        .arg(tmp.path().join("stemedb-backup.service"))
        .arg(tmp.path().join("stemedb-backup.timer")));
    assert!(
        ok && out.trim().is_empty(),
        "systemd-analyze verify complains:\n{out}"
    );
}
