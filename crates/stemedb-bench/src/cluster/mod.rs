//! Write load against one or more running API nodes (`cluster-load`), with
//! the replication delay the nodes report afterwards.
//!
//! ```text
//! stemedb-bench cluster-load --urls URL[,URL...] [--rate N] --seconds S [--batch B] [--threads T]
//!                             [--scrape-ms MS]
//! ```
//!
//! Requests go round-robin over the URLs. `--batch 1` sends one
//! `POST /v1/assert` per write; `--batch B` sends `POST /v1/assertions` with
//! an NDJSON body of B assertions. `--rate N` paces by a shared schedule
//! (request k is due at `k * B / N` s after the start; threads that fall
//! behind send at once); `--rate 0` sends as fast as `T` threads can. Every
//! write has its own subject `load:{run}:{i}` (the run id is unique per
//! invocation), so writes spread over the partitions and repeated runs
//! create new records. Network errors count as failures. Before and after
//! the run, `GET {url}/metrics` of every URL is scraped and the
//! `stemedb_replication_delay_seconds` summary and any `*replication_lag*`
//! metric are printed per node.
//!
//! During the run every URL's `/metrics` is also scraped every `--scrape-ms`
//! (default 500; 0 = only before and after), the way Prometheus would. This
//! matters for the summary: the exporter (metrics-exporter-prometheus 0.18)
//! moves recorded samples into its rolling summary only when `/metrics` is
//! rendered, newest block first, and its rolling summary drops a sample older
//! than its first bucket, so a single scrape after a long run reports
//! quantiles of only the last few dozen samples. `_sum` and `_count` are exact
//! either way (the mean during the run is computed from their differences), and
//! when the server exposes the metric as a histogram (`_bucket{le=...}`),
//! quantiles of exactly this run are computed from the bucket differences.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

mod prom;

use std::collections::BTreeMap;

use prom::{Sample, replication_report, scrape};

/// Longest run accepted by `--seconds`.
const MAX_SECONDS: u64 = 600;
/// Per-request time limit: a hung server cannot stall the tool beyond it.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);
/// The summary the server exposes in cluster mode.
pub(crate) const DELAY_METRIC: &str = "stemedb_replication_delay_seconds";

const USAGE: &str = "usage: stemedb-bench cluster-load --urls URL[,URL...] --seconds S (1..=600) \
                     [--rate WRITES_PER_S (0 = max, default 0)] [--batch B (default 1)] [--threads T (default 16)] \
                     [--scrape-ms MS (default 500, 0 = before and after only)]";

/// Parsed command line.
#[derive(Debug, Clone, PartialEq)]
pub struct Opts {
    pub urls: Vec<String>,
    /// Target writes/s; 0 = as fast as possible.
    pub rate: f64,
    pub seconds: u64,
    pub batch: u64,
    pub threads: usize,
    /// `/metrics` scrape period during the run; 0 = none.
    pub scrape_ms: u64,
}

fn value<'a>(flag: &str, it: &mut impl Iterator<Item = &'a String>) -> Result<&'a String, String> {
    it.next().ok_or_else(|| format!("{flag} needs a value"))
}

fn number<T: std::str::FromStr>(flag: &str, v: &str) -> Result<T, String> {
    v.parse()
        .map_err(|_| format!("{flag}: '{v}' is not a valid number"))
}

/// Parses the flags after `cluster-load`.
pub fn parse(args: &[String]) -> Result<Opts, String> {
    let mut urls = Vec::new();
    let (mut rate, mut seconds, mut batch, mut threads) = (0.0f64, None, 1u64, 16usize);
    let mut scrape_ms = 500u64;
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        match flag.as_str() {
            "--urls" => {
                urls = value(flag, &mut it)?
                    .split(',')
                    .map(|u| u.trim().trim_end_matches('/').to_owned())
                    .filter(|u| !u.is_empty())
                    .collect();
            }
            "--rate" => rate = number(flag, value(flag, &mut it)?)?,
            "--seconds" => seconds = Some(number::<u64>(flag, value(flag, &mut it)?)?),
            "--batch" => batch = number(flag, value(flag, &mut it)?)?,
            "--threads" => threads = number(flag, value(flag, &mut it)?)?,
            "--scrape-ms" => scrape_ms = number(flag, value(flag, &mut it)?)?,
            other => return Err(format!("unknown argument '{other}'")),
        }
    }
    if urls.is_empty() {
        return Err("--urls is required".into());
    }
    if let Some(bad) = urls
        .iter()
        .find(|u| !u.starts_with("http://") && !u.starts_with("https://"))
    {
        return Err(format!("--urls: '{bad}' is not an http:// URL"));
    }
    let seconds = seconds.ok_or("--seconds is required")?;
    if !(1..=MAX_SECONDS).contains(&seconds) {
        return Err(format!("--seconds must be in 1..={MAX_SECONDS}"));
    }
    if !rate.is_finite() || rate < 0.0 {
        return Err("--rate must be a number >= 0".into());
    }
    if batch == 0 {
        return Err("--batch must be >= 1".into());
    }
    if !(1..=1024).contains(&threads) {
        return Err("--threads must be in 1..=1024".into());
    }
    if scrape_ms != 0 && scrape_ms < 100 {
        return Err("--scrape-ms must be 0 or >= 100".into());
    }
    Ok(Opts {
        urls,
        rate,
        seconds,
        batch,
        threads,
        scrape_ms,
    })
}

/// What one thread saw.
#[derive(Default)]
struct Tally {
    requests: u64,
    attempted: u64,
    acked: u64,
    /// Items a 200 batch answer reported as failed.
    item_failures: u64,
    /// "503 replication_unavailable", "transport", ... -> (requests, writes).
    failures: BTreeMap<String, (u64, u64)>,
    /// First message seen per failure class.
    examples: BTreeMap<String, String>,
    latency: Vec<Duration>,
    /// How late each paced request started after its slot.
    behind: Vec<Duration>,
}

impl Tally {
    fn fail(&mut self, class: String, writes: u64, example: String) {
        let e = self.failures.entry(class.clone()).or_default();
        e.0 += 1;
        e.1 += writes;
        self.examples.entry(class).or_insert(example);
    }

    fn merge(&mut self, o: Tally) {
        self.requests += o.requests;
        self.attempted += o.attempted;
        self.acked += o.acked;
        self.item_failures += o.item_failures;
        for (k, (r, w)) in o.failures {
            let e = self.failures.entry(k).or_default();
            e.0 += r;
            e.1 += w;
        }
        for (k, v) in o.examples {
            self.examples.entry(k).or_insert(v);
        }
        self.latency.extend(o.latency);
        self.behind.extend(o.behind);
    }
}

/// The p-quantile of sorted durations in ms (0 when empty).
fn quantile_ms(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)].as_secs_f64() * 1e3
}

/// A run id unique per invocation: wall-clock nanoseconds and the pid, in hex.
fn run_id() -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    format!("{nanos:x}{:x}", std::process::id())
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// The JSON body of write number `i` of this run.
fn assertion_json(run: &str, i: u64, ts: i64) -> String {
    serde_json::json!({
        "subject": format!("load:{run}:{i}"),
        "predicate": "load",
        "object": {"type": "text", "value": format!("v{}", i % 7)},
        "agent": "stemedb-bench",
        "confidence": 0.9,
        "timestamp": ts,
    })
    .to_string()
}

pub(crate) fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(REQUEST_TIMEOUT))
        .timeout_connect(Some(Duration::from_secs(2)))
        .build()
        .into()
}

/// Sends request `k` (writes `k*B .. k*B+B`) and records the outcome.
fn send(agent: &ureq::Agent, o: &Opts, run: &str, k: u64, t: &mut Tally) {
    let url = &o.urls[(k % o.urls.len() as u64) as usize];
    let first = k * o.batch;
    let ts = now_ms();
    let (endpoint, ctype, body) = if o.batch == 1 {
        (
            format!("{url}/v1/assert"),
            "application/json",
            assertion_json(run, first, ts),
        )
    } else {
        let mut body = String::with_capacity(160 * o.batch as usize);
        for i in first..first + o.batch {
            body.push_str(&assertion_json(run, i, ts));
            body.push('\n');
        }
        (format!("{url}/v1/assertions"), "application/x-ndjson", body)
    };
    t.requests += 1;
    t.attempted += o.batch;
    let start = Instant::now();
    let reply = agent
        .post(&endpoint)
        .header("Content-Type", ctype)
        .send(body)
        .and_then(|mut r| {
            let status = r.status().as_u16();
            r.body_mut().read_to_string().map(|text| (status, text))
        });
    t.latency.push(start.elapsed());
    let (status, text) = match reply {
        Ok(x) => x,
        Err(e) => {
            let class = match e {
                ureq::Error::Timeout(_) => "timeout (client)",
                ureq::Error::Io(_) | ureq::Error::ConnectionFailed => "transport",
                _ => "client error",
            };
            t.fail(class.into(), o.batch, e.to_string());
            return;
        }
    };
    let json: Option<serde_json::Value> = serde_json::from_str(&text).ok();
    if !(200..300).contains(&status) {
        let code = json
            .as_ref()
            .and_then(|v| v["error"]["code"].as_str())
            .unwrap_or("-");
        let mut example = text;
        example.truncate(200);
        t.fail(format!("{status} {code}"), o.batch, example);
        return;
    }
    if o.batch == 1 {
        t.acked += 1;
        return;
    }
    // 200 {"created", "exists", "failed", "results"}: created and existing items are durable.
    let Some(v) = json else {
        t.fail(format!("{status} unreadable reply"), o.batch, text);
        return;
    };
    let ok = v["created"].as_u64().unwrap_or(0) + v["exists"].as_u64().unwrap_or(0);
    let ok = ok.min(o.batch);
    t.acked += ok;
    t.item_failures += o.batch - ok;
}

/// One thread: claims request slots from the shared schedule until the run ends.
fn worker(o: &Opts, run: &str, next: &AtomicU64, start: Instant, end: Instant) -> Tally {
    let agent = agent();
    let mut t = Tally::default();
    loop {
        let k = next.fetch_add(1, Ordering::Relaxed);
        let now = Instant::now();
        if now >= end {
            break;
        }
        if o.rate > 0.0 {
            let due = start + Duration::from_secs_f64(k as f64 * o.batch as f64 / o.rate);
            if due >= end {
                break;
            }
            if due > now {
                std::thread::sleep(due - now);
            } else {
                t.behind.push(now - due);
            }
        }
        send(&agent, o, run, k, &mut t);
    }
    t
}

/// `stemedb-bench cluster-load ...`.
pub fn run(args: &[String]) {
    let o = match parse(args) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("cluster-load: {e}\n{USAGE}");
            std::process::exit(2);
        }
    };
    let run = run_id();
    let rate = if o.rate > 0.0 {
        format!("{} writes/s", o.rate)
    } else {
        "max".to_owned()
    };
    println!(
        "cluster-load: {} URL(s) {}, batch {}, {} threads, rate {rate}, {} s, run id {run}",
        o.urls.len(),
        o.urls.join(","),
        o.batch,
        o.threads,
        o.seconds
    );
    let before: Vec<Option<Vec<Sample>>> = o.urls.iter().map(|u| scrape(u).ok()).collect();

    let next = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let end = start + Duration::from_secs(o.seconds);
    let handles: Vec<_> = (0..o.threads)
        .map(|_| {
            let (o, run, next) = (o.clone(), run.clone(), next.clone());
            std::thread::spawn(move || worker(&o, &run, &next, start, end))
        })
        .collect();
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let scraper = (o.scrape_ms > 0).then(|| {
        let (urls, done, period) = (
            o.urls.clone(),
            done.clone(),
            Duration::from_millis(o.scrape_ms),
        );
        std::thread::spawn(move || {
            let (mut ok, mut failed) = (0u64, 0u64);
            let mut due = Instant::now() + period;
            while !done.load(Ordering::Relaxed) && Instant::now() < end {
                let now = Instant::now();
                if due > now {
                    std::thread::sleep((due - now).min(Duration::from_millis(50)));
                    continue;
                }
                for u in &urls {
                    match scrape(u) {
                        Ok(_) => ok += 1,
                        Err(_) => failed += 1,
                    }
                }
                due += period;
            }
            (ok, failed)
        })
    });
    let mut t = Tally::default();
    for h in handles {
        t.merge(h.join().expect("load thread panicked"));
    }
    let secs = start.elapsed().as_secs_f64();
    done.store(true, Ordering::Relaxed);
    let scrapes = scraper.map(|h| h.join().expect("scrape thread panicked"));
    t.latency.sort();
    t.behind.sort();

    let failed = t.attempted - t.acked;
    println!(
        "  writes attempted {}, acknowledged {}, failed {failed} ({} requests)",
        t.attempted, t.acked, t.requests
    );
    if t.item_failures > 0 {
        println!(
            "  batch items reported failed in 200 answers: {}",
            t.item_failures
        );
    }
    for (class, (reqs, writes)) in &t.failures {
        println!(
            "  failed: {class}: {reqs} requests ({writes} writes), e.g. {}",
            t.examples.get(class).map_or("", String::as_str).trim()
        );
    }
    let ack_rate = t.acked as f64 / secs;
    println!(
        "  achieved {ack_rate:.0} acknowledged writes/s ({:.0} requests/s) over {secs:.1} s",
        t.requests as f64 / secs
    );
    let (p50, p99, max) = (
        quantile_ms(&t.latency, 0.5),
        quantile_ms(&t.latency, 0.99),
        t.latency.last().map_or(0.0, |d| d.as_secs_f64() * 1e3),
    );
    println!("  request latency p50 {p50:.1} ms, p99 {p99:.1} ms, max {max:.1} ms");
    if o.rate > 0.0 {
        let target = o.rate * o.seconds as f64;
        println!(
            "  schedule: {:.0}% of the {target:.0} scheduled writes acknowledged; requests started after their slot: {} (p99 {:.1} ms, max {:.1} ms behind)",
            t.acked as f64 / target * 100.0,
            t.behind.len(),
            quantile_ms(&t.behind, 0.99),
            t.behind.last().map_or(0.0, |d| d.as_secs_f64() * 1e3),
        );
    }
    println!(
        "RESULT batch={} rate={} attempted={} acked={} failed={failed} ack_per_s={ack_rate:.0} p50_ms={p50:.1} p99_ms={p99:.1} max_ms={max:.1}",
        o.batch, o.rate, t.attempted, t.acked,
    );

    match scrapes {
        Some((ok, failed)) => println!(
            "replication metrics (GET /metrics after the run; {ok} scrapes during it, {failed} failed):"
        ),
        None => println!("replication metrics (GET /metrics after the run):"),
    }
    for (url, before) in o.urls.iter().zip(&before) {
        match scrape(url) {
            Ok(after) => print!("{}", replication_report(url, before.as_deref(), &after)),
            Err(e) => println!("  {url}: /metrics unavailable ({e})"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_owned).collect()
    }

    #[test]
    fn parses_flags() {
        let o = parse(&args(
            "--urls http://127.0.0.1:18180,http://127.0.0.2:18180/ --rate 5000 --seconds 20 --batch 100 --threads 8",
        ))
        .unwrap();
        assert_eq!(o.urls, ["http://127.0.0.1:18180", "http://127.0.0.2:18180"]);
        assert_eq!(
            (o.rate, o.seconds, o.batch, o.threads),
            (5000.0, 20, 100, 8)
        );
        assert_eq!(o.scrape_ms, 500);
        assert!(parse(&args("--urls http://x --seconds 5 --scrape-ms 10")).is_err());
        assert_eq!(
            parse(&args("--urls http://x --seconds 5 --scrape-ms 0")).map(|o| o.scrape_ms),
            Ok(0)
        );
        assert!(parse(&args("--urls http://x --seconds 601")).is_err());
        assert!(parse(&args("--urls http://x")).is_err());
        assert!(parse(&args("--seconds 5")).is_err());
        assert!(parse(&args("--urls x:1 --seconds 5")).is_err());
        assert!(parse(&args("--urls http://x --seconds 5 --batch 0")).is_err());
        assert!(parse(&args("--urls http://x --seconds 5 --rate")).is_err());
        assert!(parse(&args("--urls http://x --seconds 5 --bogus 1")).is_err());
    }

    #[test]
    fn bodies_are_distinct_json() {
        let a: serde_json::Value = serde_json::from_str(&assertion_json("r1", 7, 1)).unwrap();
        assert_eq!(a["subject"], "load:r1:7");
        assert_ne!(assertion_json("r1", 7, 1), assertion_json("r1", 8, 1));
        assert_eq!(quantile_ms(&[], 0.99), 0.0);
    }
}
