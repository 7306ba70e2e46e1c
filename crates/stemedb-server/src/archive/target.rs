//! An archive target (`file:///dir` or `s3://bucket/prefix`) behind the
//! `object_store` crate: put and get whole objects, list segment objects.
//! A directory target is fsynced after every put (file, then directory), so a
//! segment confirmed as archived survives a power cut of the archive's disk.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::path::Path as ObjectPath;
use object_store::{ClientOptions, ObjectStore, ObjectStoreExt, RetryConfig};

use super::ArchiveError;
use crate::config::{ArchiveConfig, TargetUrl};

/// An open archive target.
pub struct Target {
    store: Arc<dyn ObjectStore>,
    prefix: ObjectPath,
    /// The directory of a `file://` target (for fsync).
    dir: Option<PathBuf>,
    url: String,
}

impl std::fmt::Debug for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Target").field("url", &self.url).finish()
    }
}

impl Target {
    /// Opens `url` with the endpoint, region and credentials of `cfg`
    /// (`cfg.target` is not consulted). A directory target is created if
    /// missing.
    pub fn open(url: &str, cfg: &ArchiveConfig) -> Result<Target, ArchiveError> {
        let parsed = TargetUrl::parse(url).map_err(ArchiveError::Config)?;
        match parsed {
            TargetUrl::Dir(dir) => {
                std::fs::create_dir_all(&dir).map_err(|e| ArchiveError::Io {
                    path: dir.clone(),
                    source: e,
                })?;
                let fs =
                    LocalFileSystem::new_with_prefix(&dir).map_err(|e| ArchiveError::Store {
                        what: format!("open {url}"),
                        source: e,
                    })?;
                Ok(Target {
                    store: Arc::new(fs),
                    prefix: ObjectPath::default(),
                    dir: Some(dir),
                    url: url.to_owned(),
                })
            }
            TargetUrl::S3 { bucket, prefix } => {
                install_crypto_provider();
                let timeout = Duration::from_millis(cfg.request_timeout_ms);
                let mut b = AmazonS3Builder::from_env()
                    .with_bucket_name(&bucket)
                    .with_region(&cfg.region)
                    .with_allow_http(cfg.allow_http)
                    .with_client_options(
                        ClientOptions::new()
                            .with_timeout(timeout)
                            .with_connect_timeout(timeout.min(Duration::from_secs(10)))
                            .with_allow_http(cfg.allow_http),
                    )
                    // The archiver retries with its own backoff (and counts
                    // failures); the client only retries briefly.
                    .with_retry(RetryConfig {
                        max_retries: 2,
                        retry_timeout: timeout,
                        ..RetryConfig::default()
                    });
                if let Some(e) = &cfg.endpoint {
                    b = b.with_endpoint(e);
                }
                if let (Some(id), Some(secret)) = (&cfg.access_key_id, &cfg.secret_access_key) {
                    b = b.with_access_key_id(id).with_secret_access_key(secret);
                }
                if let Some(t) = &cfg.session_token {
                    b = b.with_token(t);
                }
                let s3 = b.build().map_err(|e| ArchiveError::Store {
                    what: format!("configure {url}"),
                    source: e,
                })?;
                Ok(Target {
                    store: Arc::new(s3),
                    prefix: ObjectPath::from(prefix.as_str()),
                    dir: None,
                    url: url.to_owned(),
                })
            }
        }
    }

    /// The target's URL, as configured.
    pub fn url(&self) -> &str {
        &self.url
    }

    fn path(&self, name: &str) -> ObjectPath {
        let mut p = self.prefix.clone();
        for part in name.split('/') {
            p = p.join(part);
        }
        p
    }

    /// The object `name` (relative to the prefix), `None` when absent.
    pub async fn get(&self, name: &str) -> Result<Option<Vec<u8>>, ArchiveError> {
        let path = self.path(name);
        let got = match self.store.get(&path).await {
            Ok(g) => g,
            Err(object_store::Error::NotFound { .. }) => return Ok(None),
            Err(e) => return Err(self.err("read", name, e)),
        };
        let bytes = got.bytes().await.map_err(|e| self.err("read", name, e))?;
        Ok(Some(bytes.to_vec()))
    }

    /// Writes the object `name` whole: an S3 PUT, or for a directory target
    /// a temporary file written and fsynced, renamed over the name, and the
    /// directory fsynced — readers never see part of it, and a power cut
    /// leaves the old or the new object, never an empty one.
    pub async fn put(&self, name: &str, data: Vec<u8>) -> Result<(), ArchiveError> {
        let Some(dir) = &self.dir else {
            let path = self.path(name);
            return self
                .store
                .put(&path, data.into())
                .await
                .map(|_| ())
                .map_err(|e| self.err("write", name, e));
        };
        let file = dir.join(name);
        tokio::task::spawn_blocking(move || write_durably(&file, &data))
            .await
            .map_err(|e| ArchiveError::Config(format!("write task failed: {e}")))?
    }

    /// Names (relative to the prefix) of the objects under `dir/`.
    pub async fn list(&self, dir: &str) -> Result<Vec<String>, ArchiveError> {
        let base = self.path(dir);
        let mut out = Vec::new();
        let mut stream = self.store.list(Some(&base));
        while let Some(item) = stream.next().await {
            let meta = item.map_err(|e| self.err("list", dir, e))?;
            if let Some(name) = meta.location.filename() {
                out.push(format!("{dir}/{name}"));
            }
        }
        out.sort();
        Ok(out)
    }

    fn err(&self, op: &str, name: &str, source: object_store::Error) -> ArchiveError {
        ArchiveError::Store {
            what: format!("{op} {}/{name}", self.url.trim_end_matches('/')),
            source,
        }
    }
}

/// The HTTP client of the S3 store uses rustls without a built-in provider
/// (no aws-lc): the process uses ring, like the server's own TLS.
fn install_crypto_provider() {
    // Err = a provider is already installed, which is what we want.
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// `path` replaced by `data` durably: `<path>.tmp` written and fsynced,
/// renamed over `path`, the directory fsynced.
fn write_durably(path: &Path, data: &[u8]) -> Result<(), ArchiveError> {
    use std::io::Write;
    let io = |p: &Path| {
        let p = p.to_path_buf();
        move |source| ArchiveError::Io { path: p, source }
    };
    let parent = path.parent().map(Path::to_path_buf).unwrap_or_default();
    std::fs::create_dir_all(&parent).map_err(io(&parent))?;
    let mut tmp_name = path.as_os_str().to_owned();
    tmp_name.push(".tmp");
    let tmp = PathBuf::from(tmp_name);
    let mut f = std::fs::File::create(&tmp).map_err(io(&tmp))?;
    f.write_all(data).map_err(io(&tmp))?;
    f.sync_all().map_err(io(&tmp))?;
    drop(f);
    std::fs::rename(&tmp, path).map_err(io(path))?;
    std::fs::File::open(&parent)
        .and_then(|d| d.sync_all())
        .map_err(io(&parent))
}
