//! StemeDB queries: select the candidate assertions of a subject (and
//! predicate) from the store, apply the filters of SPEC §2/§3 — retractions,
//! superseded epochs, `as_of` time travel, valid time, lifecycle, source
//! class, agent — page through them with a stable cursor, and resolve each
//! (subject, predicate) with a lens.
//!
//! # Layout
//! - [`params`]: [`Query`], its defaults and limits.
//! - [`cursor`]: the opaque pagination cursor.
//! - [`select`]: reading one (subject, predicate) group and applying filters.
//! - [`engine`]: [`run`], which pages over groups and calls the lens.
//! - [`output`]: the response shape of `GET /v1/query`.

#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

pub mod cursor;
pub mod engine;
pub mod output;
pub mod params;
pub mod select;

pub use cursor::Cursor;
pub use engine::run;
pub use output::{CandidateOut, PairResult, QueryResult};
pub use params::Query;

/// Why a query failed.
#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    /// A parameter is unusable; `param` names it.
    #[error("{param}: {message}")]
    BadParam {
        /// The query parameter.
        param: &'static str,
        /// What is wrong.
        message: String,
    },
    /// The store failed.
    #[error(transparent)]
    Storage(#[from] stemedb_storage::StorageError),
}

impl QueryError {
    pub(crate) fn bad(param: &'static str, message: impl Into<String>) -> Self {
        QueryError::BadParam {
            param,
            message: message.into(),
        }
    }
}
