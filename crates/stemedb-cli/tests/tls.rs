//! The CLI over HTTPS against a real server with TLS and API keys;
//! certificates are generated at run time (rcgen): `--cacert` trusts a
//! private CA, the key travels inside TLS, and a client that does not trust
//! the server's certificate stops with an error that says so.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};
use support::{Server, add_key};

/// A self-signed CA written to `<dir>/<stem>-ca.pem`, and (optionally) a
/// server certificate for 127.0.0.1 signed by it.
fn ca(dir: &Path, stem: &str, server: bool) -> (PathBuf, Option<(PathBuf, PathBuf)>) {
    let key = KeyPair::generate().expect("CA key");
    let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params
        .distinguished_name
        .push(DnType::CommonName, format!("{stem} test CA"));
    let cert = params.self_signed(&key).expect("CA cert");
    let ca_path = dir.join(format!("{stem}-ca.pem"));
    std::fs::write(&ca_path, cert.pem()).expect("write CA");
    if !server {
        return (ca_path, None);
    }
    let issuer = rcgen::Issuer::new(params, key);
    let skey = KeyPair::generate().expect("server key");
    let sparams = CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])
        .expect("server params");
    let scert = sparams.signed_by(&skey, &issuer).expect("server cert");
    let (c, k) = (dir.join("server.crt"), dir.join("server.key"));
    std::fs::write(&c, scert.pem()).expect("write cert");
    std::fs::write(&k, skey.serialize_pem()).expect("write key");
    (ca_path, Some((c, k)))
}

#[test]
fn cli_talks_https_with_cacert_and_refuses_an_untrusted_certificate() {
    let tmp = tempfile::tempdir().expect("tmp");
    let (good_ca, server) = ca(tmp.path(), "good", true);
    let (cert, key) = server.expect("server certificate");
    let (other_ca, _) = ca(tmp.path(), "other", false);
    let keys = tmp.path().join("keys.toml");
    let writer = add_key(&keys, "ingest", "writer");
    let s = Server::start_tls(
        &[
            ("STEMEDB_API_TLS_CERT", cert.to_str().expect("path")),
            ("STEMEDB_API_TLS_KEY", key.to_str().expect("path")),
            ("STEMEDB_AUTH_KEYS_FILE", keys.to_str().expect("path")),
        ],
        &good_ca,
    );
    assert!(s.url.starts_with("https://"), "{}", s.url);
    let good = good_ca.to_str().expect("path");

    // Trusting the server's CA: write and read back, the key inside TLS.
    let out = s.ok(&[
        "--cacert",
        good,
        "--token",
        &writer,
        "assert",
        "--subject",
        "drug:x",
        "--predicate",
        "dose",
        "--text",
        "5mg",
        "--agent",
        "fda",
    ]);
    assert!(out.contains("created"), "{out}");
    let out = s.ok(&[
        "--cacert",
        good,
        "--token",
        &writer,
        "query",
        "--subject",
        "drug:x",
    ]);
    assert!(out.contains("5mg"), "{out}");
    // STEMEDB_CACERT does the same as --cacert.
    let out = s.cli_env(
        &["--token", &writer, "query", "--subject", "drug:x"],
        &[("STEMEDB_CACERT", good)],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // No --cacert (public web roots) or another CA: refused, and the error
    // says it is about the certificate; nothing is sent in the clear.
    for extra in [vec![], vec!["--cacert", other_ca.to_str().expect("path")]] {
        let mut args = extra.clone();
        args.extend(["--token", &writer, "query", "--subject", "drug:x"]);
        let out = s.cli(&args);
        let err = String::from_utf8_lossy(&out.stderr).to_lowercase();
        assert!(!out.status.success(), "{extra:?} must fail");
        assert!(
            err.contains("certificate") || err.contains("issuer"),
            "{extra:?}: {err}"
        );
    }

    // A CA file that does not exist or holds no certificate: named in the error.
    let missing = tmp.path().join("missing.pem");
    let out = s.cli(&[
        "--cacert",
        missing.to_str().expect("path"),
        "query",
        "--subject",
        "x",
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("missing.pem"), "{err}");
    let out = s.cli(&[
        "--cacert",
        key.to_str().expect("path"),
        "query",
        "--subject",
        "x",
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("server.key") && err.contains("CERTIFICATE"),
        "{err}"
    );

    // Plain http to the TLS port fails instead of talking in the clear.
    let plain = s.url.replacen("https://", "http://", 1);
    let out = Command::new(env!("CARGO_BIN_EXE_stemedb"))
        .args([
            "--server",
            &plain,
            "--token",
            &writer,
            "query",
            "--subject",
            "drug:x",
        ])
        .env_remove("STEMEDB_TOKEN")
        .output()
        .expect("run stemedb");
    assert!(!out.status.success(), "http:// to a TLS port must fail");
}
