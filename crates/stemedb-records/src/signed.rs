//! A record together with its optional signature, id and canonical bytes,
//! and the framing used to store it (`flags ‖ [signature] ‖ canonical`).

use crate::canonical;
use crate::error::{ErrorCode, ValidationError};
use crate::id::RecordId;
use crate::model::{Object, Record};
use crate::validate::validate;

const FLAG_SIGNED: u8 = 1;

/// Turns every `-0.0` into `0.0` (adding `+0.0` leaves other values alone),
/// so a record built in memory equals the one decoded from its bytes.
fn normalise_zero(record: &mut Record) {
    match record {
        Record::Assertion(a) => {
            if let Object::Number(n) = &mut a.object {
                *n += 0.0;
            }
            a.confidence += 0.0;
        }
        Record::Vote(v) => v.weight += 0.0,
        Record::Trust(t) => t.score += 0.0,
        Record::Retraction(_) | Record::Epoch(_) => {}
    }
}

/// A validated record with its id computed once.
#[derive(Debug, Clone, PartialEq)]
pub struct SignedRecord {
    record: Record,
    signature: Option<[u8; 64]>,
    id: RecordId,
    canonical: Vec<u8>,
}

impl SignedRecord {
    /// Validates the record and computes its id. The signature is not
    /// verified here (see [`crate::sign::verify`]) so that batches can be
    /// verified together; a signed record's signer must be a 64-hex key.
    pub fn new(mut record: Record, signature: Option<[u8; 64]>) -> Result<Self, ValidationError> {
        validate(&record)?;
        normalise_zero(&mut record);
        if signature.is_some() {
            crate::sign::public_key(&record)?;
        }
        let canonical = canonical::encode(&record);
        let id = RecordId::of(&canonical);
        Ok(SignedRecord {
            record,
            signature,
            id,
            canonical,
        })
    }

    /// The record (numbers normalised: `-0` is held as `0`, as in the
    /// canonical bytes, so the record equals its decoded form).
    pub fn record(&self) -> &Record {
        &self.record
    }

    /// Consumes self, returning the record.
    pub fn into_record(self) -> Record {
        self.record
    }

    /// The Ed25519 signature over the id, if any.
    pub fn signature(&self) -> Option<&[u8; 64]> {
        self.signature.as_ref()
    }

    /// The content address.
    pub fn id(&self) -> RecordId {
        self.id
    }

    /// The canonical bytes the id is computed over.
    pub fn canonical(&self) -> &[u8] {
        &self.canonical
    }

    /// Length of [`Self::to_stored`] without building it.
    pub fn stored_len(&self) -> usize {
        1 + if self.signature.is_some() { 64 } else { 0 } + self.canonical.len()
    }

    /// Appends the storage framing: `flags ‖ [signature] ‖ canonical`.
    pub fn write_stored(&self, out: &mut Vec<u8>) {
        match &self.signature {
            Some(sig) => {
                out.push(FLAG_SIGNED);
                out.extend_from_slice(sig);
            }
            None => out.push(0),
        }
        out.extend_from_slice(&self.canonical);
    }

    /// The storage framing as a new buffer.
    pub fn to_stored(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(self.stored_len());
        self.write_stored(&mut v);
        v
    }

    /// Decodes the storage framing; the record is validated, the signature is not re-verified.
    pub fn from_stored(bytes: &[u8]) -> Result<Self, ValidationError> {
        let bad = |m: &str| ValidationError::new(ErrorCode::InvalidEncoding, "record", m);
        let (&flags, rest) = bytes.split_first().ok_or_else(|| bad("empty"))?;
        let (signature, body) = match flags {
            0 => (None, rest),
            FLAG_SIGNED => {
                if rest.len() < 64 {
                    return Err(bad("truncated signature"));
                }
                let mut sig = [0u8; 64];
                sig.copy_from_slice(&rest[..64]);
                (Some(sig), &rest[64..])
            }
            _ => return Err(bad("unknown flags")),
        };
        let record = canonical::decode(body)?;
        Ok(SignedRecord {
            record,
            signature,
            id: RecordId::of(body),
            canonical: body.to_vec(),
        })
    }
}
