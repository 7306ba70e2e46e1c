//! The cluster secret (`[cluster] secret_file`): keyed BLAKE3 MACs that
//! authenticate every SWIM packet, every replication call and the gateway's
//! `POST /cluster/sync` (see `docs/security.md`, "Cluster ports").
//!
//! The file holds one secret per line (blank lines and `#` comments
//! ignored): the first is *current* (used to send), an optional second is
//! *previous* (still accepted) so the secret can be rotated node by node.
//! Each purpose uses its own key derived from the secret
//! (`blake3::derive_key`), so a MAC for one port is worthless on another.
//!
//! - SWIM: `[timestamp ms, 8 bytes BE][MAC 32 bytes][payload]`, MAC over
//!   timestamp and payload; packets outside ±[`WINDOW_MS`] are dropped.
//! - Replication: a call token `v1.<ms>.<nonce>.<mac>` in the
//!   `x-stemedb-cluster-auth` metadata; a token is accepted once
//!   ([`ReplayGuard`]) and only within ±[`WINDOW_MS`].
//! - Gateway: `Authorization: Bearer <current or previous secret>`.
//!
//! Comparisons of MACs and secrets are constant-time.

#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

/// Largest clock difference (and replay window) accepted, ms.
pub const WINDOW_MS: u64 = 30_000;
/// Bytes a sealed SWIM packet adds to the payload.
pub const PACKET_OVERHEAD: usize = 8 + 32;
/// Shortest accepted secret, characters.
pub const MIN_SECRET_LEN: usize = 32;
/// The gRPC metadata key carrying the call token.
pub const RPC_METADATA_KEY: &str = "x-stemedb-cluster-auth";

const SWIM_CONTEXT: &str = "stemedb 2026-11 cluster SWIM packet MAC v1";
const RPC_CONTEXT: &str = "stemedb 2026-11 cluster replication call MAC v1";

/// Why a secret file is unusable; names the file, never its content.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    /// Unreadable file.
    #[error("cluster.secret_file {path}: cannot read: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
    /// Wrong number or shape of secrets.
    #[error("cluster.secret_file {path}: {why}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        why: String,
    },
}

/// Why a packet, call or request was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reject {
    /// No authentication at all.
    Missing,
    /// Not made with the current or previous secret.
    BadMac,
    /// Timestamp outside the window (clock skew or an old capture).
    Stale,
    /// A call token already used.
    Replayed,
    /// Not shaped like a token or packet.
    Malformed,
}

impl Reject {
    /// A short stable name for logs and metrics labels.
    pub fn as_str(self) -> &'static str {
        match self {
            Reject::Missing => "missing",
            Reject::BadMac => "bad_mac",
            Reject::Stale => "stale",
            Reject::Replayed => "replayed",
            Reject::Malformed => "malformed",
        }
    }
}

impl fmt::Display for Reject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

struct Keys {
    raw: Vec<u8>,
    swim: [u8; 32],
    rpc: [u8; 32],
}

impl Keys {
    fn new(secret: &[u8]) -> Keys {
        Keys {
            raw: secret.to_vec(),
            swim: blake3::derive_key(SWIM_CONTEXT, secret),
            rpc: blake3::derive_key(RPC_CONTEXT, secret),
        }
    }
}

/// The loaded cluster secret: current (sends) and optionally previous (accepted).
pub struct ClusterSecret {
    keys: Vec<Keys>,
}

impl fmt::Debug for ClusterSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ClusterSecret({} key(s), redacted)", self.keys.len())
    }
}

fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

impl ClusterSecret {
    /// Reads `path`: one or two secrets of at least [`MIN_SECRET_LEN`] characters.
    pub fn load(path: &Path) -> Result<ClusterSecret, SecretError> {
        let text = std::fs::read_to_string(path).map_err(|source| SecretError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        ClusterSecret::parse(&text).map_err(|why| SecretError::Invalid {
            path: path.to_path_buf(),
            why,
        })
    }

    /// Parses the file's text (see [`ClusterSecret::load`]).
    pub fn parse(text: &str) -> Result<ClusterSecret, String> {
        let lines: Vec<&str> = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .collect();
        match lines.len() {
            0 => return Err("holds no secret (expected one line, or two while rotating)".into()),
            1 | 2 => {}
            n => {
                return Err(format!(
                    "holds {n} secrets; expected the current one and at most one previous one"
                ));
            }
        }
        if let Some(i) = lines.iter().position(|l| l.len() < MIN_SECRET_LEN) {
            let which = if i == 0 { "current" } else { "previous" };
            return Err(format!(
                "the {which} secret is shorter than {MIN_SECRET_LEN} characters \
                 (generate one with `head -c 32 /dev/urandom | base64`)"
            ));
        }
        if lines.len() == 2 && lines[0] == lines[1] {
            return Err("the previous secret equals the current one".into());
        }
        Ok(ClusterSecret {
            keys: lines.iter().map(|l| Keys::new(l.as_bytes())).collect(),
        })
    }

    /// A secret from raw bytes, current first (tests and tools).
    pub fn from_secrets(secrets: &[&[u8]]) -> ClusterSecret {
        ClusterSecret {
            keys: secrets.iter().map(|s| Keys::new(s)).collect(),
        }
    }

    /// True while a previous secret is still accepted.
    pub fn rotating(&self) -> bool {
        self.keys.len() > 1
    }

    fn current(&self) -> &Keys {
        // `parse`/`from_secrets` callers always give at least one secret;
        // an empty set simply authenticates nothing.
        static EMPTY: std::sync::OnceLock<Keys> = std::sync::OnceLock::new();
        self.keys
            .first()
            .unwrap_or_else(|| EMPTY.get_or_init(|| Keys::new(&[])))
    }

    fn packet_mac(key: &[u8; 32], ts: &[u8; 8], payload: &[u8]) -> blake3::Hash {
        let mut h = blake3::Hasher::new_keyed(key);
        h.update(ts);
        h.update(payload);
        h.finalize()
    }

    /// A SWIM packet carrying `payload`, stamped `now_ms`.
    pub fn seal_packet(&self, payload: &[u8], now_ms: u64) -> Vec<u8> {
        let ts = now_ms.to_be_bytes();
        let mac = Self::packet_mac(&self.current().swim, &ts, payload);
        let mut out = Vec::with_capacity(PACKET_OVERHEAD + payload.len());
        out.extend_from_slice(&ts);
        out.extend_from_slice(mac.as_bytes());
        out.extend_from_slice(payload);
        out
    }

    /// The payload of a sealed packet, when its MAC and timestamp are good.
    pub fn open_packet<'a>(&self, packet: &'a [u8], now_ms: u64) -> Result<&'a [u8], Reject> {
        if packet.len() < PACKET_OVERHEAD {
            return Err(Reject::Malformed);
        }
        let (head, payload) = packet.split_at(PACKET_OVERHEAD);
        let mut ts = [0u8; 8];
        ts.copy_from_slice(&head[..8]);
        let mut mac = [0u8; 32];
        mac.copy_from_slice(&head[8..]);
        let mac = blake3::Hash::from_bytes(mac);
        // blake3::Hash equality is constant-time.
        if !self
            .keys
            .iter()
            .any(|k| Self::packet_mac(&k.swim, &ts, payload) == mac)
        {
            return Err(Reject::BadMac);
        }
        if u64::from_be_bytes(ts).abs_diff(now_ms) > WINDOW_MS {
            return Err(Reject::Stale);
        }
        Ok(payload)
    }

    fn rpc_mac(key: &[u8; 32], ts: u64, nonce: &[u8; 16]) -> blake3::Hash {
        let mut h = blake3::Hasher::new_keyed(key);
        h.update(&ts.to_be_bytes());
        h.update(nonce);
        h.finalize()
    }

    /// A one-time token for a replication call made at `now_ms`.
    pub fn rpc_token(&self, now_ms: u64) -> String {
        let mut nonce = [0u8; 16];
        if getrandom::fill(&mut nonce).is_err() {
            // No OS randomness: a per-process counter, the process id and the
            // time still make every token of this process unique.
            static COUNTER: AtomicU64 = AtomicU64::new(0);
            let n = COUNTER.fetch_add(1, Ordering::Relaxed);
            let mut h = blake3::Hasher::new();
            h.update(&now_ms.to_be_bytes());
            h.update(&n.to_be_bytes());
            h.update(&std::process::id().to_be_bytes());
            nonce.copy_from_slice(&h.finalize().as_bytes()[..16]);
        }
        let mac = Self::rpc_mac(&self.current().rpc, now_ms, &nonce);
        format!("v1.{now_ms}.{}.{}", hex::encode(nonce), mac.to_hex())
    }

    /// Checks a call token: MAC, window and first use.
    pub fn check_rpc_token(
        &self,
        token: Option<&str>,
        now_ms: u64,
        guard: &ReplayGuard,
    ) -> Result<(), Reject> {
        let token = token.ok_or(Reject::Missing)?;
        let mut parts = token.split('.');
        let (Some("v1"), Some(ts), Some(nonce), Some(mac), None) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        ) else {
            return Err(Reject::Malformed);
        };
        let ts: u64 = ts.parse().map_err(|_| Reject::Malformed)?;
        let mut n = [0u8; 16];
        hex::decode_to_slice(nonce, &mut n).map_err(|_| Reject::Malformed)?;
        let mac = blake3::Hash::from_hex(mac).map_err(|_| Reject::Malformed)?;
        if !self
            .keys
            .iter()
            .any(|k| Self::rpc_mac(&k.rpc, ts, &n) == mac)
        {
            return Err(Reject::BadMac);
        }
        if ts.abs_diff(now_ms) > WINDOW_MS {
            return Err(Reject::Stale);
        }
        guard.first_use(n, ts, now_ms)
    }

    /// Whether `bearer` is the current or previous secret (gateway sync).
    pub fn check_bearer(&self, bearer: Option<&str>) -> Result<(), Reject> {
        let b = bearer.ok_or(Reject::Missing)?;
        let b = b.trim().as_bytes();
        // Check every key so the time does not tell which one matched.
        let hits = self
            .keys
            .iter()
            .fold(false, |hit, k| ct_eq(&k.raw, b) | hit);
        if hits { Ok(()) } else { Err(Reject::BadMac) }
    }
}

/// Call tokens seen within the window, so each is accepted once.
#[derive(Default)]
pub struct ReplayGuard {
    seen: Mutex<HashMap<[u8; 16], u64>>,
}

impl ReplayGuard {
    fn first_use(&self, nonce: [u8; 16], ts: u64, now_ms: u64) -> Result<(), Reject> {
        let mut seen = self
            .seen
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if seen.len() >= 4096 {
            seen.retain(|_, t| t.abs_diff(now_ms) <= WINDOW_MS);
        }
        if seen.insert(nonce, ts).is_some() {
            return Err(Reject::Replayed);
        }
        Ok(())
    }

    /// Tokens currently remembered.
    pub fn len(&self) -> usize {
        self.seen
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .len()
    }

    /// True when no token is remembered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &[u8] = b"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    const B: &[u8] = b"bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

    #[test]
    fn packets_open_only_with_the_right_secret_within_the_window() {
        let a = ClusterSecret::from_secrets(&[A]);
        let b = ClusterSecret::from_secrets(&[B]);
        let p = a.seal_packet(b"hello", 1_000_000);
        assert_eq!(a.open_packet(&p, 1_000_000), Ok(&b"hello"[..]));
        assert_eq!(a.open_packet(&p, 1_000_000 + WINDOW_MS), Ok(&b"hello"[..]));
        assert_eq!(b.open_packet(&p, 1_000_000), Err(Reject::BadMac));
        assert_eq!(
            a.open_packet(&p, 1_000_000 + WINDOW_MS + 1),
            Err(Reject::Stale)
        );
        let mut tampered = p.clone();
        *tampered.last_mut().expect("payload") ^= 1;
        assert_eq!(a.open_packet(&tampered, 1_000_000), Err(Reject::BadMac));
        assert_eq!(a.open_packet(b"short", 1_000_000), Err(Reject::Malformed));
    }

    #[test]
    fn rotation_accepts_the_previous_secret_and_sends_with_the_current() {
        let old = ClusterSecret::from_secrets(&[A]);
        let rotating = ClusterSecret::from_secrets(&[B, A]);
        let new = ClusterSecret::from_secrets(&[B]);
        let from_old = old.seal_packet(b"x", 5);
        assert!(rotating.open_packet(&from_old, 5).is_ok());
        let from_rotating = rotating.seal_packet(b"x", 5);
        assert!(new.open_packet(&from_rotating, 5).is_ok());
        assert!(old.open_packet(&from_rotating, 5).is_err());
        assert!(
            rotating
                .check_bearer(Some("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"))
                .is_ok()
        );
        assert!(
            new.check_bearer(Some("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"))
                .is_err()
        );
        assert_eq!(new.check_bearer(None), Err(Reject::Missing));
    }

    #[test]
    fn call_tokens_are_single_use_and_bound_to_the_secret() {
        let a = ClusterSecret::from_secrets(&[A]);
        let b = ClusterSecret::from_secrets(&[B]);
        let guard = ReplayGuard::default();
        let t = a.rpc_token(10_000_000);
        assert_eq!(a.check_rpc_token(Some(&t), 10_000_000, &guard), Ok(()));
        assert_eq!(
            a.check_rpc_token(Some(&t), 10_000_000, &guard),
            Err(Reject::Replayed)
        );
        let t2 = a.rpc_token(10_000_000);
        assert_eq!(
            b.check_rpc_token(Some(&t2), 10_000_000, &guard),
            Err(Reject::BadMac)
        );
        assert_eq!(
            a.check_rpc_token(Some(&t2), 10_000_000 + WINDOW_MS + 1, &guard),
            Err(Reject::Stale)
        );
        assert_eq!(
            a.check_rpc_token(Some("v1.1.zz.zz"), 1, &guard),
            Err(Reject::Malformed)
        );
        assert_eq!(a.check_rpc_token(None, 1, &guard), Err(Reject::Missing));
    }

    #[test]
    fn secret_files_are_validated() {
        assert!(ClusterSecret::parse("").is_err());
        assert!(ClusterSecret::parse("short\n").is_err());
        let long = "x".repeat(40);
        assert!(ClusterSecret::parse(&format!("# comment\n{long}\n")).is_ok());
        assert!(ClusterSecret::parse(&format!("{long}\n{long}\n")).is_err());
        let other = "y".repeat(40);
        let two = ClusterSecret::parse(&format!("{long}\n{other}\n")).expect("two");
        assert!(two.rotating());
        assert!(ClusterSecret::parse(&format!("{long}\n{other}\n{}\n", "z".repeat(40))).is_err());
        let err = ClusterSecret::parse("short").err().unwrap_or_default();
        assert!(!err.contains("short\""), "the secret is not echoed: {err}");
    }
}
