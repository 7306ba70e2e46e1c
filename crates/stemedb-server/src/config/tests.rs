//! Tests of the configuration loader.

use super::*;

fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn file(text: &str) -> tempfile::NamedTempFile {
    let f = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(f.path(), text).unwrap();
    f
}

#[test]
fn defaults_without_a_file() {
    let l = load(None, env(&[])).unwrap();
    assert_eq!(l.config.api.bind_addr, "0.0.0.0:18180");
    assert_eq!(l.config.storage.data_dir, PathBuf::from("./stemedb-data"));
    assert_eq!(l.config.api.max_body_bytes, 16 * 1024 * 1024);
    assert_eq!(l.config.api.max_batch, 10_000);
    assert!(!l.config.api.require_signatures);
    assert!(l.check_runnable().is_ok());
}

#[test]
fn file_values_and_env_overrides() {
    let f = file(
        "[api]\nbind_addr = \"127.0.0.1:9000\"\nmax_batch = 5\n[storage]\ndata_dir = \"/d\"\n\
         [replication]\nfactor = 3\non_minority = \"accept\"\n[cluster]\nseeds = [\"a:1\"]\n",
    );
    let l = load(
        Some(f.path()),
        env(&[
            ("STEMEDB_API_BIND_ADDR", "127.0.0.1:9001"),
            ("STEMEDB_STORAGE_QUEUE_DEPTH", "7"),
            ("STEMEDB_STORAGE_INDEX_WORKERS", "6"),
            ("STEMEDB_STORAGE_MAP_LOG_SEGMENTS", "false"),
            ("STEMEDB_CLUSTER_SEEDS", "x:1, y:2"),
            ("STEMEDB_LOG", "debug"),
        ]),
    )
    .unwrap();
    let c = &l.config;
    assert_eq!(c.api.bind_addr, "127.0.0.1:9001");
    assert_eq!(c.api.max_batch, 5);
    assert_eq!(c.storage.data_dir, PathBuf::from("/d"));
    assert_eq!(c.storage.queue_depth, 7);
    assert_eq!(c.replication.on_minority, OnMinority::Accept);
    assert_eq!(c.cluster.seeds, vec!["x:1", "y:2"]);
    assert_eq!(c.store_config().queue_depth, 7);
    assert_eq!(c.store_config().index_workers, 6);
    assert!(!c.store_config().map_log_segments);
    assert!(StorageConfig::default().map_log_segments);
    assert!(l.origin("api.bind_addr").contains("STEMEDB_API_BIND_ADDR"));
}

#[test]
fn unknown_key_names_key_and_file() {
    let f = file("[api]\nbind_adr = \"127.0.0.1:1\"\n");
    let e = load(Some(f.path()), env(&[])).unwrap_err().0;
    assert!(e.contains("bind_adr"), "{e}");
    assert!(e.contains(&f.path().display().to_string()), "{e}");
    let f = file("[apii]\n");
    let e = load(Some(f.path()), env(&[])).unwrap_err().0;
    assert!(e.contains("apii"), "{e}");
}

#[test]
fn bad_env_value_names_the_variable() {
    let e = load(None, env(&[("STEMEDB_API_MAX_BATCH", "lots")]))
        .unwrap_err()
        .0;
    assert!(e.contains("STEMEDB_API_MAX_BATCH"), "{e}");
    let e = load(None, env(&[("STEMEDB_API_BIND_ADDR", "nowhere")]))
        .unwrap_err()
        .0;
    assert!(
        e.contains("api.bind_addr") && e.contains("STEMEDB_API_BIND_ADDR"),
        "{e}"
    );
    // A misspelt key in a known section stops start-up, like one in the file.
    let e = load(None, env(&[("STEMEDB_API_MAX_BACTH", "5")]))
        .unwrap_err()
        .0;
    assert!(
        e.contains("STEMEDB_API_MAX_BACTH") && e.contains("[api]"),
        "{e}"
    );
    // An unknown section is reported; the client's and the log's variables are not.
    let l = load(
        None,
        env(&[
            ("STEMEDB_APII_BIND_ADDR", "1"),
            ("STEMEDB_LOG", "debug"),
            ("STEMEDB_TOKEN", "t"),
        ]),
    )
    .unwrap();
    assert_eq!(l.warnings.len(), 1, "{:?}", l.warnings);
    assert!(l.warnings[0].contains("STEMEDB_APII_BIND_ADDR"));
}

#[test]
fn validation_names_key_and_file() {
    let f = file("[replication]\nfactor = 1\nwrite_ack = 2\n");
    let e = load(Some(f.path()), env(&[])).unwrap_err().0;
    assert!(e.contains("replication.write_ack"), "{e}");
    assert!(e.contains(&f.path().display().to_string()), "{e}");
    let f = file("[replication]\non_minority = \"maybe\"\n");
    assert!(
        load(Some(f.path()), env(&[]))
            .unwrap_err()
            .0
            .contains("maybe")
    );
    let f = file("[storage]\nsegment_size = 10\n");
    let e = load(Some(f.path()), env(&[])).unwrap_err().0;
    assert!(e.contains("storage.segment_size"), "{e}");
}

#[test]
fn cluster_mode_needs_a_concrete_swim_addr() {
    let f = file("[cluster]\nenabled = true\nnode_id = \"n1\"\n");
    let l = load(Some(f.path()), env(&[])).unwrap();
    let e = l.check_runnable().unwrap_err().0;
    assert!(e.contains("cluster.swim_addr"), "{e}");
    let f = file("[cluster]\nenabled = true\nnode_id = \"n1\"\nswim_addr = \"127.0.0.2:18183\"\n");
    let l = load(Some(f.path()), env(&[])).unwrap();
    assert!(l.check_runnable().is_ok());
    assert_eq!(l.config.replication.anti_entropy_interval_ms, 30_000);
    let f = file("[cluster]\nenabled = true\n");
    let e = load(Some(f.path()), env(&[])).unwrap_err().0;
    assert!(e.contains("cluster.node_id"), "{e}");
}

#[test]
fn example_file_documents_the_defaults() {
    let text = include_str!("../../config.example.toml");
    assert_eq!(parse_str(text).unwrap(), Config::default());
}

#[test]
fn missing_explicit_file_is_an_error() {
    let e = load(Some(Path::new("/nonexistent/stemedb.toml")), env(&[]))
        .unwrap_err()
        .0;
    assert!(e.contains("/nonexistent/stemedb.toml"), "{e}");
}

#[test]
fn auth_limits_and_cors() {
    let f = file(
        "[api]\ncors_origins = [\"https://console.example\", \"http://127.0.0.1:8080\"]\n\
         [auth]\nkeys_file = \"/etc/stemedb/keys.toml\"\n[limits]\nper_ip_rps = 50\nburst = 100\n",
    );
    let l = load(Some(f.path()), env(&[("STEMEDB_LIMITS_PER_KEY_RPS", "20")])).unwrap();
    let c = &l.config;
    assert_eq!(c.api.cors_origins.len(), 2);
    assert_eq!(
        c.auth.as_ref().map(|a| a.keys_file.clone()),
        Some(PathBuf::from("/etc/stemedb/keys.toml"))
    );
    assert_eq!(
        (c.limits.per_key_rps, c.limits.per_ip_rps, c.limits.burst),
        (Some(20), Some(50), Some(100))
    );
    let l = load(None, env(&[])).unwrap();
    assert!(l.config.auth.is_none() && l.config.limits.per_ip_rps.is_none());
    let l = load(
        None,
        env(&[
            ("STEMEDB_AUTH_KEYS_FILE", "/k"),
            ("STEMEDB_API_CORS_ORIGINS", "*"),
        ]),
    )
    .unwrap();
    assert!(l.config.auth.is_some());
    assert_eq!(l.config.api.cors_origins, vec!["*".to_owned()]);
    for (var, val, key) in [
        ("STEMEDB_LIMITS_PER_IP_RPS", "0", "limits.per_ip_rps"),
        ("STEMEDB_LIMITS_BURST", "x", "STEMEDB_LIMITS_BURST"),
        (
            "STEMEDB_API_CORS_ORIGINS",
            "console.example",
            "api.cors_origins",
        ),
        (
            "STEMEDB_API_CORS_ORIGINS",
            "https://a.example/path",
            "api.cors_origins",
        ),
    ] {
        let e = load(None, env(&[(var, val)])).unwrap_err().to_string();
        assert!(e.contains(key), "{e}");
    }
    let f = file("[auth]\nkeys_fil = \"/k\"\n");
    assert!(load(Some(f.path()), env(&[])).is_err());
}

#[test]
fn archive_section_from_file_and_env() {
    let f = file(
        "[archive]\ntarget = \"s3://bkt/stemedb/n1\"\nendpoint = \"http://127.0.0.1:9000\"\n\
         allow_http = true\ninterval_ms = 500\n",
    );
    let l = load(
        Some(f.path()),
        env(&[
            ("STEMEDB_ARCHIVE_ACCESS_KEY_ID", "AKID"),
            ("STEMEDB_ARCHIVE_SECRET_ACCESS_KEY", "s3cr3t"),
            ("STEMEDB_ARCHIVE_SEAL_INTERVAL_MS", "0"),
        ]),
    )
    .unwrap();
    let a = &l.config.archive;
    assert_eq!(a.target.as_deref(), Some("s3://bkt/stemedb/n1"));
    assert_eq!(a.access_key_id.as_deref(), Some("AKID"));
    assert_eq!(a.secret_access_key.as_deref(), Some("s3cr3t"));
    assert_eq!((a.interval_ms, a.seal_interval_ms), (500, 0));
    assert_eq!(
        l.origin("archive.secret_access_key"),
        "environment variable STEMEDB_ARCHIVE_SECRET_ACCESS_KEY"
    );
    assert!(!format!("{:?}", l.config).contains("s3cr3t"));

    // Misspelt variables and bad values are refused, naming the key.
    let e = load(None, env(&[("STEMEDB_ARCHIVE_TARGTE", "file:///x")]))
        .unwrap_err()
        .0;
    assert!(e.contains("STEMEDB_ARCHIVE_TARGTE"), "{e}");
    for (var, value, key) in [
        ("STEMEDB_ARCHIVE_TARGET", "ftp://x/y", "archive.target"),
        (
            "STEMEDB_ARCHIVE_TARGET",
            "file://relative",
            "archive.target",
        ),
        ("STEMEDB_ARCHIVE_INTERVAL_MS", "5", "archive.interval_ms"),
        (
            "STEMEDB_ARCHIVE_ACCESS_KEY_ID",
            "only-half",
            "archive.access_key_id",
        ),
    ] {
        let e = load(None, env(&[(var, value)])).unwrap_err().0;
        assert!(e.contains(key) && e.contains(var), "{var}={value}: {e}");
    }
    // A plain-HTTP endpoint needs allow_http.
    let f = file("[archive]\ntarget = \"s3://bkt\"\nendpoint = \"http://127.0.0.1:9000\"\n");
    let e = load(Some(f.path()), env(&[])).unwrap_err().0;
    assert!(
        e.contains("archive.endpoint") && e.contains("allow_http"),
        "{e}"
    );
}
