//! The CLI's error type: every failure the user can see, with a clear message.

use std::fmt;

/// Anything that makes a command fail (the process then exits with status 1).
#[derive(Debug)]
pub enum CliError {
    /// The server answered with an error body `{"error": {code, message, field}}`.
    Server {
        /// HTTP status code.
        status: u16,
        /// Machine-readable error code.
        code: String,
        /// Human-readable message.
        message: String,
        /// The offending field, when the server named one.
        field: Option<String>,
        /// The `Retry-After` header, when present.
        retry_after: Option<String>,
    },
    /// The server could not be reached at all.
    Connect {
        /// The URL that was tried.
        url: String,
        /// What went wrong.
        detail: String,
    },
    /// The HTTP exchange failed after connecting, or the reply was not understood.
    Http {
        /// The URL that was requested.
        url: String,
        /// What went wrong.
        detail: String,
    },
    /// Bad command-line input or input file contents.
    Input(String),
    /// A local file operation failed.
    Io {
        /// What was being done, e.g. `reading key file k.json`.
        context: String,
        /// The underlying error.
        source: std::io::Error,
    },
    /// Work finished but some items failed (already reported item by item).
    Partial(String),
}

impl CliError {
    /// Wraps an I/O error with what was being done.
    pub fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        CliError::Io {
            context: context.into(),
            source,
        }
    }

    /// Whether retrying the same request later may succeed (429 / 503).
    pub fn is_retryable(&self) -> bool {
        matches!(self, CliError::Server { status, .. } if *status == 429 || *status == 503)
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CliError::Server {
                status,
                code,
                message,
                field,
                retry_after,
            } => {
                write!(f, "server error (HTTP {status}) {code}: {message}")?;
                if let Some(field) = field {
                    write!(f, " [field: {field}]")?;
                }
                if let Some(r) = retry_after {
                    write!(f, " (retry after {r} s)")?;
                }
                match status {
                    401 => write!(
                        f,
                        " (pass an API key with --token or STEMEDB_TOKEN; \
                         `stemedb-api keys add` creates one)"
                    )?,
                    403 => write!(f, " (the API key's role does not allow this)")?,
                    _ => {}
                }
                Ok(())
            }
            CliError::Connect { url, detail } => write!(
                f,
                "cannot connect to the StemeDB server at {url}: {detail} \
                 (is it running? set --server or STEMEDB_SERVER)"
            ),
            CliError::Http { url, detail } => write!(f, "request to {url} failed: {detail}"),
            CliError::Input(m) => f.write_str(m),
            CliError::Io { context, source } => write!(f, "{context}: {source}"),
            CliError::Partial(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for CliError {}

/// Result alias used throughout the CLI.
pub type Result<T, E = CliError> = std::result::Result<T, E>;
