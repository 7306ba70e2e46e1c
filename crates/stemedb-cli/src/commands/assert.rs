//! `stemedb assert`: write one assertion (POST /v1/assert).

use std::path::PathBuf;

use clap::ArgGroup;
use serde_json::{Map, Value, json};
use stemedb_records::Kind;

use crate::client::Client;
use crate::error::Result;

/// Lifecycle states an assertion can be written with.
pub const LIFECYCLES: [&str; 5] = [
    "proposed",
    "under_review",
    "approved",
    "deprecated",
    "rejected",
];

/// Arguments of `stemedb assert`.
#[derive(Debug, clap::Args)]
#[command(group(ArgGroup::new("value").required(true).args(["text", "number", "bool", "reference"])))]
pub struct Args {
    /// What the claim is about, e.g. `drug:semaglutide`.
    #[arg(long)]
    pub subject: String,
    /// The property claimed, e.g. `side_effect`.
    #[arg(long)]
    pub predicate: String,
    /// A text value.
    #[arg(long)]
    pub text: Option<String>,
    /// A number value (finite).
    #[arg(long, allow_negative_numbers = true)]
    pub number: Option<f64>,
    /// A boolean value (`true` or `false`).
    #[arg(long, value_name = "true|false")]
    pub bool: Option<bool>,
    /// A reference to another subject.
    #[arg(long = "ref", id = "reference", value_name = "SUBJECT")]
    pub reference: Option<String>,
    /// Who asserts it (set from the key when --sign-with is given).
    #[arg(long)]
    pub agent: Option<String>,
    /// Confidence in [0, 1] (server default 1.0).
    #[arg(long)]
    pub confidence: Option<f64>,
    /// Evidence URI (requires --source-class).
    #[arg(long, requires = "source_class")]
    pub source_uri: Option<String>,
    /// Authority tier of the source: 0 regulatory … 5 anecdotal (requires --source-uri).
    #[arg(long, requires = "source_uri", value_parser = clap::value_parser!(u8).range(0..=5))]
    pub source_class: Option<u8>,
    /// Start of valid time, ms since the Unix epoch.
    #[arg(long)]
    pub valid_from: Option<i64>,
    /// End of valid time, ms since the Unix epoch.
    #[arg(long)]
    pub valid_to: Option<i64>,
    /// Lifecycle state.
    #[arg(long, value_parser = LIFECYCLES)]
    pub lifecycle: Option<String>,
    /// Id of the assertion this one supersedes (lineage).
    #[arg(long)]
    pub parent: Option<String>,
    /// Id of the epoch the claim belongs to.
    #[arg(long)]
    pub epoch: Option<String>,
    /// When the claim was made, ms since the Unix epoch (server clock if absent and unsigned).
    #[arg(long)]
    pub timestamp: Option<i64>,
    /// Sign with this key file (from `stemedb keygen`); agent becomes the public key.
    #[arg(long, value_name = "KEYFILE")]
    pub sign_with: Option<PathBuf>,
}

impl Args {
    /// The assertion fields in wire form (no signature).
    pub fn fields(&self) -> Map<String, Value> {
        let object = if let Some(t) = &self.text {
            json!({"type": "text", "value": t})
        } else if let Some(n) = self.number {
            json!({"type": "number", "value": n})
        } else if let Some(b) = self.bool {
            json!({"type": "boolean", "value": b})
        } else {
            json!({"type": "ref", "value": self.reference.as_deref().unwrap_or_default()})
        };
        let mut m = Map::new();
        m.insert("subject".into(), json!(self.subject));
        m.insert("predicate".into(), json!(self.predicate));
        m.insert("object".into(), object);
        let mut put = |k: &str, v: Option<Value>| {
            if let Some(v) = v {
                m.insert(k.into(), v);
            }
        };
        put("agent", self.agent.as_ref().map(|a| json!(a)));
        put("confidence", self.confidence.map(|c| json!(c)));
        put("timestamp", self.timestamp.map(|t| json!(t)));
        put("valid_from", self.valid_from.map(|t| json!(t)));
        put("valid_to", self.valid_to.map(|t| json!(t)));
        put("lifecycle", self.lifecycle.as_ref().map(|l| json!(l)));
        put("parent", self.parent.as_ref().map(|p| json!(p)));
        put("epoch", self.epoch.as_ref().map(|e| json!(e)));
        if let (Some(uri), Some(class)) = (&self.source_uri, self.source_class) {
            put("source", Some(json!({"uri": uri, "class": class})));
        }
        m
    }
}

/// Runs `stemedb assert`.
pub fn run(args: Args, client: &Client) -> Result<()> {
    let body = super::body_for(Kind::Assertion, args.fields(), args.sign_with.as_ref())?;
    let resp = client.post_json("/v1/assert", &body)?;
    super::print_write(&resp);
    Ok(())
}
