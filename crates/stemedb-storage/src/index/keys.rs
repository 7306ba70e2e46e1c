//! Index key encodings. Strings are NUL-terminated (validation forbids NUL
//! inside subjects, predicates and agents), integers big-endian so byte order
//! is numeric order, timestamps with the sign bit flipped.

use stemedb_records::{Kind, RecordId};

use crate::log::LogPos;

/// Sortable 8-byte form of a signed timestamp.
pub fn ts(t: i64) -> [u8; 8] {
    ((t as u64) ^ (1 << 63)).to_be_bytes()
}

/// Inverse of [`ts`].
pub fn ts_from(b: &[u8]) -> Option<i64> {
    let a: [u8; 8] = b.try_into().ok()?;
    Some((u64::from_be_bytes(a) ^ (1 << 63)) as i64)
}

/// `subject ‖ 0 ‖ predicate ‖ 0`: the prefix of one (subject, predicate).
pub fn sp_prefix(subject: &str, predicate: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(subject.len() + predicate.len() + 18);
    k.extend_from_slice(subject.as_bytes());
    k.push(0);
    k.extend_from_slice(predicate.as_bytes());
    k.push(0);
    k
}

/// `subject ‖ 0`: the prefix of every predicate of a subject.
pub fn subject_prefix(subject: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(subject.len() + 1);
    k.extend_from_slice(subject.as_bytes());
    k.push(0);
    k
}

/// `subject ‖ 0 ‖ predicate ‖ 0 ‖ ts ‖ pos` → kind.
pub fn sp(subject: &str, predicate: &str, t: i64, pos: LogPos) -> Vec<u8> {
    let mut k = sp_prefix(subject, predicate);
    k.extend_from_slice(&ts(t));
    k.extend_from_slice(&pos.to_bytes());
    k
}

/// A decoded `sp` key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpKey {
    /// The predicate.
    pub predicate: String,
    /// Record timestamp.
    pub timestamp: i64,
    /// Where the record is.
    pub pos: LogPos,
}

/// Decodes an `sp` key whose subject prefix (with its NUL) is `subject_len + 1` bytes.
pub fn parse_sp(key: &[u8], subject_len: usize) -> Option<SpKey> {
    let rest = key.get(subject_len + 1..)?;
    if rest.len() < 17 {
        return None;
    }
    let (pred, tail) = rest.split_at(rest.len() - 17);
    if tail[0] != 0 {
        return None;
    }
    Some(SpKey {
        predicate: String::from_utf8(pred.to_vec()).ok()?,
        timestamp: ts_from(&tail[1..9])?,
        pos: LogPos::from_bytes(&tail[9..17])?,
    })
}

/// `name ‖ 0 ‖ pos`, used for the agent index.
pub fn name_pos(name: &str, pos: LogPos) -> Vec<u8> {
    let mut k = subject_prefix(name);
    k.extend_from_slice(&pos.to_bytes());
    k
}

/// `agent ‖ 0 ‖ ts ‖ pos` for trust history.
pub fn trust(agent: &str, t: i64, pos: LogPos) -> Vec<u8> {
    let mut k = subject_prefix(agent);
    k.extend_from_slice(&ts(t));
    k.extend_from_slice(&pos.to_bytes());
    k
}

/// `target ‖ kind ‖ pos` for retractions and votes of an assertion.
pub fn target(target: RecordId, kind: Kind, pos: LogPos) -> Vec<u8> {
    let mut k = Vec::with_capacity(41);
    k.extend_from_slice(target.as_bytes());
    k.push(kind as u8);
    k.extend_from_slice(&pos.to_bytes());
    k
}

/// `id ‖ pos`, for children of a parent.
pub fn id_pos(id: RecordId, pos: LogPos) -> Vec<u8> {
    let mut k = Vec::with_capacity(40);
    k.extend_from_slice(id.as_bytes());
    k.extend_from_slice(&pos.to_bytes());
    k
}

/// Value of the `ids` index: `kind ‖ pos ‖ partition` (the partition the
/// record is filed under, u16 big-endian: anti-entropy lists ids by
/// partition and bucket from here).
pub fn id_value(kind: Kind, pos: LogPos, partition: u16) -> [u8; 11] {
    let mut v = [0u8; 11];
    v[0] = kind as u8;
    v[1..9].copy_from_slice(&pos.to_bytes());
    v[9..].copy_from_slice(&partition.to_be_bytes());
    v
}

/// A decoded `ids` value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IdValue {
    /// The record's kind.
    pub kind: Kind,
    /// Where the record is.
    pub pos: LogPos,
    /// The partition it is filed under.
    pub partition: u16,
}

/// Inverse of [`id_value`]: `None` for a value of another length or kind.
pub fn parse_id_value(v: &[u8]) -> Option<IdValue> {
    let v: &[u8; 11] = v.try_into().ok()?;
    Some(IdValue {
        kind: Kind::from_byte(v[0])?,
        pos: LogPos::from_bytes(&v[1..9])?,
        partition: u16::from_be_bytes([v[9], v[10]]),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn id_value_round_trips_and_rejects_other_lengths() {
        let pos = LogPos {
            segment: 7,
            offset: 4096,
        };
        let v = id_value(Kind::Vote, pos, 0xFFFF);
        assert_eq!(
            parse_id_value(&v),
            Some(IdValue {
                kind: Kind::Vote,
                pos,
                partition: 0xFFFF
            })
        );
        assert_eq!(parse_id_value(&v[..9]), None);
        assert_eq!(parse_id_value(&[v.as_slice(), &[0]].concat()), None);
    }

    #[test]
    fn ts_order_and_sp_round_trip() {
        assert!(ts(-5) < ts(0) && ts(0) < ts(7) && ts(7) < ts(i64::MAX));
        assert_eq!(ts_from(&ts(-123)), Some(-123));
        let pos = LogPos {
            segment: 3,
            offset: 99,
        };
        let k = sp("s:x", "p", 42, pos);
        assert_eq!(
            parse_sp(&k, 3),
            Some(SpKey {
                predicate: "p".into(),
                timestamp: 42,
                pos
            })
        );
    }
}
