//! Ed25519 keys, signatures over record ids, and (batch) verification.

use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};

use crate::error::{ErrorCode, ValidationError};
use crate::model::Record;
use crate::signed::SignedRecord;

/// Name of the field that holds the signer for this record kind.
pub fn signer_field(record: &Record) -> &'static str {
    match record {
        Record::Trust(_) => "issuer",
        _ => "agent",
    }
}

/// Parses the signer of a record as an Ed25519 public key (64 hex).
pub fn public_key(record: &Record) -> Result<VerifyingKey, ValidationError> {
    let field = signer_field(record);
    let mut bytes = [0u8; 32];
    hex::decode_to_slice(record.signer(), &mut bytes).map_err(|_| {
        ValidationError::new(
            ErrorCode::InvalidHex,
            field,
            "a signed record's signer must be a 64-hex Ed25519 public key",
        )
    })?;
    // Small-order ("weak") keys are rejected: `verify_strict` refuses them,
    // but batch verification does not, so a batch would otherwise accept a
    // forged signature for such a key (e.g. the identity point).
    VerifyingKey::from_bytes(&bytes)
        .ok()
        .filter(|k| !k.is_weak())
        .ok_or_else(|| {
            ValidationError::new(
                ErrorCode::InvalidValue,
                field,
                "not a valid Ed25519 public key",
            )
        })
}

/// A freshly generated signing key from the OS random source.
pub fn generate_key() -> Result<SigningKey, getrandom::Error> {
    let mut secret = [0u8; 32];
    getrandom::fill(&mut secret)?;
    Ok(SigningKey::from_bytes(&secret))
}

/// Parses a 64-hex secret key.
pub fn signing_key_from_hex(s: &str) -> Option<SigningKey> {
    let mut secret = [0u8; 32];
    hex::decode_to_slice(s.trim(), &mut secret).ok()?;
    Some(SigningKey::from_bytes(&secret))
}

/// The 64-hex public key of a signing key (use it as `agent`).
pub fn public_hex(key: &SigningKey) -> String {
    hex::encode(key.verifying_key().as_bytes())
}

/// Signs a record's id; the record's signer must be this key's public hex.
pub fn sign(record: &Record, key: &SigningKey) -> [u8; 64] {
    key.sign(record.id().as_bytes()).to_bytes()
}

fn bad_signature() -> ValidationError {
    ValidationError::new(
        ErrorCode::InvalidSignature,
        "signature",
        "does not verify against the signer key and record id",
    )
}

/// Verifies one record's signature; unsigned records pass.
pub fn verify(rec: &SignedRecord) -> Result<(), ValidationError> {
    let Some(sig) = rec.signature() else {
        return Ok(());
    };
    let key = public_key(rec.record())?;
    key.verify_strict(rec.id().as_bytes(), &Signature::from_bytes(sig))
        .map_err(|_| bad_signature())
}

/// Verifies many records at once; returns one result per record. Uses
/// Ed25519 batch verification and falls back to one-by-one only when the
/// batch fails, to name the bad records.
pub fn verify_batch(recs: &[&SignedRecord]) -> Vec<Result<(), ValidationError>> {
    let mut results: Vec<Result<(), ValidationError>> = vec![Ok(()); recs.len()];
    let mut idx = Vec::new();
    let mut keys = Vec::new();
    let mut sigs = Vec::new();
    let mut ids = Vec::new();
    for (i, r) in recs.iter().enumerate() {
        let Some(sig) = r.signature() else { continue };
        match public_key(r.record()) {
            Ok(k) => {
                idx.push(i);
                keys.push(k);
                sigs.push(Signature::from_bytes(sig));
                ids.push(r.id());
            }
            Err(e) => results[i] = Err(e),
        }
    }
    if idx.is_empty() {
        return results;
    }
    let msgs: Vec<&[u8]> = ids.iter().map(|id| id.as_bytes().as_slice()).collect();
    if ed25519_dalek::verify_batch(&msgs, &sigs, &keys).is_err() {
        // Batch verification is all-or-nothing; find the culprits.
        for &i in &idx {
            results[i] = verify(recs[i]);
        }
    }
    results
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Assertion, Lifecycle, Object};

    fn signed_assertion(key: &SigningKey, ts: i64) -> SignedRecord {
        let rec = Record::Assertion(Assertion {
            subject: "s".into(),
            predicate: "p".into(),
            object: Object::Boolean(true),
            agent: public_hex(key),
            confidence: 1.0,
            timestamp: ts,
            source: None,
            valid_from: None,
            valid_to: None,
            lifecycle: Lifecycle::Proposed,
            parent: None,
            epoch: None,
        });
        let sig = sign(&rec, key);
        SignedRecord::new(rec, Some(sig)).unwrap()
    }

    #[test]
    fn sign_verify_and_batch_names_the_bad_one() {
        let k1 = generate_key().unwrap();
        let k2 = generate_key().unwrap();
        let good = signed_assertion(&k1, 1);
        assert!(verify(&good).is_ok());
        // A signature by the wrong key: the record claims k2 but k1 signed.
        let mut forged = signed_assertion(&k2, 2).into_record();
        let sig = sign(&forged, &k1);
        if let Record::Assertion(a) = &mut forged {
            a.agent = public_hex(&k2);
        }
        let forged = SignedRecord::new(forged, Some(sig)).unwrap();
        assert_eq!(
            verify(&forged).unwrap_err().code,
            ErrorCode::InvalidSignature
        );
        let other = signed_assertion(&k2, 3);
        let res = verify_batch(&[&good, &forged, &other]);
        assert!(res[0].is_ok());
        assert_eq!(res[1].as_ref().unwrap_err().field, "signature");
        assert!(res[2].is_ok());
        assert!(verify_batch(&[&good, &other]).iter().all(Result::is_ok));
    }
}
