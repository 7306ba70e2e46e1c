//! The limits every record obeys (SPEC §1). Documented in `docs/canonical-encoding.md`.

/// Maximum subject length in bytes.
pub const SUBJECT_MAX: usize = 512;
/// Maximum predicate length in bytes.
pub const PREDICATE_MAX: usize = 256;
/// Maximum text object length in bytes (64 KiB).
pub const TEXT_MAX: usize = 64 * 1024;
/// Maximum unsigned agent name length in bytes.
pub const AGENT_MAX: usize = 128;
/// Maximum source URI length in bytes.
pub const URI_MAX: usize = 2048;
/// Highest source class (5 = anecdotal).
pub const SOURCE_CLASS_MAX: u8 = 5;
/// Maximum retraction / epoch reason length in bytes.
pub const REASON_MAX: usize = 4096;
/// Maximum epoch name length in bytes.
pub const EPOCH_NAME_MAX: usize = 256;
/// Latest accepted timestamp: 9999-12-31T23:59:59.999Z in ms.
pub const TIMESTAMP_MAX: i64 = 253_402_300_799_999;
/// Valid-time bounds are symmetric around the epoch so historic facts fit.
pub const VALID_TIME_MIN: i64 = -TIMESTAMP_MAX;
