//! Helpers for the operations tests: where `deploy/` is, and external tools
//! (nginx, haproxy, promtool, prometheus, systemd-analyze) that are skipped
//! with a message outside CI and required in CI.

use std::path::PathBuf;
use std::process::{Command, Stdio};

/// The repository's `deploy/` directory.
pub fn deploy_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../deploy")
}

/// Finds `tool` on PATH (or in /usr/sbin, /sbin, where Debian puts nginx
/// and haproxy). `None` with a printed SKIPPED line outside CI; a panic in CI
/// (`.ci/run` installs every tool).
pub fn tool_or_skip(test: &str, tool: &str) -> Option<PathBuf> {
    if let Some(p) = find_tool(tool) {
        return Some(p);
    }
    if std::env::var_os("CI").is_some() {
        panic!("{test}: `{tool}` is not installed; .ci/run installs it");
    }
    eprintln!(
        "SKIPPED {test}: `{tool}` is not installed (apt-get install nginx-light haproxy prometheus)"
    );
    None
}

/// `tool`'s path when it can be run.
pub fn find_tool(tool: &str) -> Option<PathBuf> {
    let path = std::env::var("PATH").unwrap_or_default();
    let dirs = path
        .split(':')
        .map(PathBuf::from)
        .chain(["/usr/sbin", "/sbin", "/usr/bin"].map(PathBuf::from));
    for d in dirs {
        let p = d.join(tool);
        if p.is_file()
            && Command::new(&p)
                .arg("--version")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok()
        {
            return Some(p);
        }
    }
    None
}

/// Metric names a PromQL expression reads (functions, keywords, label
/// names, grouping clauses, ranges and string literals left out).
pub fn promql_metric_names(expr: &str) -> Vec<String> {
    // Drop string literals, label matchers and ranges.
    let mut flat = String::new();
    let mut skip_until: Option<char> = None;
    for ch in expr.chars() {
        match skip_until {
            Some(end) if ch == end => skip_until = None,
            Some(_) => {}
            None => match ch {
                '"' => skip_until = Some('"'),
                '{' => skip_until = Some('}'),
                '[' => skip_until = Some(']'),
                _ => flat.push(ch),
            },
        }
    }
    let chars: Vec<char> = flat.chars().collect();
    let ident = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == ':';
    let mut names = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        if !ident(chars[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < chars.len() && ident(chars[i]) {
            i += 1;
        }
        let word: String = chars[start..i].iter().collect();
        let mut j = i;
        while j < chars.len() && chars[j].is_whitespace() {
            j += 1;
        }
        let call = j < chars.len() && chars[j] == '(';
        let grouping = matches!(
            word.as_str(),
            "by" | "without" | "on" | "ignoring" | "group_left" | "group_right"
        );
        if grouping && call {
            // Skip the label list.
            while j < chars.len() && chars[j] != ')' {
                j += 1;
            }
            i = j;
            continue;
        }
        let keyword = matches!(
            word.as_str(),
            "and" | "or" | "unless" | "bool" | "offset" | "inf" | "nan" | "by" | "without"
                // Aggregations, which may be followed by a `by (...)` clause.
                | "sum" | "min" | "max" | "avg" | "count" | "group" | "stddev" | "stdvar"
                | "topk" | "bottomk" | "quantile" | "count_values"
        );
        if call || keyword || word.starts_with(|c: char| c.is_ascii_digit()) {
            continue;
        }
        names.push(word);
    }
    names
}

/// Every metric name used by `deploy/`'s alert rules and Grafana dashboard.
pub fn deploy_metric_names() -> Vec<String> {
    let rules = std::fs::read_to_string(deploy_dir().join("prometheus/stemedb-alerts.yml"))
        .expect("alert rules");
    let mut exprs: Vec<String> = rules
        .lines()
        .filter_map(|l| l.trim().strip_prefix("expr: "))
        .map(str::to_owned)
        .collect();
    let dash: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(deploy_dir().join("grafana/stemedb-cluster.json"))
            .expect("dashboard"),
    )
    .expect("dashboard JSON");
    for p in dash["panels"].as_array().expect("panels") {
        for t in p["targets"].as_array().into_iter().flatten() {
            if let Some(e) = t["expr"].as_str() {
                exprs.push(e.to_owned());
            }
        }
    }
    assert!(exprs.len() > 20, "found the expressions ({})", exprs.len());
    let mut names: Vec<String> = exprs.iter().flat_map(|e| promql_metric_names(e)).collect();
    names.sort();
    names.dedup();
    names
}

/// Sample names in a Prometheus text exposition.
pub fn exposed_names(text: &str) -> Vec<String> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(|l| l.split(['{', ' ']).next())
        .map(str::to_owned)
        .collect()
}
