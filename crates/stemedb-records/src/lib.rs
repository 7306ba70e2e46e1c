//! StemeDB records: claims, not facts.
//!
//! Everything StemeDB stores is a [`Record`]: an immutable, content-addressed
//! statement by an agent. This crate defines the five record kinds, their
//! versioned canonical byte encoding, ids (`BLAKE3(canonical bytes)`),
//! Ed25519 signatures over ids, validation with field-named errors, the JSON
//! wire form, and the hybrid logical clock that stamps unstamped writes.
//!
//! # Layout
//! - [`id`]: [`RecordId`], 32-byte BLAKE3 ids and their hex form.
//! - [`model`]: the record kinds ([`Assertion`], [`Retraction`], [`Vote`],
//!   [`Trust`], [`Epoch`]) and their value types.
//! - [`limits`] and [`error`]: the rules every record obeys and the typed
//!   [`ValidationError`] naming the offending field.
//! - [`canonical`]: the byte encoding that ids are computed over
//!   (documented in `docs/canonical-encoding.md`).
//! - [`signed`]: [`SignedRecord`], a record plus optional signature, and its
//!   storage framing.
//! - [`sign`]: key generation, signing, single and batch verification.
//! - [`wire`]: JSON in and out, with precise errors; `wire::parse_assertion_text`
//!   reads a plain assertion straight from its text (the bulk-write fast path).
//! - [`render`]: typed JSON rendering (no `Value` trees) for hot read paths.
//! - [`hlc`]: the hybrid logical clock.
//!
//! # Example
//! ```
//! use stemedb_records::{wire, hlc::Hlc};
//! let clock = Hlc::new();
//! let json = serde_json::json!({
//!     "subject": "drug:semaglutide", "predicate": "side_effect",
//!     "object": {"type": "text", "value": "nausea"},
//!     "agent": "fda", "timestamp": 1700000000000u64
//! });
//! let rec = wire::parse_assertion(&json, &clock).unwrap();
//! assert_eq!(rec.id().to_hex().len(), 64);
//! ```

#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

pub mod canonical;
pub mod error;
pub mod hlc;
pub mod id;
pub mod limits;
pub mod model;
pub mod render;
pub mod sign;
pub mod signed;
pub mod validate;
pub mod wire;

pub use error::{ErrorCode, ValidationError};
pub use id::RecordId;
pub use model::{
    Assertion, Epoch, Kind, Lifecycle, Object, Record, Retraction, Source, Trust, Vote,
};
pub use signed::SignedRecord;
