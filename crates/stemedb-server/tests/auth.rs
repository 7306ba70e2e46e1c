//! API keys, roles, revocation, rate limits and CORS against the real
//! `stemedb-api` binary (SPEC §7; docs/security.md).

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use stemedb_testkit::server::{Server, assertion};

/// One exchange with every response header kept.
struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
    fn code(&self) -> String {
        self.json()["error"]["code"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .into()
}

fn call(s: &Server, method: &str, path: &str, token: Option<&str>, body: Option<&Value>) -> Reply {
    call_h(s, method, path, token, body, &[])
}

fn call_h(
    s: &Server,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&Value>,
    extra: &[(&str, &str)],
) -> Reply {
    let a = agent();
    let url = s.url(path);
    let auth = token.map(|t| format!("Bearer {t}"));
    let res = match (method, body) {
        ("GET", _) | ("OPTIONS", _) => {
            let mut r = if method == "GET" {
                a.get(&url)
            } else {
                a.options(&url)
            };
            if let Some(h) = &auth {
                r = r.header("authorization", h);
            }
            for (k, v) in extra {
                r = r.header(*k, *v);
            }
            r.call()
        }
        (m, b) => {
            let mut r = if m == "PUT" {
                a.put(&url)
            } else {
                a.post(&url)
            };
            if let Some(h) = &auth {
                r = r.header("authorization", h);
            }
            for (k, v) in extra {
                r = r.header(*k, *v);
            }
            r.content_type("application/json")
                .send(b.map(Value::to_string).unwrap_or_default())
        }
    };
    let mut r = res.unwrap_or_else(|e| panic!("{method} {path}: {e}"));
    let headers = r
        .headers()
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or_default().to_owned()))
        .collect();
    Reply {
        status: r.status().as_u16(),
        headers,
        body: r.body_mut().read_to_string().unwrap_or_default(),
    }
}

/// `stemedb-api keys ARGS`: (success, stdout, stderr).
fn keys(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_stemedb-api"))
        .arg("keys")
        .args(args)
        .output()
        .expect("run stemedb-api keys");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn add_key(file: &Path, name: &str, role: &str) -> String {
    let f = file.to_str().expect("path");
    let (ok, out, err) = keys(&["add", "--keys-file", f, "--name", name, "--role", role]);
    assert!(ok, "keys add: {err}");
    let secret = out.trim().to_owned();
    assert!(secret.starts_with("stm_") && secret.len() == 68, "{out}");
    secret
}

fn id_of(r: &Reply) -> String {
    assert_eq!(r.status, 201, "{}", r.body);
    r.json()["id"].as_str().expect("id").to_owned()
}

/// The log without ANSI colour codes.
fn plain(log: &str) -> String {
    let mut out = String::with_capacity(log.len());
    let mut chars = log.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for d in chars.by_ref() {
                if d.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Polls until `f` holds (the server reloads the keys file about every second).
fn eventually(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !f() {
        assert!(Instant::now() < deadline, "never happened: {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn keys_roles_and_revocation_without_restart() {
    let dir = tempfile::tempdir().expect("tmp");
    let file = dir.path().join("keys.toml");
    let f = file.to_str().expect("path");
    let reader = add_key(&file, "dashboard", "reader");
    let writer = add_key(&file, "ingest", "writer");
    let admin = add_key(&file, "ops", "admin");
    let (ok, _, err) = keys(&[
        "add",
        "--keys-file",
        f,
        "--name",
        "ingest",
        "--role",
        "reader",
    ]);
    assert!(!ok && err.contains("already exists"), "{err}");
    let (ok, _, err) = keys(&["add", "--keys-file", f, "--name", "x", "--role", "root"]);
    assert!(!ok && err.contains("root"), "{err}");

    // `keys list`: names and roles, never secrets or hashes.
    let (ok, list, _) = keys(&["list", "--keys-file", f]);
    assert!(ok);
    for (name, role) in [
        ("dashboard", "reader"),
        ("ingest", "writer"),
        ("ops", "admin"),
    ] {
        assert!(
            list.lines()
                .any(|l| l.starts_with(name) && l.contains(role)),
            "{list}"
        );
    }
    let stored = std::fs::read_to_string(&file).expect("keys file");
    for secret in [&reader, &writer, &admin] {
        assert!(!list.contains(&secret[4..20]) && !stored.contains(secret.as_str()));
    }
    for line in stored.lines().filter(|l| l.starts_with("hash")) {
        let hash = line.split('"').nth(1).expect("hash value");
        assert!(!list.contains(hash), "list shows a hash: {list}");
    }

    let s = Server::start(&[("STEMEDB_AUTH_KEYS_FILE", f)]);
    assert!(s.log().contains("API keys required"), "{}", s.log());

    // Probes and docs need no key; everything else does.
    assert_eq!(call(&s, "GET", "/v1/health", None, None).status, 200);
    assert_eq!(call(&s, "GET", "/v1/ready", None, None).status, 200);
    assert_eq!(
        call(&s, "GET", "/api-doc/openapi.json", None, None).status,
        200
    );
    let none = call(&s, "GET", "/v1/query?subject=a", None, None);
    assert_eq!((none.status, none.code()), (401, "unauthorized".into()));
    assert_eq!(none.header("www-authenticate"), Some("Bearer"));
    let unknown = call(&s, "GET", "/v1/query?subject=a", Some("stm_00"), None);
    assert_eq!(unknown.status, 401);
    assert_eq!(call(&s, "GET", "/metrics", None, None).status, 401);
    assert_eq!(call(&s, "GET", "/metrics", Some(&reader), None).status, 200);

    // reader: GET only.
    let a = assertion("drug:x", "dose", "5mg", "fda");
    assert_eq!(
        call(&s, "GET", "/v1/query?subject=drug:x", Some(&reader), None).status,
        200
    );
    let r = call(&s, "POST", "/v1/assert", Some(&reader), Some(&a));
    assert_eq!(
        (r.status, r.code()),
        (403, "forbidden".into()),
        "{}",
        r.body
    );
    assert!(r.body.contains("writer"), "{}", r.body);

    // writer: writes, votes, own retractions; not trust, epochs, others' retractions.
    let mine = id_of(&call(&s, "POST", "/v1/assert", Some(&writer), Some(&a)));
    let theirs = id_of(&call(
        &s,
        "POST",
        "/v1/assert",
        Some(&writer),
        Some(&assertion("drug:x", "dose", "6mg", "ema")),
    ));
    let vote = json!({"target": mine, "agent": "fda", "weight": 1.0});
    id_of(&call(&s, "POST", "/v1/vote", Some(&writer), Some(&vote)));
    let trust = json!({"score": 0.9});
    let r = call(
        &s,
        "PUT",
        "/v1/agents/fda/trust",
        Some(&writer),
        Some(&trust),
    );
    assert_eq!(r.status, 403, "{}", r.body);
    let epoch = json!({"name": "v2", "subject_prefix": "drug:", "supersedes": null, "reason": "r", "agent": "fda"});
    assert_eq!(
        call(&s, "POST", "/v1/epochs", Some(&writer), Some(&epoch)).status,
        403
    );
    let retract_theirs = json!({"target": theirs, "agent": "fda", "reason": "wrong"});
    let r = call(
        &s,
        "POST",
        "/v1/retract",
        Some(&writer),
        Some(&retract_theirs),
    );
    assert_eq!(
        (r.status, r.code()),
        (403, "forbidden".into()),
        "{}",
        r.body
    );
    id_of(&call(
        &s,
        "POST",
        "/v1/retract",
        Some(&writer),
        Some(&json!({"target": mine, "agent": "fda"})),
    ));
    // A batch from a writer: the trust item is refused, the assertion stored.
    let batch = json!([
        assertion("drug:y", "dose", "1mg", "fda"),
        {"kind": "trust", "agent": "fda", "score": 0.1},
    ]);
    let r = call(&s, "POST", "/v1/assertions", Some(&writer), Some(&batch));
    assert_eq!(r.status, 200, "{}", r.body);
    let v = r.json();
    assert_eq!(
        (v["created"].clone(), v["failed"].clone()),
        (json!(1), json!(1)),
        "{v}"
    );
    assert_eq!(v["results"][1]["error"]["code"], "forbidden");

    // admin: trust, epochs, retraction of any assertion.
    id_of(&call(
        &s,
        "PUT",
        "/v1/agents/fda/trust",
        Some(&admin),
        Some(&trust),
    ));
    id_of(&call(&s, "POST", "/v1/epochs", Some(&admin), Some(&epoch)));
    id_of(&call(
        &s,
        "POST",
        "/v1/retract",
        Some(&admin),
        Some(&retract_theirs),
    ));
    let v = call(
        &s,
        "GET",
        &format!("/v1/assertions/{theirs}"),
        Some(&reader),
        None,
    )
    .json();
    assert!(v["retraction"].is_object(), "{v}");

    // Revocation takes effect without a restart; the answer is the same 401.
    let (ok, _, err) = keys(&["revoke", "--keys-file", f, "--name", "ingest"]);
    assert!(ok, "{err}");
    eventually("revoked writer key refused", || {
        call(&s, "GET", "/v1/query?subject=a", Some(&writer), None).status == 401
    });
    let r = call(&s, "POST", "/v1/assert", Some(&writer), Some(&a));
    assert_eq!((r.status, r.body.clone()), (401, unknown.body.clone()));
    let (ok, list, _) = keys(&["list", "--keys-file", f]);
    assert!(
        ok && list
            .lines()
            .any(|l| l.starts_with("ingest") && !l.ends_with(" -")),
        "{list}"
    );

    // A broken file keeps the old keys (and says so in the log).
    std::fs::write(&file, "this is [not toml").expect("write");
    eventually("bad reload logged", || s.log().contains("NOT reloaded"));
    assert!(s.log().contains(f), "error names the file: {}", s.log());
    assert_eq!(
        call(&s, "GET", "/v1/query?subject=a", Some(&reader), None).status,
        200
    );

    // SIGHUP reloads too; a new key works at once after it.
    std::fs::remove_file(&file).expect("rm");
    let fresh = add_key(&file, "fresh", "reader");
    // SAFETY: signalling our own child process.
    unsafe {
        libc::kill(i32::try_from(s.pid()).expect("pid"), libc::SIGHUP);
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    while !plain(&s.log()).contains("by_signal=true") {
        assert!(
            Instant::now() < deadline,
            "no reload by SIGHUP: {}",
            s.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(
        call(&s, "GET", "/v1/query?subject=a", Some(&fresh), None).status,
        200
    );
    assert_eq!(
        call(&s, "GET", "/v1/query?subject=a", Some(&reader), None).status,
        401
    );
    for secret in [&reader, &writer, &admin, &fresh] {
        assert!(!s.log().contains(secret.as_str()), "secret in the log");
    }
}

#[test]
fn malformed_or_missing_keys_file_stops_startup() {
    let dir = tempfile::tempdir().expect("tmp");
    for (name, text) in [
        (
            "bad.toml",
            Some("[[key]]\nname = \"a\"\nrole = \"superuser\"\nhash = \"00\"\ncreated = \"x\"\n"),
        ),
        ("absent.toml", None),
    ] {
        let file = dir.path().join(name);
        if let Some(t) = text {
            std::fs::write(&file, t).expect("write");
        }
        let work = tempfile::tempdir().expect("tmp");
        let s = Server::prepare(
            work.path(),
            &[("STEMEDB_AUTH_KEYS_FILE", file.to_str().expect("p"))],
        );
        let out = s.command().output().expect("run");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "started with {name}");
        assert!(
            err.contains(file.to_str().expect("p")),
            "error names the file: {err}"
        );
    }
}

#[test]
fn open_server_warns_and_admin_token_is_an_admin() {
    let s = Server::start(&[("STEMEDB_API_ADMIN_TOKEN", "tok")]);
    assert!(s.log().contains("no [auth] section"), "{}", s.log());
    let a = assertion("s", "p", "v", "alice");
    let id = id_of(&call(&s, "POST", "/v1/assert", None, Some(&a)));
    let other = json!({"target": id, "agent": "bob"});
    assert_eq!(
        call(&s, "POST", "/v1/retract", None, Some(&other)).status,
        403
    );
    id_of(&call(&s, "POST", "/v1/retract", Some("tok"), Some(&other)));
    assert_eq!(
        call(&s, "GET", "/v1/query?subject=s", None, None).status,
        200
    );
}

#[test]
fn rate_limits_per_key_and_per_ip() {
    let dir = tempfile::tempdir().expect("tmp");
    let file = dir.path().join("keys.toml");
    let one = add_key(&file, "one", "reader");
    let two = add_key(&file, "two", "reader");
    let s = Server::start(&[
        ("STEMEDB_AUTH_KEYS_FILE", file.to_str().expect("p")),
        ("STEMEDB_LIMITS_PER_KEY_RPS", "1"),
        ("STEMEDB_LIMITS_BURST", "3"),
    ]);
    // At most 3 at once and 1 more per second: 12 quick requests cannot all pass.
    let replies: Vec<Reply> = (0..12)
        .map(|_| call(&s, "GET", "/v1/subjects", Some(&one), None))
        .collect();
    let limited: Vec<&Reply> = replies.iter().filter(|r| r.status == 429).collect();
    assert!(!limited.is_empty(), "no 429 in 12 requests");
    assert!(replies.iter().all(|r| r.status == 200 || r.status == 429));
    let r = limited[0];
    assert_eq!(r.code(), "rate_limited");
    let secs: u64 = r
        .header("retry-after")
        .expect("Retry-After")
        .parse()
        .expect("seconds");
    assert!(secs >= 1, "{secs}");
    // Another key has its own bucket; probes are never limited.
    assert_eq!(
        call(&s, "GET", "/v1/subjects", Some(&two), None).status,
        200
    );
    for _ in 0..10 {
        assert_eq!(call(&s, "GET", "/v1/health", None, None).status, 200);
    }
    let m = call(&s, "GET", "/metrics", Some(&two), None);
    assert!(
        m.body
            .contains("stemedb_throttled_requests_total{by=\"key\"}"),
        "{}",
        m.body
    );
    drop(s);

    let s = Server::start(&[
        ("STEMEDB_LIMITS_PER_IP_RPS", "1"),
        ("STEMEDB_LIMITS_BURST", "2"),
    ]);
    let replies: Vec<u16> = (0..10)
        .map(|_| call(&s, "GET", "/v1/subjects", None, None).status)
        .collect();
    assert!(replies.contains(&429), "{replies:?}");
    assert_eq!(call(&s, "GET", "/v1/health", None, None).status, 200);
}

#[test]
fn cors_preflight_allows_listed_origins_only() {
    let s = Server::start(&[(
        "STEMEDB_API_CORS_ORIGINS",
        "https://console.example, http://localhost:8080",
    )]);
    let preflight = |origin: &str| {
        call_h(
            &s,
            "OPTIONS",
            "/v1/assert",
            None,
            None,
            &[
                ("origin", origin),
                ("access-control-request-method", "POST"),
                (
                    "access-control-request-headers",
                    "authorization, content-type",
                ),
            ],
        )
    };
    let ok = preflight("https://console.example");
    assert!(ok.status < 300, "{} {}", ok.status, ok.body);
    assert_eq!(
        ok.header("access-control-allow-origin"),
        Some("https://console.example")
    );
    let methods = ok
        .header("access-control-allow-methods")
        .unwrap_or_default()
        .to_owned();
    assert!(methods.contains("POST"), "{methods}");
    let headers = ok
        .header("access-control-allow-headers")
        .unwrap_or_default()
        .to_ascii_lowercase();
    assert!(headers.contains("authorization"), "{headers}");

    let refused = preflight("https://evil.example");
    assert_eq!(refused.header("access-control-allow-origin"), None);

    // A simple cross-origin GET from the allowed origin carries the header too.
    let r = call_h(
        &s,
        "GET",
        "/v1/health",
        None,
        None,
        &[("origin", "http://localhost:8080")],
    );
    assert_eq!(
        r.header("access-control-allow-origin"),
        Some("http://localhost:8080")
    );
    let r = call_h(
        &s,
        "GET",
        "/v1/health",
        None,
        None,
        &[("origin", "https://evil.example")],
    );
    assert_eq!(r.header("access-control-allow-origin"), None);
}

#[test]
fn openapi_documents_bearer_auth_and_its_errors() {
    // With keys, every gated route needs a bearer key.
    let dir = tempfile::tempdir().expect("tmp");
    let file = dir.path().join("keys.toml");
    add_key(&file, "ops", "admin");
    let s = Server::start(&[("STEMEDB_AUTH_KEYS_FILE", file.to_str().expect("path"))]);
    let doc = call(&s, "GET", "/api-doc/openapi.json", None, None).json();
    assert_eq!(
        doc["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
    let op = &doc["paths"]["/v1/assert"]["post"];
    for code in ["401", "403", "429"] {
        assert!(
            op["responses"][code].is_object(),
            "{code} missing on POST /v1/assert"
        );
    }
    assert_eq!(op["security"], json!([{"bearer": []}]));
    let q = &doc["paths"]["/v1/query"]["get"]["responses"];
    assert!(q["401"].is_object() && q["429"].is_object() && q["403"].is_null());
    assert!(doc["paths"]["/v1/agents/{agent}/trust"]["put"]["responses"]["403"].is_object());
    assert!(doc["paths"]["/v1/health"]["get"]["responses"]["401"].is_null());
    drop(s);

    // An open server takes anonymous callers: no security requirement, and
    // 401 only for a credential it cannot accept; with api.admin_token the
    // admin routes need it and the others take it optionally.
    let s = Server::start(&[]);
    let doc = call(&s, "GET", "/api-doc/openapi.json", None, None).json();
    let op = &doc["paths"]["/v1/assert"]["post"];
    assert!(op["security"].is_null(), "{}", op["security"]);
    assert!(op["responses"]["401"].is_object() && op["responses"]["403"].is_null());
    drop(s);
    let s = Server::start(&[("STEMEDB_API_ADMIN_TOKEN", "fuzz-admin-token-0123456789")]);
    let doc = call(&s, "GET", "/api-doc/openapi.json", None, None).json();
    assert_eq!(
        doc["paths"]["/v1/assert"]["post"]["security"],
        json!([{}, {"bearer": []}])
    );
    assert_eq!(
        doc["paths"]["/v1/epochs"]["post"]["security"],
        json!([{"bearer": []}])
    );
}
