//! `stemedb import`: bulk-load JSON Lines or CSV in NDJSON batches (POST /v1/assertions).

use std::fs::File;
use std::io::{BufRead, BufReader, IsTerminal};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::Value;
use stemedb_records::{SignedRecord, wire};

use crate::client::Client;
use crate::error::{CliError, Result};
use crate::input::{CsvHeader, Format, LineError, Prepare};

const AFTER_HELP: &str = "\
FORMATS
  JSON Lines: one record per line in the wire form, e.g. as written by
  `stemedb export`; \"kind\" is optional and defaults to assertion.
  CSV: a header row naming columns among subject,predicate,object_type,value,
  agent,confidence,timestamp,source_uri,source_class (and valid_from,valid_to,
  lifecycle,parent,epoch,signature). subject, predicate, value and agent are
  required; object_type defaults to text; empty cells are absent.

RESUMING
  Records are content-addressed and writes are idempotent: re-sending a record
  that is already stored is reported as `exists` and changes nothing. After an
  interruption (crash, network error, Ctrl-C) simply run the same command again.

TIMESTAMPS
  A record's id covers its timestamp. If a line had no timestamp and one were
  assigned at import time, a re-run would assign a different one and store a
  second copy of the claim. Therefore unsigned lines without a timestamp are
  rejected, unless --assign-timestamps is given: then each such line is stamped
  once from the local clock before sending, and re-running that import is NOT
  idempotent for those lines. Signed lines must always carry their timestamp.

Every line is validated locally first; bad lines are reported with their line
number and field, and the good ones are still imported. The exit status is 1
when any line failed.";

/// Arguments of `stemedb import`.
#[derive(Debug, clap::Args)]
#[command(after_long_help = AFTER_HELP)]
pub struct Args {
    /// The input file (`.csv` is read as CSV, anything else as JSON Lines).
    pub file: PathBuf,
    /// Force the input format instead of guessing from the file name.
    #[arg(long, value_enum)]
    pub format: Option<Format>,
    /// Stamp unsigned lines that lack a timestamp from the local clock
    /// (makes re-running the import non-idempotent for those lines; see --help).
    #[arg(long)]
    pub assign_timestamps: bool,
    /// Records per request.
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub batch_size: u32,
}

/// How many individual line errors are printed before the rest are only counted.
const MAX_PRINTED_ERRORS: u64 = 100;

/// Running totals of an import.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Totals {
    /// Records newly stored.
    pub created: u64,
    /// Records that were already stored.
    pub exists: u64,
    /// Lines rejected locally or by the server.
    pub failed: u64,
}

impl Totals {
    /// Lines processed so far.
    pub fn records(&self) -> u64 {
        self.created + self.exists + self.failed
    }
}

/// The final summary line.
pub fn summary(t: &Totals, elapsed: Duration) -> String {
    let secs = elapsed.as_secs_f64();
    let rate = if secs > 0.0 {
        t.records() as f64 / secs
    } else {
        0.0
    };
    format!(
        "processed {} records: {} imported (created {}, exists {}), {} failed, in {secs:.1} s ({rate:.0} records/s)",
        t.records(),
        t.created + t.exists,
        t.created,
        t.exists,
        t.failed
    )
}

/// One input item: (line number, bytes read so far, parsed record or line error).
type Item = (u64, u64, Result<SignedRecord, LineError>);

/// Where lines come from.
enum Source {
    Jsonl(BufReader<File>, u64, u64),
    Csv(Box<csv::Reader<File>>, CsvHeader),
}

impl Source {
    /// The next item, or `None` at the end of the input.
    fn next(&mut self, prep: &Prepare) -> Result<Option<Item>> {
        match self {
            Source::Jsonl(reader, line, pos) => {
                let mut buf = Vec::new();
                loop {
                    buf.clear();
                    let n = reader
                        .read_until(b'\n', &mut buf)
                        .map_err(|e| CliError::io("reading the input file", e))?;
                    if n == 0 {
                        return Ok(None);
                    }
                    *line += 1;
                    *pos += n as u64;
                    let parsed = match std::str::from_utf8(&buf) {
                        Ok(text) => prep.json_line(*line, text),
                        Err(_) => Err(LineError::new(*line, "line", "not valid UTF-8")),
                    };
                    match parsed {
                        Ok(None) => continue,
                        Ok(Some(rec)) => return Ok(Some((*line, *pos, Ok(rec)))),
                        Err(e) => return Ok(Some((*line, *pos, Err(e)))),
                    }
                }
            }
            Source::Csv(reader, header) => {
                let mut row = csv::StringRecord::new();
                match reader.read_record(&mut row) {
                    Ok(false) => Ok(None),
                    Ok(true) => {
                        let line = row.position().map_or(0, csv::Position::line);
                        let res = prep.csv_row(header, line, &row);
                        Ok(Some((line, reader.position().byte(), res)))
                    }
                    Err(e) => {
                        let Some(p) = e.position().cloned() else {
                            return Err(CliError::Input(format!("reading the CSV input: {e}")));
                        };
                        let err = LineError::new(p.line(), "line", format!("bad CSV: {e}"));
                        Ok(Some((p.line(), reader.position().byte(), Err(err))))
                    }
                }
            }
        }
    }
}

fn open(args: &Args) -> Result<(Source, u64)> {
    let file = File::open(&args.file)
        .map_err(|e| CliError::io(format!("opening {}", args.file.display()), e))?;
    let len = file.metadata().map(|m| m.len()).unwrap_or(0);
    let src = match args.format.unwrap_or_else(|| Format::from_path(&args.file)) {
        Format::Jsonl => Source::Jsonl(BufReader::with_capacity(1 << 20, file), 0, 0),
        Format::Csv => {
            let mut rdr = csv::ReaderBuilder::new()
                .has_headers(true)
                .flexible(true)
                .from_reader(file);
            let header = rdr
                .headers()
                .map_err(|e| CliError::Input(format!("line 1: cannot read the CSV header: {e}")))?
                .clone();
            let header = CsvHeader::parse(&header).map_err(|e| CliError::Input(e.to_string()))?;
            Source::Csv(Box::new(rdr), header)
        }
    };
    Ok((src, len))
}

/// Batches being built and sent, with the counters and the progress bar.
struct Importer<'c> {
    client: &'c Client,
    totals: Totals,
    printed: u64,
    bar: ProgressBar,
    started: Instant,
    lines: Vec<u64>,
    body: Vec<u8>,
}

impl Importer<'_> {
    fn report(&mut self, msg: String) {
        self.totals.failed += 1;
        self.printed += 1;
        if self.printed <= MAX_PRINTED_ERRORS {
            self.bar.suspend(|| eprintln!("error: {msg}"));
        } else if self.printed == MAX_PRINTED_ERRORS + 1 {
            self.bar
                .suspend(|| eprintln!("error: further failed lines are counted but not shown"));
        }
    }

    fn push(&mut self, line: u64, rec: &SignedRecord) {
        self.lines.push(line);
        let text = wire::to_json(rec).to_string();
        self.body.extend_from_slice(text.as_bytes());
        self.body.push(b'\n');
    }

    fn progress(&self, pos: u64) {
        self.bar.set_position(pos);
        let secs = self.started.elapsed().as_secs_f64().max(1e-3);
        let n = self.totals.records();
        self.bar
            .set_message(format!("{n} records, {:.0} records/s", n as f64 / secs));
    }

    /// Sends the pending batch, retrying 429/503 answers a few times.
    fn flush(&mut self) -> Result<()> {
        if self.lines.is_empty() {
            return Ok(());
        }
        let body = std::mem::take(&mut self.body);
        let mut attempt = 0u32;
        let resp = loop {
            match self.client.send_bytes(
                "POST",
                "/v1/assertions",
                "application/x-ndjson",
                body.clone(),
            ) {
                Ok(v) => break v,
                Err(e) if e.is_retryable() && attempt < 5 => {
                    let wait = match &e {
                        CliError::Server {
                            retry_after: Some(r),
                            ..
                        } => r.trim().parse::<u64>().unwrap_or(1).min(30),
                        _ => 1u64 << attempt,
                    };
                    self.bar
                        .suspend(|| eprintln!("warning: {e}; retrying in {wait} s"));
                    std::thread::sleep(Duration::from_secs(wait));
                    attempt += 1;
                }
                Err(e) => return Err(e),
            }
        };
        let lines = std::mem::take(&mut self.lines);
        self.apply(&lines, &resp);
        Ok(())
    }

    /// Counts a batch answer and reports its failed items by line number.
    fn apply(&mut self, lines: &[u64], resp: &Value) {
        let Some(results) = resp.get("results").and_then(Value::as_array) else {
            let n = |k: &str| resp.get(k).and_then(Value::as_u64).unwrap_or(0);
            self.totals.created += n("created");
            self.totals.exists += n("exists");
            self.totals.failed += n("failed");
            return;
        };
        let mut seen = vec![false; lines.len()];
        for (pos, r) in results.iter().enumerate() {
            let idx = r
                .get("index")
                .and_then(Value::as_u64)
                .and_then(|i| usize::try_from(i).ok())
                .unwrap_or(pos);
            let line = lines.get(idx).copied().unwrap_or(0);
            if let Some(s) = seen.get_mut(idx) {
                *s = true;
            }
            if let Some(e) = r.get("error") {
                let s = |k: &str| e.get(k).and_then(Value::as_str).unwrap_or_default();
                let field = if s("field").is_empty() {
                    "record"
                } else {
                    s("field")
                };
                self.report(format!(
                    "line {line}: {field}: {} ({})",
                    s("message"),
                    s("code")
                ));
            } else {
                match r.get("status").and_then(Value::as_str) {
                    Some("exists") => self.totals.exists += 1,
                    _ => self.totals.created += 1,
                }
            }
        }
        for (i, s) in seen.iter().enumerate() {
            if !s {
                let line = lines.get(i).copied().unwrap_or(0);
                self.report(format!("line {line}: the server returned no result for it"));
            }
        }
    }
}

fn progress_bar(len: u64) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::stderr());
    if let Ok(style) =
        ProgressStyle::with_template("[{elapsed_precise}] {wide_bar} {bytes}/{total_bytes} {msg}")
    {
        bar.set_style(style);
    }
    bar
}

/// Runs `stemedb import`.
pub fn run(args: Args, client: &Client) -> Result<()> {
    let (mut source, len) = open(&args)?;
    let prep = Prepare::new(args.assign_timestamps);
    let batch = usize::try_from(args.batch_size).unwrap_or(1000);
    let mut imp = Importer {
        client,
        totals: Totals::default(),
        printed: 0,
        bar: progress_bar(len),
        started: Instant::now(),
        lines: Vec::with_capacity(batch),
        body: Vec::new(),
    };
    let result = (|| -> Result<()> {
        while let Some((line, pos, parsed)) = source.next(&prep)? {
            match parsed {
                Ok(rec) => imp.push(line, &rec),
                Err(e) => imp.report(e.to_string()),
            }
            if imp.lines.len() >= batch {
                imp.flush()?;
                imp.progress(pos);
            }
        }
        imp.flush()?;
        imp.progress(len);
        Ok(())
    })();
    imp.bar.finish_and_clear();
    let line = summary(&imp.totals, imp.started.elapsed());
    match result {
        Ok(()) => {
            println!("{line}");
            if imp.totals.failed > 0 {
                return Err(CliError::Partial(format!(
                    "{} records failed (reported above)",
                    imp.totals.failed
                )));
            }
            Ok(())
        }
        Err(e) => {
            eprintln!("{line} before stopping");
            eprintln!("note: re-running the same import is safe; stored records report `exists`");
            Err(e)
        }
    }
}
