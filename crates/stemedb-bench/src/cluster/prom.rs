//! Reading the servers' `/metrics`: a tolerant Prometheus text parser, quantiles
//! from histogram bucket differences, and the per-node replication report.

use super::{DELAY_METRIC, agent};

/// One sample of a Prometheus text exposition.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub name: String,
    /// The text between the braces, or empty.
    pub labels: String,
    pub value: f64,
}

/// Parses the Prometheus text format, skipping comments and lines it cannot read.
pub fn parse_metrics(text: &str) -> Vec<Sample> {
    text.lines().filter_map(parse_line).collect()
}

fn parse_line(line: &str) -> Option<Sample> {
    let line = line.trim();
    if line.is_empty() || line.starts_with('#') {
        return None;
    }
    let (name, labels, rest) = match line.find('{') {
        Some(open) => {
            let close = open + line[open..].rfind('}')?;
            (&line[..open], &line[open + 1..close], &line[close + 1..])
        }
        None => {
            let sp = line.find(char::is_whitespace)?;
            (&line[..sp], "", &line[sp..])
        }
    };
    let name = name.trim();
    if name.is_empty() {
        return None;
    }
    let value = rest.split_whitespace().next()?.parse::<f64>().ok()?;
    Some(Sample {
        name: name.to_owned(),
        labels: labels.to_owned(),
        value,
    })
}

/// The value of label `key` in a label string such as `quantile="0.99",x="y"`.
fn label<'a>(labels: &'a str, key: &str) -> Option<&'a str> {
    labels.split(',').find_map(|kv| {
        let (k, v) = kv.split_once('=')?;
        (k.trim() == key).then(|| v.trim().trim_matches('"'))
    })
}

pub fn scrape(url: &str) -> Result<Vec<Sample>, String> {
    let agent = agent();
    let mut r = agent
        .get(format!("{url}/metrics"))
        .call()
        .map_err(|e| e.to_string())?;
    let status = r.status().as_u16();
    let text = r
        .body_mut()
        .with_config()
        .limit(64 * 1024 * 1024)
        .read_to_string()
        .map_err(|e| e.to_string())?;
    if status != 200 {
        return Err(format!("status {status}"));
    }
    Ok(parse_metrics(&text))
}

fn find(samples: &[Sample], name: &str) -> Option<f64> {
    samples.iter().find(|s| s.name == name).map(|s| s.value)
}

/// Cumulative `_bucket` counts of histogram `name` by upper bound, ascending.
fn buckets(samples: &[Sample], name: &str) -> Vec<(f64, f64)> {
    let bucket = format!("{name}_bucket");
    let mut b: Vec<(f64, f64)> = samples
        .iter()
        .filter(|s| s.name == bucket)
        .filter_map(|s| Some((label(&s.labels, "le")?.parse::<f64>().ok()?, s.value)))
        .collect();
    b.sort_by(|x, y| x.0.total_cmp(&y.0));
    b
}

/// The q-quantile from cumulative bucket counts (linear within a bucket), or
/// `None` without samples. Above the last finite bound it answers that bound.
pub fn bucket_quantile(cumulative: &[(f64, f64)], q: f64) -> Option<f64> {
    let total = cumulative.last()?.1;
    if total <= 0.0 {
        return None;
    }
    let rank = q * total;
    let (mut lo, mut below) = (0.0, 0.0);
    for &(le, cum) in cumulative {
        if cum >= rank && cum > below {
            if le.is_infinite() {
                return Some(lo);
            }
            return Some(lo + (le - lo) * ((rank - below) / (cum - below)).clamp(0.0, 1.0));
        }
        if le.is_finite() {
            lo = le;
        }
        below = cum;
    }
    Some(lo)
}

/// The per-node report of the replication metrics.
pub fn replication_report(url: &str, before: Option<&[Sample]>, after: &[Sample]) -> String {
    let mut out = format!("  {url}:\n");
    let quantiles: Vec<String> = after
        .iter()
        .filter(|s| s.name == DELAY_METRIC)
        .filter_map(|s| {
            label(&s.labels, "quantile").map(|q| format!("q{q} {:.2} ms", s.value * 1e3))
        })
        .collect();
    let count = find(after, &format!("{DELAY_METRIC}_count"));
    let sum = find(after, &format!("{DELAY_METRIC}_sum"));
    if quantiles.is_empty() && count.is_none() && buckets(after, DELAY_METRIC).is_empty() {
        out.push_str(&format!("    {DELAY_METRIC}: absent\n"));
    } else {
        if !quantiles.is_empty() {
            out.push_str(&format!(
                "    {DELAY_METRIC} (server's rolling summary window): {}\n",
                quantiles.join(", ")
            ));
        }
        let (c, s) = (count.unwrap_or(0.0), sum.unwrap_or(0.0));
        let (c0, s0) = before.map_or((0.0, 0.0), |b| {
            (
                find(b, &format!("{DELAY_METRIC}_count")).unwrap_or(0.0),
                find(b, &format!("{DELAY_METRIC}_sum")).unwrap_or(0.0),
            )
        });
        let (dc, ds) = (c - c0, s - s0);
        let mean = if dc > 0.0 {
            format!("{:.2} ms", ds / dc * 1e3)
        } else {
            "-".to_owned()
        };
        out.push_str(&format!(
            "    {DELAY_METRIC}_count {c:.0} (+{dc:.0} during this run), mean during this run {mean}\n"
        ));
    }
    let after_b = buckets(after, DELAY_METRIC);
    if !after_b.is_empty() {
        let before_b = before.map(|b| buckets(b, DELAY_METRIC)).unwrap_or_default();
        let delta: Vec<(f64, f64)> = after_b
            .iter()
            .map(|&(le, c)| {
                let c0 = before_b.iter().find(|(l, _)| *l == le).map_or(0.0, |x| x.1);
                (le, (c - c0).max(0.0))
            })
            .collect();
        let q =
            |p| bucket_quantile(&delta, p).map_or("-".to_owned(), |v| format!("{:.2} ms", v * 1e3));
        out.push_str(&format!(
            "    {DELAY_METRIC} during this run (histogram buckets, {:.0} samples): p50 {}, p99 {}\n",
            delta.last().map_or(0.0, |x| x.1),
            q(0.5),
            q(0.99)
        ));
    }
    let lag: Vec<&Sample> = after
        .iter()
        .filter(|s| s.name.contains("replication_lag"))
        .collect();
    if lag.is_empty() {
        out.push_str("    replication_lag: absent\n");
    }
    for s in lag {
        let labels = if s.labels.is_empty() {
            String::new()
        } else {
            format!("{{{}}}", s.labels)
        };
        out.push_str(&format!("    {}{labels} {}\n", s.name, s.value));
    }
    match find(after, "stemedb_hints_pending") {
        Some(h) => out.push_str(&format!("    stemedb_hints_pending {h}\n")),
        None => out.push_str("    stemedb_hints_pending: absent\n"),
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_exposition_and_skips_bad_lines() {
        let text = "# HELP x\n# TYPE stemedb_replication_delay_seconds summary\n\
            stemedb_replication_delay_seconds{quantile=\"0.5\"} 0.002\n\
            stemedb_replication_delay_seconds{quantile=\"0.99\"} 0.0123\n\
            stemedb_replication_delay_seconds_sum 1.5\n\
            stemedb_replication_delay_seconds_count 300\n\
            replication_lag_seconds 0\n\
            garbage{ line\n{}\nnovalue\nbad 1.2.3\nx{a=\"}\"} NaN 123\n";
        let s = parse_metrics(text);
        assert_eq!(s.len(), 6);
        assert_eq!(label(&s[1].labels, "quantile"), Some("0.99"));
        assert!(s[5].value.is_nan());
        let before = parse_metrics(
            "stemedb_replication_delay_seconds_sum 0.5\nstemedb_replication_delay_seconds_count 100\n",
        );
        let r = replication_report("http://n1", Some(&before), &s);
        assert!(r.contains("q0.99 12.30 ms"), "{r}");
        assert!(r.contains("+200 during this run"), "{r}");
        assert!(r.contains("mean during this run 5.00 ms"), "{r}");
        assert!(r.contains("replication_lag_seconds 0"), "{r}");
        let r = replication_report("http://n1", None, &[]);
        assert!(
            r.contains("stemedb_replication_delay_seconds: absent"),
            "{r}"
        );
        assert!(r.contains("replication_lag: absent"), "{r}");
    }

    #[test]
    fn histogram_quantiles_from_bucket_differences() {
        let b = [
            (0.001, 0.0),
            (0.01, 50.0),
            (0.1, 100.0),
            (f64::INFINITY, 100.0),
        ];
        assert!((bucket_quantile(&b, 0.5).unwrap() - 0.01).abs() < 1e-12);
        assert!((bucket_quantile(&b, 0.25).unwrap() - 0.0055).abs() < 1e-12);
        assert!((bucket_quantile(&b, 0.99).unwrap() - 0.0982).abs() < 1e-9);
        assert_eq!(bucket_quantile(&[(f64::INFINITY, 0.0)], 0.5), None);
        assert_eq!(
            bucket_quantile(&[(0.1, 1.0), (f64::INFINITY, 3.0)], 0.99),
            Some(0.1)
        );
        let text = |n: u32| {
            format!(
                "stemedb_replication_delay_seconds_bucket{{le=\"0.01\"}} {n}\n\
                 stemedb_replication_delay_seconds_bucket{{le=\"+Inf\"}} {}\n\
                 stemedb_replication_delay_seconds_sum 1\nstemedb_replication_delay_seconds_count {}\n",
                2 * n,
                2 * n
            )
        };
        let (before, after) = (parse_metrics(&text(10)), parse_metrics(&text(60)));
        let r = replication_report("http://n1", Some(&before), &after);
        assert!(
            r.contains("during this run (histogram buckets, 100 samples): p50 10.00 ms"),
            "{r}"
        );
    }
}
