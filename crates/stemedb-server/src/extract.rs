//! Request extraction with our error bodies: JSON and NDJSON bodies
//! (Content-Type, size limit, malformed JSON with line/column and the field
//! path), query parameters (unknown and duplicate names refused) and path
//! segments.

use axum::body::Bytes;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{FromRequest, Path, Query, Request};
use axum::http::{StatusCode, header};
use serde_json::Value;
use stemedb_records::hlc::Hlc;
use stemedb_records::{SignedRecord, wire};

use crate::error::ApiError;

/// How a request body is encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// `application/json`.
    Json,
    /// `application/x-ndjson`: one JSON value per line.
    Ndjson,
}

fn encoding(req: &Request) -> Result<Encoding, ApiError> {
    let ct = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let essence = ct
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    match essence.as_str() {
        "application/json" => Ok(Encoding::Json),
        "application/x-ndjson" | "application/ndjson" => Ok(Encoding::Ndjson),
        _ => Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            format!(
                "expected Content-Type: application/json (or application/x-ndjson for batches), got {:?}",
                ct
            ),
        )
        .field("content-type")),
    }
}

async fn bytes<S: Send + Sync>(req: Request, state: &S) -> Result<Bytes, ApiError> {
    Bytes::from_request(req, state).await.map_err(|r| {
        if r.status() == StatusCode::PAYLOAD_TOO_LARGE {
            too_large("request body exceeds the limit (api.max_body_bytes)")
        } else {
            ApiError::bad("bad_body", "body", r.body_text())
        }
    })
}

/// 413 `too_large`.
pub fn too_large(message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "too_large", message).field("body")
}

/// A JSON request body (Content-Type `application/json`) parsed to a value.
#[derive(Debug)]
pub struct JsonBody(pub Value);

impl<S: Send + Sync> FromRequest<S> for JsonBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        if encoding(&req)? != Encoding::Json {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "this endpoint takes one JSON document (Content-Type: application/json)",
            )
            .field("content-type"));
        }
        let b = bytes(req, state).await?;
        parse_json(&b).map(JsonBody)
    }
}

/// A batch body: a JSON array, or NDJSON (one record per line, each parsed
/// on its own so one malformed line fails only its item). NDJSON lines stay
/// text until [`BatchItem::parse`], which runs off the async workers.
#[derive(Debug)]
pub struct BatchBody(pub Vec<BatchItem>);

/// One item of a batch body.
#[derive(Debug)]
pub enum BatchItem {
    /// An element of a JSON array.
    Value(Value),
    /// One NDJSON line, not yet parsed.
    Line(Bytes),
}

impl BatchItem {
    /// The record this item holds. An NDJSON line that is a plain assertion
    /// is read straight from its text ([`wire::parse_assertion_text`]);
    /// anything else, or anything that path declines, goes through the
    /// general parser, which names the field at fault.
    pub fn parse(self, clock: &Hlc) -> Result<SignedRecord, ApiError> {
        match self {
            BatchItem::Value(v) => Ok(wire::parse_record(&v, clock)?),
            BatchItem::Line(text) => match wire::parse_assertion_text(&text, clock) {
                Some(rec) => Ok(rec?),
                None => Ok(wire::parse_record(&parse_json(&text)?, clock)?),
            },
        }
    }
}

impl<S: Send + Sync> FromRequest<S> for BatchBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let enc = encoding(&req)?;
        let b = bytes(req, state).await?;
        match enc {
            Encoding::Json => match parse_json(&b)? {
                Value::Array(items) => {
                    Ok(BatchBody(items.into_iter().map(BatchItem::Value).collect()))
                }
                _ => Err(ApiError::bad(
                    "invalid_type",
                    "body",
                    "a batch is a JSON array of records (or NDJSON with Content-Type: application/x-ndjson)",
                )),
            },
            Encoding::Ndjson => {
                let mut items = Vec::new();
                let mut start = 0;
                for line in b.split(|c| *c == b'\n') {
                    let end = start + line.len();
                    if line.iter().any(|c| !c.is_ascii_whitespace()) {
                        items.push(BatchItem::Line(b.slice(start..end)));
                    }
                    start = end + 1;
                }
                Ok(BatchBody(items))
            }
        }
    }
}

/// Parses JSON text; errors carry serde's line/column and, where it can be
/// told, the dotted path of the field being read.
pub fn parse_json(b: &[u8]) -> Result<Value, ApiError> {
    serde_json::from_slice(b).map_err(|e| {
        let offset = offset_of(b, e.line(), e.column());
        let path = json_path_at(b, offset);
        let text = e.to_string();
        if text.contains("number out of range") {
            let mut err = ApiError::bad(
                "non_finite",
                "body",
                format!("number is not a finite 64-bit float ({text})"),
            );
            err.field = path.or(Some("body".into()));
            err
        } else {
            let mut err =
                ApiError::bad("malformed_json", "body", format!("malformed JSON: {text}"));
            err.field = path.or(Some("body".into()));
            err
        }
    })
}

fn offset_of(b: &[u8], line: usize, column: usize) -> usize {
    let mut off = 0;
    for (i, l) in b.split(|c| *c == b'\n').enumerate() {
        if i + 1 == line {
            return off + column.min(l.len());
        }
        off += l.len() + 1;
    }
    b.len()
}

enum Frame {
    Obj(Option<String>),
    Arr(usize),
}

/// The dotted path (`object.value`, `[3].source.class`) of the value being
/// read at byte `end` of JSON text; `None` at the top level.
pub fn json_path_at(text: &[u8], end: usize) -> Option<String> {
    let end = end.min(text.len());
    let mut stack: Vec<Frame> = Vec::new();
    let mut last_str: Option<String> = None;
    let mut i = 0;
    while i < end {
        match text[i] {
            b'"' => {
                let start = i + 1;
                i += 1;
                while i < text.len() && text[i] != b'"' {
                    if text[i] == b'\\' {
                        i += 1;
                    }
                    i += 1;
                }
                let stop = i.min(text.len()).max(start);
                last_str = Some(String::from_utf8_lossy(&text[start..stop]).into_owned());
            }
            b'{' => stack.push(Frame::Obj(None)),
            b'[' => stack.push(Frame::Arr(0)),
            b'}' | b']' => {
                stack.pop();
            }
            b':' => {
                if let Some(Frame::Obj(k)) = stack.last_mut() {
                    *k = last_str.take();
                }
            }
            b',' => match stack.last_mut() {
                Some(Frame::Arr(n)) => *n += 1,
                Some(Frame::Obj(k)) => *k = None,
                None => {}
            },
            _ => {}
        }
        i += 1;
    }
    let mut path = String::new();
    for f in &stack {
        match f {
            Frame::Obj(Some(k)) => {
                if !path.is_empty() {
                    path.push('.');
                }
                path.push_str(k);
            }
            Frame::Obj(None) => break,
            Frame::Arr(n) => path.push_str(&format!("[{n}]")),
        }
    }
    (!path.is_empty()).then_some(path)
}

/// Query parameters checked against the names an endpoint accepts.
#[derive(Debug, Default)]
pub struct Params(Vec<(String, String)>);

impl Params {
    /// Refuses unknown and repeated parameters.
    pub fn check(
        q: Result<Query<Vec<(String, String)>>, QueryRejection>,
        allowed: &[&str],
    ) -> Result<Self, ApiError> {
        let Query(pairs) = q.map_err(|e| ApiError::bad("invalid_query", "query", e.body_text()))?;
        for (i, (k, _)) in pairs.iter().enumerate() {
            if !allowed.contains(&k.as_str()) {
                return Err(ApiError::bad(
                    "unknown_param",
                    k,
                    format!(
                        "unknown query parameter; expected one of: {}",
                        allowed.join(", ")
                    ),
                ));
            }
            if pairs[..i].iter().any(|(p, _)| p == k) {
                return Err(ApiError::bad("duplicate_param", k, "given more than once"));
            }
        }
        Ok(Params(pairs))
    }

    /// A parameter's text, if given.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// A parameter parsed with `f`; a parse failure is a 400 naming it.
    pub fn parse<T>(
        &self,
        name: &str,
        what: &str,
        f: impl FnOnce(&str) -> Option<T>,
    ) -> Result<Option<T>, ApiError> {
        match self.get(name) {
            None => Ok(None),
            Some(v) => f(v).map(Some).ok_or_else(|| {
                ApiError::bad("invalid_param", name, format!("must be {what}, got {v:?}"))
            }),
        }
    }

    /// An integer parameter.
    pub fn int(&self, name: &str) -> Result<Option<i64>, ApiError> {
        self.parse(name, "an integer", |v| v.parse().ok())
    }

    /// A page size `1..=max`, default `default`.
    pub fn limit(&self, default: usize, max: usize) -> Result<usize, ApiError> {
        Ok(self
            .parse("limit", &format!("an integer in 1..={max}"), |v| {
                v.parse::<usize>().ok().filter(|n| (1..=max).contains(n))
            })?
            .unwrap_or(default))
    }
}

/// A path segment, with a 400 naming `field` when it cannot be decoded.
pub fn path_param(p: Result<Path<String>, PathRejection>, field: &str) -> Result<String, ApiError> {
    p.map(|Path(s)| s)
        .map_err(|e| ApiError::bad("invalid_path", field, e.body_text()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_paths_of_errors() {
        let t = br#"{"object": {"type": "number", "value": 1e999}}"#;
        let e = parse_json(t).unwrap_err();
        assert_eq!(e.code, "non_finite");
        assert_eq!(e.field.as_deref(), Some("object.value"));
        let t = b"[{\"a\": 1}, {\"b\": [1, 2, 1e999]}]";
        assert_eq!(
            parse_json(t).unwrap_err().field.as_deref(),
            Some("[1].b[2]")
        );
        let e = parse_json(b"{\"a\": tru}").unwrap_err();
        assert_eq!(e.code, "malformed_json");
        assert!(e.message.contains("line 1"), "{}", e.message);
    }
}
