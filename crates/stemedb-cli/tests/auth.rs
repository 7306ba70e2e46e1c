//! The CLI's `--token` / `STEMEDB_TOKEN` against a real server with API keys.

mod support;

use support::{Server, add_key};

#[test]
fn token_flag_and_env_carry_the_key_and_roles_apply() {
    let dir = tempfile::tempdir().expect("tmp");
    let file = dir.path().join("keys.toml");
    let reader = add_key(&file, "r", "reader");
    let writer = add_key(&file, "w", "writer");
    let admin = add_key(&file, "a", "admin");
    let s = Server::start_with(&[("STEMEDB_AUTH_KEYS_FILE", file.to_str().expect("path"))]);
    let assert_args = [
        "assert",
        "--subject",
        "drug:x",
        "--predicate",
        "dose",
        "--text",
        "5mg",
        "--agent",
        "fda",
    ];

    // No key: a clear 401 that says how to pass one.
    let out = s.cli(&assert_args);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("401") && err.contains("--token"), "{err}");

    // reader may query, may not write.
    let mut with = vec!["--token", reader.as_str()];
    with.extend_from_slice(&assert_args);
    let out = s.cli(&with);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("403") && err.contains("writer"), "{err}");
    let out = s.cli(&["--token", &reader, "query", "--subject", "drug:x"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // writer through the environment variable may write, not set trust.
    let out = s.cli_env(&assert_args, &[("STEMEDB_TOKEN", &writer)]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("created "));
    let trust = ["trust", "fda", "0.9"];
    let out = s.cli_env(&trust, &[("STEMEDB_TOKEN", &writer)]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("403"));

    // admin may set trust.
    let out = s.cli_env(&trust, &[("STEMEDB_TOKEN", &admin)]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
