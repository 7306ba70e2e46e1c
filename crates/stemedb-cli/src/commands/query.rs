//! `stemedb query`: read candidates and lens resolutions (GET /v1/query).

use serde_json::{Value, json};

use crate::client::Client;
use crate::error::{CliError, Result};
use crate::render;

/// Lenses the server knows (SPEC §2).
pub const LENSES: [&str; 6] = [
    "recency",
    "authority",
    "consensus",
    "confidence",
    "skeptic",
    "layered",
];

/// Arguments of `stemedb query`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The subject to read.
    #[arg(long)]
    pub subject: String,
    /// The predicate (all predicates of the subject if absent).
    #[arg(long)]
    pub predicate: Option<String>,
    /// Resolve through this lens (no resolution if absent).
    #[arg(long, value_parser = LENSES)]
    pub lens: Option<String>,
    /// Time travel: only what was known at this time (ms since the Unix epoch).
    #[arg(long)]
    pub as_of: Option<i64>,
    /// Only claims whose valid time contains this instant (ms).
    #[arg(long)]
    pub valid_at: Option<i64>,
    /// Only assertions in this lifecycle state.
    #[arg(long, value_parser = super::assert::LIFECYCLES)]
    pub lifecycle: Option<String>,
    /// Only assertions whose source has this class (0..=5).
    #[arg(long)]
    pub source_class: Option<u8>,
    /// Only assertions by this agent.
    #[arg(long)]
    pub agent: Option<String>,
    /// Also list retracted assertions (lenses still skip them).
    #[arg(long)]
    pub include_retracted: bool,
    /// Only assertions of this epoch id.
    #[arg(long)]
    pub epoch: Option<String>,
    /// Page size.
    #[arg(long)]
    pub limit: Option<u32>,
    /// Start from this page cursor (from a previous `next_cursor`).
    #[arg(long)]
    pub cursor: Option<String>,
    /// Follow `next_cursor` until the last page and show everything.
    #[arg(long)]
    pub all: bool,
    /// Print the raw JSON response instead of a table.
    #[arg(long)]
    pub json: bool,
}

impl Args {
    /// The query-string parameters for the first page.
    pub fn params(&self) -> Vec<(&'static str, String)> {
        let mut q = vec![("subject", self.subject.clone())];
        let mut opt = |k: &'static str, v: Option<String>| {
            if let Some(v) = v {
                q.push((k, v));
            }
        };
        opt("predicate", self.predicate.clone());
        opt("lens", self.lens.clone());
        opt("as_of", self.as_of.map(|t| t.to_string()));
        opt("valid_at", self.valid_at.map(|t| t.to_string()));
        opt("lifecycle", self.lifecycle.clone());
        opt("source_class", self.source_class.map(|c| c.to_string()));
        opt("agent", self.agent.clone());
        opt(
            "include_retracted",
            self.include_retracted.then(|| "true".into()),
        );
        opt("epoch", self.epoch.clone());
        opt("limit", self.limit.map(|l| l.to_string()));
        opt("cursor", self.cursor.clone());
        q
    }
}

/// Upper bound on pages fetched by `--all`, against a server that never stops paging.
const MAX_PAGES: usize = 100_000;

/// Runs `stemedb query`.
pub fn run(args: Args, client: &Client) -> Result<()> {
    let mut params = args.params();
    let mut resp = client.get_json("/v1/query", &params)?;
    if args.all {
        let mut results = take_results(&mut resp);
        let mut pages = 1;
        while let Some(cursor) = next_cursor(&resp) {
            if pages >= MAX_PAGES {
                return Err(CliError::Input(format!("gave up after {MAX_PAGES} pages")));
            }
            params.retain(|(k, _)| *k != "cursor");
            params.push(("cursor", cursor));
            resp = client.get_json("/v1/query", &params)?;
            results.extend(take_results(&mut resp));
            pages += 1;
        }
        resp = json!({"results": results, "next_cursor": null});
    }
    if args.json {
        super::print_json(&resp);
    } else {
        print!("{}", render::query_table(&resp));
        if let Some(c) = next_cursor(&resp) {
            println!("(more results: --cursor {c}, or --all)");
        }
    }
    Ok(())
}

fn take_results(resp: &mut Value) -> Vec<Value> {
    match resp.get_mut("results").map(Value::take) {
        Some(Value::Array(a)) => a,
        _ => Vec::new(),
    }
}

fn next_cursor(resp: &Value) -> Option<String> {
    resp.get("next_cursor")
        .and_then(Value::as_str)
        .filter(|c| !c.is_empty())
        .map(str::to_owned)
}
