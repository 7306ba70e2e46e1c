//! A blocking HTTP client for tests that never fails the test by itself:
//! every call returns the status (0 when the request did not complete), the
//! `Retry-After` header and the body.

use std::time::Duration;

use serde_json::Value;

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(10)))
        .build()
        .into()
}

/// (status, Retry-After, body); status 0 when the request failed.
pub fn call(method: &str, url: &str, body: Option<&Value>) -> (u16, Option<String>, String) {
    call_raw(
        method,
        url,
        body.map(|b| ("application/json", b.to_string())),
    )
}

/// Like [`call`] with a raw body and content type.
pub fn call_raw(
    method: &str,
    url: &str,
    body: Option<(&str, String)>,
) -> (u16, Option<String>, String) {
    let a = agent();
    let resp = match (method, body) {
        ("POST", Some((ct, b))) => a.post(url).header("content-type", ct).send(b.as_bytes()),
        ("POST", None) => a.post(url).send_empty(),
        _ => a.get(url).call(),
    };
    match resp {
        Ok(mut r) => {
            let retry = r
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            let status = r.status().as_u16();
            (
                status,
                retry,
                r.body_mut().read_to_string().unwrap_or_default(),
            )
        }
        Err(_) => (0, None, String::new()),
    }
}

/// Parses a body, `Null` when it is not JSON.
pub fn json_of(body: &str) -> Value {
    serde_json::from_str(body).unwrap_or(Value::Null)
}
