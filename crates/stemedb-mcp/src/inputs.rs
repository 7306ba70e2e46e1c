//! The tools' arguments: JSON-schema'd (the schema an agent sees is derived
//! from these types) and checked before anything is sent, so a bad argument
//! comes back naming itself without a round trip.

use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Map, Value, json};
use stemedb_records::limits::{
    AGENT_MAX, PREDICATE_MAX, SOURCE_CLASS_MAX, SUBJECT_MAX, TEXT_MAX, URI_MAX,
};

use crate::backend::ToolError;

/// A read-time resolution rule (SPEC §2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum LensName {
    /// Newest assertion wins.
    Recency,
    /// Highest trust(agent) × confidence wins.
    Authority,
    /// The value most agents currently hold (plus votes) wins.
    Consensus,
    /// Highest assertion confidence wins.
    Confidence,
    /// No winner: every value's share and unanimous / agreed / contested.
    Skeptic,
    /// Consensus inside each source class; the most authoritative class answers.
    Layered,
}

impl LensName {
    /// All six, in documentation order.
    pub const ALL: [LensName; 6] = [
        LensName::Recency,
        LensName::Authority,
        LensName::Consensus,
        LensName::Confidence,
        LensName::Skeptic,
        LensName::Layered,
    ];

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            LensName::Recency => "recency",
            LensName::Authority => "authority",
            LensName::Consensus => "consensus",
            LensName::Confidence => "confidence",
            LensName::Skeptic => "skeptic",
            LensName::Layered => "layered",
        }
    }
}

/// How the claimed value is typed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ValueType {
    /// A string.
    Text,
    /// A finite number.
    Number,
    /// true or false.
    Boolean,
    /// A reference to another subject (a string naming it).
    Ref,
}

/// A claimed value.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum ClaimValue {
    /// true or false.
    Boolean(bool),
    /// A number.
    Number(f64),
    /// A string.
    Text(String),
}

/// Arguments of `assert_claim`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AssertClaimInput {
    /// What the claim is about, e.g. "drug:aspirin" or "user:42" (1..=512 bytes).
    pub subject: String,
    /// The property claimed, e.g. "max_daily_dose" (1..=256 bytes).
    pub predicate: String,
    /// The claimed value: a string, a number or a boolean.
    pub value: ClaimValue,
    /// text, number, boolean or ref; inferred from `value` when absent (a string is text).
    pub value_type: Option<ValueType>,
    /// Who makes the claim (your agent's name).
    pub agent: String,
    /// How sure the agent is, in [0, 1] (default 1).
    pub confidence: Option<f64>,
    /// Where the evidence is (URL, document id).
    pub source_uri: Option<String>,
    /// Authority tier of the evidence: 0 regulatory, 1 peer-reviewed/clinical,
    /// 2 observational/expert report, 3 expert/community reference,
    /// 4 aggregated community, 5 anecdotal (default 5). Needs `source_uri`.
    pub source_class: Option<u8>,
    /// When the claim was made, ms since the Unix epoch (default: now).
    pub timestamp: Option<i64>,
    /// Id of an earlier assertion this one revises (64 hex).
    pub parent: Option<String>,
}

/// Arguments of `query_claims`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct QueryClaimsInput {
    /// The subject to read.
    pub subject: String,
    /// One predicate; every predicate of the subject when absent.
    pub predicate: Option<String>,
    /// Lens that resolves the candidates (default consensus).
    pub lens: Option<LensName>,
    /// Time travel: answer as of this time (ms since the Unix epoch).
    pub as_of: Option<i64>,
    /// Only this agent's claims.
    pub agent: Option<String>,
    /// Only claims with this source class (0..=5, or 6 for claims without source).
    pub source_class: Option<u8>,
    /// List retracted claims too (marked; lenses still ignore them).
    pub include_retracted: Option<bool>,
    /// Candidates per page, 1..=10000 (default 100).
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// Arguments of `compare_lenses`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CompareLensesInput {
    /// The subject.
    pub subject: String,
    /// The predicate.
    pub predicate: String,
    /// Time travel: compare as of this time (ms since the Unix epoch).
    pub as_of: Option<i64>,
}

/// Arguments of `find_conflicts`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FindConflictsInput {
    /// Only subjects starting with this, e.g. "drug:" (default: every subject).
    pub prefix: Option<String>,
    /// Only pairs whose conflict is at least this, in [0, 1] (default 0: any disagreement).
    pub min_conflict: Option<f64>,
    /// Lens whose conflict is measured (default consensus).
    pub lens: Option<LensName>,
    /// Time travel (ms since the Unix epoch).
    pub as_of: Option<i64>,
    /// Pairs per call, 1..=1000 (default 50).
    pub limit: Option<u32>,
    /// `next_cursor` of the previous call, to continue the walk.
    pub cursor: Option<String>,
}

/// Arguments of `trace_claim`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TraceClaimInput {
    /// Id of the record (64 hex).
    pub id: String,
}

/// Arguments of `retract_claim`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RetractClaimInput {
    /// Id of the assertion to withdraw (64 hex).
    pub id: String,
    /// Who retracts: must be the assertion's author.
    pub agent: String,
    /// Why.
    pub reason: Option<String>,
}

/// Arguments of `vote_claim`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct VoteClaimInput {
    /// Id of the assertion voted on (64 hex).
    pub id: String,
    /// Who votes.
    pub agent: String,
    /// Endorse (> 0) or dispute (< 0), in [-1, 1].
    pub weight: f64,
}

/// Arguments of `list_subjects`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListSubjectsInput {
    /// Only subjects starting with this.
    pub prefix: Option<String>,
    /// Subjects per page, 1..=10000 (default 100).
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// Refuses an empty or over-long string argument.
pub fn check_text(field: &str, v: &str, max: usize) -> Result<(), ToolError> {
    if v.is_empty() {
        return Err(ToolError::invalid(field, "must not be empty"));
    }
    if v.len() > max {
        return Err(ToolError::invalid(
            field,
            format!("is {} bytes; at most {max}", v.len()),
        ));
    }
    Ok(())
}

/// Refuses anything but a 64-hex record id.
pub fn check_id(field: &str, v: &str) -> Result<(), ToolError> {
    if v.len() != 64 || !v.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(ToolError::invalid(
            field,
            format!("must be a 64-hex record id, got {v:?}"),
        ));
    }
    Ok(())
}

/// Refuses a number outside `[lo, hi]` (NaN included).
pub fn check_range(field: &str, v: f64, lo: f64, hi: f64) -> Result<(), ToolError> {
    if !(lo..=hi).contains(&v) {
        return Err(ToolError::invalid(
            field,
            format!("must be in [{lo}, {hi}], got {v}"),
        ));
    }
    Ok(())
}

/// Refuses a page size outside `1..=max`.
pub fn check_limit(v: Option<u32>, max: u32) -> Result<(), ToolError> {
    match v {
        Some(n) if n == 0 || n > max => Err(ToolError::invalid(
            "limit",
            format!("must be in 1..={max}, got {n}"),
        )),
        _ => Ok(()),
    }
}

impl AssertClaimInput {
    /// The `POST /v1/assert` body, after checking every argument.
    pub fn to_body(&self) -> Result<Value, ToolError> {
        check_text("subject", &self.subject, SUBJECT_MAX)?;
        check_text("predicate", &self.predicate, PREDICATE_MAX)?;
        check_text("agent", &self.agent, AGENT_MAX)?;
        let object = match (&self.value, self.value_type) {
            (ClaimValue::Text(s), None | Some(ValueType::Text)) => {
                check_text("value", s, TEXT_MAX)?;
                json!({"type": "text", "value": s})
            }
            (ClaimValue::Text(s), Some(ValueType::Ref)) => {
                check_text("value", s, SUBJECT_MAX)?;
                json!({"type": "ref", "value": s})
            }
            (ClaimValue::Number(n), None | Some(ValueType::Number)) => {
                if !n.is_finite() {
                    return Err(ToolError::invalid("value", "must be a finite number"));
                }
                json!({"type": "number", "value": n})
            }
            (ClaimValue::Boolean(b), None | Some(ValueType::Boolean)) => {
                json!({"type": "boolean", "value": b})
            }
            (v, Some(t)) => {
                return Err(ToolError::invalid(
                    "value_type",
                    format!("{t:?} does not match the value {v:?}").to_lowercase(),
                ));
            }
        };
        let mut m = Map::new();
        m.insert("subject".into(), json!(self.subject));
        m.insert("predicate".into(), json!(self.predicate));
        m.insert("object".into(), object);
        m.insert("agent".into(), json!(self.agent));
        if let Some(c) = self.confidence {
            check_range("confidence", c, 0.0, 1.0)?;
            m.insert("confidence".into(), json!(c));
        }
        match (&self.source_uri, self.source_class) {
            (Some(uri), class) => {
                check_text("source_uri", uri, URI_MAX)?;
                let class = class.unwrap_or(5);
                if class > SOURCE_CLASS_MAX {
                    return Err(ToolError::invalid("source_class", "must be in 0..=5"));
                }
                m.insert("source".into(), json!({"uri": uri, "class": class}));
            }
            (None, Some(_)) => {
                return Err(ToolError::invalid(
                    "source_uri",
                    "is required when source_class is given",
                ));
            }
            (None, None) => {}
        }
        if let Some(t) = self.timestamp {
            m.insert("timestamp".into(), json!(t));
        }
        if let Some(p) = &self.parent {
            check_id("parent", p)?;
            m.insert("parent".into(), json!(p));
        }
        Ok(Value::Object(m))
    }
}
