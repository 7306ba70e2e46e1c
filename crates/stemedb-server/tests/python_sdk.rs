//! The Python SDK (`clients/python`): its pytest suite against this build's
//! `stemedb-api`, plus `mypy --strict` and `ruff` on the package.
//!
//! Needs `python3` with the package's dependencies and dev extras
//! (`pip install './clients/python[dev]'`, done by `.ci/run`). Outside CI the
//! test is skipped with a message when they are missing; with `CI=true` it fails.
//! The suite imports the package from `clients/python/src` of this checkout
//! (not a possibly stale installed copy).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
}

fn python(args: &[&str], scratch: &Path) -> std::io::Result<Output> {
    let root = repo();
    let pkg = root.join("clients/python");
    Command::new("python3")
        .args(args)
        .current_dir(&pkg)
        .env("PYTHONPATH", pkg.join("src"))
        .env("STEMEDB_API_BIN", env!("CARGO_BIN_EXE_stemedb-api"))
        .env("MYPY_CACHE_DIR", scratch.join("mypy"))
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .output()
}

fn show(out: &Output) -> String {
    format!(
        "exit {:?}\n--- stdout\n{}\n--- stderr\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Whether python3 and every module the suite needs are importable; the reason when not.
fn missing_tools(scratch: &Path) -> Option<String> {
    let probe = "import httpx, blake3, cryptography, pytest, mypy, ruff";
    match python(&["-c", probe], scratch) {
        Err(e) => Some(format!("python3 not runnable: {e}")),
        Ok(out) if !out.status.success() => Some(format!(
            "python modules missing (pip install './clients/python[dev]'): {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )),
        Ok(_) => None,
    }
}

#[test]
fn python_sdk_suite_typecheck_and_lint() {
    let scratch = tempfile::tempdir().expect("tempdir");
    if let Some(reason) = missing_tools(scratch.path()) {
        assert!(
            !in_ci(),
            "CI=true but the Python SDK suite cannot run: {reason}"
        );
        eprintln!("SKIPPED python_sdk: {reason}");
        return;
    }

    let pytest = python(
        &["-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"],
        scratch.path(),
    )
    .expect("run pytest");
    // Exit code 5 means "no tests collected": a suite that ran nothing is a failure too.
    assert_eq!(
        pytest.status.code(),
        Some(0),
        "pytest failed: {}",
        show(&pytest)
    );
    let summary = String::from_utf8_lossy(&pytest.stdout);
    assert!(
        summary.contains(" passed") && !summary.contains(" skipped"),
        "pytest passed nothing or skipped tests: {}",
        show(&pytest)
    );

    let mypy = python(&["-m", "mypy", "--strict"], scratch.path()).expect("run mypy");
    assert!(mypy.status.success(), "mypy --strict: {}", show(&mypy));

    for args in [
        &["-m", "ruff", "check", "--no-cache", "."][..],
        &["-m", "ruff", "format", "--no-cache", "--check", "."][..],
    ] {
        let out = python(args, scratch.path()).expect("run ruff");
        assert!(
            out.status.success(),
            "ruff {:?}: {}",
            &args[2..],
            show(&out)
        );
    }
}
