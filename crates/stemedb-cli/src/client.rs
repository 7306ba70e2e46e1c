//! A small blocking HTTP client for the StemeDB API (SPEC §3), built on `ureq`.
//!
//! Non-2xx answers become [`CliError::Server`] carrying the server's error
//! code, message and field; transport failures name the URL that was tried.

use std::io::{BufReader, Read};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use ureq::http::Response;
use ureq::tls::{Certificate, PemItem, RootCerts, TlsConfig, parse_pem};
use ureq::{Agent, Body};

use crate::error::{CliError, Result};

/// Connection to one StemeDB server (cheap to clone: the agent's pool is shared).
#[derive(Clone)]
pub struct Client {
    base: String,
    token: Option<String>,
    agent: Agent,
}

/// Percent-encodes one URL path segment (everything but unreserved
/// characters): the MCP tools' encoder, one rule for both clients.
pub use stemedb_mcp::backend::encode_component as encode_segment;

impl Client {
    /// A client for the server at `base` (e.g. `http://127.0.0.1:18180`).
    pub fn new(base: &str, token: Option<String>) -> Result<Self> {
        Client::with_cacert(base, token, None)
    }

    /// A client for `base` (`http://` or `https://`); for https, `cacert`
    /// names a PEM file of the CA certificates to trust instead of the
    /// public web roots.
    pub fn with_cacert(base: &str, token: Option<String>, cacert: Option<&Path>) -> Result<Self> {
        let base = base.trim_end_matches('/').to_owned();
        if !base.starts_with("http://") && !base.starts_with("https://") {
            return Err(CliError::Input(format!(
                "--server {base}: expected a URL like http://127.0.0.1:18180 or https://db.example:18180"
            )));
        }
        let roots = match cacert {
            None => RootCerts::WebPki,
            Some(path) => RootCerts::Specific(Arc::new(ca_certificates(path)?)),
        };
        let agent: Agent = Agent::config_builder()
            .tls_config(TlsConfig::builder().root_certs(roots).build())
            .http_status_as_error(false)
            .timeout_connect(Some(Duration::from_secs(10)))
            .user_agent(concat!("stemedb-cli/", env!("CARGO_PKG_VERSION")))
            .build()
            .into();
        Ok(Client {
            base,
            token: token.filter(|t| !t.is_empty()),
            agent,
        })
    }

    /// The server base URL.
    pub fn base(&self) -> &str {
        &self.base
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    fn auth(&self) -> Option<String> {
        self.token.as_ref().map(|t| format!("Bearer {t}"))
    }

    /// `GET path?query` returning the JSON body.
    pub fn get_json(&self, path: &str, query: &[(&str, String)]) -> Result<Value> {
        let url = self.url(path);
        let resp = self.get_raw(&url, query)?;
        read_json(&url, resp)
    }

    /// `GET path?query` returning a reader over the (successful) body.
    pub fn get_reader(&self, path: &str, query: &[(&str, String)]) -> Result<impl Read + use<>> {
        let url = self.url(path);
        let resp = self.get_raw(&url, query)?;
        Ok(resp.into_body().into_reader())
    }

    fn get_raw(&self, url: &str, query: &[(&str, String)]) -> Result<Response<Body>> {
        let mut req = self.agent.get(url);
        for (k, v) in query {
            req = req.query(*k, v);
        }
        if let Some(a) = self.auth() {
            req = req.header("Authorization", a);
        }
        check(url, req.call())
    }

    /// `POST path` with a JSON body, returning the JSON answer.
    pub fn post_json(&self, path: &str, body: &Value) -> Result<Value> {
        self.send_bytes(
            "POST",
            path,
            "application/json",
            body.to_string().into_bytes(),
        )
    }

    /// `PUT path` with a JSON body, returning the JSON answer.
    pub fn put_json(&self, path: &str, body: &Value) -> Result<Value> {
        self.send_bytes(
            "PUT",
            path,
            "application/json",
            body.to_string().into_bytes(),
        )
    }

    /// Sends `body` with `method` (POST or PUT) and the given content type.
    pub fn send_bytes(
        &self,
        method: &str,
        path: &str,
        content_type: &str,
        body: Vec<u8>,
    ) -> Result<Value> {
        let url = self.url(path);
        let mut req = if method == "PUT" {
            self.agent.put(&url)
        } else {
            self.agent.post(&url)
        };
        if let Some(a) = self.auth() {
            req = req.header("Authorization", a);
        }
        let resp = check(&url, req.content_type(content_type).send(body))?;
        read_json(&url, resp)
    }
}

/// Maps transport errors and non-2xx statuses to [`CliError`].
/// The CA certificates in the PEM file `path` (`--cacert`).
fn ca_certificates(path: &Path) -> Result<Vec<Certificate<'static>>> {
    let bad = |why: String| CliError::Input(format!("--cacert {}: {why}", path.display()));
    let pem = std::fs::read(path).map_err(|e| bad(format!("cannot read: {e}")))?;
    let mut certs = Vec::new();
    for item in parse_pem(&pem) {
        match item {
            Ok(PemItem::Certificate(c)) => certs.push(c),
            Ok(_) => {}
            Err(e) => return Err(bad(format!("not a PEM file: {e}"))),
        }
    }
    if certs.is_empty() {
        return Err(bad("holds no PEM CERTIFICATE block".into()));
    }
    Ok(certs)
}

fn check(
    url: &str,
    res: std::result::Result<Response<Body>, ureq::Error>,
) -> Result<Response<Body>> {
    let resp = res.map_err(|e| transport_error(url, e))?;
    let status = resp.status().as_u16();
    if (200..300).contains(&status) {
        return Ok(resp);
    }
    let retry_after = resp
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let mut text = String::new();
    // The error body is small; cap what is read from a misbehaving server.
    let _ = resp
        .into_body()
        .into_reader()
        .take(1 << 20)
        .read_to_string(&mut text);
    Err(server_error(status, &text, retry_after))
}

/// Builds the error for a non-2xx answer from its body text.
pub fn server_error(status: u16, text: &str, retry_after: Option<String>) -> CliError {
    let parsed: Option<Value> = serde_json::from_str(text).ok();
    let e = parsed.as_ref().and_then(|v| v.get("error"));
    let s = |k: &str| {
        e.and_then(|e| e.get(k))
            .and_then(Value::as_str)
            .map(str::to_owned)
    };
    match e {
        Some(_) => CliError::Server {
            status,
            code: s("code").unwrap_or_else(|| "unknown".into()),
            message: s("message").unwrap_or_default(),
            field: s("field").filter(|f| !f.is_empty()),
            retry_after,
        },
        None => CliError::Server {
            status,
            code: format!("http_{status}"),
            message: text.trim().chars().take(500).collect(),
            field: None,
            retry_after,
        },
    }
}

fn transport_error(url: &str, e: ureq::Error) -> CliError {
    use std::io::ErrorKind;
    let connect = |detail: String| CliError::Connect {
        url: url.to_owned(),
        detail,
    };
    match e {
        ureq::Error::Io(io) => match io.kind() {
            ErrorKind::ConnectionRefused => connect("connection refused".into()),
            ErrorKind::ConnectionReset | ErrorKind::ConnectionAborted => {
                connect(format!("connection lost: {io}"))
            }
            _ => CliError::Http {
                url: url.to_owned(),
                detail: io.to_string(),
            },
        },
        ureq::Error::ConnectionFailed => connect("connection failed".into()),
        ureq::Error::HostNotFound => connect("host not found".into()),
        ureq::Error::Timeout(t) => connect(format!("timed out ({t})")),
        other => CliError::Http {
            url: url.to_owned(),
            detail: other.to_string(),
        },
    }
}

fn read_json(url: &str, resp: Response<Body>) -> Result<Value> {
    let reader = BufReader::new(resp.into_body().into_reader());
    serde_json::from_reader(reader).map_err(|e| CliError::Http {
        url: url.to_owned(),
        detail: format!("the server's answer is not valid JSON: {e}"),
    })
}
