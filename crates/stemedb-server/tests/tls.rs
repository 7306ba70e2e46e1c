//! TLS and slow-client protection of the real `stemedb-api` binary:
//! certificates generated at run time (rcgen), `curl --cacert` over HTTP/1.1
//! and HTTP/2 (ALPN), certificate reload on SIGHUP (a bad reload keeps the
//! old certificate), start-up refusing unusable certificate files, the
//! header and body read timeouts and the connection cap.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
use stemedb_testkit::free_port;
use stemedb_testkit::server::{Server, assertion};

/// A CA that signs server certificates for `localhost` and 127.0.0.1.
struct Ca {
    issuer: Issuer<'static, KeyPair>,
    pem: String,
}

impl Ca {
    fn new(name: &str) -> Ca {
        let key = KeyPair::generate().expect("CA key");
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        let cert = params.self_signed(&key).expect("CA cert");
        Ca {
            pem: cert.pem(),
            issuer: Issuer::new(params, key),
        }
    }

    /// Writes `<stem>.crt`, `<stem>.key` (server) and `<stem>-ca.pem` into `dir`.
    fn issue(&self, dir: &Path, stem: &str) -> (PathBuf, PathBuf, PathBuf) {
        let key = KeyPair::generate().expect("server key");
        let params = CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
            .expect("server params");
        let cert = params.signed_by(&key, &self.issuer).expect("server cert");
        let (c, k, ca) = (
            dir.join(format!("{stem}.crt")),
            dir.join(format!("{stem}.key")),
            dir.join(format!("{stem}-ca.pem")),
        );
        std::fs::write(&c, cert.pem()).expect("write cert");
        std::fs::write(&k, key.serialize_pem()).expect("write key");
        std::fs::write(&ca, &self.pem).expect("write CA");
        (c, k, ca)
    }
}

fn curl_present() -> bool {
    let ok = Command::new("curl")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "curl is required in CI (.ci/run installs it)"
        );
        eprintln!("SKIPPED: curl is not installed");
    }
    ok
}

/// `curl` with `args`; returns (exit ok, stdout).
fn curl(args: &[&str]) -> (bool, String) {
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "20"])
        .args(args)
        .output()
        .expect("run curl");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

/// The binary with TLS (or other) settings; waits until `ready` says so.
struct Proc {
    child: Child,
    log: PathBuf,
    port: u16,
    _tmp: tempfile::TempDir,
}

impl Proc {
    fn spawn(env: &[(&str, String)], ready: impl Fn(u16) -> bool) -> Proc {
        let tmp = tempfile::tempdir().expect("tempdir");
        let port = free_port();
        let log = tmp.path().join("server.log");
        let child = base_command(tmp.path(), port, env)
            .stderr(Stdio::from(std::fs::File::create(&log).expect("log")))
            .spawn()
            .expect("spawn stemedb-api");
        let mut p = Proc {
            child,
            log,
            port,
            _tmp: tmp,
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        while !ready(port) {
            if let Ok(Some(st)) = p.child.try_wait() {
                panic!("server exited ({st}): {}", p.log());
            }
            assert!(Instant::now() < deadline, "not ready: {}", p.log());
            std::thread::sleep(Duration::from_millis(100));
        }
        p
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn sighup(&self) {
        let ok = Command::new("kill")
            .args(["-HUP", &self.child.id().to_string()])
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "kill -HUP failed");
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One TLS connection held open across requests (`openssl s_client`, which
/// verifies the server against `ca`), to show a reload leaves it working.
struct HeldConnection {
    child: Child,
    stdin: std::process::ChildStdin,
    out: std::io::BufReader<std::process::ChildStdout>,
}

impl HeldConnection {
    fn open(ca: &Path, port: u16) -> HeldConnection {
        let mut child = Command::new("openssl")
            .args(["s_client", "-quiet", "-verify_return_error", "-CAfile"])
            .arg(ca)
            .args(["-connect", &format!("127.0.0.1:{port}")])
            .args(["-servername", "localhost"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("run openssl s_client (.ci/run installs openssl)");
        let stdin = child.stdin.take().expect("s_client stdin");
        let out = std::io::BufReader::new(child.stdout.take().expect("s_client stdout"));
        HeldConnection { child, stdin, out }
    }

    /// `GET /v1/health` on the held connection; the response head and body.
    fn get_health(&mut self) -> String {
        use std::io::BufRead;
        self.stdin
            .write_all(b"GET /v1/health HTTP/1.1\r\nHost: localhost\r\n\r\n")
            .expect("write request");
        self.stdin.flush().expect("flush request");
        let mut response = String::new();
        let mut length = 0usize;
        loop {
            let mut line = String::new();
            if self.out.read_line(&mut line).expect("read response") == 0 {
                return response; // the connection closed
            }
            if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                length = v.trim().parse().expect("content-length");
            }
            let end = line == "\r\n";
            response.push_str(&line);
            if end {
                break;
            }
        }
        let mut body = vec![0u8; length];
        self.out.read_exact(&mut body).expect("read body");
        response.push_str(&String::from_utf8_lossy(&body));
        response
    }
}

impl Drop for HeldConnection {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn base_command(dir: &Path, port: u16, env: &[(&str, String)]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_stemedb-api"));
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("STEMEDB_") {
            cmd.env_remove(k);
        }
    }
    let config = dir.join("config.toml");
    std::fs::write(&config, "# test config\n").expect("config");
    cmd.arg("--config")
        .arg(&config)
        .env("STEMEDB_API_BIND_ADDR", format!("127.0.0.1:{port}"))
        .env("STEMEDB_STORAGE_DATA_DIR", dir.join("data"))
        .env("STEMEDB_LOG", "info")
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .stdin(Stdio::null())
        .stdout(Stdio::null());
    cmd
}

fn tls_env(cert: &Path, key: &Path) -> Vec<(&'static str, String)> {
    vec![
        ("STEMEDB_API_TLS_CERT", cert.display().to_string()),
        ("STEMEDB_API_TLS_KEY", key.display().to_string()),
    ]
}

fn https(port: u16, path: &str) -> String {
    format!("https://localhost:{port}{path}")
}

fn health_with(ca: &Path, port: u16) -> bool {
    curl(&[
        "-f",
        "--cacert",
        &ca.display().to_string(),
        &https(port, "/v1/health"),
    ])
    .0
}

#[test]
fn https_serves_http1_and_http2_via_alpn_and_refuses_plain_http() {
    if !curl_present() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let (cert, key, ca) = Ca::new("test CA").issue(dir.path(), "server");
    let p = Proc::spawn(&tls_env(&cert, &key), |port| health_with(&ca, port));
    let ca_s = ca.display().to_string();
    for (flag, version) in [("--http1.1", "1.1"), ("--http2", "2")] {
        let (ok, out) = curl(&[
            "--cacert",
            &ca_s,
            flag,
            "-o",
            "/dev/null",
            "-w",
            "%{http_version} %{http_code}",
            &https(p.port, "/v1/health"),
        ]);
        assert!(ok, "curl {flag} failed: {}", p.log());
        assert_eq!(out, format!("{version} 200"), "curl {flag}");
    }
    // A write and a read over HTTP/2 + TLS.
    let body = assertion("drug:tls", "side_effect", "nausea", "fda").to_string();
    let (ok, out) = curl(&[
        "--cacert",
        &ca_s,
        "--http2",
        "-H",
        "content-type: application/json",
        "--data-binary",
        &body,
        "-w",
        " %{http_code}",
        &https(p.port, "/v1/assert"),
    ]);
    assert!(ok && out.ends_with(" 201"), "write over TLS: {out}");
    let (ok, out) = curl(&[
        "--cacert",
        &ca_s,
        &https(p.port, "/v1/query?subject=drug:tls"),
    ]);
    assert!(ok && out.contains("nausea"), "query over TLS: {out}");
    // Without the CA the certificate is not trusted; plain http gets no answer.
    assert!(
        !curl(&[&https(p.port, "/v1/health")]).0,
        "untrusted CA accepted"
    );
    let (ok, _) = curl(&["-f", &format!("http://127.0.0.1:{}/v1/health", p.port)]);
    assert!(!ok, "plain http answered on the TLS port");
}

#[test]
fn sighup_reloads_the_certificate_and_a_bad_reload_keeps_the_old_one() {
    if !curl_present() {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let (cert, key, ca1) = Ca::new("first CA").issue(dir.path(), "one");
    let p = Proc::spawn(&tls_env(&cert, &key), |port| health_with(&ca1, port));
    // A keep-alive connection opened before the reload keeps working after it.
    let mut held = HeldConnection::open(&ca1, p.port);
    assert!(held.get_health().starts_with("HTTP/1.1 200"), "{}", p.log());
    let (c2, k2, ca2) = Ca::new("second CA").issue(dir.path(), "two");
    std::fs::copy(&c2, &cert).expect("replace cert");
    std::fs::copy(&k2, &key).expect("replace key");
    p.sighup();
    let deadline = Instant::now() + Duration::from_secs(20);
    while !health_with(&ca2, p.port) {
        assert!(Instant::now() < deadline, "reload not seen: {}", p.log());
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(!health_with(&ca1, p.port), "old certificate still served");
    let again = held.get_health();
    assert!(
        again.starts_with("HTTP/1.1 200"),
        "the connection opened before the reload broke: {again:?} {}",
        p.log()
    );
    // A broken certificate file: the reload fails, the server keeps serving the second one.
    std::fs::write(&cert, "not a certificate\n").expect("break cert");
    p.sighup();
    let deadline = Instant::now() + Duration::from_secs(20);
    while !p.log().contains("reload failed") {
        assert!(
            Instant::now() < deadline,
            "no reload error logged: {}",
            p.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        p.log().contains(&cert.display().to_string()),
        "the error names the file: {}",
        p.log()
    );
    assert!(
        health_with(&ca2, p.port),
        "a bad reload dropped the certificate"
    );
}

#[test]
fn unusable_certificate_or_key_stops_start_up_naming_the_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (cert, key, _) = Ca::new("test CA").issue(dir.path(), "good");
    let (_, other_key, _) = Ca::new("other CA").issue(dir.path(), "other");
    let garbage = dir.path().join("garbage.pem");
    std::fs::write(&garbage, "-----BEGIN CERTIFICATE-----\nnope\n").expect("garbage");
    let missing = dir.path().join("missing.pem");
    for (c, k, named) in [
        (&missing, &key, &missing),
        (&garbage, &key, &garbage),
        (&cert, &garbage, &garbage),
        (&cert, &other_key, &other_key),
    ] {
        let work = tempfile::tempdir().expect("tempdir");
        let out = base_command(work.path(), free_port(), &tls_env(c, k))
            .stderr(Stdio::piped())
            .output()
            .expect("run stemedb-api");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "started with {c:?} / {k:?}");
        assert!(
            err.contains(&named.display().to_string()),
            "error does not name {named:?}: {err}"
        );
    }
    // Only one of the pair is a configuration error naming the missing key.
    let work = tempfile::tempdir().expect("tempdir");
    let out = base_command(
        work.path(),
        free_port(),
        &[("STEMEDB_API_TLS_CERT", cert.display().to_string())],
    )
    .stderr(Stdio::piped())
    .output()
    .expect("run stemedb-api");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("api.tls_key"));
}

/// A health check on a connection the server closes afterwards.
fn raw_health(port: u16) -> bool {
    let Ok(mut c) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = c.set_read_timeout(Some(Duration::from_secs(5)));
    if c.write_all(b"GET /v1/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .is_err()
    {
        return false;
    }
    let mut got = Vec::new();
    let _ = c.read_to_end(&mut got);
    got.starts_with(b"HTTP/1.1 200")
}

/// Reads until EOF or an error; `true` when the server closed the connection.
fn closed_by_server(s: &mut TcpStream) -> bool {
    let mut buf = [0u8; 1024];
    match s.read(&mut buf) {
        Ok(0) => true,
        Ok(_) => closed_by_server(s),
        Err(e) => matches!(
            e.kind(),
            std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::BrokenPipe
        ),
    }
}

#[test]
fn slowloris_headers_are_disconnected_and_a_stalled_body_is_cut_off() {
    let s = Server::start(&[
        ("STEMEDB_API_HEADER_READ_TIMEOUT_MS", "500"),
        ("STEMEDB_API_BODY_READ_TIMEOUT_MS", "500"),
    ]);
    // Headers one byte at a time, far slower than the deadline allows.
    let mut c = TcpStream::connect(("127.0.0.1", s.port)).expect("connect");
    c.write_all(b"GET /v1/health HTTP/1.1\r\nHost: x\r\n")
        .expect("start");
    let header = b"X-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    let mut disconnected = false;
    for b in header {
        if c.write_all(&[*b]).is_err() {
            disconnected = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    if !disconnected {
        c.set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        disconnected = closed_by_server(&mut c);
    }
    assert!(
        disconnected,
        "a byte-by-byte header sender was not disconnected"
    );
    // A body that stops arriving: the request fails instead of holding the connection.
    let mut c = TcpStream::connect(("127.0.0.1", s.port)).expect("connect");
    c.write_all(
        b"POST /v1/assertions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"subject\":",
    )
    .expect("partial body");
    c.set_read_timeout(Some(Duration::from_secs(20)))
        .expect("timeout");
    let mut got = Vec::new();
    let _ = c.read_to_end(&mut got);
    let text = String::from_utf8_lossy(&got);
    assert!(
        got.is_empty() || text.starts_with("HTTP/1.1 4"),
        "a stalled body got: {text}"
    );
    // Nothing partial was stored, and the server still answers.
    assert_eq!(s.get("/v1/health").status, 200);
    let q = s.get("/v1/query?subject=x");
    assert_eq!(q.status, 200);
}

#[test]
fn over_the_connection_cap_new_connections_wait_for_a_free_slot() {
    // Readiness is probed with `Connection: close` so no probe holds a slot.
    let s = Proc::spawn(
        &[
            ("STEMEDB_API_MAX_CONNECTIONS", "2".to_owned()),
            ("STEMEDB_API_HEADER_READ_TIMEOUT_MS", "60000".to_owned()),
        ],
        raw_health,
    );
    let request = b"GET /v1/health HTTP/1.1\r\nHost: x\r\n\r\n";
    let answered = |c: &mut TcpStream| {
        let mut buf = [0u8; 512];
        matches!(c.read(&mut buf), Ok(n) if n > 0 && buf[..n].starts_with(b"HTTP/1.1 200"))
    };
    let mut held = Vec::new();
    for _ in 0..2 {
        let mut c = TcpStream::connect(("127.0.0.1", s.port)).expect("connect");
        c.set_read_timeout(Some(Duration::from_secs(30)))
            .expect("timeout");
        c.write_all(request).expect("request");
        assert!(
            answered(&mut c),
            "a connection under the cap was not served"
        );
        held.push(c);
    }
    let mut third = TcpStream::connect(("127.0.0.1", s.port)).expect("connect");
    third.write_all(request).expect("request");
    third
        .set_read_timeout(Some(Duration::from_millis(1500)))
        .expect("timeout");
    assert!(
        !answered(&mut third),
        "a third connection was served over a cap of 2"
    );
    drop(held.pop());
    third
        .set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    assert!(
        answered(&mut third),
        "the waiting connection was not served after a slot freed"
    );
}
