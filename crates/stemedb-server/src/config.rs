//! Server configuration: an optional TOML file (`/etc/stemedb/config.toml`
//! or `--config PATH`) with every key overridable by an environment variable
//! `STEMEDB_<SECTION>_<KEY>`. Unknown keys are errors; every error names the
//! key and where its value came from.

use std::collections::HashMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use stemedb_storage::StoreConfig;

pub mod archive;
pub use archive::{ArchiveConfig, TargetUrl};

/// The default configuration file, read when it exists and no `--config` is given.
pub const DEFAULT_PATH: &str = "/etc/stemedb/config.toml";

/// A configuration problem; the message names the key and its source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError(pub String);

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ConfigError {}

/// The whole configuration file.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// `[api]`: the HTTP API.
    pub api: ApiConfig,
    /// `[storage]`: the record log and indexes.
    pub storage: StorageConfig,
    /// `[cluster]`: membership and the cluster gateway (see `docs/cluster.md`).
    pub cluster: ClusterConfig,
    /// `[replication]`: replica placement and acknowledgement.
    pub replication: ReplicationConfig,
    /// `[auth]`: API keys; absent = open server (see `docs/security.md`).
    pub auth: Option<AuthConfig>,
    /// `[limits]`: request rate limits.
    pub limits: LimitsConfig,
    /// `[archive]`: continuous archival of sealed log segments (off without a target).
    pub archive: ArchiveConfig,
}

/// `[auth]` section.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthConfig {
    /// The API keys file (`stemedb-api keys add|list|revoke` edits it).
    pub keys_file: PathBuf,
}

/// `[limits]` section: token buckets; an unset rate is unlimited.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsConfig {
    /// Requests per second per API key.
    pub per_key_rps: Option<u32>,
    /// Requests per second per client IP address.
    pub per_ip_rps: Option<u32>,
    /// Bucket size (requests allowed at once); default: one second's worth.
    pub burst: Option<u32>,
}

/// `[api]` section.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ApiConfig {
    /// Listen address of the HTTP API.
    pub bind_addr: String,
    /// Refuse unsigned records (assertions, retractions, votes, epochs).
    pub require_signatures: bool,
    /// Largest accepted request body, bytes.
    pub max_body_bytes: u64,
    /// Most items in one `POST /v1/assertions`.
    pub max_batch: usize,
    /// Requests taking longer are answered 503 `timeout`.
    pub request_timeout_ms: u64,
    /// Legacy admin credential: `Authorization: Bearer <token>` is an admin.
    pub admin_token: Option<String>,
    /// PEM certificate chain: with `tls_key`, the API and the gateway serve TLS.
    pub tls_cert: Option<PathBuf>,
    /// PEM private key of `tls_cert`.
    pub tls_key: Option<PathBuf>,
    /// TLS handshake and HTTP/1.1 request head deadline (and keep-alive idle limit), ms.
    pub header_read_timeout_ms: u64,
    /// Longest wait for the next piece of a request body, ms.
    pub body_read_timeout_ms: u64,
    /// Most open connections (API and gateway each); over it new ones wait.
    pub max_connections: usize,
    /// Origins allowed to call the API from a browser (CORS); `*` = any.
    pub cors_origins: Vec<String>,
}

impl Default for ApiConfig {
    fn default() -> Self {
        ApiConfig {
            bind_addr: "0.0.0.0:18180".into(),
            require_signatures: false,
            max_body_bytes: 16 * 1024 * 1024,
            max_batch: 10_000,
            request_timeout_ms: 30_000,
            admin_token: None,
            tls_cert: None,
            tls_key: None,
            header_read_timeout_ms: 10_000,
            body_read_timeout_ms: 10_000,
            max_connections: 10_000,
            cors_origins: Vec::new(),
        }
    }
}

/// `[storage]` section; maps onto [`StoreConfig`].
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StorageConfig {
    /// Data directory (log segments and indexes).
    pub data_dir: PathBuf,
    /// Log segment size, bytes.
    pub segment_size: u64,
    /// Write requests waiting for the committer before writes get 503.
    pub queue_depth: usize,
    /// Most records in one group commit.
    pub max_batch_records: usize,
    /// Index block cache, bytes.
    pub index_cache_bytes: u64,
    /// Index memtable budget, bytes.
    pub index_write_buffer_bytes: u64,
    /// Index journal budget, bytes.
    pub index_journal_bytes: u64,
    /// Most bytes the filter of known record ids takes (0 = no filter).
    pub id_filter_bytes: u64,
    /// Background flush and compaction threads of the index engine (2 ..= 64).
    pub index_workers: usize,
    /// Read log segments through memory maps (else one `pread` per read).
    pub map_log_segments: bool,
    /// fsync the log before acknowledging (turn off only for throwaway data).
    pub fsync: bool,
    /// Writes are refused with 507 while the data directory's file system
    /// has fewer bytes available (0 = off).
    pub min_free_bytes: u64,
    /// A node whose store failed (e.g. the index engine ran out of space)
    /// restarts itself — re-executing its binary, same PID — once the data
    /// directory's file system is above `min_free_bytes` again and the
    /// process has run at least this long (ms); 0 = never (restart by hand).
    pub failure_restart_ms: u64,
}

impl Default for StorageConfig {
    fn default() -> Self {
        let d = StoreConfig::new("./stemedb-data");
        StorageConfig {
            data_dir: d.data_dir,
            segment_size: d.segment_size,
            queue_depth: d.queue_depth,
            max_batch_records: d.max_batch_records,
            index_cache_bytes: d.index_cache_bytes,
            index_write_buffer_bytes: d.index_write_buffer_bytes,
            index_journal_bytes: d.index_journal_bytes,
            id_filter_bytes: d.id_filter_bytes,
            index_workers: d.index_workers,
            map_log_segments: d.map_log_segments,
            fsync: d.fsync,
            min_free_bytes: d.min_free_bytes,
            failure_restart_ms: 60_000,
        }
    }
}

/// `[cluster]` section.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClusterConfig {
    /// Run as a cluster node.
    pub enabled: bool,
    /// This node's name.
    pub node_id: String,
    /// Cluster gateway HTTP address.
    pub bind_addr: String,
    /// gRPC replication address.
    pub rpc_addr: String,
    /// SWIM membership (UDP) address.
    pub swim_addr: String,
    /// SWIM addresses of other nodes to join through.
    pub seeds: Vec<String>,
    /// File holding the shared cluster secret (current, optionally previous):
    /// authenticates SWIM, replication and `POST /cluster/sync`.
    pub secret_file: Option<PathBuf>,
}

impl Default for ClusterConfig {
    fn default() -> Self {
        ClusterConfig {
            enabled: false,
            node_id: String::new(),
            bind_addr: "0.0.0.0:18181".into(),
            rpc_addr: "0.0.0.0:18182".into(),
            swim_addr: "0.0.0.0:18183".into(),
            seeds: Vec::new(),
            secret_file: None,
        }
    }
}

/// What a node that cannot see a majority does with writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnMinority {
    /// Refuse writes (503) until the majority returns.
    ReadOnly,
    /// Keep accepting writes; they merge afterwards.
    Accept,
}

/// `[replication]` section.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReplicationConfig {
    /// Replicas per partition.
    pub factor: usize,
    /// Nodes a write must be durable on before it is acknowledged.
    pub write_ack: usize,
    /// Behaviour on the minority side of a partition.
    pub on_minority: OnMinority,
    /// Pause between background anti-entropy rounds with each live peer, ms.
    pub anti_entropy_interval_ms: u64,
}

impl Default for ReplicationConfig {
    fn default() -> Self {
        ReplicationConfig {
            factor: 2,
            write_ack: 2,
            on_minority: OnMinority::ReadOnly,
            anti_entropy_interval_ms: 30_000,
        }
    }
}

/// A loaded configuration and where it came from.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// The configuration.
    pub config: Config,
    /// The file read, if any.
    pub file: Option<PathBuf>,
    /// Non-fatal remarks (e.g. unknown `STEMEDB_API_*` variables), to log.
    pub warnings: Vec<String>,
    /// `section.key` → environment variable that set it.
    pub from_env: HashMap<String, String>,
}

impl Loaded {
    /// Where `section.key` got its value: a variable, the file, or the default.
    pub fn origin(&self, key: &str) -> String {
        if let Some(var) = self.from_env.get(key) {
            return format!("environment variable {var}");
        }
        match &self.file {
            Some(f) => format!("config file {}", f.display()),
            None => "built-in default".into(),
        }
    }

    /// Refuses settings this node cannot run: cluster mode needs a concrete
    /// (not `0.0.0.0`) `cluster.swim_addr`, because its IP is what peers are
    /// told; `api.bind_addr`, `cluster.bind_addr` and `cluster.rpc_addr` may
    /// bind `0.0.0.0` and are then advertised with the SWIM address's IP.
    pub fn check_runnable(&self) -> Result<(), ConfigError> {
        let c = &self.config.cluster;
        if !c.enabled {
            return Ok(());
        }
        match c.swim_addr.parse::<SocketAddr>() {
            Ok(a) if !a.ip().is_unspecified() && a.port() != 0 => Ok(()),
            _ => Err(ConfigError(format!(
                "cluster.swim_addr = {:?} (from {}): cluster mode needs a concrete IP:port \
                 (not 0.0.0.0, not port 0); peers reach this node there",
                c.swim_addr,
                self.origin("cluster.swim_addr")
            ))),
        }
    }
}

const SECTIONS: [&str; 7] = [
    "api",
    "storage",
    "cluster",
    "replication",
    "auth",
    "limits",
    "archive",
];

/// `STEMEDB_*` variables that are not server configuration: the log filter
/// and the command-line client's settings (a shell may export them for both).
const NOT_CONFIG_VARS: [&str; 3] = ["STEMEDB_LOG", "STEMEDB_TOKEN", "STEMEDB_SERVER"];

fn int<T: std::str::FromStr>(var: &str, raw: &str) -> Result<T, ConfigError> {
    raw.trim().parse().map_err(|_| {
        ConfigError(format!(
            "{var}: expected a non-negative integer, got {raw:?}"
        ))
    })
}

/// A comma-separated list.
fn list(raw: &str) -> Vec<String> {
    raw.split(',')
        .map(str::trim)
        .filter(|x| !x.is_empty())
        .map(str::to_owned)
        .collect()
}

fn boolean(var: &str, raw: &str) -> Result<bool, ConfigError> {
    match raw.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Ok(true),
        "false" | "0" | "no" | "off" => Ok(false),
        _ => Err(ConfigError(format!(
            "{var}: expected true or false, got {raw:?}"
        ))),
    }
}

impl Config {
    /// Sets `section.key` from an environment variable's text. `Ok(false)`
    /// when there is no such key.
    fn set(&mut self, var: &str, section: &str, key: &str, raw: &str) -> Result<bool, ConfigError> {
        let s = raw.to_owned();
        match (section, key) {
            ("api", "bind_addr") => self.api.bind_addr = s,
            ("api", "require_signatures") => self.api.require_signatures = boolean(var, raw)?,
            ("api", "max_body_bytes") => self.api.max_body_bytes = int(var, raw)?,
            ("api", "max_batch") => self.api.max_batch = int(var, raw)?,
            ("api", "request_timeout_ms") => self.api.request_timeout_ms = int(var, raw)?,
            ("api", "admin_token") => self.api.admin_token = Some(s),
            ("api", "tls_cert") => self.api.tls_cert = Some(PathBuf::from(s)),
            ("api", "tls_key") => self.api.tls_key = Some(PathBuf::from(s)),
            ("api", "header_read_timeout_ms") => self.api.header_read_timeout_ms = int(var, raw)?,
            ("api", "body_read_timeout_ms") => self.api.body_read_timeout_ms = int(var, raw)?,
            ("api", "max_connections") => self.api.max_connections = int(var, raw)?,
            ("api", "cors_origins") => self.api.cors_origins = list(raw),
            ("auth", "keys_file") => {
                self.auth = Some(AuthConfig {
                    keys_file: PathBuf::from(s),
                })
            }
            ("limits", "per_key_rps") => self.limits.per_key_rps = Some(int(var, raw)?),
            ("limits", "per_ip_rps") => self.limits.per_ip_rps = Some(int(var, raw)?),
            ("limits", "burst") => self.limits.burst = Some(int(var, raw)?),
            ("storage", "data_dir") => self.storage.data_dir = PathBuf::from(s),
            ("storage", "segment_size") => self.storage.segment_size = int(var, raw)?,
            ("storage", "queue_depth") => self.storage.queue_depth = int(var, raw)?,
            ("storage", "max_batch_records") => self.storage.max_batch_records = int(var, raw)?,
            ("storage", "index_cache_bytes") => self.storage.index_cache_bytes = int(var, raw)?,
            ("storage", "index_write_buffer_bytes") => {
                self.storage.index_write_buffer_bytes = int(var, raw)?
            }
            ("storage", "index_journal_bytes") => self.storage.index_journal_bytes = int(var, raw)?,
            ("storage", "id_filter_bytes") => self.storage.id_filter_bytes = int(var, raw)?,
            ("storage", "index_workers") => self.storage.index_workers = int(var, raw)?,
            ("storage", "map_log_segments") => self.storage.map_log_segments = boolean(var, raw)?,
            ("storage", "fsync") => self.storage.fsync = boolean(var, raw)?,
            ("storage", "min_free_bytes") => self.storage.min_free_bytes = int(var, raw)?,
            ("storage", "failure_restart_ms") => self.storage.failure_restart_ms = int(var, raw)?,
            ("cluster", "enabled") => self.cluster.enabled = boolean(var, raw)?,
            ("cluster", "node_id") => self.cluster.node_id = s,
            ("cluster", "bind_addr") => self.cluster.bind_addr = s,
            ("cluster", "rpc_addr") => self.cluster.rpc_addr = s,
            ("cluster", "swim_addr") => self.cluster.swim_addr = s,
            ("cluster", "secret_file") => self.cluster.secret_file = Some(PathBuf::from(s)),
            ("cluster", "seeds") => self.cluster.seeds = list(raw),
            ("replication", "factor") => self.replication.factor = int(var, raw)?,
            ("replication", "write_ack") => self.replication.write_ack = int(var, raw)?,
            ("replication", "anti_entropy_interval_ms") => {
                self.replication.anti_entropy_interval_ms = int(var, raw)?
            }
            ("archive", key) => return self.archive.set(var, key, raw).map_err(ConfigError),
            ("replication", "on_minority") => {
                self.replication.on_minority = match raw.trim() {
                    "read_only" => OnMinority::ReadOnly,
                    "accept" => OnMinority::Accept,
                    _ => {
                        return Err(ConfigError(format!(
                            "{var}: expected \"read_only\" or \"accept\", got {raw:?}"
                        )));
                    }
                }
            }
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// The store settings.
    pub fn store_config(&self) -> StoreConfig {
        let s = &self.storage;
        let mut c = StoreConfig::new(&s.data_dir);
        c.segment_size = s.segment_size;
        c.queue_depth = s.queue_depth;
        c.max_batch_records = s.max_batch_records;
        c.index_cache_bytes = s.index_cache_bytes;
        c.index_write_buffer_bytes = s.index_write_buffer_bytes;
        c.index_journal_bytes = s.index_journal_bytes;
        c.id_filter_bytes = s.id_filter_bytes;
        c.index_workers = s.index_workers;
        c.map_log_segments = s.map_log_segments;
        c.fsync = s.fsync;
        c.min_free_bytes = s.min_free_bytes;
        c
    }

    /// The API listen address (validated by [`load`]).
    pub fn api_addr(&self) -> Result<SocketAddr, ConfigError> {
        self.api.bind_addr.parse().map_err(|_| {
            ConfigError(format!(
                "api.bind_addr {:?} is not an address",
                self.api.bind_addr
            ))
        })
    }
}

/// Loads the configuration: `explicit` (must exist) or [`DEFAULT_PATH`] when
/// present, then the `STEMEDB_*` variables in `env`, then validation.
pub fn load(
    explicit: Option<&Path>,
    env: impl IntoIterator<Item = (String, String)>,
) -> Result<Loaded, ConfigError> {
    let file = match explicit {
        Some(p) => Some(p.to_path_buf()),
        None => Some(PathBuf::from(DEFAULT_PATH)).filter(|p| p.exists()),
    };
    let config = match &file {
        None => Config::default(),
        Some(p) => {
            let text = std::fs::read_to_string(p).map_err(|e| {
                ConfigError(format!("cannot read config file {}: {e}", p.display()))
            })?;
            parse_str(&text)
                .map_err(|e| ConfigError(format!("config file {}: {e}", p.display())))?
        }
    };
    let mut loaded = Loaded {
        config,
        file,
        warnings: Vec::new(),
        from_env: HashMap::new(),
    };
    let mut vars: Vec<(String, String)> = env
        .into_iter()
        .filter(|(k, _)| k.starts_with("STEMEDB_"))
        .collect();
    vars.sort();
    for (var, raw) in vars {
        let rest = &var["STEMEDB_".len()..];
        let Some(section) = SECTIONS
            .iter()
            .find(|s| rest.to_ascii_lowercase().starts_with(&format!("{s}_")))
        else {
            if !NOT_CONFIG_VARS.contains(&var.as_str()) {
                loaded.warnings.push(format!(
                    "environment variable {var} names no configuration section \
                     ({}); ignored",
                    SECTIONS.join(", ")
                ));
            }
            continue;
        };
        let key = rest[section.len() + 1..].to_ascii_lowercase();
        if loaded.config.set(&var, section, &key, &raw)? {
            loaded
                .from_env
                .insert(format!("{section}.{key}"), var.clone());
        } else {
            // A misspelt variable is as much a mistake as a misspelt key in
            // the file: refuse to start rather than run on a default.
            return Err(ConfigError(format!(
                "environment variable {var} does not name a key of [{section}] \
                 (see crates/stemedb-server/config.example.toml)"
            )));
        }
    }
    validate(&loaded)?;
    Ok(loaded)
}

/// Parses configuration text (no environment, no validation).
pub fn parse_str(text: &str) -> Result<Config, String> {
    toml::from_str(text).map_err(|e| e.to_string().trim_end().to_owned())
}

fn addr_ok(s: &str) -> bool {
    s.parse::<SocketAddr>().is_ok()
}

fn host_port_ok(s: &str) -> bool {
    s.rsplit_once(':')
        .is_some_and(|(h, p)| !h.is_empty() && p.parse::<u16>().is_ok())
}

/// `*`, or `http(s)://host[:port]` without path, as browsers send `Origin`.
fn origin_ok(o: &str) -> bool {
    if o == "*" {
        return true;
    }
    let Some(rest) = o
        .strip_prefix("https://")
        .or_else(|| o.strip_prefix("http://"))
    else {
        return false;
    };
    let (host, port) = match rest.rsplit_once(':') {
        Some((h, p)) if !p.contains(']') => (h, Some(p)),
        _ => (rest, None),
    };
    !host.is_empty()
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'[' | b']' | b':'))
        && port.is_none_or(|p| p.parse::<u16>().is_ok())
}

fn validate(l: &Loaded) -> Result<(), ConfigError> {
    let c = &l.config;
    let fail = |key: &str, why: String| {
        Err(ConfigError(format!(
            "invalid {key} (from {}): {why}",
            l.origin(key)
        )))
    };
    if !addr_ok(&c.api.bind_addr) {
        return fail(
            "api.bind_addr",
            format!("{:?} is not an IP:port address", c.api.bind_addr),
        );
    }
    if c.api.max_body_bytes < 1024 {
        return fail("api.max_body_bytes", "must be at least 1024".into());
    }
    if c.api.max_batch == 0 {
        return fail("api.max_batch", "must be at least 1".into());
    }
    if c.api.request_timeout_ms == 0 {
        return fail("api.request_timeout_ms", "must be at least 1".into());
    }
    if c.api.admin_token.as_deref().is_some_and(str::is_empty) {
        return fail("api.admin_token", "must not be empty when set".into());
    }
    if c.api.tls_cert.is_some() != c.api.tls_key.is_some() {
        let missing = if c.api.tls_cert.is_some() {
            "api.tls_key"
        } else {
            "api.tls_cert"
        };
        return fail(
            missing,
            "api.tls_cert and api.tls_key must be set together".into(),
        );
    }
    for (key, v) in [
        ("api.header_read_timeout_ms", c.api.header_read_timeout_ms),
        ("api.body_read_timeout_ms", c.api.body_read_timeout_ms),
    ] {
        if v < 100 {
            return fail(key, "must be at least 100".into());
        }
    }
    if c.api.max_connections == 0 {
        return fail("api.max_connections", "must be at least 1".into());
    }
    if let Some(bad) = c.api.cors_origins.iter().find(|o| !origin_ok(o)) {
        return fail(
            "api.cors_origins",
            format!("{bad:?} is not an origin like https://console.example.com[:port] or \"*\""),
        );
    }
    if c.auth
        .as_ref()
        .is_some_and(|a| a.keys_file.as_os_str().is_empty())
    {
        return fail("auth.keys_file", "must not be empty".into());
    }
    for (key, v) in [
        ("limits.per_key_rps", c.limits.per_key_rps),
        ("limits.per_ip_rps", c.limits.per_ip_rps),
        ("limits.burst", c.limits.burst),
    ] {
        if v == Some(0) {
            return fail(
                key,
                "must be at least 1 (leave it unset for no limit)".into(),
            );
        }
    }
    let s = &c.storage;
    if s.data_dir.as_os_str().is_empty() {
        return fail("storage.data_dir", "must not be empty".into());
    }
    if !(4096..=(1u64 << 31)).contains(&s.segment_size) {
        return fail(
            "storage.segment_size",
            format!("must be between 4096 and {} bytes", 1u64 << 31),
        );
    }
    if s.queue_depth == 0 {
        return fail("storage.queue_depth", "must be at least 1".into());
    }
    if s.max_batch_records == 0 {
        return fail("storage.max_batch_records", "must be at least 1".into());
    }
    for (key, v) in [
        ("cluster.bind_addr", &c.cluster.bind_addr),
        ("cluster.rpc_addr", &c.cluster.rpc_addr),
        ("cluster.swim_addr", &c.cluster.swim_addr),
    ] {
        if !addr_ok(v) {
            return fail(key, format!("{v:?} is not an IP:port address"));
        }
    }
    if let Some(bad) = c.cluster.seeds.iter().find(|s| !host_port_ok(s)) {
        return fail(
            "cluster.seeds",
            format!("{bad:?} is not a host:port address"),
        );
    }
    if c.cluster.enabled && c.cluster.node_id.trim().is_empty() {
        return fail(
            "cluster.node_id",
            "is required when cluster.enabled = true".into(),
        );
    }
    let r = &c.replication;
    if r.factor == 0 {
        return fail("replication.factor", "must be at least 1".into());
    }
    if r.write_ack == 0 || r.write_ack > r.factor {
        return fail(
            "replication.write_ack",
            format!("must be between 1 and replication.factor ({})", r.factor),
        );
    }
    if r.anti_entropy_interval_ms < 100 {
        return fail(
            "replication.anti_entropy_interval_ms",
            "must be at least 100".into(),
        );
    }
    if let Some((key, why)) = c.archive.invalid() {
        return fail(key, why);
    }
    Ok(())
}

#[cfg(test)]
mod tests;
