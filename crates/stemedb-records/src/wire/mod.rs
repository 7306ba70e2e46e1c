//! JSON wire form of records: parsing with precise, field-named errors, and
//! rendering. Parsing is strict: unknown fields, wrong types and out-of-range
//! values are rejected before any id is computed.

mod typed;

use serde_json::{Map, Value, json};

pub use typed::parse_assertion_text;

use crate::error::{ErrorCode, ValidationError};
use crate::hlc::Hlc;
use crate::id::RecordId;
use crate::model::*;
use crate::signed::SignedRecord;

type Result<T> = std::result::Result<T, ValidationError>;

fn err(code: ErrorCode, field: &str, msg: impl Into<String>) -> ValidationError {
    ValidationError::new(code, field, msg)
}

/// A view of a JSON object that names fields in errors and rejects unknown ones.
struct Fields<'a> {
    map: &'a Map<String, Value>,
    prefix: &'a str,
}

impl<'a> Fields<'a> {
    fn new(v: &'a Value, prefix: &'a str, allowed: &[&str]) -> Result<Self> {
        let map = v.as_object().ok_or_else(|| {
            let field = if prefix.is_empty() {
                "body"
            } else {
                prefix.trim_end_matches('.')
            };
            err(ErrorCode::InvalidType, field, "must be a JSON object")
        })?;
        for k in map.keys() {
            if !allowed.contains(&k.as_str()) {
                return Err(err(
                    ErrorCode::UnknownField,
                    &format!("{prefix}{k}"),
                    format!("unknown field; expected one of: {}", allowed.join(", ")),
                ));
            }
        }
        Ok(Fields { map, prefix })
    }

    fn name(&self, k: &str) -> String {
        format!("{}{k}", self.prefix)
    }

    /// A present, non-null value.
    fn opt(&self, k: &str) -> Option<&'a Value> {
        self.map.get(k).filter(|v| !v.is_null())
    }

    fn req(&self, k: &str) -> Result<&'a Value> {
        self.opt(k)
            .ok_or_else(|| err(ErrorCode::MissingField, &self.name(k), "is required"))
    }

    fn string(&self, k: &str) -> Result<String> {
        let v = self.req(k)?;
        self.as_str(k, v)
    }

    fn opt_string(&self, k: &str) -> Result<Option<String>> {
        self.opt(k).map(|v| self.as_str(k, v)).transpose()
    }

    fn as_str(&self, k: &str, v: &Value) -> Result<String> {
        v.as_str()
            .map(str::to_owned)
            .ok_or_else(|| err(ErrorCode::InvalidType, &self.name(k), "must be a string"))
    }

    fn number(&self, k: &str, v: &Value) -> Result<f64> {
        let n = v
            .as_f64()
            .ok_or_else(|| err(ErrorCode::InvalidType, &self.name(k), "must be a number"))?;
        if !n.is_finite() {
            return Err(err(
                ErrorCode::NonFinite,
                &self.name(k),
                "must be a finite number",
            ));
        }
        Ok(n + 0.0)
    }

    fn opt_number(&self, k: &str) -> Result<Option<f64>> {
        self.opt(k).map(|v| self.number(k, v)).transpose()
    }

    fn opt_int(&self, k: &str) -> Result<Option<i64>> {
        let Some(v) = self.opt(k) else {
            return Ok(None);
        };
        if let Some(i) = v.as_i64() {
            return Ok(Some(i));
        }
        // `2.0` and `2e3` are integers in JSON Schema (and what some JSON
        // writers emit for whole floats); below 2^53 an f64 holds them exactly.
        if let Some(f) = v.as_f64().filter(|f| f.fract() == 0.0) {
            const EXACT: f64 = 9_007_199_254_740_992.0; // 2^53
            if (-EXACT..=EXACT).contains(&f) {
                return Ok(Some(f as i64));
            }
            return Err(err(
                ErrorCode::OutOfRange,
                &self.name(k),
                "integer too large",
            ));
        }
        if v.is_u64() {
            return Err(err(
                ErrorCode::OutOfRange,
                &self.name(k),
                "integer too large",
            ));
        }
        Err(err(
            ErrorCode::InvalidType,
            &self.name(k),
            "must be an integer (ms since the Unix epoch)",
        ))
    }

    fn opt_id(&self, k: &str) -> Result<Option<RecordId>> {
        self.opt(k).map(|v| parse_id(&self.name(k), v)).transpose()
    }

    fn id(&self, k: &str) -> Result<RecordId> {
        parse_id(&self.name(k), self.req(k)?)
    }

    fn signature(&self) -> Result<Option<[u8; 64]>> {
        let Some(v) = self.opt("signature") else {
            return Ok(None);
        };
        let s = v
            .as_str()
            .ok_or_else(|| err(ErrorCode::InvalidType, "signature", "must be a hex string"))?;
        let mut sig = [0u8; 64];
        hex::decode_to_slice(s, &mut sig).map_err(|_| {
            err(
                ErrorCode::InvalidHex,
                "signature",
                "must be 128 hex characters",
            )
        })?;
        Ok(Some(sig))
    }

    /// The record timestamp: given, or assigned by the clock when unsigned.
    fn timestamp(&self, clock: &Hlc, signed: bool) -> Result<i64> {
        match self.opt_int("timestamp")? {
            Some(t) => {
                crate::validate::timestamp("timestamp", t)?;
                clock.observe(t);
                Ok(t)
            }
            None if signed => Err(err(
                ErrorCode::MissingField,
                "timestamp",
                "a signed record must carry the timestamp it was signed with",
            )),
            None => Ok(clock.now()),
        }
    }
}

/// Parses a 64-hex record id, naming `field` on failure.
pub fn parse_id(field: &str, v: &Value) -> Result<RecordId> {
    let s = v
        .as_str()
        .ok_or_else(|| err(ErrorCode::InvalidType, field, "must be a 64-hex record id"))?;
    RecordId::from_hex(s).map_err(|e| err(ErrorCode::InvalidHex, field, e.to_string()))
}

fn finish(
    record: Record,
    signature: Option<[u8; 64]>,
    claimed_id: Option<RecordId>,
) -> Result<SignedRecord> {
    let rec = SignedRecord::new(record, signature)?;
    if let Some(claimed) = claimed_id
        && claimed != rec.id()
    {
        return Err(err(
            ErrorCode::InvalidValue,
            "id",
            format!("does not match the record content (computed {})", rec.id()),
        ));
    }
    Ok(rec)
}

const COMMON: [&str; 3] = ["kind", "id", "signature"];

fn allowed(own: &[&'static str]) -> Vec<&'static str> {
    let mut v = own.to_vec();
    v.extend_from_slice(&COMMON);
    v
}

/// Parses an assertion (SPEC §1 fields).
pub fn parse_assertion(v: &Value, clock: &Hlc) -> Result<SignedRecord> {
    let f = Fields::new(
        v,
        "",
        &allowed(&[
            "subject",
            "predicate",
            "object",
            "agent",
            "confidence",
            "timestamp",
            "source",
            "valid_from",
            "valid_to",
            "lifecycle",
            "parent",
            "epoch",
        ]),
    )?;
    expect_kind(&f, Kind::Assertion)?;
    let signature = f.signature()?;
    let obj = Fields::new(f.req("object")?, "object.", &["type", "value"])?;
    let ty = obj.string("type")?;
    let val = obj.req("value")?;
    let object = match ty.as_str() {
        "text" => Object::Text(obj.as_str("value", val)?),
        "ref" => Object::Ref(obj.as_str("value", val)?),
        "number" => Object::Number(obj.number("value", val)?),
        "boolean" => Object::Boolean(val.as_bool().ok_or_else(|| {
            err(
                ErrorCode::InvalidType,
                "object.value",
                "must be true or false",
            )
        })?),
        other => {
            return Err(err(
                ErrorCode::InvalidValue,
                "object.type",
                format!("unknown object type {other:?}; expected text, number, boolean or ref"),
            ));
        }
    };
    let source = match f.opt("source") {
        None => None,
        Some(s) => {
            let sf = Fields::new(s, "source.", &["uri", "class"])?;
            let class = sf
                .opt_int("class")?
                .ok_or_else(|| err(ErrorCode::MissingField, "source.class", "is required"))?;
            let class = u8::try_from(class)
                .ok()
                .filter(|c| *c <= crate::limits::SOURCE_CLASS_MAX)
                .ok_or_else(|| err(ErrorCode::OutOfRange, "source.class", "must be 0..=5"))?;
            Some(Source {
                uri: sf.string("uri")?,
                class,
            })
        }
    };
    let lifecycle = match f.opt_string("lifecycle")? {
        None => Lifecycle::Proposed,
        Some(s) => Lifecycle::parse(&s).ok_or_else(|| {
            err(
                ErrorCode::InvalidValue,
                "lifecycle",
                "must be proposed, under_review, approved, deprecated or rejected",
            )
        })?,
    };
    let record = Record::Assertion(Assertion {
        subject: f.string("subject")?,
        predicate: f.string("predicate")?,
        object,
        agent: f.string("agent")?,
        confidence: f.opt_number("confidence")?.unwrap_or(1.0),
        timestamp: f.timestamp(clock, signature.is_some())?,
        source,
        valid_from: f.opt_int("valid_from")?,
        valid_to: f.opt_int("valid_to")?,
        lifecycle,
        parent: f.opt_id("parent")?,
        epoch: f.opt_id("epoch")?,
    });
    finish(record, signature, f.opt_id("id")?)
}

/// Parses a retraction `{target, agent, reason?, timestamp?, signature?}`.
pub fn parse_retraction(v: &Value, clock: &Hlc) -> Result<SignedRecord> {
    let f = Fields::new(v, "", &allowed(&["target", "agent", "reason", "timestamp"]))?;
    expect_kind(&f, Kind::Retraction)?;
    let signature = f.signature()?;
    let record = Record::Retraction(Retraction {
        target: f.id("target")?,
        agent: f.string("agent")?,
        reason: f.opt_string("reason")?,
        timestamp: f.timestamp(clock, signature.is_some())?,
    });
    finish(record, signature, f.opt_id("id")?)
}

/// Parses a vote `{target, agent, weight, timestamp?, signature?}`.
pub fn parse_vote(v: &Value, clock: &Hlc) -> Result<SignedRecord> {
    let f = Fields::new(v, "", &allowed(&["target", "agent", "weight", "timestamp"]))?;
    expect_kind(&f, Kind::Vote)?;
    let signature = f.signature()?;
    let weight = f.number("weight", f.req("weight")?)?;
    let record = Record::Vote(Vote {
        target: f.id("target")?,
        agent: f.string("agent")?,
        weight,
        timestamp: f.timestamp(clock, signature.is_some())?,
    });
    finish(record, signature, f.opt_id("id")?)
}

/// Parses a trust record. `agent` comes from the URL path when given there.
pub fn parse_trust(v: &Value, agent: Option<&str>, clock: &Hlc) -> Result<SignedRecord> {
    let f = Fields::new(v, "", &allowed(&["agent", "score", "issuer", "timestamp"]))?;
    expect_kind(&f, Kind::Trust)?;
    let signature = f.signature()?;
    let agent = match agent {
        Some(a) => a.to_owned(),
        None => f.string("agent")?,
    };
    let score = f.number("score", f.req("score")?)?;
    let record = Record::Trust(Trust {
        agent,
        score,
        issuer: f
            .opt_string("issuer")?
            .unwrap_or_else(|| "admin".to_owned()),
        timestamp: f.timestamp(clock, signature.is_some())?,
    });
    finish(record, signature, f.opt_id("id")?)
}

/// Parses an epoch `{name, subject_prefix, supersedes, reason, agent, timestamp?}`.
pub fn parse_epoch(v: &Value, clock: &Hlc) -> Result<SignedRecord> {
    let f = Fields::new(
        v,
        "",
        &allowed(&[
            "name",
            "subject_prefix",
            "supersedes",
            "reason",
            "agent",
            "timestamp",
        ]),
    )?;
    expect_kind(&f, Kind::Epoch)?;
    let signature = f.signature()?;
    let record = Record::Epoch(Epoch {
        name: f.string("name")?,
        subject_prefix: f.opt_string("subject_prefix")?.unwrap_or_default(),
        supersedes: f.opt_id("supersedes")?,
        reason: f.opt_string("reason")?.unwrap_or_default(),
        agent: f.string("agent")?,
        timestamp: f.timestamp(clock, signature.is_some())?,
    });
    finish(record, signature, f.opt_id("id")?)
}

/// Parses any record; `kind` selects the form and defaults to `assertion`.
pub fn parse_record(v: &Value, clock: &Hlc) -> Result<SignedRecord> {
    let kind = match v.get("kind") {
        None | Some(Value::Null) => Kind::Assertion,
        Some(k) => k.as_str().and_then(Kind::parse).ok_or_else(|| {
            err(
                ErrorCode::InvalidValue,
                "kind",
                "must be assertion, retraction, vote, trust or epoch",
            )
        })?,
    };
    match kind {
        Kind::Assertion => parse_assertion(v, clock),
        Kind::Retraction => parse_retraction(v, clock),
        Kind::Vote => parse_vote(v, clock),
        Kind::Trust => parse_trust(v, None, clock),
        Kind::Epoch => parse_epoch(v, clock),
    }
}

fn expect_kind(f: &Fields<'_>, kind: Kind) -> Result<()> {
    match f.opt_string("kind")? {
        Some(k) if k != kind.as_str() => Err(err(
            ErrorCode::InvalidValue,
            "kind",
            format!("expected {:?} here", kind.as_str()),
        )),
        _ => Ok(()),
    }
}

/// The JSON form of an object value.
pub fn object_json(o: &Object) -> Value {
    match o {
        Object::Text(s) => json!({"type": "text", "value": s}),
        Object::Ref(s) => json!({"type": "ref", "value": s}),
        Object::Number(n) => json!({"type": "number", "value": n}),
        Object::Boolean(b) => json!({"type": "boolean", "value": b}),
    }
}

/// The fields of a record as written (no `kind`, `id` or `signature`).
pub fn record_fields(r: &Record) -> Map<String, Value> {
    let v = match r {
        Record::Assertion(a) => {
            let mut m = json!({
                "subject": a.subject, "predicate": a.predicate,
                "object": object_json(&a.object), "agent": a.agent,
                "confidence": a.confidence, "timestamp": a.timestamp,
                "lifecycle": a.lifecycle.as_str(),
            });
            if let Some(obj) = m.as_object_mut() {
                if let Some(s) = &a.source {
                    obj.insert("source".into(), json!({"uri": s.uri, "class": s.class}));
                }
                if let Some(t) = a.valid_from {
                    obj.insert("valid_from".into(), json!(t));
                }
                if let Some(t) = a.valid_to {
                    obj.insert("valid_to".into(), json!(t));
                }
                if let Some(p) = a.parent {
                    obj.insert("parent".into(), json!(p.to_hex()));
                }
                if let Some(e) = a.epoch {
                    obj.insert("epoch".into(), json!(e.to_hex()));
                }
            }
            m
        }
        Record::Retraction(x) => {
            let mut m =
                json!({"target": x.target.to_hex(), "agent": x.agent, "timestamp": x.timestamp});
            if let (Some(reason), Some(obj)) = (&x.reason, m.as_object_mut()) {
                obj.insert("reason".into(), json!(reason));
            }
            m
        }
        Record::Vote(x) => {
            json!({"target": x.target.to_hex(), "agent": x.agent, "weight": x.weight, "timestamp": x.timestamp})
        }
        Record::Trust(x) => {
            json!({"agent": x.agent, "score": x.score, "issuer": x.issuer, "timestamp": x.timestamp})
        }
        Record::Epoch(x) => json!({
            "name": x.name, "subject_prefix": x.subject_prefix,
            "supersedes": x.supersedes.map(|s| s.to_hex()), "reason": x.reason,
            "agent": x.agent, "timestamp": x.timestamp,
        }),
    };
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

/// Full JSON form: `{"kind", "id", ...fields, "signature"?}`. Parsing it
/// back with [`parse_record`] yields the same record and id.
pub fn to_json(rec: &SignedRecord) -> Value {
    let mut m = Map::new();
    m.insert("kind".into(), json!(rec.record().kind().as_str()));
    m.insert("id".into(), json!(rec.id().to_hex()));
    m.extend(record_fields(rec.record()));
    if let Some(sig) = rec.signature() {
        m.insert("signature".into(), json!(hex::encode(sig)));
    }
    Value::Object(m)
}
