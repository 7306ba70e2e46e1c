//! The CLI's fixture: the real `stemedb-api` server (located by the test
//! kit) on a free port with a temporary data directory, reached over HTTP or
//! HTTPS with the CLI's own client, and the `stemedb` binary run against it.

#![allow(dead_code)]

use std::fs::File;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use stemedb_testkit::binary::api_bin;
use stemedb_testkit::free_port;

/// A running server, killed when dropped.
pub struct Server {
    child: Child,
    /// Base URL, e.g. `http://127.0.0.1:40123`.
    pub url: String,
    /// Scratch directory (holds the data dir and the server log).
    pub dir: tempfile::TempDir,
}

impl Server {
    /// Starts the server and waits until `/v1/health` answers 200.
    pub fn start() -> Server {
        Server::start_on(None, &[])
    }

    /// Like [`Server::start`] with extra environment variables for the server.
    pub fn start_with(env: &[(&str, &str)]) -> Server {
        Server::start_on(None, env)
    }

    /// Starts the server on `data` (default: a fresh directory) with extra
    /// environment variables.
    pub fn start_on(data: Option<&Path>, env: &[(&str, &str)]) -> Server {
        Server::start_full(data, env, None)
    }

    /// Starts a server with TLS (`env` names its certificate and key) that
    /// clients reach as `https://127.0.0.1:PORT`, trusting the CA in `cacert`.
    pub fn start_tls(env: &[(&str, &str)], cacert: &Path) -> Server {
        Server::start_full(None, env, Some(cacert))
    }

    fn start_full(data: Option<&Path>, env: &[(&str, &str)], cacert: Option<&Path>) -> Server {
        let bin = api_bin();
        let dir = tempfile::tempdir().expect("temp dir");
        let data = data.map_or_else(|| dir.path().join("data"), Path::to_path_buf);
        std::fs::create_dir_all(&data).expect("data dir");
        let port = free_port();
        let log = File::create(dir.path().join("server.log")).expect("log file");
        let log2 = log.try_clone().expect("log file");
        let child = Command::new(&bin)
            .env("STEMEDB_API_BIND_ADDR", format!("127.0.0.1:{port}"))
            .env("STEMEDB_STORAGE_DATA_DIR", &data)
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log2)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", bin.display()));
        let scheme = if cacert.is_some() { "https" } else { "http" };
        let mut server = Server {
            child,
            url: format!("{scheme}://127.0.0.1:{port}"),
            dir,
        };
        server.wait_healthy(cacert);
        server
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
    }

    fn wait_healthy(&mut self, cacert: Option<&Path>) {
        let deadline = Instant::now() + Duration::from_secs(60);
        // The CLI's own client, so https with a private CA works too.
        let client = stemedb_cli::client::Client::with_cacert(&self.url, None, cacert)
            .expect("client for the test server");
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("stemedb-api exited early ({status}); log:\n{}", self.log());
            }
            if client.get_json("/v1/health", &[]).is_ok() {
                return;
            }
            if Instant::now() > deadline {
                panic!("stemedb-api not healthy after 60 s; log:\n{}", self.log());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Runs `stemedb ARGS` against this server.
    pub fn cli(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_stemedb"))
            .args(args)
            .env("STEMEDB_SERVER", &self.url)
            .env_remove("STEMEDB_TOKEN")
            .stdin(Stdio::null())
            .output()
            .expect("run stemedb")
    }

    /// Runs `stemedb ARGS` with extra environment variables (e.g. `STEMEDB_TOKEN`).
    pub fn cli_env(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_stemedb"))
            .args(args)
            .env("STEMEDB_SERVER", &self.url)
            .env_remove("STEMEDB_TOKEN")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .output()
            .expect("run stemedb")
    }

    /// Runs `stemedb ARGS` and returns stdout, failing the test on a non-zero exit.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.cli(args);
        assert!(
            out.status.success(),
            "stemedb {args:?} failed: {}\nstdout: {}\nserver log tail:\n{}",
            String::from_utf8_lossy(&out.stderr),
            String::from_utf8_lossy(&out.stdout),
            tail(&self.log(), 40)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
}

fn tail(s: &str, n: usize) -> String {
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Adds an API key with `stemedb-api keys add` and returns its secret.
pub fn add_key(file: &Path, name: &str, role: &str) -> String {
    let out = Command::new(api_bin())
        .args(["keys", "add", "--keys-file"])
        .arg(file)
        .args(["--name", name, "--role", role])
        .output()
        .expect("stemedb-api keys add");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}
