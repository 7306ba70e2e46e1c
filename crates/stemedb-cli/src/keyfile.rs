//! Ed25519 key files: `{"public_key": hex, "secret_key": hex}`, mode 0600.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::Path;

use ed25519_dalek::SigningKey;
use serde_json::{Value, json};
use stemedb_records::sign;

use crate::error::{CliError, Result};

/// Generates a new key and writes it to `path`; refuses to overwrite. Returns the public hex.
pub fn create(path: &Path) -> Result<String> {
    let key = sign::generate_key()
        .map_err(|e| CliError::Input(format!("cannot read the OS random source: {e}")))?;
    write_new(path, &key)?;
    Ok(sign::public_hex(&key))
}

/// Writes `key` to a new file at `path` with mode 0600; an existing file is an error.
pub fn write_new(path: &Path, key: &SigningKey) -> Result<()> {
    let body = json!({
        "public_key": sign::public_hex(key),
        "secret_key": hex::encode(key.to_bytes()),
    });
    let mut opts = OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut file = opts.open(path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::AlreadyExists {
            CliError::Input(format!(
                "refusing to overwrite existing key file {}",
                path.display()
            ))
        } else {
            CliError::io(format!("creating key file {}", path.display()), e)
        }
    })?;
    let text = format!("{body:#}\n");
    file.write_all(text.as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(|e| CliError::io(format!("writing key file {}", path.display()), e))
}

/// Loads a key file written by [`write_new`] (or by hand with the same fields).
pub fn load(path: &Path) -> Result<SigningKey> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| CliError::io(format!("reading key file {}", path.display()), e))?;
    let bad = |m: &str| CliError::Input(format!("key file {}: {m}", path.display()));
    let v: Value = serde_json::from_str(&text).map_err(|e| bad(&format!("not JSON: {e}")))?;
    let secret = v
        .get("secret_key")
        .and_then(Value::as_str)
        .ok_or_else(|| bad("missing \"secret_key\" (64 hex characters)"))?;
    let key = sign::signing_key_from_hex(secret)
        .ok_or_else(|| bad("\"secret_key\" must be 64 hex characters"))?;
    if let Some(public) = v.get("public_key").and_then(Value::as_str)
        && !public.trim().eq_ignore_ascii_case(&sign::public_hex(&key))
    {
        return Err(bad("\"public_key\" does not match \"secret_key\""));
    }
    Ok(key)
}
