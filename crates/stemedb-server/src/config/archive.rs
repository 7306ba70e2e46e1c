//! `[archive]`: continuous archival of sealed log segments to a directory
//! or an S3-compatible bucket (see `docs/backup.md`). Off without `target`.

use std::fmt;
use std::path::PathBuf;

use serde::Deserialize;

/// `[archive]` section.
#[derive(Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ArchiveConfig {
    /// `file:///absolute/dir` or `s3://bucket/prefix`; unset = no archival.
    pub target: Option<String>,
    /// S3 endpoint URL (an S3-compatible store); unset = AWS for `region`.
    pub endpoint: Option<String>,
    /// S3 region.
    pub region: String,
    /// S3 access key id; unset = the `AWS_*` environment / instance credentials.
    pub access_key_id: Option<String>,
    /// S3 secret access key (never logged).
    pub secret_access_key: Option<String>,
    /// S3 session token for temporary credentials (never logged).
    pub session_token: Option<String>,
    /// Allow an `http://` endpoint (test and private stores only).
    pub allow_http: bool,
    /// How often the archiver looks for newly sealed segments, ms.
    pub interval_ms: u64,
    /// Seal the active segment at least this often when it holds records, so
    /// the archive is never further behind than this (like PostgreSQL's
    /// `archive_timeout`); 0 = only full segments are archived.
    pub seal_interval_ms: u64,
    /// Longest pause between retries after failures (the pause doubles from
    /// `interval_ms` up to this), ms.
    pub retry_max_ms: u64,
    /// Deadline of one request to the store, ms.
    pub request_timeout_ms: u64,
}

impl Default for ArchiveConfig {
    fn default() -> Self {
        ArchiveConfig {
            target: None,
            endpoint: None,
            region: "us-east-1".into(),
            access_key_id: None,
            secret_access_key: None,
            session_token: None,
            allow_http: false,
            interval_ms: 10_000,
            seal_interval_ms: 300_000,
            retry_max_ms: 60_000,
            request_timeout_ms: 30_000,
        }
    }
}

impl fmt::Debug for ArchiveConfig {
    /// Secrets are never printed.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let hidden = |s: &Option<String>| s.as_ref().map(|_| "<redacted>");
        f.debug_struct("ArchiveConfig")
            .field("target", &self.target)
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &hidden(&self.secret_access_key))
            .field("session_token", &hidden(&self.session_token))
            .field("allow_http", &self.allow_http)
            .field("interval_ms", &self.interval_ms)
            .field("seal_interval_ms", &self.seal_interval_ms)
            .field("retry_max_ms", &self.retry_max_ms)
            .field("request_timeout_ms", &self.request_timeout_ms)
            .finish()
    }
}

/// Where an archive lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TargetUrl {
    /// `file:///dir`: a directory (local disk, NFS mount, ...).
    Dir(PathBuf),
    /// `s3://bucket/prefix`.
    S3 {
        /// Bucket name.
        bucket: String,
        /// Key prefix inside the bucket (no leading or trailing `/`; may be empty).
        prefix: String,
    },
}

impl TargetUrl {
    /// Parses `file:///absolute/dir` or `s3://bucket[/prefix]`; the error
    /// says what is wrong.
    pub fn parse(s: &str) -> Result<TargetUrl, String> {
        if let Some(rest) = s.strip_prefix("file://") {
            if !rest.starts_with('/') || rest.len() < 2 {
                return Err(format!(
                    "{s:?}: a file target needs an absolute directory, e.g. file:///var/lib/stemedb-archive"
                ));
            }
            return Ok(TargetUrl::Dir(PathBuf::from(rest)));
        }
        if let Some(rest) = s.strip_prefix("s3://") {
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            let bucket_ok = (3..=63).contains(&bucket.len())
                && bucket.bytes().all(|b| {
                    b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-'
                });
            if !bucket_ok {
                return Err(format!(
                    "{s:?}: {bucket:?} is not an S3 bucket name (3-63 lowercase letters, digits, '.', '-')"
                ));
            }
            let prefix = prefix.trim_matches('/');
            if prefix
                .split('/')
                .any(|p| p == "." || p == ".." || (p.is_empty() && !prefix.is_empty()))
            {
                return Err(format!(
                    "{s:?}: the prefix may not contain empty, '.' or '..' parts"
                ));
            }
            return Ok(TargetUrl::S3 {
                bucket: bucket.to_owned(),
                prefix: prefix.to_owned(),
            });
        }
        Err(format!(
            "{s:?}: expected file:///directory or s3://bucket/prefix"
        ))
    }
}

impl ArchiveConfig {
    /// Sets `key` from an environment variable's text; `Ok(false)` for an unknown key.
    pub(super) fn set(&mut self, var: &str, key: &str, raw: &str) -> Result<bool, String> {
        let s = Some(raw.to_owned());
        match key {
            "target" => self.target = s,
            "endpoint" => self.endpoint = s,
            "region" => self.region = raw.to_owned(),
            "access_key_id" => self.access_key_id = s,
            "secret_access_key" => self.secret_access_key = s,
            "session_token" => self.session_token = s,
            "allow_http" => self.allow_http = super::boolean(var, raw).map_err(|e| e.0)?,
            "interval_ms" => self.interval_ms = super::int(var, raw).map_err(|e| e.0)?,
            "seal_interval_ms" => self.seal_interval_ms = super::int(var, raw).map_err(|e| e.0)?,
            "retry_max_ms" => self.retry_max_ms = super::int(var, raw).map_err(|e| e.0)?,
            "request_timeout_ms" => {
                self.request_timeout_ms = super::int(var, raw).map_err(|e| e.0)?
            }
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// The first invalid key and why.
    pub(super) fn invalid(&self) -> Option<(&'static str, String)> {
        if let Some(t) = &self.target
            && let Err(why) = TargetUrl::parse(t)
        {
            return Some(("archive.target", why));
        }
        if let Some(e) = &self.endpoint {
            let http = e.starts_with("http://");
            if !(http || e.starts_with("https://")) || e.len() < "http://x".len() {
                return Some((
                    "archive.endpoint",
                    format!("{e:?} is not an http(s):// URL"),
                ));
            }
            if http && !self.allow_http {
                return Some((
                    "archive.endpoint",
                    format!("{e:?} is plain HTTP: set archive.allow_http = true to allow it"),
                ));
            }
        }
        if self.region.trim().is_empty() {
            return Some(("archive.region", "must not be empty".into()));
        }
        match (
            self.access_key_id.is_some(),
            self.secret_access_key.is_some(),
        ) {
            (true, false) => {
                return Some((
                    "archive.access_key_id",
                    "is set without archive.secret_access_key; set both or neither".into(),
                ));
            }
            (false, true) => {
                return Some((
                    "archive.secret_access_key",
                    "is set without archive.access_key_id; set both or neither".into(),
                ));
            }
            _ => {}
        }
        for (key, v) in [
            ("archive.interval_ms", self.interval_ms),
            ("archive.retry_max_ms", self.retry_max_ms),
            ("archive.request_timeout_ms", self.request_timeout_ms),
        ] {
            if v < 100 {
                return Some((key, "must be at least 100".into()));
            }
        }
        if self.seal_interval_ms != 0 && self.seal_interval_ms < 100 {
            return Some((
                "archive.seal_interval_ms",
                "must be 0 (off) or at least 100".into(),
            ));
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn target_urls() {
        assert_eq!(
            TargetUrl::parse("file:///srv/arch"),
            Ok(TargetUrl::Dir(PathBuf::from("/srv/arch")))
        );
        assert_eq!(
            TargetUrl::parse("s3://my-bucket/stemedb/node1/"),
            Ok(TargetUrl::S3 {
                bucket: "my-bucket".into(),
                prefix: "stemedb/node1".into()
            })
        );
        assert_eq!(
            TargetUrl::parse("s3://bkt"),
            Ok(TargetUrl::S3 {
                bucket: "bkt".into(),
                prefix: String::new()
            })
        );
        for bad in [
            "file://relative",
            "s3://UPPER/x",
            "s3://b/../x",
            "s3://bk/a//b",
            "gs://b/x",
            "/srv/arch",
        ] {
            assert!(TargetUrl::parse(bad).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn secrets_are_not_printed() {
        let c = ArchiveConfig {
            secret_access_key: Some("hunter2".into()),
            session_token: Some("tok3n".into()),
            ..Default::default()
        };
        let shown = format!("{c:?}");
        assert!(
            !shown.contains("hunter2") && !shown.contains("tok3n"),
            "{shown}"
        );
    }
}
