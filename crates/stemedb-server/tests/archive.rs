//! Continuous archival of sealed log segments (`[archive]`) with the real
//! binary: to a directory, and to a local S3 server (`moto_server`, from
//! PyPI `moto[server]`) that goes away for a while; then `stemedb-api
//! restore --from <archive>` and a server started on the result, holding
//! every acknowledged record.
//!
//! `moto_server` is started by the test on 127.0.0.1; the outage is the
//! process stopped (`SIGSTOP`: every request hangs until the archiver's
//! request timeout) and resumed (`SIGCONT`), so it keeps its objects. Outside CI a missing `moto_server` skips that test with a
//! message; with `CI` set it is a failure (`.ci/run` installs it).

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::thread;
use std::time::{Duration, Instant, SystemTime};

use serde_json::{Value, json};
use stemedb_testkit::free_port;
use stemedb_testkit::server::Server;

/// Writes `n` assertions in one batch; returns their ids (all acknowledged).
fn write_batch(s: &Server, tag: &str, n: usize) -> Vec<String> {
    let items: Vec<Value> = (0..n)
        .map(|i| {
            json!({"subject": format!("arch:{tag}:{i}"), "predicate": "p",
                   "object": {"type": "text", "value": format!("value {i} of batch {tag} {}", "x".repeat(200))},
                   "agent": "archiver-test"})
        })
        .collect();
    let r = s.post("/v1/assertions", &Value::Array(items));
    assert_eq!(r.status, 200, "{}", r.body);
    let v = r.json();
    assert_eq!(v["created"], json!(n), "{}", r.body);
    v["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|x| x["id"].as_str().expect("id").to_owned())
        .collect()
}

/// A metric's value (the sum over its series), 0 when absent.
fn metric(s: &Server, name: &str) -> f64 {
    s.get("/metrics")
        .body
        .lines()
        .filter(|l| {
            l.strip_prefix(name)
                .is_some_and(|rest| rest.starts_with(' ') || rest.starts_with('{'))
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

fn wait_until(what: &str, limit: Duration, f: impl FnMut() -> bool) {
    wait_or(what, limit, f, String::new);
}

/// Like [`wait_until`]; `context` says more when it times out.
fn wait_or(what: &str, limit: Duration, mut f: impl FnMut() -> bool, context: impl Fn() -> String) {
    let started = Instant::now();
    while !f() {
        assert!(
            started.elapsed() < limit,
            "timed out waiting for {what}\n{}",
            context()
        );
        thread::sleep(Duration::from_millis(100));
    }
}

fn api(args: &[&str], env: &[(&str, String)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_stemedb-api"));
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("STEMEDB_") {
            cmd.env_remove(k);
        }
    }
    cmd.args(args)
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .output()
        .expect("run stemedb-api")
}

fn text(o: &Output) -> String {
    format!(
        "status {:?}\nstdout: {}\nstderr: {}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// Starts a server on `data` (a restored data dir) and checks that every id
/// is there and the data dir verifies.
fn serves_every_record(work: &Path, ids: &[String]) {
    let verify = api(
        &[
            "verify",
            "--data-dir",
            work.join("data").to_str().expect("utf-8"),
        ],
        &[],
    );
    assert!(verify.status.success(), "{}", text(&verify));
    let mut s = Server::prepare(work, &[]);
    s.spawn();
    let missing: Vec<&String> = ids
        .iter()
        .filter(|id| s.get(&format!("/v1/assertions/{id}")).status != 200)
        .collect();
    assert!(
        missing.is_empty(),
        "{} of {} acknowledged records missing after the restore, e.g. {:?}",
        missing.len(),
        ids.len(),
        missing.first()
    );
}

/// Records the archive index lists, and its segment numbers.
fn index_of(bytes: &[u8]) -> (u64, Vec<u64>) {
    let v: Value = serde_json::from_slice(bytes).unwrap_or(Value::Null);
    let segs = v["segments"].as_array().cloned().unwrap_or_default();
    (
        segs.iter().filter_map(|s| s["records"].as_u64()).sum(),
        segs.iter().filter_map(|s| s["segment"].as_u64()).collect(),
    )
}

#[test]
fn directory_archive_holds_each_sealed_segment_once_across_restarts_and_restores() {
    let tmp = tempfile::tempdir().expect("tmp");
    let arch = tmp.path().join("archive");
    let target = format!("file://{}", arch.display());
    let work = tmp.path().join("node");
    std::fs::create_dir_all(&work).expect("work");
    let env = [
        ("STEMEDB_STORAGE_SEGMENT_SIZE", "65536"),
        ("STEMEDB_ARCHIVE_TARGET", target.as_str()),
        ("STEMEDB_ARCHIVE_INTERVAL_MS", "200"),
        ("STEMEDB_ARCHIVE_SEAL_INTERVAL_MS", "1000"),
    ];
    let mut s = Server::prepare(&work, &env);
    s.spawn();
    let mut ids = Vec::new();
    for b in 0..12 {
        ids.extend(write_batch(&s, &format!("a{b}"), 100));
    }
    let index = || std::fs::read(arch.join("stemedb-archive.json")).unwrap_or_default();
    // Full segments are archived, and the partly filled active one is sealed
    // within seal_interval_ms and archived too.
    wait_until("every record archived", Duration::from_secs(60), || {
        index_of(&index()).0 == ids.len() as u64
    });
    let (_, segs) = index_of(&index());
    // The archiver writes the index first, then counts the segment and
    // publishes the lag: the metrics follow the index by a moment.
    wait_until(
        "the archive metrics caught up",
        Duration::from_secs(10),
        || {
            metric(&s, "stemedb_archive_segments_total") >= segs.len() as f64
                && metric(&s, "stemedb_archive_lag_segments") == 0.0
        },
    );
    assert_eq!(metric(&s, "stemedb_archive_lag_seconds"), 0.0);
    assert!(segs.len() >= 4, "{segs:?}");
    for seg in &segs {
        let name = format!("{seg:010}.seg");
        assert_eq!(
            std::fs::read(arch.join("log").join(&name)).expect("archived"),
            std::fs::read(work.join("data/log").join(&name)).expect("local"),
            "archived {name} differs from the sealed local segment"
        );
    }
    assert_eq!(
        metric(&s, "stemedb_archive_segments_total"),
        segs.len() as f64
    );
    let mtimes: Vec<SystemTime> = segs
        .iter()
        .map(|seg| {
            std::fs::metadata(arch.join(format!("log/{seg:010}.seg")))
                .and_then(|m| m.modified())
                .expect("mtime")
        })
        .collect();

    // After a restart nothing archived is uploaded again; new segments are.
    assert!(s.terminate().success());
    s.spawn();
    for b in 0..3 {
        ids.extend(write_batch(&s, &format!("b{b}"), 100));
    }
    wait_until("the new records archived", Duration::from_secs(60), || {
        index_of(&index()).0 == ids.len() as u64
    });
    let (_, after) = index_of(&index());
    let uploaded = (after.len() - segs.len()) as f64;
    wait_until(
        "the segment counter caught up",
        Duration::from_secs(10),
        || metric(&s, "stemedb_archive_segments_total") >= uploaded,
    );
    assert_eq!(
        metric(&s, "stemedb_archive_segments_total"),
        uploaded,
        "only the new segments were uploaded after the restart"
    );
    for (seg, before) in segs.iter().zip(&mtimes) {
        let now = std::fs::metadata(arch.join(format!("log/{seg:010}.seg")))
            .and_then(|m| m.modified())
            .expect("mtime");
        assert_eq!(&now, before, "segment {seg} was rewritten");
    }
    s.kill9();

    // The archive alone restores every acknowledged record.
    let restored = tmp.path().join("restored");
    std::fs::create_dir_all(&restored).expect("dir");
    let out = api(
        &[
            "restore",
            "--from",
            &target,
            "--data-dir",
            restored.join("data").to_str().expect("utf-8"),
        ],
        &[],
    );
    assert!(out.status.success(), "{}", text(&out));
    serves_every_record(&restored, &ids);

    // A replaced disk: the node starts a new log under its old log's archive.
    // The archiver's first pass runs before anything is sealed; the new
    // log's segments, once sealed, carry numbers the archive already lists:
    // refused (a failure, a log line naming the cause), never skipped as
    // "already archived" and never mixed into the old log's archive.
    std::fs::remove_dir_all(work.join("data")).expect("wipe the data dir");
    let listed = index();
    s.spawn();
    wait_until("the archiver's first pass", Duration::from_secs(30), || {
        s.get("/metrics")
            .body
            .contains("stemedb_archive_lag_segments")
    });
    for b in 0..6 {
        write_batch(&s, &format!("c{b}"), 100);
    }
    wait_or(
        "the new log refused",
        Duration::from_secs(60),
        || metric(&s, "stemedb_archive_failures_total") > 0.0,
        || s.log(),
    );
    assert!(s.log().contains("another log's archive"), "{}", s.log());
    assert_eq!(index(), listed, "the old log's archive index was changed");
    s.kill9();
}

/// `moto_server` on 127.0.0.1, killed on drop.
struct Moto {
    child: Child,
    port: u16,
}

impl Moto {
    fn start(bin: &Path, log: PathBuf) -> Moto {
        let port = free_port();
        let log = std::fs::File::create(log).expect("log");
        let child = Command::new(bin)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("spawn moto_server");
        let m = Moto { child, port };
        wait_until("moto_server to listen", Duration::from_secs(60), || {
            TcpStream::connect(("127.0.0.1", port)).is_ok()
        });
        m
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// Freezes (`STOP`: connections hang until the client's timeout) or
    /// resumes (`CONT`) the store; its objects stay.
    fn signal(&self, sig: i32) {
        let pid = i32::try_from(self.child.id()).expect("pid");
        // SAFETY: sending a signal to our own child process.
        assert_eq!(unsafe { libc::kill(pid, sig) }, 0, "kill({pid}, {sig})");
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        self.signal(libc::SIGCONT);
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn http(method: &str, url: &str) -> (u16, Vec<u8>) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(10)))
        .build()
        .into();
    let resp = match method {
        "PUT" => agent.put(url).send_empty(),
        _ => agent.get(url).call(),
    };
    match resp {
        Ok(mut r) => (
            r.status().as_u16(),
            r.body_mut()
                .with_config()
                .limit(64 << 20)
                .read_to_vec()
                .unwrap_or_default(),
        ),
        Err(_) => (0, Vec::new()),
    }
}

const SECRET: &str = "archive-secret-key-value";

#[test]
fn s3_archive_rides_out_an_outage_and_restores_every_acknowledged_record() {
    let test = "s3_archive_rides_out_an_outage_and_restores_every_acknowledged_record";
    let Some(bin) = stemedb_testkit::ops::tool_or_skip(test, "moto_server") else {
        return;
    };
    let tmp = tempfile::tempdir().expect("tmp");
    let moto = Moto::start(&bin, tmp.path().join("moto.log"));
    let (status, body) = http("PUT", &moto.url("/stemedb-archive"));
    assert_eq!(
        status,
        200,
        "create bucket: {}",
        String::from_utf8_lossy(&body)
    );
    let endpoint = format!("http://127.0.0.1:{}", moto.port);
    let s3_env = [
        ("STEMEDB_ARCHIVE_ENDPOINT", endpoint.clone()),
        ("STEMEDB_ARCHIVE_ALLOW_HTTP", "true".to_owned()),
        ("STEMEDB_ARCHIVE_ACCESS_KEY_ID", "testing".to_owned()),
        ("STEMEDB_ARCHIVE_SECRET_ACCESS_KEY", SECRET.to_owned()),
        ("STEMEDB_ARCHIVE_REQUEST_TIMEOUT_MS", "2000".to_owned()),
    ];
    let work = tmp.path().join("node");
    std::fs::create_dir_all(&work).expect("work");
    let mut env: Vec<(&str, &str)> = s3_env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    env.extend([
        ("STEMEDB_STORAGE_SEGMENT_SIZE", "65536"),
        ("STEMEDB_ARCHIVE_TARGET", "s3://stemedb-archive/prod/node1"),
        ("STEMEDB_ARCHIVE_INTERVAL_MS", "200"),
        ("STEMEDB_ARCHIVE_SEAL_INTERVAL_MS", "1000"),
        ("STEMEDB_ARCHIVE_RETRY_MAX_MS", "1000"),
    ]);
    let mut s = Server::prepare(&work, &env);
    s.spawn();
    // The index as the store holds it, read with signed requests (moto
    // refuses anonymous reads) through the archiver's own client.
    let settings = stemedb_server::config::ArchiveConfig {
        endpoint: Some(endpoint.clone()),
        allow_http: true,
        access_key_id: Some("testing".into()),
        secret_access_key: Some(SECRET.into()),
        request_timeout_ms: 2000,
        ..Default::default()
    };
    let reader =
        stemedb_server::archive::Target::open("s3://stemedb-archive/prod/node1", &settings)
            .expect("target");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let index = || match rt.block_on(reader.get("stemedb-archive.json")) {
        Ok(Some(b)) => index_of(&b),
        _ => (0, Vec::new()),
    };
    let mut ids = Vec::new();
    for b in 0..6 {
        ids.extend(write_batch(&s, &format!("a{b}"), 100));
    }
    wait_or(
        "every record archived",
        Duration::from_secs(120),
        || index().0 == ids.len() as u64,
        || format!("index {:?}\n{}", index(), s.log()),
    );
    assert_eq!(metric(&s, "stemedb_archive_failures_total"), 0.0);

    // The store goes away: writes go on, the lag and the failures rise.
    moto.signal(libc::SIGSTOP);
    for b in 0..8 {
        ids.extend(write_batch(&s, &format!("b{b}"), 100));
    }
    wait_until("the lag to rise", Duration::from_secs(60), || {
        metric(&s, "stemedb_archive_lag_segments") >= 2.0
            && metric(&s, "stemedb_archive_failures_total") >= 2.0
    });
    thread::sleep(Duration::from_millis(1500));
    assert!(metric(&s, "stemedb_archive_lag_seconds") >= 1.0);
    moto.signal(libc::SIGCONT);
    assert!(
        index().0 < ids.len() as u64,
        "the backlog did not reach the store"
    );
    moto.signal(libc::SIGSTOP);
    assert!(
        s.log().contains("archiving failed; will retry"),
        "{}",
        s.log()
    );

    // It comes back: the backlog drains without help.
    moto.signal(libc::SIGCONT);
    wait_until("the backlog to drain", Duration::from_secs(90), || {
        index().0 == ids.len() as u64
    });
    // The gauges reach 0 inside the pass; the recovery is logged after it.
    wait_until("the lag gauges to reach 0", Duration::from_secs(30), || {
        metric(&s, "stemedb_archive_lag_segments") == 0.0
            && metric(&s, "stemedb_archive_lag_seconds") == 0.0
            && s.log().contains("archiving works again")
    });
    assert!(!s.log().contains(SECRET), "the secret reached the log");
    s.kill9();

    // Restore from the bucket alone (endpoint and credentials from the
    // environment, as an operator would), and serve.
    let restored = tmp.path().join("restored");
    std::fs::create_dir_all(&restored).expect("dir");
    let out = api(
        &[
            "restore",
            "--from",
            "s3://stemedb-archive/prod/node1",
            "--data-dir",
            restored.join("data").to_str().expect("utf-8"),
        ],
        &s3_env,
    );
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("downloaded"),
        "{}",
        text(&out)
    );
    serves_every_record(&restored, &ids);
}
