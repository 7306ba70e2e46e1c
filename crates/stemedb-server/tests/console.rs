//! The web console against the real `stemedb-api` binary: the HTTP contract of
//! the shell and assets (always), and the views in headless Chromium driven by
//! `tests/console/browser.py` (Python selenium + chromedriver). The browser
//! test skips with a message when chromium, chromedriver or selenium are
//! missing, except under `CI=true`, where it fails instead (`.ci/run` installs them).
//!
//! A third test runs the cluster page against three nodes on 127.0.0.61-63.
//!
//! `CONSOLE_SCREENSHOTS=<dir>` keeps the screenshots there (the docs use
//! `docs/console`); otherwise they go to a temporary directory.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde_json::{Value, json};
use stemedb_testkit::server::{Server, assertion, signed_assertion};

const ADMIN_TOKEN: &str = "console-test-token";

fn id_of(r: &stemedb_testkit::server::Resp) -> String {
    assert_eq!(r.status, 201, "{}", r.body);
    r.json()["id"].as_str().expect("id").to_owned()
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .into()
}

struct Raw {
    status: u16,
    headers: ureq::http::HeaderMap,
    body: String,
}

fn raw_get(url: &str, headers: &[(&str, &str)]) -> Raw {
    let mut req = agent().get(url);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let mut r = req.call().unwrap_or_else(|e| panic!("GET {url}: {e}"));
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    let body = r.body_mut().read_to_string().unwrap_or_default();
    Raw {
        status,
        headers,
        body,
    }
}

fn header<'a>(r: &'a Raw, name: &str) -> &'a str {
    r.headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

#[test]
fn shell_and_assets_are_served_from_the_binary_with_caching_headers() {
    let s = Server::start(&[]);
    // One shell for `/` and every deep link, including odd subjects.
    let root = raw_get(&s.url("/"), &[]);
    assert_eq!(root.status, 200);
    assert_eq!(header(&root, "content-type"), "text/html; charset=utf-8");
    assert!(
        root.body.contains("/console/assets/app.js"),
        "{}",
        root.body
    );
    assert_eq!(header(&root, "cache-control"), "no-cache");
    assert!(
        header(&root, "content-security-policy").contains("default-src 'none'"),
        "CSP missing"
    );
    let etag = header(&root, "etag").to_owned();
    assert!(etag.starts_with('"') && etag.len() > 4, "etag {etag:?}");
    for path in [
        "/console",
        "/console/cluster",
        "/console/subjects/drug%3Asemaglutide",
        "/console/subjects/a%20b%2Fc%22%3Cscript%3E",
        "/console/subjects/%E6%97%A5%E6%9C%AC",
        "/console/records/00",
        "/console/anything/else",
    ] {
        let r = raw_get(&s.url(path), &[]);
        assert_eq!(r.status, 200, "{path}");
        assert_eq!(r.body, root.body, "{path} serves the shell");
        assert_eq!(header(&r, "etag"), etag, "{path}");
    }
    // Revalidation: 304 with the same ETag, 200 with another.
    let again = raw_get(&s.url("/"), &[("if-none-match", &etag)]);
    assert_eq!(again.status, 304);
    assert!(again.body.is_empty());
    assert_eq!(header(&again, "etag"), etag);
    let other = raw_get(&s.url("/"), &[("if-none-match", "\"nope\"")]);
    assert_eq!(other.status, 200);

    let mut total = root.body.len();
    for (name, ct, needle) in [
        ("app.js", "text/javascript; charset=utf-8", "import"),
        ("charts.js", "text/javascript; charset=utf-8", "parseProm"),
        ("console.css", "text/css; charset=utf-8", ":root"),
        ("favicon.svg", "image/svg+xml", "<svg"),
    ] {
        let r = raw_get(&s.url(&format!("/console/assets/{name}")), &[]);
        assert_eq!(r.status, 200, "{name}");
        assert_eq!(header(&r, "content-type"), ct, "{name}");
        assert_eq!(header(&r, "x-content-type-options"), "nosniff");
        assert!(r.body.contains(needle), "{name}");
        let tag = header(&r, "etag").to_owned();
        assert_ne!(tag, etag, "{name} has its own ETag");
        let r304 = raw_get(
            &s.url(&format!("/console/assets/{name}")),
            &[("if-none-match", &tag)],
        );
        assert_eq!(r304.status, 304, "{name}");
        total += r.body.len();
    }
    assert!(total <= 200 * 1024, "console weighs {total} bytes");
    s.get("/console/assets/nope.js")
        .assert_error(404, "not_found", Some("file"));
    s.get("/console/assets/..%2Fapp.js")
        .assert_error(404, "not_found", Some("file"));

    // The cluster status route on the API port: a clear single-node state.
    let r = s.get("/v1/cluster/status");
    assert_eq!(r.status, 200);
    let v = r.json();
    assert_eq!(v["mode"], "single");
    assert_eq!(v["members"], json!([]));
    assert_eq!(v["node_id"], Value::Null);

    // Documented in OpenAPI.
    let doc = s.get("/api-doc/openapi.json").json();
    for p in [
        "/",
        "/console/{path}",
        "/console/assets/{file}",
        "/v1/cluster/status",
    ] {
        assert!(doc["paths"].get(p).is_some(), "{p} not in OpenAPI");
    }
    assert!(
        doc["paths"]["/console/assets/{file}"]["get"]["responses"]
            .get("304")
            .is_some()
    );
}

/// Whether the browser stack is installed; `Err` names what is missing.
fn browser_stack() -> Result<(PathBuf, PathBuf), String> {
    let which = |names: &[&str]| {
        names.iter().find_map(|n| {
            std::env::var_os("PATH").and_then(|paths| {
                std::env::split_paths(&paths)
                    .map(|d| d.join(n))
                    .find(|p| p.is_file())
            })
        })
    };
    let chromium = which(&["chromium", "chromium-browser", "google-chrome"])
        .ok_or("chromium is not installed (apt-get install chromium)")?;
    let driver = which(&["chromedriver"])
        .ok_or("chromedriver is not installed (apt-get install chromium-driver)")?;
    let selenium = Command::new("python3")
        .args(["-c", "import selenium"])
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if !selenium {
        return Err("python3 selenium is not installed (pip install selenium)".into());
    }
    Ok((chromium, driver))
}

/// Seeds the data the browser script checks; returns the ids it needs.
fn seed(s: &Server) -> Value {
    let post = |body: Value| id_of(&s.post("/v1/assert", &body));
    let claim = |agent: &str, value: &str, ts: i64, conf: f64, class: Option<u8>| {
        let mut a = assertion("drug:semaglutide", "side_effect", value, agent);
        a["timestamp"] = json!(ts);
        a["confidence"] = json!(conf);
        if let Some(c) = class {
            a["source"] = json!({"uri": format!("https://example.org/{agent}"), "class": c});
        }
        a
    };
    let fda = post(claim("fda", "nausea", 1_700_000_000_000, 0.9, Some(0)));
    let trial = post(claim("trial-a", "nausea", 1_700_000_100_000, 0.7, Some(1)));
    let forum = post(claim(
        "forum-user-17",
        "hair loss",
        1_700_000_200_000,
        0.4,
        None,
    ));
    // A retracted claim, a vote, and a child in the lineage of the FDA claim.
    let mut wrong = claim("blogger", "headache", 1_700_000_050_000, 0.3, Some(5));
    wrong["object"]["value"] = json!("<img src=x onerror=\"window.__pwned=2\">");
    let wrong = post(wrong);
    let r = s.post(
        "/v1/retract",
        &json!({"target": wrong, "agent": "blogger", "reason": "typo", "timestamp": 1_700_000_060_000_i64}),
    );
    let retraction = id_of(&r);
    let r = s.post(
        "/v1/vote",
        &json!({"target": fda, "agent": "reviewer", "weight": 1.0, "timestamp": 1_700_000_070_000_i64}),
    );
    let vote = id_of(&r);
    let mut child = assertion("drug:semaglutide", "approval", "approved", "fda");
    child["timestamp"] = json!(1_700_000_300_000_i64);
    child["parent"] = json!(fda);
    child["lifecycle"] = json!("approved");
    let child = post(child);
    let (signed, _) = signed_assertion("drug:semaglutide", "label-v2");
    let signed = id_of(&s.post("/v1/assert", &signed));

    let odd = [
        "with space",
        "slash/inside/path",
        "quote\"s and 'apostrophes'",
        "<script>window.__pwned=1</script>",
        "日本語:東京 ✓",
        "50% & ?query=1#hash",
        "..",
    ];
    for (i, subj) in odd.iter().enumerate() {
        let mut a = assertion(subj, "name", &format!("value <b>{i}</b>"), "tester");
        a["timestamp"] = json!(1_700_000_000_000_i64 + i as i64);
        post(a);
    }
    for i in 0..5 {
        let mut a = assertion(&format!("page:{i:02}"), "n", &i.to_string(), "tester");
        a["timestamp"] = json!(1_700_000_000_000_i64 + i);
        post(a);
    }
    // A subject with 1,000 candidates (the render measurement).
    let batch: Vec<Value> = (0..1000)
        .map(|i| {
            let mut a = assertion(
                "bench:1000",
                "value",
                &format!("v{}", i % 7),
                &format!("agent-{i}"),
            );
            a["timestamp"] = json!(1_700_000_000_000_i64 + i);
            a["confidence"] = json!((i % 10) as f64 / 10.0);
            a["source"] = json!({"uri": format!("urn:bench:{i}"), "class": i % 6});
            a
        })
        .collect();
    let r = s.post("/v1/assertions", &Value::Array(batch));
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["failed"], 0, "{}", r.body);
    json!({
        "fda": fda, "trial": trial, "forum": forum, "retracted": wrong, "retraction": retraction,
        "vote": vote, "child": child, "signed": signed, "odd_subjects": odd,
        "admin_token": ADMIN_TOKEN,
    })
}

#[test]
fn console_views_in_headless_chromium() {
    let Some((chromium, driver)) = tools_or_skip("console_views_in_headless_chromium") else {
        return;
    };
    let s = Server::start(&[("STEMEDB_API_ADMIN_TOKEN", ADMIN_TOKEN)]);
    let seeded = seed(&s);
    let stdout = run_browser(&chromium, &driver, &s.url(""), &seeded, "single", &|| {
        s.log()
            .lines()
            .rev()
            .take(30)
            .collect::<Vec<_>>()
            .join("\n")
    });
    assert!(stdout.contains("ALL CONSOLE CHECKS PASSED"), "{stdout}");
}

/// The tools, or `None` after printing why the test is skipped (outside CI).
fn tools_or_skip(test: &str) -> Option<(PathBuf, PathBuf)> {
    let ci = std::env::var("CI").is_ok_and(|v| v == "true");
    match browser_stack() {
        Ok(found) => Some(found),
        Err(missing) if !ci => {
            println!("SKIP {test}: {missing}");
            None
        }
        Err(missing) => panic!("CI=true but {missing}; .ci/run installs it"),
    }
}

/// Runs `browser.py --checks <checks>` against `base`; panics with its output on failure.
fn run_browser(
    chromium: &Path,
    driver: &Path,
    base: &str,
    seeded: &Value,
    checks: &str,
    server_log: &dyn Fn() -> String,
) -> String {
    let tmp = tempfile::tempdir().expect("tempdir");
    let shots = match std::env::var_os("CONSOLE_SCREENSHOTS") {
        Some(d) => {
            let p = PathBuf::from(d);
            if p.is_absolute() {
                p
            } else {
                Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").join(p)
            }
        }
        None => tmp.path().join("shots"),
    };
    std::fs::create_dir_all(&shots).expect("screenshot dir");
    let seed_file = tmp.path().join("seed.json");
    std::fs::write(&seed_file, seeded.to_string()).expect("seed file");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/console/browser.py");
    let out = Command::new("python3")
        .arg(&script)
        .arg("--checks")
        .arg(checks)
        .arg("--base")
        .arg(base)
        .arg("--seed")
        .arg(&seed_file)
        .arg("--shots")
        .arg(&shots)
        .arg("--chromium")
        .arg(chromium)
        .arg("--driver")
        .arg(driver)
        .arg("--profile")
        .arg(tmp.path().join("profile"))
        .output()
        .expect("run python3");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("{stdout}");
    assert!(
        out.status.success(),
        "browser checks failed ({})\n--- stdout\n{stdout}\n--- stderr\n{stderr}\n--- server log (tail)\n{}",
        out.status,
        server_log()
    );
    stdout.into_owned()
}

#[test]
fn console_cluster_page_in_headless_chromium() {
    let Some((chromium, driver)) = tools_or_skip("console_cluster_page_in_headless_chromium")
    else {
        return;
    };
    const IPS: [&str; 3] = ["127.0.0.61", "127.0.0.62", "127.0.0.63"];
    let mut c = stemedb_testkit::Nodes::new(&IPS, &[], stemedb_testkit::free_base(&IPS));
    c.start_all();
    c.wait_formed(&[0, 1, 2], 3, Duration::from_secs(30));
    for i in 0..5 {
        c.write_ok(0, &format!("cluster:{i}"), "v");
    }
    let names = c.names();
    let base = c.api(0, "");
    let log = || c.log_tail(0);
    let seeded = json!({"cluster_nodes": names, "cluster_down": "node3"});
    let out = run_browser(&chromium, &driver, &base, &seeded, "cluster-up", &log);
    assert!(out.contains("ALL CONSOLE CHECKS PASSED"), "{out}");
    c.kill9(2);
    let log = || c.log_tail(0);
    let out = run_browser(&chromium, &driver, &base, &seeded, "cluster-down", &log);
    assert!(out.contains("ALL CONSOLE CHECKS PASSED"), "{out}");
}
