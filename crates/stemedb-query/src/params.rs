//! Query parameters.

use stemedb_lens::Lens;
use stemedb_records::{Lifecycle, RecordId};

/// Default page size (candidates per page).
pub const DEFAULT_LIMIT: usize = 100;
/// Largest page size accepted.
pub const MAX_LIMIT: usize = 10_000;

/// One query: `GET /v1/query?subject=&predicate=&lens=&...`.
#[derive(Debug, Clone, PartialEq)]
pub struct Query {
    /// Subject (required).
    pub subject: String,
    /// Predicate; `None` = every predicate of the subject.
    pub predicate: Option<String>,
    /// Lens to resolve with; `None` = candidates only.
    pub lens: Option<Lens>,
    /// Time travel: ignore records with `timestamp > as_of`.
    pub as_of: Option<i64>,
    /// Valid-time filter: keep assertions whose `[valid_from, valid_to]` contains it.
    pub valid_at: Option<i64>,
    /// Keep only this lifecycle state.
    pub lifecycle: Option<Lifecycle>,
    /// Keep only this source class (6 = no source).
    pub source_class: Option<u8>,
    /// Keep only this agent's assertions.
    pub agent: Option<String>,
    /// List retracted assertions too (marked `retracted`; lenses still skip them).
    pub include_retracted: bool,
    /// Restrict to assertions of this epoch (superseded or not).
    pub epoch: Option<RecordId>,
    /// Candidates per page.
    pub limit: usize,
    /// Where the previous page ended.
    pub cursor: Option<String>,
}

impl Query {
    /// A query for a subject with every option at its default.
    pub fn new(subject: impl Into<String>) -> Self {
        Query {
            subject: subject.into(),
            predicate: None,
            lens: None,
            as_of: None,
            valid_at: None,
            lifecycle: None,
            source_class: None,
            agent: None,
            include_retracted: false,
            epoch: None,
            limit: DEFAULT_LIMIT,
            cursor: None,
        }
    }

    /// Sets the predicate.
    pub fn predicate(mut self, p: impl Into<String>) -> Self {
        self.predicate = Some(p.into());
        self
    }

    /// Sets the lens.
    pub fn lens(mut self, l: Lens) -> Self {
        self.lens = Some(l);
        self
    }
}
