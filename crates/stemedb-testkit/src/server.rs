//! One real `stemedb-api` process on a free loopback port with a temporary
//! data directory (or one the test prepares), a blocking HTTP client bound
//! to it, and JSON bodies for the requests the tests send.

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use stemedb_records::hlc::Hlc;
use stemedb_records::{SignedRecord, sign, wire};

use crate::net::free_port;

/// A response: status, headers we care about, body text.
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub body: String,
    pub content_type: String,
    pub retry_after: Option<String>,
}

impl Resp {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }

    /// Asserts an error response: status, code and field.
    pub fn assert_error(&self, status: u16, code: &str, field: Option<&str>) {
        assert_eq!(self.status, status, "status of {}", self.body);
        let v = self.json();
        assert_eq!(v["error"]["code"], json!(code), "code of {}", self.body);
        assert!(
            v["error"]["message"].is_string(),
            "message of {}",
            self.body
        );
        if let Some(f) = field {
            assert_eq!(v["error"]["field"], json!(f), "field of {}", self.body);
        }
    }
}

pub struct Server {
    child: Option<Child>,
    pub port: u16,
    pub data_dir: PathBuf,
    pub work: PathBuf,
    env: Vec<(String, String)>,
    config: PathBuf,
    agent: ureq::Agent,
    starts: u32,
    _tmp: Option<tempfile::TempDir>,
}

impl Server {
    /// Starts a server with a fresh data dir and `env` overrides.
    pub fn start(env: &[(&str, &str)]) -> Server {
        let tmp = tempfile::tempdir().expect("tempdir");
        let mut s = Server::prepare(tmp.path(), env);
        s._tmp = Some(tmp);
        s.spawn();
        s
    }

    /// A server that has not been spawned yet, working in `work`.
    pub fn prepare(work: &Path, env: &[(&str, &str)]) -> Server {
        let config = work.join("config.toml");
        if !config.exists() {
            std::fs::write(&config, "# test config\n").expect("config");
        }
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(30)))
            .build()
            .into();
        Server {
            child: None,
            port: free_port(),
            data_dir: work.join("data"),
            work: work.to_path_buf(),
            env: env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            config,
            agent,
            starts: 0,
            _tmp: None,
        }
    }

    /// A command for the binary with this server's settings.
    pub fn command(&self) -> Command {
        let mut cmd = Command::new(crate::binary::api_bin());
        for (k, _) in std::env::vars_os() {
            if k.to_string_lossy().starts_with("STEMEDB_") {
                cmd.env_remove(k);
            }
        }
        cmd.arg("--config")
            .arg(&self.config)
            .env("STEMEDB_API_BIND_ADDR", format!("127.0.0.1:{}", self.port))
            .env("STEMEDB_STORAGE_DATA_DIR", &self.data_dir)
            .env("STEMEDB_LOG", "info")
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(Stdio::null())
            .stdout(Stdio::null());
        cmd
    }

    fn log_path(&self) -> PathBuf {
        self.work.join(format!("server-{}.log", self.starts))
    }

    /// Spawns the binary and waits for `/v1/health`.
    pub fn spawn(&mut self) {
        self.starts += 1;
        let log = File::create(self.log_path()).expect("log file");
        let mut cmd = self.command();
        cmd.stderr(Stdio::from(log));
        self.child = Some(cmd.spawn().expect("spawn stemedb-api"));
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(c) = self.child.as_mut()
                && let Ok(Some(status)) = c.try_wait()
            {
                panic!("server exited early ({status}): {}", self.log());
            }
            if let Ok(mut r) = self.agent.get(self.url("/v1/health")).call()
                && r.status().as_u16() == 200
            {
                let _ = r.body_mut().read_to_string();
                return;
            }
            assert!(
                Instant::now() < deadline,
                "server did not become healthy: {}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The server's stderr so far.
    pub fn log(&self) -> String {
        let mut s = String::new();
        if let Ok(mut f) = File::open(self.log_path()) {
            let _ = f.read_to_string(&mut s);
        }
        s
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    fn finish(
        r: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
    ) -> Result<Resp, ureq::Error> {
        let mut r = r?;
        let header = |name: &str| {
            r.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let content_type = header("content-type").unwrap_or_default();
        let retry_after = header("retry-after");
        let status = r.status().as_u16();
        let body = r
            .body_mut()
            .with_config()
            .limit(512 * 1024 * 1024)
            .read_to_string()?;
        Ok(Resp {
            status,
            body,
            content_type,
            retry_after,
        })
    }

    pub fn try_get(&self, path: &str) -> Result<Resp, ureq::Error> {
        Self::finish(self.agent.get(self.url(path)).call())
    }

    pub fn get(&self, path: &str) -> Resp {
        self.try_get(path)
            .unwrap_or_else(|e| panic!("GET {path}: {e}"))
    }

    pub fn try_send(
        &self,
        method: &str,
        path: &str,
        content_type: &str,
        body: &[u8],
        headers: &[(&str, &str)],
    ) -> Result<Resp, ureq::Error> {
        let url = self.url(path);
        let mut req = match method {
            "PUT" => self.agent.put(&url),
            _ => self.agent.post(&url),
        };
        req = req.header("content-type", content_type);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        Self::finish(req.send(body))
    }

    pub fn post(&self, path: &str, body: &Value) -> Resp {
        self.post_raw(path, "application/json", body.to_string().as_bytes())
    }

    pub fn post_raw(&self, path: &str, content_type: &str, body: &[u8]) -> Resp {
        self.try_send("POST", path, content_type, body, &[])
            .unwrap_or_else(|e| panic!("POST {path}: {e}"))
    }

    pub fn put(&self, path: &str, body: &Value, headers: &[(&str, &str)]) -> Resp {
        self.try_send(
            "PUT",
            path,
            "application/json",
            body.to_string().as_bytes(),
            headers,
        )
        .unwrap_or_else(|e| panic!("PUT {path}: {e}"))
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().map(Child::id).expect("running")
    }

    /// SIGKILL and reap.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGTERM and wait (at most 60 s) for the exit status.
    pub fn terminate(&mut self) -> ExitStatus {
        let mut c = self.child.take().expect("running");
        let pid = i32::try_from(c.id()).expect("pid");
        // SAFETY: sending a signal to our own child process.
        unsafe {
            libc::kill(pid, libc::SIGTERM);
        }
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(Some(status)) = c.try_wait() {
                return status;
            }
            if Instant::now() > deadline {
                let _ = c.kill();
                let _ = c.wait();
                panic!("server did not exit after SIGTERM: {}", self.log());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// An unsigned assertion body.
pub fn assertion(subject: &str, predicate: &str, value: &str, agent: &str) -> Value {
    json!({
        "subject": subject, "predicate": predicate,
        "object": {"type": "text", "value": value}, "agent": agent,
    })
}

/// A signed assertion body (agent = the key's public hex) and its id.
pub fn signed_assertion(subject: &str, value: &str) -> (Value, String) {
    let (body, rec) = signed_record(subject, value);
    (body, rec.id().to_hex())
}

/// A signed assertion: its request body (agent = the key's public hex) and
/// the record it stands for, signature included.
pub fn signed_record(subject: &str, value: &str) -> (Value, SignedRecord) {
    let key = sign::generate_key().expect("key");
    let mut body = json!({
        "subject": subject, "predicate": "p",
        "object": {"type": "text", "value": value},
        "agent": sign::public_hex(&key), "timestamp": 1_700_000_000_000i64,
    });
    let rec = wire::parse_assertion(&body, &Hlc::new()).expect("valid");
    let sig = sign::sign(rec.record(), &key);
    body["signature"] = json!(hex::encode(sig));
    let rec = SignedRecord::new(rec.record().clone(), Some(sig)).expect("signed");
    (body, rec)
}
