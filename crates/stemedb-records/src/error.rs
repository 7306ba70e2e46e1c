//! Validation errors: a machine-readable code plus the offending field.

use std::fmt;

/// Machine-readable reason a record or request was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    /// A required field is absent.
    MissingField,
    /// A field the record kind does not have.
    UnknownField,
    /// The JSON type is wrong (e.g. a string where a number belongs).
    InvalidType,
    /// A string is empty where content is required.
    Empty,
    /// A string or list exceeds its byte limit.
    TooLong,
    /// A number is outside its allowed range.
    OutOfRange,
    /// A number is NaN or infinite.
    NonFinite,
    /// Not valid hexadecimal of the required length.
    InvalidHex,
    /// The value is not one of the allowed values.
    InvalidValue,
    /// The signature does not verify against the agent key and record id.
    InvalidSignature,
    /// Canonical bytes are malformed (wrong version, truncated, trailing bytes).
    InvalidEncoding,
}

impl ErrorCode {
    /// The snake_case code used on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::MissingField => "missing_field",
            ErrorCode::UnknownField => "unknown_field",
            ErrorCode::InvalidType => "invalid_type",
            ErrorCode::Empty => "empty",
            ErrorCode::TooLong => "too_long",
            ErrorCode::OutOfRange => "out_of_range",
            ErrorCode::NonFinite => "non_finite",
            ErrorCode::InvalidHex => "invalid_hex",
            ErrorCode::InvalidValue => "invalid_value",
            ErrorCode::InvalidSignature => "invalid_signature",
            ErrorCode::InvalidEncoding => "invalid_encoding",
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A record failed validation; nothing of it may be stored.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct ValidationError {
    /// What kind of problem.
    pub code: ErrorCode,
    /// Dotted path of the field, e.g. `object.value` or `source.class`.
    pub field: String,
    /// Human-readable detail.
    pub message: String,
}

impl ValidationError {
    /// Builds an error for `field`.
    pub fn new(code: ErrorCode, field: impl Into<String>, message: impl Into<String>) -> Self {
        ValidationError {
            code,
            field: field.into(),
            message: message.into(),
        }
    }
}
