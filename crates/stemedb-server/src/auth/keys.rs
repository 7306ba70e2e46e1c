//! The API keys file (`[auth] keys_file`): parsing, validation, and the
//! `stemedb-api keys add|list|revoke` edits.
//!
//! Only a BLAKE3 hash of each secret is stored. Secrets are 256 random bits,
//! so a fast hash is enough: there is nothing to guess a secret from (unlike
//! a password, no dictionary applies), and a slow KDF would cost every request.
//!
//! ```toml
//! [[key]]
//! name = "ci"
//! role = "writer"
//! hash = "<64 hex: BLAKE3 of the secret>"
//! created = "2026-11-29T21:40:00Z"
//! revoked = "2026-11-30T08:00:00Z"   # present once revoked
//! ```

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use super::Role;

/// Prefix of every generated secret (makes leaked keys easy to grep for).
pub const SECRET_PREFIX: &str = "stm_";

/// A problem with the keys file; the message names the file.
#[derive(Debug, thiserror::Error)]
pub enum KeysError {
    /// The file could not be read or written.
    #[error("keys file {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// Cause.
        source: std::io::Error,
    },
    /// The file's contents are invalid.
    #[error("keys file {path}: {message}")]
    Invalid {
        /// The file.
        path: String,
        /// What is wrong.
        message: String,
    },
    /// A `keys` command cannot do what was asked.
    #[error("{0}")]
    Refused(String),
    /// No randomness for a new secret.
    #[error("cannot generate a secret: {0}")]
    Random(String),
}

/// One entry as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyRecord {
    /// Unique name (letters, digits, `.`, `_`, `-`; 1..=64).
    pub name: String,
    /// What the key may do.
    pub role: Role,
    /// BLAKE3 of the secret, 64 hex.
    pub hash: String,
    /// When it was added (RFC 3339, UTC).
    pub created: String,
    /// When it was revoked, if it was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked: Option<String>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileDoc {
    #[serde(default)]
    key: Vec<KeyRecord>,
}

/// An active key, ready for lookups.
#[derive(Debug, Clone)]
pub struct ActiveKey {
    /// Its name.
    pub name: String,
    /// Its role.
    pub role: Role,
    /// BLAKE3 of its secret (`blake3::Hash` compares in constant time).
    pub hash: blake3::Hash,
}

/// The keys of one version of the file.
#[derive(Debug, Clone, Default)]
pub struct KeySet {
    /// Every entry, revoked ones included (for `keys list`).
    pub records: Vec<KeyRecord>,
    /// The usable ones.
    pub active: Vec<ActiveKey>,
}

impl KeySet {
    /// The active key whose secret hashes to `hash`. Every entry is compared
    /// (in constant time) so the time taken does not depend on which matched.
    pub fn find(&self, hash: &blake3::Hash) -> Option<&ActiveKey> {
        let mut found = None;
        for k in &self.active {
            if k.hash == *hash {
                found = Some(k);
            }
        }
        found
    }
}

/// Hashes a presented secret.
pub fn hash_secret(secret: &str) -> blake3::Hash {
    blake3::hash(secret.as_bytes())
}

fn valid_name(n: &str) -> bool {
    (1..=64).contains(&n.len())
        && n.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

fn invalid(path: &Path, message: impl Into<String>) -> KeysError {
    KeysError::Invalid {
        path: path.display().to_string(),
        message: message.into(),
    }
}

/// Parses and validates keys file text.
pub fn parse(path: &Path, text: &str) -> Result<KeySet, KeysError> {
    let doc: FileDoc =
        toml::from_str(text).map_err(|e| invalid(path, e.to_string().trim_end().to_owned()))?;
    let mut active = Vec::new();
    for (i, k) in doc.key.iter().enumerate() {
        if !valid_name(&k.name) {
            return Err(invalid(
                path,
                format!(
                    "key #{}: name {:?} must be 1..=64 letters, digits, '.', '_' or '-'",
                    i + 1,
                    k.name
                ),
            ));
        }
        if doc.key[..i].iter().any(|o| o.name == k.name) {
            return Err(invalid(
                path,
                format!("key name {:?} appears twice", k.name),
            ));
        }
        let hash = blake3::Hash::from_hex(&k.hash).map_err(|_| {
            invalid(
                path,
                format!("key {:?}: hash must be 64 hex characters", k.name),
            )
        })?;
        if k.revoked.is_none() {
            active.push(ActiveKey {
                name: k.name.clone(),
                role: k.role,
                hash,
            });
        }
    }
    Ok(KeySet {
        records: doc.key,
        active,
    })
}

/// Reads and validates the keys file.
pub fn load(path: &Path) -> Result<KeySet, KeysError> {
    let text = std::fs::read_to_string(path).map_err(|source| KeysError::Io {
        path: path.display().to_string(),
        source,
    })?;
    parse(path, &text)
}

/// Reads the file for an edit; a missing file is an empty one.
fn load_for_edit(path: &Path) -> Result<KeySet, KeysError> {
    match std::fs::read_to_string(path) {
        Ok(text) => parse(path, &text),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(KeySet::default()),
        Err(source) => Err(KeysError::Io {
            path: path.display().to_string(),
            source,
        }),
    }
}

/// Writes `records` atomically (temporary file, fsync, rename), mode 0600.
fn store(path: &Path, records: Vec<KeyRecord>) -> Result<(), KeysError> {
    let io = |source| KeysError::Io {
        path: path.display().to_string(),
        source,
    };
    let body = toml::to_string(&FileDoc { key: records })
        .map_err(|e| invalid(path, format!("cannot encode: {e}")))?;
    let text = format!(
        "# StemeDB API keys, managed with `stemedb-api keys add|list|revoke`.\n\
         # Only BLAKE3 hashes of the secrets are stored here.\n\n{body}"
    );
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf);
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "keys".into());
    let tmp = dir.join(format!(".{file_name}.tmp-{}", std::process::id()));
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let written = opts.open(&tmp).and_then(|mut f| {
        f.write_all(text.as_bytes())?;
        f.sync_all()
    });
    if let Err(e) = written.and_then(|()| std::fs::rename(&tmp, path)) {
        let _ = std::fs::remove_file(&tmp);
        return Err(io(e));
    }
    Ok(())
}

/// A new random secret: `stm_` and 64 hex digits (256 bits).
pub fn new_secret() -> Result<String, KeysError> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| KeysError::Random(e.to_string()))?;
    Ok(format!("{SECRET_PREFIX}{}", hex::encode(bytes)))
}

/// Adds a key and returns its secret (shown once; only the hash is kept).
pub fn add(path: &Path, name: &str, role: Role) -> Result<String, KeysError> {
    if !valid_name(name) {
        return Err(KeysError::Refused(format!(
            "key name {name:?} must be 1..=64 letters, digits, '.', '_' or '-'"
        )));
    }
    let set = load_for_edit(path)?;
    if set.records.iter().any(|k| k.name == name) {
        return Err(KeysError::Refused(format!(
            "a key named {name:?} already exists in {} (names are never reused, also after \
             revocation; pick another name)",
            path.display()
        )));
    }
    let secret = new_secret()?;
    let mut records = set.records;
    records.push(KeyRecord {
        name: name.to_owned(),
        role,
        hash: hash_secret(&secret).to_hex().to_string(),
        created: now_rfc3339(),
        revoked: None,
    });
    store(path, records)?;
    Ok(secret)
}

/// Marks a key revoked (kept in the file, never accepted again).
pub fn revoke(path: &Path, name: &str) -> Result<(), KeysError> {
    let set = load(path)?;
    let mut records = set.records;
    let Some(k) = records.iter_mut().find(|k| k.name == name) else {
        return Err(KeysError::Refused(format!(
            "no key named {name:?} in {}",
            path.display()
        )));
    };
    if k.revoked.is_some() {
        return Err(KeysError::Refused(format!(
            "key {name:?} is already revoked"
        )));
    }
    k.revoked = Some(now_rfc3339());
    store(path, records)
}

/// Current UTC time as `YYYY-MM-DDTHH:MM:SSZ`.
pub fn now_rfc3339() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    rfc3339(secs)
}

/// Formats Unix seconds as RFC 3339 UTC (civil-from-days, proleptic Gregorian).
pub fn rfc3339(secs: u64) -> String {
    let days = i64::try_from(secs / 86_400).unwrap_or(0);
    let rem = secs % 86_400;
    let (y, m, d) = stemedb_records::hlc::civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_known_dates() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(1_796_074_445), "2026-11-30T21:34:05Z");
    }

    #[test]
    fn add_list_revoke_round_trip() {
        let dir = tempfile::tempdir().expect("tmp");
        let f = dir.path().join("keys.toml");
        let s1 = add(&f, "alice", Role::Writer).expect("add");
        assert!(s1.starts_with(SECRET_PREFIX) && s1.len() == 68);
        let s2 = add(&f, "root", Role::Admin).expect("add");
        assert_ne!(s1, s2);
        let text = std::fs::read_to_string(&f).expect("read");
        assert!(!text.contains(&s1) && !text.contains(&s2), "secret stored");
        let set = load(&f).expect("load");
        assert_eq!(
            set.find(&hash_secret(&s1)).map(|k| k.role),
            Some(Role::Writer)
        );
        assert!(set.find(&hash_secret("stm_nope")).is_none());
        assert!(matches!(
            add(&f, "alice", Role::Reader),
            Err(KeysError::Refused(_))
        ));
        revoke(&f, "alice").expect("revoke");
        let set = load(&f).expect("load");
        assert!(set.find(&hash_secret(&s1)).is_none());
        assert_eq!(set.records.len(), 2);
        assert!(matches!(revoke(&f, "alice"), Err(KeysError::Refused(_))));
        assert!(matches!(revoke(&f, "bob"), Err(KeysError::Refused(_))));
    }

    #[test]
    fn malformed_files_name_the_file() {
        let p = Path::new("/etc/k.toml");
        for bad in [
            "[[key]]\nname = \"a\"\nrole = \"root\"\nhash = \"00\"\ncreated = \"x\"\n",
            "[[key]]\nname = \"a b\"\nrole = \"reader\"\nhash = \"00\"\ncreated = \"x\"\n",
            "[[key]]\nname = \"a\"\nrole = \"reader\"\nhash = \"zz\"\ncreated = \"x\"\n",
            "nonsense",
        ] {
            let e = parse(p, bad).expect_err(bad).to_string();
            assert!(e.contains("/etc/k.toml"), "{e}");
        }
    }
}
