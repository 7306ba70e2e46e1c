//! Record ids: 32-byte BLAKE3 digests of canonical bytes, hex on the wire.

use std::fmt;

/// A record id: `BLAKE3(canonical bytes)`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RecordId(pub [u8; 32]);

/// Why a string is not a record id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdParseError {
    /// The string is not 64 characters long.
    #[error("expected 64 hex characters, got {0}")]
    Length(usize),
    /// The string holds a character outside `0-9a-fA-F`.
    #[error("not hexadecimal")]
    NotHex,
}

impl RecordId {
    /// Hashes canonical bytes into an id.
    pub fn of(canonical: &[u8]) -> Self {
        RecordId(*blake3::hash(canonical).as_bytes())
    }

    /// Lowercase hex form.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// Parses 64 hex characters (either case).
    pub fn from_hex(s: &str) -> Result<Self, IdParseError> {
        if s.len() != 64 {
            return Err(IdParseError::Length(s.len()));
        }
        let mut out = [0u8; 32];
        hex::decode_to_slice(s, &mut out).map_err(|_| IdParseError::NotHex)?;
        Ok(RecordId(out))
    }

    /// The raw bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Display for RecordId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for RecordId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RecordId({})", self.to_hex())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trip_and_errors() {
        let id = RecordId::of(b"abc");
        assert_eq!(RecordId::from_hex(&id.to_hex()), Ok(id));
        assert_eq!(
            RecordId::from_hex(&id.to_hex().to_uppercase()),
            Ok(id),
            "upper case hex is accepted"
        );
        assert_eq!(RecordId::from_hex("ab"), Err(IdParseError::Length(2)));
        assert_eq!(
            RecordId::from_hex(&"zz".repeat(32)),
            Err(IdParseError::NotHex)
        );
    }
}
