//! Typed JSON rendering for hot read paths: records and ids serialized
//! straight into a serializer's output (hex into a stack buffer), without
//! building `serde_json::Value` trees.
//!
//! Every map is written with its keys in byte order — the order a
//! `serde_json::Map` renders them in — so the bytes equal those of the
//! `Value` forms in [`crate::wire`] (tests check both agree).

use serde::ser::{Error as _, Serialize, SerializeMap, Serializer};

use crate::id::RecordId;
use crate::model::{Assertion, Object, Source};

/// Lowercase hex of up to 64 bytes (a record id or a signature), encoded
/// into a stack buffer and written as one JSON string.
#[derive(Debug, Clone, Copy)]
pub struct Hex<'a>(pub &'a [u8]);

impl Serialize for Hex<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut buf = [0u8; 128];
        let out = buf
            .get_mut(..self.0.len() * 2)
            .ok_or_else(|| S::Error::custom("hex rendering is limited to 64 bytes"))?;
        hex::encode_to_slice(self.0, out).map_err(S::Error::custom)?;
        s.serialize_str(std::str::from_utf8(out).map_err(S::Error::custom)?)
    }
}

/// A record id as its 64-hex string.
#[derive(Debug, Clone, Copy)]
pub struct HexId<'a>(pub &'a RecordId);

impl Serialize for HexId<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        Hex(self.0.as_bytes()).serialize(s)
    }
}

/// A list of record ids as 64-hex strings.
#[derive(Debug, Clone, Copy)]
pub struct HexIds<'a>(pub &'a [RecordId]);

impl Serialize for HexIds<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.0.iter().map(HexId))
    }
}

/// An object value: `{"type", "value"}` (as [`crate::wire::object_json`]).
#[derive(Debug, Clone, Copy)]
pub struct ObjectJson<'a>(pub &'a Object);

impl Serialize for ObjectJson<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(2))?;
        m.serialize_entry("type", self.0.type_name())?;
        match self.0 {
            Object::Text(v) | Object::Ref(v) => m.serialize_entry("value", v)?,
            Object::Number(n) => m.serialize_entry("value", n)?,
            Object::Boolean(b) => m.serialize_entry("value", b)?,
        }
        m.end()
    }
}

struct SourceJson<'a>(&'a Source);

impl Serialize for SourceJson<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(2))?;
        m.serialize_entry("class", &self.0.class)?;
        m.serialize_entry("uri", &self.0.uri)?;
        m.end()
    }
}

/// A stored assertion as a query candidate: `{"id", ...every field as
/// written, "signature"?, "retracted"?}` — the fields of
/// [`crate::wire::record_fields`] plus its id, signature and, when given,
/// the `retracted` flag.
#[derive(Debug, Clone, Copy)]
pub struct AssertionJson<'a> {
    /// The assertion's id.
    pub id: &'a RecordId,
    /// The assertion.
    pub assertion: &'a Assertion,
    /// Its signature, if signed.
    pub signature: Option<&'a [u8; 64]>,
    /// `retracted` flag to include, if any.
    pub retracted: Option<bool>,
}

impl Serialize for AssertionJson<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let a = self.assertion;
        let mut m = s.serialize_map(None)?;
        // Keys in byte order (see the module docs).
        m.serialize_entry("agent", &a.agent)?;
        m.serialize_entry("confidence", &a.confidence)?;
        if let Some(e) = &a.epoch {
            m.serialize_entry("epoch", &HexId(e))?;
        }
        m.serialize_entry("id", &HexId(self.id))?;
        m.serialize_entry("lifecycle", a.lifecycle.as_str())?;
        m.serialize_entry("object", &ObjectJson(&a.object))?;
        if let Some(p) = &a.parent {
            m.serialize_entry("parent", &HexId(p))?;
        }
        m.serialize_entry("predicate", &a.predicate)?;
        if let Some(r) = self.retracted {
            m.serialize_entry("retracted", &r)?;
        }
        if let Some(sig) = self.signature {
            m.serialize_entry("signature", &Hex(sig))?;
        }
        if let Some(src) = &a.source {
            m.serialize_entry("source", &SourceJson(src))?;
        }
        m.serialize_entry("subject", &a.subject)?;
        m.serialize_entry("timestamp", &a.timestamp)?;
        if let Some(t) = a.valid_from {
            m.serialize_entry("valid_from", &t)?;
        }
        if let Some(t) = a.valid_to {
            m.serialize_entry("valid_to", &t)?;
        }
        m.end()
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use serde_json::{Value, json};

    use super::*;
    use crate::model::{Lifecycle, Record};
    use crate::wire;

    /// The `Value` form this module must match byte for byte.
    fn reference(
        id: &RecordId,
        a: &Assertion,
        sig: Option<&[u8; 64]>,
        retracted: Option<bool>,
    ) -> String {
        let mut m = serde_json::Map::new();
        m.insert("id".into(), json!(id.to_hex()));
        m.extend(wire::record_fields(&Record::Assertion(a.clone())));
        if let Some(sig) = sig {
            m.insert("signature".into(), json!(hex::encode(sig)));
        }
        if let Some(r) = retracted {
            m.insert("retracted".into(), json!(r));
        }
        Value::Object(m).to_string()
    }

    fn object() -> impl Strategy<Value = Object> {
        prop_oneof![
            "[a-z\"\\\\\\n\u{e9}\u{1F600}]{0,12}".prop_map(Object::Text),
            "[a-z:]{1,8}".prop_map(Object::Ref),
            any::<f64>()
                .prop_filter("finite", |n| n.is_finite())
                .prop_map(Object::Number),
            any::<bool>().prop_map(Object::Boolean),
        ]
    }

    prop_compose! {
        fn assertion()(
            subject in "[a-z:\"\\\\]{1,10}", predicate in "[a-z_]{1,8}", object in object(),
            agent in "[a-z0-9\u{7f}]{1,8}", confidence in 0.0f64..=1.0, timestamp in any::<i64>(),
            source in proptest::option::of(("[a-z:/.]{1,12}", 0u8..=5)),
            valid_from in proptest::option::of(any::<i64>()), valid_to in proptest::option::of(any::<i64>()),
            lifecycle in 0usize..5, parent in proptest::option::of(any::<[u8; 32]>()),
            epoch in proptest::option::of(any::<[u8; 32]>()),
        ) -> Assertion {
            Assertion {
                subject, predicate, object, agent, confidence, timestamp,
                source: source.map(|(uri, class)| Source { uri, class }),
                valid_from, valid_to, lifecycle: Lifecycle::ALL[lifecycle],
                parent: parent.map(RecordId), epoch: epoch.map(RecordId),
            }
        }
    }

    proptest! {
        #[test]
        fn assertion_bytes_equal_the_value_form(
            a in assertion(), id in any::<[u8; 32]>(),
            sig in proptest::option::of(proptest::collection::vec(any::<u8>(), 64)),
            retracted in proptest::option::of(any::<bool>()),
        ) {
            let id = RecordId(id);
            let sig: Option<[u8; 64]> = sig.and_then(|s| s.try_into().ok());
            let typed = serde_json::to_string(&AssertionJson {
                id: &id, assertion: &a, signature: sig.as_ref(), retracted,
            }).unwrap();
            prop_assert_eq!(typed, reference(&id, &a, sig.as_ref(), retracted));
        }

        #[test]
        fn object_bytes_equal_the_value_form(o in object()) {
            prop_assert_eq!(
                serde_json::to_string(&ObjectJson(&o)).unwrap(),
                wire::object_json(&o).to_string()
            );
        }
    }

    #[test]
    fn hex_is_lowercase_and_bounded() {
        let id = RecordId([0xab; 32]);
        assert_eq!(
            serde_json::to_string(&HexIds(&[id, RecordId([1; 32])])).unwrap(),
            format!("[\"{}\",\"{}\"]", "ab".repeat(32), "01".repeat(32))
        );
        assert_eq!(
            serde_json::to_string(&Hex(&[0xfe; 64])).unwrap(),
            format!("\"{}\"", "fe".repeat(64))
        );
        assert!(serde_json::to_string(&Hex(&[0; 65])).is_err());
    }
}
