//! The fast path for the common item of a bulk write: a well-formed
//! assertion read straight from JSON text into borrowed fields, with no
//! `serde_json::Value` tree in between (that tree was most of a batch
//! request's parsing cost).
//!
//! It decides nothing on its own: any input it does not take as it stands —
//! malformed JSON, an unknown or repeated field, a wrong type, a value out of
//! range, another record kind, `2.0` as a timestamp — answers `None`, and the
//! caller parses the text the general way ([`super::parse_record`]), which
//! gives the precise, field-named error or accepts the spelling. For input
//! it takes, it builds the same record as [`super::parse_assertion`] does:
//! the same defaults, normalisation and final validation ([`super::finish`]).

use std::borrow::Cow;

use serde::Deserialize;
use serde::de::{self, Deserializer, Visitor};

use super::{Result, finish};
use crate::hlc::Hlc;
use crate::id::RecordId;
use crate::model::{Assertion, Kind, Lifecycle, Object, Record, Source};
use crate::signed::SignedRecord;

/// An assertion as written on the wire (SPEC §1), fields borrowed from the text.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AssertionIn<'a> {
    #[serde(borrow)]
    kind: Option<Cow<'a, str>>,
    #[serde(borrow)]
    id: Option<Cow<'a, str>>,
    #[serde(borrow)]
    signature: Option<Cow<'a, str>>,
    #[serde(borrow)]
    subject: Cow<'a, str>,
    #[serde(borrow)]
    predicate: Cow<'a, str>,
    #[serde(borrow)]
    object: ObjectIn<'a>,
    #[serde(borrow)]
    agent: Cow<'a, str>,
    confidence: Option<f64>,
    timestamp: Option<i64>,
    #[serde(borrow)]
    source: Option<SourceIn<'a>>,
    valid_from: Option<i64>,
    valid_to: Option<i64>,
    #[serde(borrow)]
    lifecycle: Option<Cow<'a, str>>,
    #[serde(borrow)]
    parent: Option<Cow<'a, str>>,
    #[serde(borrow)]
    epoch: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ObjectIn<'a> {
    #[serde(rename = "type", borrow)]
    ty: Cow<'a, str>,
    #[serde(borrow)]
    value: ScalarIn<'a>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SourceIn<'a> {
    #[serde(borrow)]
    uri: Cow<'a, str>,
    class: Option<i64>,
}

/// An object value: a string, a number or a boolean (null and containers
/// fail the fast path).
enum ScalarIn<'a> {
    Str(Cow<'a, str>),
    Num(f64),
    Bool(bool),
}

impl<'de: 'a, 'a> Deserialize<'de> for ScalarIn<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct V<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for V<'a> {
            type Value = ScalarIn<'a>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a string, number or boolean")
            }
            fn visit_borrowed_str<E: de::Error>(
                self,
                s: &'de str,
            ) -> std::result::Result<Self::Value, E> {
                Ok(ScalarIn::Str(Cow::Borrowed(s)))
            }
            fn visit_str<E: de::Error>(self, s: &str) -> std::result::Result<Self::Value, E> {
                Ok(ScalarIn::Str(Cow::Owned(s.to_owned())))
            }
            fn visit_string<E: de::Error>(self, s: String) -> std::result::Result<Self::Value, E> {
                Ok(ScalarIn::Str(Cow::Owned(s)))
            }
            fn visit_f64<E: de::Error>(self, n: f64) -> std::result::Result<Self::Value, E> {
                Ok(ScalarIn::Num(n))
            }
            fn visit_i64<E: de::Error>(self, n: i64) -> std::result::Result<Self::Value, E> {
                Ok(ScalarIn::Num(n as f64))
            }
            fn visit_u64<E: de::Error>(self, n: u64) -> std::result::Result<Self::Value, E> {
                Ok(ScalarIn::Num(n as f64))
            }
            fn visit_bool<E: de::Error>(self, b: bool) -> std::result::Result<Self::Value, E> {
                Ok(ScalarIn::Bool(b))
            }
        }
        d.deserialize_any(V(std::marker::PhantomData))
    }
}

/// A finite number, `-0` normalised to `0` (as the general parser does).
fn finite(n: f64) -> Option<f64> {
    n.is_finite().then_some(n + 0.0)
}

fn id(hex: Option<&Cow<'_, str>>) -> Option<Option<RecordId>> {
    match hex {
        None => Some(None),
        Some(s) => RecordId::from_hex(s).ok().map(Some),
    }
}

/// Parses `text` as an assertion when it is one in the plain form; `None`
/// sends the caller to the general parser (see the module doc). The clock
/// is touched only once everything but the final validation has passed.
pub fn parse_assertion_text(text: &[u8], clock: &Hlc) -> Option<Result<SignedRecord>> {
    let a: AssertionIn<'_> = serde_json::from_slice(text).ok()?;
    if a.kind
        .as_deref()
        .is_some_and(|k| k != Kind::Assertion.as_str())
    {
        return None;
    }
    let signature = match &a.signature {
        None => None,
        Some(s) => {
            let mut sig = [0u8; 64];
            hex::decode_to_slice(s.as_bytes(), &mut sig).ok()?;
            Some(sig)
        }
    };
    let object = match (a.object.ty.as_ref(), a.object.value) {
        ("text", ScalarIn::Str(s)) => Object::Text(s.into_owned()),
        ("ref", ScalarIn::Str(s)) => Object::Ref(s.into_owned()),
        ("number", ScalarIn::Num(n)) => Object::Number(finite(n)?),
        ("boolean", ScalarIn::Bool(b)) => Object::Boolean(b),
        _ => return None,
    };
    let source = match a.source {
        None => None,
        Some(s) => {
            let class = u8::try_from(s.class?)
                .ok()
                .filter(|c| *c <= crate::limits::SOURCE_CLASS_MAX)?;
            Some(Source {
                uri: s.uri.into_owned(),
                class,
            })
        }
    };
    let lifecycle = match &a.lifecycle {
        None => Lifecycle::Proposed,
        Some(s) => Lifecycle::parse(s)?,
    };
    let confidence = match a.confidence {
        None => 1.0,
        Some(c) => finite(c)?,
    };
    let parent = id(a.parent.as_ref())?;
    let epoch = id(a.epoch.as_ref())?;
    let claimed = id(a.id.as_ref())?;
    let timestamp = match a.timestamp {
        Some(t) => {
            crate::validate::timestamp("timestamp", t).ok()?;
            clock.observe(t);
            t
        }
        // A signed record must carry its timestamp: the general parser says so.
        None if signature.is_some() => return None,
        None => clock.now(),
    };
    let record = Record::Assertion(Assertion {
        subject: a.subject.into_owned(),
        predicate: a.predicate.into_owned(),
        object,
        agent: a.agent.into_owned(),
        confidence,
        timestamp,
        source,
        valid_from: a.valid_from,
        valid_to: a.valid_to,
        lifecycle,
        parent,
        epoch,
    });
    Some(finish(record, signature, claimed))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slow(text: &str, clock: &Hlc) -> Result<SignedRecord> {
        let v: serde_json::Value = serde_json::from_str(text).expect("test JSON");
        super::super::parse_record(&v, clock)
    }

    const PLAIN: &str = r#"{"subject":"drug:a\u00e9\"q","predicate":"effect","object":{"type":"text","value":"nausea"},"agent":"agent:7","confidence":0.25,"timestamp":1700000000000,"source":{"uri":"https://x","class":2},"lifecycle":"approved","valid_from":-3,"valid_to":9}"#;

    #[test]
    fn takes_a_plain_assertion_as_the_general_parser_does() {
        let clock = Hlc::new();
        let fast = parse_assertion_text(PLAIN.as_bytes(), &clock);
        assert_eq!(fast, Some(slow(PLAIN, &clock)));
        assert!(matches!(fast, Some(Ok(_))));
    }

    #[test]
    fn gives_the_general_parsers_error_for_an_invalid_record_it_read() {
        let clock = Hlc::new();
        let text = PLAIN.replace("drug:a", "");
        let text = text.replace(r#""subject":"\u00e9\"q""#, r#""subject":"""#);
        let fast = parse_assertion_text(text.as_bytes(), &clock);
        assert!(matches!(fast, Some(Err(_))), "{fast:?}");
        assert_eq!(fast, Some(slow(&text, &clock)));
    }

    #[test]
    fn declines_what_it_does_not_take_as_it_stands() {
        let clock = Hlc::new();
        let base = r#"{"subject":"s","predicate":"p","object":{"type":"text","value":"v"},"agent":"a","timestamp":5}"#;
        for (what, text) in [
            (
                "whole-number float timestamp",
                base.replace(r#""timestamp":5"#, r#""timestamp":5.0"#),
            ),
            ("unknown field", base.replace(r#""agent""#, r#""agnet""#)),
            (
                "repeated field",
                base.replace(r#""agent":"a""#, r#""agent":"a","agent":"b""#),
            ),
            ("another kind", base.replace('{', r#"{"kind":"vote","#)),
            (
                "wrong object type",
                base.replace(r#""type":"text""#, r#""type":"number""#),
            ),
            ("null subject", base.replace(r#""s""#, "null")),
            (
                "source without class",
                base.replace('{', r#"{"source":{"uri":"u"},"#),
            ),
            (
                "bad lifecycle",
                base.replace('{', r#"{"lifecycle":"final","#),
            ),
            ("short id", base.replace('{', r#"{"id":"abc","#)),
            (
                "signed without timestamp",
                base.replace(
                    r#","timestamp":5"#,
                    &format!(r#","signature":"{}""#, "0".repeat(128)),
                ),
            ),
            ("not JSON", base.replace('}', "")),
        ] {
            assert!(
                parse_assertion_text(text.as_bytes(), &clock).is_none(),
                "{what}: {text}"
            );
        }
        assert!(matches!(
            parse_assertion_text(base.as_bytes(), &clock),
            Some(Ok(_))
        ));
    }

    #[test]
    fn an_unstamped_assertion_takes_the_clocks_time() {
        let clock = Hlc::new();
        let text = r#"{"subject":"s","predicate":"p","object":{"type":"boolean","value":true},"agent":"a"}"#;
        let before = clock.now();
        let Some(Ok(rec)) = parse_assertion_text(text.as_bytes(), &clock) else {
            panic!("declined");
        };
        assert!(rec.record().timestamp() >= before);
    }
}
