//! Human-readable rendering of query answers: per (subject, predicate) the
//! lens resolution, then a table of candidates.

use std::fmt::Write as _;

use serde_json::Value;

/// Formats ms since the Unix epoch as `YYYY-MM-DDTHH:MM:SS.mmmZ` (UTC).
pub fn format_ts(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let milli = ms.rem_euclid(1000);
    let days = secs.div_euclid(86_400);
    let tod = secs.rem_euclid(86_400);
    let (y, m, d) = stemedb_records::hlc::civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{milli:03}Z",
        tod / 3600,
        tod % 3600 / 60,
        tod % 60
    )
}

fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_owned()
    } else {
        let mut t: String = s.chars().take(max.saturating_sub(1)).collect();
        t.push('…');
        t
    }
}

/// Formats an object value `{"type", "value"}` for a table cell.
pub fn format_value(v: &Value) -> String {
    let inner = v.get("value").unwrap_or(&Value::Null);
    match v.get("type").and_then(Value::as_str) {
        Some("text") => truncate(&inner.to_string(), 48),
        Some("ref") => truncate(&format!("→{}", inner.as_str().unwrap_or_default()), 48),
        _ if v.is_null() => "—".into(),
        Some(_) => inner.to_string(),
        None => truncate(&v.to_string(), 48),
    }
}

fn num(v: Option<&Value>) -> String {
    v.and_then(Value::as_f64)
        .map(|f| format!("{f:.2}"))
        .unwrap_or_else(|| "-".into())
}

fn short_ids(v: Option<&Value>) -> String {
    let ids: Vec<String> = v
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(|s| s.chars().take(12).collect())
                .collect()
        })
        .unwrap_or_default();
    ids.join(",")
}

/// One line describing a resolution (lens, winner, confidence, conflict, ...).
pub fn resolution_line(r: &Value) -> String {
    let lens = r.get("lens").and_then(Value::as_str).unwrap_or("lens");
    let mut s = String::new();
    match r.get("value").filter(|v| !v.is_null()) {
        Some(v) => {
            let _ = write!(s, "{lens}: {}", format_value(v));
        }
        None if lens == "skeptic" => {
            let _ = write!(s, "{lens}:");
        }
        None => {
            let _ = write!(s, "{lens}: (no value survives the filters)");
        }
    }
    let _ = write!(
        s,
        "  confidence {}  conflict {}  candidates {}",
        num(r.get("confidence")),
        num(r.get("conflict")),
        r.get("candidates").and_then(Value::as_u64).unwrap_or(0)
    );
    if let Some(st) = r.get("status").and_then(Value::as_str) {
        let _ = write!(s, "  status {st}");
    }
    let winners = short_ids(r.get("winners"));
    if !winners.is_empty() {
        let _ = write!(s, "  winners {winners}");
    }
    s
}

fn render_resolution(out: &mut String, r: &Value, indent: &str) {
    let _ = writeln!(out, "{indent}{}", resolution_line(r));
    let lens = r.get("lens").and_then(Value::as_str).unwrap_or_default();
    if lens == "skeptic" || lens == "consensus" {
        for e in r
            .get("explanation")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let _ = writeln!(
                out,
                "{indent}    {}  support {}  share {}",
                format_value(e.get("value").unwrap_or(&Value::Null)),
                num(e.get("support")),
                num(e.get("share"))
            );
        }
    }
    for c in r
        .get("classes")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let class = c.get("class").and_then(Value::as_u64).unwrap_or(6);
        if let Some(cr) = c.get("resolution") {
            let _ = writeln!(out, "{indent}  class {class}: {}", resolution_line(cr));
        }
    }
}

/// Renders a whole `/v1/query` answer as text tables.
pub fn query_table(resp: &Value) -> String {
    let mut out = String::new();
    let results = resp
        .get("results")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    if results.is_empty() {
        out.push_str("no results\n");
        return out;
    }
    for (i, r) in results.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        let s = r.get("subject").and_then(Value::as_str).unwrap_or("?");
        let p = r.get("predicate").and_then(Value::as_str).unwrap_or("?");
        let _ = writeln!(out, "{s}  {p}");
        if let Some(res) = r.get("resolution").filter(|v| !v.is_null()) {
            render_resolution(&mut out, res, "  ");
        }
        let cands = r
            .get("candidates")
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or_default();
        let mut rows = vec![[
            "ID".to_owned(),
            "VALUE".into(),
            "AGENT".into(),
            "CONF".into(),
            "TIMESTAMP".into(),
            "RETRACTED".into(),
        ]];
        for c in cands {
            let text = |k: &str| c.get(k).and_then(Value::as_str).unwrap_or_default();
            rows.push([
                text("id").chars().take(12).collect(),
                format_value(c.get("object").unwrap_or(&Value::Null)),
                truncate(text("agent"), 20),
                num(c.get("confidence")),
                c.get("timestamp")
                    .and_then(Value::as_i64)
                    .map(format_ts)
                    .unwrap_or_default(),
                if c.get("retracted").and_then(Value::as_bool) == Some(true) {
                    "yes".into()
                } else {
                    String::new()
                },
            ]);
        }
        let mut widths = [0usize; 6];
        for row in &rows {
            for (w, cell) in widths.iter_mut().zip(row) {
                *w = (*w).max(cell.chars().count());
            }
        }
        for row in &rows {
            let mut line = String::from("  ");
            for (k, (w, cell)) in widths.iter().zip(row).enumerate() {
                if k > 0 {
                    line.push_str("  ");
                }
                let pad = w.saturating_sub(cell.chars().count());
                line.push_str(cell);
                line.extend(std::iter::repeat_n(' ', pad));
            }
            let _ = writeln!(out, "{}", line.trim_end());
        }
    }
    out
}
