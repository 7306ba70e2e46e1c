//! The result of applying a lens, and its JSON form (SPEC §3).

use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::Value;
use stemedb_records::render::{HexIds, ObjectJson};
use stemedb_records::{Object, RecordId};

use crate::lens::Lens;

/// One distinct value of the candidate set with its support.
#[derive(Debug, Clone, PartialEq)]
pub struct ValueSupport {
    /// The value.
    pub value: Object,
    /// Net support: agent units plus counted vote weights (may be negative).
    pub support: f64,
    /// max(support, 0) / total positive support; 0 when nothing is positive.
    pub share: f64,
    /// Ids of the candidate assertions claiming this value, ascending.
    pub ids: Vec<RecordId>,
}

/// How much the candidates agree, reported by the `skeptic` lens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SkepticStatus {
    /// Exactly one distinct value.
    Unanimous,
    /// Several values, the top one holding at least [`AGREED_SHARE`] of the support.
    Agreed,
    /// Anything else (including an empty candidate set).
    Contested,
}

/// Minimum top share for [`SkepticStatus::Agreed`].
pub const AGREED_SHARE: f64 = 0.75;

impl SkepticStatus {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            SkepticStatus::Unanimous => "unanimous",
            SkepticStatus::Agreed => "agreed",
            SkepticStatus::Contested => "contested",
        }
    }
}

/// The consensus resolution of one source class inside a `layered` resolution.
#[derive(Debug, Clone, PartialEq)]
pub struct ClassResolution {
    /// Source class 0..=5, or 6 for assertions without source.
    pub class: u8,
    /// Consensus over the candidates of that class only.
    pub resolution: Resolution,
}

/// The answer of a lens over a candidate set.
#[derive(Debug, Clone, PartialEq)]
pub struct Resolution {
    /// The lens that produced it (`consensus` for the per-class entries of `layered`).
    pub lens: Lens,
    /// The winning value; `None` for `skeptic` and for an empty candidate set.
    pub value: Option<Object>,
    /// Ids of the winning assertion(s), ascending.
    pub winners: Vec<RecordId>,
    /// Lens confidence in [0, 1].
    pub confidence: f64,
    /// Normalised entropy of the support shares, in [0, 1].
    pub conflict: f64,
    /// Number of distinct candidate assertions considered.
    pub candidates: usize,
    /// Every distinct value with its support, by support desc then value.
    pub explanation: Vec<ValueSupport>,
    /// Agreement status; `Some` only for `skeptic`.
    pub status: Option<SkepticStatus>,
    /// Per-class consensus in class order; non-empty only for `layered`.
    pub classes: Vec<ClassResolution>,
}

impl Resolution {
    /// The resolution of an empty candidate set under `lens`.
    pub fn empty(lens: Lens) -> Self {
        Resolution {
            lens,
            value: None,
            winners: Vec::new(),
            confidence: 0.0,
            conflict: 0.0,
            candidates: 0,
            explanation: Vec::new(),
            status: (lens == Lens::Skeptic).then_some(SkepticStatus::Contested),
            classes: Vec::new(),
        }
    }

    /// The explanation row of the winning value, if any.
    pub fn winning_support(&self) -> Option<&ValueSupport> {
        let v = self.value.as_ref()?;
        self.explanation.iter().find(|e| &e.value == v)
    }

    /// The JSON form of SPEC §3 as a `Value` (the same content the
    /// [`Serialize`] impl writes straight to an output buffer).
    pub fn to_json(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }
}

/// The JSON form of SPEC §3: `status` only for skeptic, `classes` only for
/// layered. Keys are written in byte order, as a `serde_json::Map` renders
/// them, so the bytes equal those of the `Value` form.
impl Serialize for Resolution {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("candidates", &self.candidates)?;
        if self.lens == Lens::Layered {
            m.serialize_entry("classes", &self.classes)?;
        }
        m.serialize_entry("confidence", &self.confidence)?;
        m.serialize_entry("conflict", &self.conflict)?;
        m.serialize_entry("explanation", &self.explanation)?;
        m.serialize_entry("lens", self.lens.as_str())?;
        if self.lens == Lens::Skeptic {
            let status = self.status.unwrap_or(SkepticStatus::Contested);
            m.serialize_entry("status", status.as_str())?;
        }
        m.serialize_entry("value", &self.value.as_ref().map(ObjectJson))?;
        m.serialize_entry("winners", &HexIds(&self.winners))?;
        m.end()
    }
}

/// `{"ids", "share", "support", "value"}`.
impl Serialize for ValueSupport {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(4))?;
        m.serialize_entry("ids", &HexIds(&self.ids))?;
        m.serialize_entry("share", &self.share)?;
        m.serialize_entry("support", &self.support)?;
        m.serialize_entry("value", &ObjectJson(&self.value))?;
        m.end()
    }
}

/// `{"class", "resolution"}`.
impl Serialize for ClassResolution {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(2))?;
        m.serialize_entry("class", &self.class)?;
        m.serialize_entry("resolution", &self.resolution)?;
        m.end()
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn empty_json_shape() {
        let j = Resolution::empty(Lens::Consensus).to_json();
        assert_eq!(
            j,
            json!({"lens": "consensus", "value": null, "winners": [], "confidence": 0.0,
                   "conflict": 0.0, "candidates": 0, "explanation": []})
        );
        let j = Resolution::empty(Lens::Skeptic).to_json();
        assert_eq!(j["status"], "contested");
        assert!(j.get("classes").is_none());
        let j = Resolution::empty(Lens::Layered).to_json();
        assert_eq!(j["classes"], json!([]));
        assert!(j.get("status").is_none());
    }

    #[test]
    fn full_json_shape() {
        let id = RecordId([7; 32]);
        let inner = Resolution {
            lens: Lens::Consensus,
            value: Some(Object::Text("nausea".into())),
            winners: vec![id],
            confidence: 1.0,
            conflict: 0.0,
            candidates: 1,
            explanation: vec![ValueSupport {
                value: Object::Text("nausea".into()),
                support: 1.0,
                share: 1.0,
                ids: vec![id],
            }],
            status: None,
            classes: Vec::new(),
        };
        let outer = Resolution {
            lens: Lens::Layered,
            classes: vec![ClassResolution {
                class: 0,
                resolution: inner.clone(),
            }],
            ..inner.clone()
        };
        let j = outer.to_json();
        let hex = id.to_hex();
        assert_eq!(j["value"], json!({"type": "text", "value": "nausea"}));
        assert_eq!(j["winners"], json!([hex]));
        assert_eq!(
            j["explanation"],
            json!([{"value": {"type": "text", "value": "nausea"}, "support": 1.0,
                    "share": 1.0, "ids": [hex]}])
        );
        assert_eq!(j["classes"][0]["class"], 0);
        assert_eq!(j["classes"][0]["resolution"], inner.to_json());
        // Typed bytes: keys in byte order, exactly the Value rendering.
        assert_eq!(serde_json::to_string(&outer).unwrap(), j.to_string());
        assert_eq!(outer.winning_support().map(|e| e.support), Some(1.0));
        assert_eq!(SkepticStatus::Agreed.as_str(), "agreed");
        assert_eq!(SkepticStatus::Unanimous.as_str(), "unanimous");
    }
}
