//! Canonical byte encoding, version 1. The layout is specified in
//! `docs/canonical-encoding.md`; ids are `BLAKE3` of these bytes.
//!
//! Strings are `u32 LE length ‖ UTF-8 bytes`; integers are `i64` LE; numbers
//! are the IEEE-754 bits of the f64 as `u64` LE (never NaN/inf, `-0` written
//! as `0`); optional values are `0x00` or `0x01 ‖ value`; ids are 32 raw bytes.
//! Decoding accepts exactly what encoding produces: anything else is
//! `invalid_encoding`, so one record has one byte string and one id.

use crate::error::{ErrorCode, ValidationError};
use crate::id::RecordId;
use crate::model::*;
use crate::validate::validate;

/// The format version byte that starts every canonical encoding.
pub const VERSION: u8 = 1;

/// Encodes a record. The record is assumed valid; `-0` is normalised.
pub fn encode(record: &Record) -> Vec<u8> {
    let mut w = Writer(Vec::with_capacity(128));
    w.u8(VERSION);
    w.u8(record.kind() as u8);
    match record {
        Record::Assertion(a) => {
            w.str(&a.subject);
            w.str(&a.predicate);
            match &a.object {
                Object::Text(t) => {
                    w.u8(0);
                    w.str(t)
                }
                Object::Number(n) => {
                    w.u8(1);
                    w.f64(*n)
                }
                Object::Boolean(b) => {
                    w.u8(2);
                    w.u8(u8::from(*b))
                }
                Object::Ref(r) => {
                    w.u8(3);
                    w.str(r)
                }
            }
            w.str(&a.agent);
            w.f64(a.confidence);
            w.i64(a.timestamp);
            match &a.source {
                None => w.u8(0),
                Some(s) => {
                    w.u8(1);
                    w.str(&s.uri);
                    w.u8(s.class);
                }
            }
            w.opt_i64(a.valid_from);
            w.opt_i64(a.valid_to);
            w.u8(a.lifecycle as u8);
            w.opt_id(a.parent);
            w.opt_id(a.epoch);
        }
        Record::Retraction(r) => {
            w.id(r.target);
            w.str(&r.agent);
            match &r.reason {
                None => w.u8(0),
                Some(s) => {
                    w.u8(1);
                    w.str(s)
                }
            }
            w.i64(r.timestamp);
        }
        Record::Vote(v) => {
            w.id(v.target);
            w.str(&v.agent);
            w.f64(v.weight);
            w.i64(v.timestamp);
        }
        Record::Trust(t) => {
            w.str(&t.agent);
            w.f64(t.score);
            w.str(&t.issuer);
            w.i64(t.timestamp);
        }
        Record::Epoch(e) => {
            w.str(&e.name);
            w.str(&e.subject_prefix);
            w.opt_id(e.supersedes);
            w.str(&e.reason);
            w.str(&e.agent);
            w.i64(e.timestamp);
        }
    }
    w.0
}

/// Decodes canonical bytes and validates the record.
pub fn decode(bytes: &[u8]) -> Result<Record, ValidationError> {
    let mut r = Reader { buf: bytes, pos: 0 };
    let version = r.u8("version")?;
    if version != VERSION {
        return Err(bad(
            "version",
            format!("unsupported format version {version}"),
        ));
    }
    let kind_byte = r.u8("kind")?;
    let kind = Kind::from_byte(kind_byte)
        .ok_or_else(|| bad("kind", format!("unknown kind {kind_byte}")))?;
    let record = match kind {
        Kind::Assertion => {
            let subject = r.str("subject")?;
            let predicate = r.str("predicate")?;
            let object = match r.u8("object.type")? {
                0 => Object::Text(r.str("object.value")?),
                1 => Object::Number(r.f64("object.value")?),
                2 => match r.u8("object.value")? {
                    0 => Object::Boolean(false),
                    1 => Object::Boolean(true),
                    b => return Err(bad("object.value", format!("boolean byte {b}"))),
                },
                3 => Object::Ref(r.str("object.value")?),
                t => return Err(bad("object.type", format!("unknown object tag {t}"))),
            };
            let agent = r.str("agent")?;
            let confidence = r.f64("confidence")?;
            let timestamp = r.i64("timestamp")?;
            let source = if r.flag("source")? {
                let uri = r.str("source.uri")?;
                let class = r.u8("source.class")?;
                Some(Source { uri, class })
            } else {
                None
            };
            let valid_from = r.opt_i64("valid_from")?;
            let valid_to = r.opt_i64("valid_to")?;
            let lc = r.u8("lifecycle")?;
            let lifecycle = Lifecycle::from_byte(lc)
                .ok_or_else(|| bad("lifecycle", format!("unknown lifecycle {lc}")))?;
            let parent = r.opt_id("parent")?;
            let epoch = r.opt_id("epoch")?;
            Record::Assertion(Assertion {
                subject,
                predicate,
                object,
                agent,
                confidence,
                timestamp,
                source,
                valid_from,
                valid_to,
                lifecycle,
                parent,
                epoch,
            })
        }
        Kind::Retraction => Record::Retraction(Retraction {
            target: r.id("target")?,
            agent: r.str("agent")?,
            reason: if r.flag("reason")? {
                Some(r.str("reason")?)
            } else {
                None
            },
            timestamp: r.i64("timestamp")?,
        }),
        Kind::Vote => Record::Vote(Vote {
            target: r.id("target")?,
            agent: r.str("agent")?,
            weight: r.f64("weight")?,
            timestamp: r.i64("timestamp")?,
        }),
        Kind::Trust => Record::Trust(Trust {
            agent: r.str("agent")?,
            score: r.f64("score")?,
            issuer: r.str("issuer")?,
            timestamp: r.i64("timestamp")?,
        }),
        Kind::Epoch => Record::Epoch(Epoch {
            name: r.str("name")?,
            subject_prefix: r.str("subject_prefix")?,
            supersedes: r.opt_id("supersedes")?,
            reason: r.str("reason")?,
            agent: r.str("agent")?,
            timestamp: r.i64("timestamp")?,
        }),
    };
    if r.pos != bytes.len() {
        return Err(bad(
            "record",
            format!("{} trailing bytes", bytes.len() - r.pos),
        ));
    }
    validate(&record)?;
    Ok(record)
}

fn bad(field: &str, msg: impl Into<String>) -> ValidationError {
    ValidationError::new(ErrorCode::InvalidEncoding, field, msg)
}

struct Writer(Vec<u8>);

impl Writer {
    fn u8(&mut self, b: u8) {
        self.0.push(b);
    }
    fn str(&mut self, s: &str) {
        // Lengths are bounded by validation (≤ 64 KiB), so u32 never truncates.
        self.0.extend_from_slice(&(s.len() as u32).to_le_bytes());
        self.0.extend_from_slice(s.as_bytes());
    }
    fn f64(&mut self, v: f64) {
        // Adding +0.0 turns -0.0 into +0.0 and leaves every other value alone.
        self.0.extend_from_slice(&(v + 0.0).to_bits().to_le_bytes());
    }
    fn i64(&mut self, v: i64) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn id(&mut self, id: RecordId) {
        self.0.extend_from_slice(&id.0);
    }
    fn opt_i64(&mut self, v: Option<i64>) {
        match v {
            None => self.u8(0),
            Some(v) => {
                self.u8(1);
                self.i64(v)
            }
        }
    }
    fn opt_id(&mut self, v: Option<RecordId>) {
        match v {
            None => self.u8(0),
            Some(v) => {
                self.u8(1);
                self.id(v)
            }
        }
    }
}

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl Reader<'_> {
    fn take(&mut self, n: usize, field: &str) -> Result<&[u8], ValidationError> {
        let end = self.pos.checked_add(n).filter(|e| *e <= self.buf.len());
        match end {
            Some(end) => {
                let s = &self.buf[self.pos..end];
                self.pos = end;
                Ok(s)
            }
            None => Err(bad(field, "truncated")),
        }
    }
    fn u8(&mut self, field: &str) -> Result<u8, ValidationError> {
        Ok(self.take(1, field)?[0])
    }
    fn arr8(&mut self, field: &str) -> Result<[u8; 8], ValidationError> {
        let mut a = [0u8; 8];
        a.copy_from_slice(self.take(8, field)?);
        Ok(a)
    }
    fn flag(&mut self, field: &str) -> Result<bool, ValidationError> {
        match self.u8(field)? {
            0 => Ok(false),
            1 => Ok(true),
            b => Err(bad(field, format!("option tag {b}"))),
        }
    }
    fn str(&mut self, field: &str) -> Result<String, ValidationError> {
        let mut l = [0u8; 4];
        l.copy_from_slice(self.take(4, field)?);
        let len = u32::from_le_bytes(l) as usize;
        let bytes = self.take(len, field)?;
        String::from_utf8(bytes.to_vec()).map_err(|_| bad(field, "not UTF-8"))
    }
    fn f64(&mut self, field: &str) -> Result<f64, ValidationError> {
        let bits = u64::from_le_bytes(self.arr8(field)?);
        let v = f64::from_bits(bits);
        if !v.is_finite() {
            return Err(ValidationError::new(
                ErrorCode::NonFinite,
                field,
                "must be a finite number",
            ));
        }
        if bits == (-0.0f64).to_bits() {
            return Err(bad(field, "-0 is not canonical"));
        }
        Ok(v)
    }
    fn i64(&mut self, field: &str) -> Result<i64, ValidationError> {
        Ok(i64::from_le_bytes(self.arr8(field)?))
    }
    fn id(&mut self, field: &str) -> Result<RecordId, ValidationError> {
        let mut a = [0u8; 32];
        a.copy_from_slice(self.take(32, field)?);
        Ok(RecordId(a))
    }
    fn opt_i64(&mut self, field: &str) -> Result<Option<i64>, ValidationError> {
        if self.flag(field)? {
            Ok(Some(self.i64(field)?))
        } else {
            Ok(None)
        }
    }
    fn opt_id(&mut self, field: &str) -> Result<Option<RecordId>, ValidationError> {
        if self.flag(field)? {
            Ok(Some(self.id(field)?))
        } else {
            Ok(None)
        }
    }
}
