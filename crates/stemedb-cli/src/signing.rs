//! Client-side signing: build the record exactly as the server will, sign its id.

use ed25519_dalek::SigningKey;
use serde_json::{Map, Value};
use stemedb_records::hlc::Hlc;
use stemedb_records::{Kind, SignedRecord, ValidationError, sign, wire};

use crate::error::{CliError, Result};

/// Signs the record described by `fields` (wire form, without `signature`).
///
/// The signer field (`agent`, or `issuer` for trust) is set to the key's
/// public hex (an existing different value is an error), a missing
/// `timestamp` is taken from the local clock, and the record is built with
/// [`wire::parse_record`] so that its id matches what the server computes.
pub fn sign_fields(
    kind: Kind,
    mut fields: Map<String, Value>,
    key: &SigningKey,
) -> Result<SignedRecord, ValidationError> {
    let public = sign::public_hex(key);
    let signer = if kind == Kind::Trust {
        "issuer"
    } else {
        "agent"
    };
    match fields.get(signer).and_then(Value::as_str) {
        Some(given) if !given.eq_ignore_ascii_case(&public) => {
            return Err(ValidationError::new(
                stemedb_records::ErrorCode::InvalidValue,
                signer,
                format!("must be the signing key's public key {public} (or be omitted)"),
            ));
        }
        _ => {}
    }
    fields.insert(signer.into(), Value::String(public));
    if fields.get("timestamp").is_none_or(Value::is_null) {
        fields.insert("timestamp".into(), Value::from(Hlc::wall_ms()));
    }
    fields.insert("kind".into(), Value::String(kind.as_str().into()));
    fields.remove("signature");
    fields.remove("id");
    let unsigned = wire::parse_record(&Value::Object(fields), &Hlc::new())?;
    let sig = sign::sign(unsigned.record(), key);
    SignedRecord::new(unsigned.into_record(), Some(sig))
}

/// Like [`sign_fields`], returning the JSON to send (wire form with `signature`).
pub fn signed_json(kind: Kind, fields: Map<String, Value>, key: &SigningKey) -> Result<Value> {
    let rec = sign_fields(kind, fields, key).map_err(|e| {
        CliError::Input(format!(
            "cannot build the signed record: {} ({}: {})",
            e.code, e.field, e.message
        ))
    })?;
    Ok(wire::to_json(&rec))
}
