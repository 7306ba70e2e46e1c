//! Validation of records against SPEC §1 limits. Pure; names the failing field.

use crate::error::{ErrorCode, ValidationError};
use crate::limits::*;
use crate::model::{Assertion, Epoch, Object, Record, Retraction, Trust, Vote};

type Result<T = ()> = std::result::Result<T, ValidationError>;

/// Checks every rule of the record's kind. Signatures are checked separately
/// (see [`crate::sign`]) because they need the id.
pub fn validate(record: &Record) -> Result {
    match record {
        Record::Assertion(a) => assertion(a),
        Record::Retraction(r) => retraction(r),
        Record::Vote(v) => vote(v),
        Record::Trust(t) => trust(t),
        Record::Epoch(e) => epoch(e),
    }
}

fn assertion(a: &Assertion) -> Result {
    name_like("subject", &a.subject, SUBJECT_MAX)?;
    name_like("predicate", &a.predicate, PREDICATE_MAX)?;
    match &a.object {
        Object::Text(t) => max_len("object.value", t, TEXT_MAX)?,
        Object::Number(n) => finite("object.value", *n)?,
        Object::Boolean(_) => {}
        Object::Ref(r) => name_like("object.value", r, SUBJECT_MAX)?,
    }
    agent("agent", &a.agent)?;
    unit_interval("confidence", a.confidence, 0.0)?;
    timestamp("timestamp", a.timestamp)?;
    if let Some(s) = &a.source {
        non_empty("source.uri", &s.uri)?;
        max_len("source.uri", &s.uri, URI_MAX)?;
        if s.class > SOURCE_CLASS_MAX {
            return Err(ValidationError::new(
                ErrorCode::OutOfRange,
                "source.class",
                format!("must be 0..={SOURCE_CLASS_MAX}, got {}", s.class),
            ));
        }
    }
    for (field, v) in [("valid_from", a.valid_from), ("valid_to", a.valid_to)] {
        if let Some(v) = v
            && !(VALID_TIME_MIN..=TIMESTAMP_MAX).contains(&v)
        {
            return Err(ValidationError::new(
                ErrorCode::OutOfRange,
                field,
                format!("must be within ±{TIMESTAMP_MAX} ms"),
            ));
        }
    }
    if let (Some(f), Some(t)) = (a.valid_from, a.valid_to)
        && f > t
    {
        return Err(ValidationError::new(
            ErrorCode::OutOfRange,
            "valid_to",
            "must not be before valid_from",
        ));
    }
    Ok(())
}

fn retraction(r: &Retraction) -> Result {
    agent("agent", &r.agent)?;
    if let Some(reason) = &r.reason {
        max_len("reason", reason, REASON_MAX)?;
    }
    timestamp("timestamp", r.timestamp)
}

fn vote(v: &Vote) -> Result {
    agent("agent", &v.agent)?;
    finite("weight", v.weight)?;
    if !(-1.0..=1.0).contains(&v.weight) {
        return Err(ValidationError::new(
            ErrorCode::OutOfRange,
            "weight",
            "must be in [-1, 1]",
        ));
    }
    timestamp("timestamp", v.timestamp)
}

fn trust(t: &Trust) -> Result {
    agent("agent", &t.agent)?;
    unit_interval("score", t.score, 0.0)?;
    agent("issuer", &t.issuer)?;
    timestamp("timestamp", t.timestamp)
}

fn epoch(e: &Epoch) -> Result {
    non_empty("name", &e.name)?;
    max_len("name", &e.name, EPOCH_NAME_MAX)?;
    max_len("subject_prefix", &e.subject_prefix, SUBJECT_MAX)?;
    no_nul("subject_prefix", &e.subject_prefix)?;
    max_len("reason", &e.reason, REASON_MAX)?;
    agent("agent", &e.agent)?;
    timestamp("timestamp", e.timestamp)
}

/// Subjects, predicates and refs: non-empty, bounded, no NUL (NUL separates
/// index key parts).
pub fn name_like(field: &str, s: &str, max: usize) -> Result {
    non_empty(field, s)?;
    max_len(field, s, max)?;
    no_nul(field, s)
}

/// An agent or issuer name: 1..=128 bytes, no NUL.
pub fn agent(field: &str, s: &str) -> Result {
    name_like(field, s, AGENT_MAX)
}

fn non_empty(field: &str, s: &str) -> Result {
    if s.is_empty() {
        return Err(ValidationError::new(
            ErrorCode::Empty,
            field,
            "must not be empty",
        ));
    }
    Ok(())
}

fn max_len(field: &str, s: &str, max: usize) -> Result {
    if s.len() > max {
        return Err(ValidationError::new(
            ErrorCode::TooLong,
            field,
            format!("is {} bytes, limit {max}", s.len()),
        ));
    }
    Ok(())
}

fn no_nul(field: &str, s: &str) -> Result {
    if s.contains('\0') {
        return Err(ValidationError::new(
            ErrorCode::InvalidValue,
            field,
            "must not contain U+0000",
        ));
    }
    Ok(())
}

/// Rejects NaN and ±inf.
pub fn finite(field: &str, v: f64) -> Result {
    if !v.is_finite() {
        return Err(ValidationError::new(
            ErrorCode::NonFinite,
            field,
            "must be a finite number",
        ));
    }
    Ok(())
}

fn unit_interval(field: &str, v: f64, min: f64) -> Result {
    finite(field, v)?;
    if !(min..=1.0).contains(&v) {
        return Err(ValidationError::new(
            ErrorCode::OutOfRange,
            field,
            format!("must be in [{min}, 1], got {v}"),
        ));
    }
    Ok(())
}

/// A record timestamp: 0..=year 9999 in ms.
pub fn timestamp(field: &str, v: i64) -> Result {
    if !(0..=TIMESTAMP_MAX).contains(&v) {
        return Err(ValidationError::new(
            ErrorCode::OutOfRange,
            field,
            format!("must be ms since the Unix epoch in 0..={TIMESTAMP_MAX}, got {v}"),
        ));
    }
    Ok(())
}
