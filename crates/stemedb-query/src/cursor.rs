//! The pagination cursor: where the last page stopped, in index order
//! (predicate, timestamp, log position), bound to the query's subject and
//! predicate. Index order never changes for records already stored, so a
//! cursor stays valid while new records arrive: they appear in later pages if
//! they sort after it, and never shift or repeat what was already returned.

use stemedb_storage::LogPos;

use crate::QueryError;

const VERSION: u8 = 1;

/// A decoded cursor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    /// Predicate of the last returned candidate.
    pub predicate: String,
    /// Its timestamp.
    pub timestamp: i64,
    /// Its log position.
    pub pos: LogPos,
}

fn scope(subject: &str, predicate: Option<&str>) -> [u8; 8] {
    let mut h = blake3::Hasher::new();
    h.update(subject.as_bytes());
    h.update(&[0xff]);
    if let Some(p) = predicate {
        h.update(p.as_bytes());
    }
    let mut out = [0u8; 8];
    out.copy_from_slice(&h.finalize().as_bytes()[..8]);
    out
}

impl Cursor {
    /// Hex form, bound to the query scope.
    pub fn encode(&self, subject: &str, predicate: Option<&str>) -> String {
        let mut b = vec![VERSION];
        b.extend_from_slice(&scope(subject, predicate));
        b.extend_from_slice(&self.timestamp.to_be_bytes());
        b.extend_from_slice(&self.pos.to_bytes());
        b.extend_from_slice(self.predicate.as_bytes());
        hex::encode(b)
    }

    /// Parses a cursor produced by [`Cursor::encode`] for the same scope.
    pub fn decode(s: &str, subject: &str, predicate: Option<&str>) -> Result<Self, QueryError> {
        let bad = |m: &str| QueryError::bad("cursor", m.to_owned());
        let b =
            hex::decode(s).map_err(|_| bad("not a cursor returned by this server (bad hex)"))?;
        if b.len() < 25 || b[0] != VERSION {
            return Err(bad("not a cursor returned by this server"));
        }
        if b[1..9] != scope(subject, predicate) {
            return Err(bad("cursor belongs to a different subject or predicate"));
        }
        let mut ts = [0u8; 8];
        ts.copy_from_slice(&b[9..17]);
        let pos = LogPos::from_bytes(&b[17..25]).ok_or_else(|| bad("malformed cursor"))?;
        let predicate = String::from_utf8(b[25..].to_vec()).map_err(|_| bad("malformed cursor"))?;
        Ok(Cursor {
            predicate,
            timestamp: i64::from_be_bytes(ts),
            pos,
        })
    }

    /// Whether an index entry sorts strictly after this cursor.
    pub fn is_before(&self, predicate: &str, timestamp: i64, pos: LogPos) -> bool {
        (predicate.as_bytes(), timestamp, pos)
            > (self.predicate.as_bytes(), self.timestamp, self.pos)
    }
}
