//! The five record kinds of SPEC §1 and their value types.

use std::cmp::Ordering;
use std::hash::{Hash, Hasher};

use crate::id::RecordId;

/// The kind of a record; the byte is part of the canonical encoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum Kind {
    /// A claim.
    Assertion = 1,
    /// Withdrawal of an assertion.
    Retraction = 2,
    /// Endorsement or dispute of an assertion.
    Vote = 3,
    /// An agent's trust score.
    Trust = 4,
    /// A paradigm declaration for a subject prefix.
    Epoch = 5,
}

impl Kind {
    /// Every kind, in byte order.
    pub const ALL: [Kind; 5] = [
        Kind::Assertion,
        Kind::Retraction,
        Kind::Vote,
        Kind::Trust,
        Kind::Epoch,
    ];

    /// The lowercase wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Assertion => "assertion",
            Kind::Retraction => "retraction",
            Kind::Vote => "vote",
            Kind::Trust => "trust",
            Kind::Epoch => "epoch",
        }
    }

    /// Parses the wire name.
    pub fn parse(s: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// Decodes the canonical kind byte.
    pub fn from_byte(b: u8) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| *k as u8 == b)
    }
}

/// The value of a claim. Numbers are finite and never `-0`.
#[derive(Debug, Clone)]
pub enum Object {
    /// UTF-8 text, at most 64 KiB.
    Text(String),
    /// A finite f64; `-0` is normalised to `0`.
    Number(f64),
    /// true / false.
    Boolean(bool),
    /// Reference to another subject.
    Ref(String),
}

impl Object {
    /// The wire name of the object type.
    pub fn type_name(&self) -> &'static str {
        match self {
            Object::Text(_) => "text",
            Object::Number(_) => "number",
            Object::Boolean(_) => "boolean",
            Object::Ref(_) => "ref",
        }
    }

    fn tag(&self) -> u8 {
        match self {
            Object::Text(_) => 0,
            Object::Number(_) => 1,
            Object::Boolean(_) => 2,
            Object::Ref(_) => 3,
        }
    }
}

// Equality, hashing and order are by value: numbers by numeric value (they are
// finite and -0 is normalised, so bit equality is value equality), text by
// exact bytes. Lenses rely on this to group candidates deterministically.
impl PartialEq for Object {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Object {}

impl Ord for Object {
    fn cmp(&self, other: &Self) -> Ordering {
        match (self, other) {
            (Object::Text(a), Object::Text(b)) | (Object::Ref(a), Object::Ref(b)) => {
                a.as_bytes().cmp(b.as_bytes())
            }
            (Object::Number(a), Object::Number(b)) => a.total_cmp(b),
            (Object::Boolean(a), Object::Boolean(b)) => a.cmp(b),
            _ => self.tag().cmp(&other.tag()),
        }
    }
}
impl PartialOrd for Object {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Hash for Object {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.tag().hash(state);
        match self {
            Object::Text(s) | Object::Ref(s) => s.as_bytes().hash(state),
            Object::Number(n) => n.to_bits().hash(state),
            Object::Boolean(b) => b.hash(state),
        }
    }
}

/// Evidence pointer with an authority tier (0 regulatory … 5 anecdotal).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Source {
    /// Where the evidence is.
    pub uri: String,
    /// Authority tier 0..=5.
    pub class: u8,
}

/// Lifecycle state of an assertion.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
#[repr(u8)]
pub enum Lifecycle {
    /// Default state.
    #[default]
    Proposed = 0,
    /// Being reviewed.
    UnderReview = 1,
    /// Approved.
    Approved = 2,
    /// Deprecated.
    Deprecated = 3,
    /// Rejected.
    Rejected = 4,
}

impl Lifecycle {
    /// Every state in byte order.
    pub const ALL: [Lifecycle; 5] = [
        Lifecycle::Proposed,
        Lifecycle::UnderReview,
        Lifecycle::Approved,
        Lifecycle::Deprecated,
        Lifecycle::Rejected,
    ];

    /// The snake_case wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Lifecycle::Proposed => "proposed",
            Lifecycle::UnderReview => "under_review",
            Lifecycle::Approved => "approved",
            Lifecycle::Deprecated => "deprecated",
            Lifecycle::Rejected => "rejected",
        }
    }

    /// Parses the wire name.
    pub fn parse(s: &str) -> Option<Lifecycle> {
        Lifecycle::ALL.into_iter().find(|l| l.as_str() == s)
    }

    /// Decodes the canonical byte.
    pub fn from_byte(b: u8) -> Option<Lifecycle> {
        Lifecycle::ALL.into_iter().find(|l| *l as u8 == b)
    }
}

/// A claim: agent says subject has predicate = object.
#[derive(Debug, Clone, PartialEq)]
pub struct Assertion {
    /// What the claim is about.
    pub subject: String,
    /// Which property.
    pub predicate: String,
    /// The claimed value.
    pub object: Object,
    /// Who claims it (name, or 64-hex Ed25519 key when signed).
    pub agent: String,
    /// The agent's confidence in [0, 1].
    pub confidence: f64,
    /// When the claim was made, ms since the Unix epoch.
    pub timestamp: i64,
    /// Optional evidence.
    pub source: Option<Source>,
    /// Start of valid time, ms.
    pub valid_from: Option<i64>,
    /// End of valid time, ms.
    pub valid_to: Option<i64>,
    /// Lifecycle state.
    pub lifecycle: Lifecycle,
    /// Previous assertion in a lineage.
    pub parent: Option<RecordId>,
    /// Epoch the claim belongs to.
    pub epoch: Option<RecordId>,
}

/// Withdrawal of an assertion by its author or an admin.
#[derive(Debug, Clone, PartialEq)]
pub struct Retraction {
    /// The retracted assertion.
    pub target: RecordId,
    /// Who retracts.
    pub agent: String,
    /// Why, optional.
    pub reason: Option<String>,
    /// When, ms.
    pub timestamp: i64,
}

/// Endorsement (+) or dispute (−) of an assertion.
#[derive(Debug, Clone, PartialEq)]
pub struct Vote {
    /// The voted assertion.
    pub target: RecordId,
    /// Who votes.
    pub agent: String,
    /// Weight in [-1, 1].
    pub weight: f64,
    /// When, ms.
    pub timestamp: i64,
}

/// Sets an agent's trust score; the newest by timestamp (then id) wins.
#[derive(Debug, Clone, PartialEq)]
pub struct Trust {
    /// Whose trust is set.
    pub agent: String,
    /// Score in [0, 1].
    pub score: f64,
    /// Who set it (the admin identity, or a key when signed).
    pub issuer: String,
    /// When, ms.
    pub timestamp: i64,
}

/// Declares a new paradigm for a subject prefix, optionally superseding another.
#[derive(Debug, Clone, PartialEq)]
pub struct Epoch {
    /// Human name.
    pub name: String,
    /// Subjects this epoch governs (empty = all).
    pub subject_prefix: String,
    /// The epoch this one supersedes.
    pub supersedes: Option<RecordId>,
    /// Why.
    pub reason: String,
    /// Who declares it.
    pub agent: String,
    /// When, ms.
    pub timestamp: i64,
}

/// Any record.
#[derive(Debug, Clone, PartialEq)]
pub enum Record {
    /// A claim.
    Assertion(Assertion),
    /// A withdrawal.
    Retraction(Retraction),
    /// A vote.
    Vote(Vote),
    /// A trust score.
    Trust(Trust),
    /// An epoch.
    Epoch(Epoch),
}

impl Record {
    /// The record's kind.
    pub fn kind(&self) -> Kind {
        match self {
            Record::Assertion(_) => Kind::Assertion,
            Record::Retraction(_) => Kind::Retraction,
            Record::Vote(_) => Kind::Vote,
            Record::Trust(_) => Kind::Trust,
            Record::Epoch(_) => Kind::Epoch,
        }
    }

    /// The identity that may sign the record (the issuer for trust).
    pub fn signer(&self) -> &str {
        match self {
            Record::Assertion(a) => &a.agent,
            Record::Retraction(r) => &r.agent,
            Record::Vote(v) => &v.agent,
            Record::Trust(t) => &t.issuer,
            Record::Epoch(e) => &e.agent,
        }
    }

    /// When the record was made, ms since the Unix epoch.
    pub fn timestamp(&self) -> i64 {
        match self {
            Record::Assertion(a) => a.timestamp,
            Record::Retraction(r) => r.timestamp,
            Record::Vote(v) => v.timestamp,
            Record::Trust(t) => t.timestamp,
            Record::Epoch(e) => e.timestamp,
        }
    }

    /// The assertion a retraction or vote points at.
    pub fn target(&self) -> Option<RecordId> {
        match self {
            Record::Retraction(r) => Some(r.target),
            Record::Vote(v) => Some(v.target),
            _ => None,
        }
    }

    /// The canonical bytes (see [`crate::canonical`]).
    pub fn canonical_bytes(&self) -> Vec<u8> {
        crate::canonical::encode(self)
    }

    /// The content address of the record.
    pub fn id(&self) -> RecordId {
        RecordId::of(&self.canonical_bytes())
    }

    /// The assertion inside, if this is one.
    pub fn as_assertion(&self) -> Option<&Assertion> {
        match self {
            Record::Assertion(a) => Some(a),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn objects_compare_by_value() {
        assert_eq!(Object::Number(1.0), Object::Number(1.0));
        assert_ne!(Object::Number(1.0), Object::Text("1".into()));
        assert_ne!(Object::Text("a".into()), Object::Ref("a".into()));
        assert!(Object::Number(-1.0) < Object::Number(2.0));
        assert_eq!(Kind::parse("vote"), Some(Kind::Vote));
        assert_eq!(Lifecycle::from_byte(2), Some(Lifecycle::Approved));
        assert_eq!(Lifecycle::from_byte(9), None);
    }
}
