//! Network namespaces for fault tests: one bridge in the root namespace and
//! one namespace per node, joined to the bridge by a veth pair, addresses in
//! 198.18.`net`.0/24 (the range reserved for network testing; the bridge is
//! .254 so the test process reaches every node). A partition is made with
//! `iptables` DROP rules inside a node's namespace and healed by flushing
//! them. Everything is deleted on drop, also when a test fails; leftovers of
//! an earlier crashed run with the same prefix are removed first.

use std::process::{Command, Output, Stdio};

/// Why the environment cannot run namespace tests (not root, no `ip`/`iptables`).
pub fn unsupported() -> Option<String> {
    // SAFETY: geteuid has no preconditions and cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        return Some("needs root (network namespaces)".into());
    }
    for tool in ["ip", "iptables"] {
        let found = Command::new(tool)
            .arg("-V")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !found {
            return Some(format!("`{tool}` is not installed"));
        }
    }
    None
}

/// Skips (returns `true`) outside CI when namespaces are unavailable; in CI a
/// missing capability is a failure, so the test cannot silently not run.
pub fn skip_unless_supported(test: &str) -> bool {
    match unsupported() {
        None => false,
        Some(why) if std::env::var_os("CI").is_some() => {
            panic!("{test}: {why}; .ci/run installs iptables and runs as root")
        }
        Some(why) => {
            eprintln!("SKIPPED {test}: {why}");
            true
        }
    }
}

fn run(args: &[&str]) -> Output {
    let out = Command::new(args[0])
        .args(&args[1..])
        .output()
        .unwrap_or_else(|e| panic!("cannot run {args:?}: {e}"));
    assert!(
        out.status.success(),
        "{args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn run_quiet(args: &[&str]) {
    let _ = Command::new(args[0])
        .args(&args[1..])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

/// A bridge and `n` namespaces; removed on drop.
pub struct Netns {
    prefix: String,
    net: u8,
    n: usize,
}

impl Netns {
    /// Creates `{prefix}br` and namespaces `{prefix}n1..n{n}` at 198.18.`net`.1..n.
    pub fn create(prefix: &str, net: u8, n: usize) -> Netns {
        let ns = Netns {
            prefix: prefix.to_owned(),
            net,
            n,
        };
        ns.remove();
        let br = ns.bridge();
        run(&["ip", "link", "add", &br, "type", "bridge"]);
        run(&[
            "ip",
            "addr",
            "add",
            &format!("198.18.{net}.254/24"),
            "dev",
            &br,
        ]);
        run(&["ip", "link", "set", &br, "up"]);
        for i in 1..=n {
            let (name, veth) = (ns.name(i), format!("{prefix}v{i}"));
            run(&["ip", "netns", "add", &name]);
            run(&[
                "ip", "link", "add", &veth, "type", "veth", "peer", "name", "eth0", "netns", &name,
            ]);
            run(&["ip", "link", "set", &veth, "master", &br, "up"]);
            let addr = format!("{}/24", ns.ip(i));
            run(&["ip", "-n", &name, "addr", "add", &addr, "dev", "eth0"]);
            run(&["ip", "-n", &name, "link", "set", "eth0", "up"]);
            run(&["ip", "-n", &name, "link", "set", "lo", "up"]);
        }
        ns
    }

    fn bridge(&self) -> String {
        format!("{}br", self.prefix)
    }

    /// Namespace name of node `i` (1-based).
    pub fn name(&self, i: usize) -> String {
        format!("{}n{i}", self.prefix)
    }

    /// Address of node `i` (1-based).
    pub fn ip(&self, i: usize) -> String {
        format!("198.18.{}.{i}", self.net)
    }

    /// Drops all traffic between node `i` and each of `peers` (1-based), both directions, inside `i`'s namespace.
    pub fn cut(&self, i: usize, peers: &[usize]) {
        let name = self.name(i);
        for &p in peers {
            let ip = self.ip(p);
            for (chain, dir) in [("INPUT", "-s"), ("OUTPUT", "-d")] {
                run(&[
                    "ip", "netns", "exec", &name, "iptables", "-A", chain, dir, &ip, "-j", "DROP",
                ]);
            }
        }
    }

    /// Runs `iptables ARGS` inside node `i`'s namespace (one-way cuts, a cut
    /// from the test process's side, ...); [`Netns::heal`] removes the rules.
    pub fn iptables(&self, i: usize, args: &[&str]) {
        let name = self.name(i);
        let mut cmd = vec!["ip", "netns", "exec", name.as_str(), "iptables"];
        cmd.extend_from_slice(args);
        run(&cmd);
    }

    /// The bridge's address: where the test process's packets come from.
    pub fn host_ip(&self) -> String {
        format!("198.18.{}.254", self.net)
    }

    /// Removes every rule `cut` added in node `i`'s namespace.
    pub fn heal(&self, i: usize) {
        run(&["ip", "netns", "exec", &self.name(i), "iptables", "-F"]);
    }

    fn remove(&self) {
        for i in 1..=self.n {
            run_quiet(&["ip", "netns", "del", &self.name(i)]);
            run_quiet(&["ip", "link", "del", &format!("{}v{i}", self.prefix)]);
        }
        run_quiet(&["ip", "link", "del", &self.bridge()]);
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        self.remove();
    }
}
