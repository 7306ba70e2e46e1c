//! `GET /api-doc/openapi.json` and `GET /docs`: the OpenAPI document and a
//! self-contained HTML page generated from it (no external assets).

use std::fmt::Write as _;

use axum::Router;
use axum::extract::State;
use axum::http::header;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use serde_json::Value;

use crate::state::AppState;

/// Routes of this group.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api-doc/openapi.json", get(openapi_json))
        .route("/docs", get(docs_page))
}

/// The OpenAPI 3.1 document.
#[utoipa::path(get, path = "/api-doc/openapi.json", tag = "ops",
    responses((status = 200, description = "OpenAPI 3.1 JSON", content_type = "application/json", body = Object)))]
pub async fn openapi_json(State(state): State<AppState>) -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        state.openapi_json.as_str().to_owned(),
    )
        .into_response()
}

/// Human-readable API reference generated from the OpenAPI document.
#[utoipa::path(get, path = "/docs", tag = "ops",
    responses((status = 200, description = "HTML page", content_type = "text/html", body = String)))]
pub async fn docs_page(State(state): State<AppState>) -> Html<String> {
    Html(state.docs_html.as_str().to_owned())
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn str_of<'a>(v: &'a Value, k: &str) -> &'a str {
    v.get(k).and_then(Value::as_str).unwrap_or("")
}

/// A short type description of a schema, with links to named schemas.
fn type_of(s: &Value) -> String {
    if let Some(r) = s.get("$ref").and_then(Value::as_str) {
        let name = r.rsplit('/').next().unwrap_or(r);
        return format!("<a href=\"#schema-{0}\">{0}</a>", esc(name));
    }
    for key in ["oneOf", "anyOf", "allOf"] {
        if let Some(alts) = s.get(key).and_then(Value::as_array) {
            return alts.iter().map(type_of).collect::<Vec<_>>().join(" | ");
        }
    }
    let ty = match s.get("type") {
        Some(Value::String(t)) => t.clone(),
        Some(Value::Array(ts)) => ts
            .iter()
            .filter_map(Value::as_str)
            .collect::<Vec<_>>()
            .join(" | "),
        _ => "any".into(),
    };
    if ty.starts_with("array")
        && let Some(items) = s.get("items")
    {
        return format!("array of {}", type_of(items));
    }
    esc(&ty)
}

fn paragraphs(out: &mut String, text: &str) {
    for p in text.split("\n\n").filter(|p| !p.trim().is_empty()) {
        let _ = write!(out, "<p>{}</p>", esc(p.trim()));
    }
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#222;line-height:1.45}\
code,.path{font-family:ui-monospace,monospace}h2{border-bottom:1px solid #ccc;padding-bottom:.2rem;margin-top:2.5rem}\
.op{border:1px solid #ddd;border-radius:6px;padding:.6rem 1rem;margin:1rem 0}\
.m{display:inline-block;min-width:4rem;font-weight:bold;color:#fff;border-radius:4px;text-align:center;padding:0 .4rem;margin-right:.5rem}\
.get{background:#2a7ab0}.post{background:#2f8f46}.put{background:#b07a2a}.delete{background:#b03a2a}\
table{border-collapse:collapse;width:100%;margin:.4rem 0}td,th{border:1px solid #ddd;padding:.25rem .5rem;text-align:left;vertical-align:top}th{background:#f4f4f4}";

/// Renders the docs page from an OpenAPI JSON document.
pub fn render_html(doc: &Value) -> String {
    let info = doc.get("info").cloned().unwrap_or(Value::Null);
    let title = str_of(&info, "title");
    let mut out = String::new();
    let _ = write!(
        out,
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{t}</title><style>{STYLE}</style></head><body><h1>{t} <small>{v}</small></h1>",
        t = esc(title),
        v = esc(str_of(&info, "version"))
    );
    paragraphs(&mut out, str_of(&info, "description"));
    out.push_str("<p>Machine-readable: <a href=\"/api-doc/openapi.json\">/api-doc/openapi.json</a> (OpenAPI 3.1).</p>");
    let empty = serde_json::Map::new();
    let paths = doc
        .get("paths")
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    let mut ops = Vec::new();
    for (path, item) in paths {
        for (method, op) in item.as_object().unwrap_or(&empty) {
            ops.push((path.as_str(), method.as_str(), op));
        }
    }
    out.push_str("<h2>Endpoints</h2><ul>");
    for (i, (path, method, op)) in ops.iter().enumerate() {
        let _ = write!(
            out,
            "<li><a href=\"#op-{i}\"><code>{} {}</code></a> — {}</li>",
            esc(&method.to_uppercase()),
            esc(path),
            esc(str_of(op, "summary"))
        );
    }
    out.push_str("</ul>");
    for (i, (path, method, op)) in ops.iter().enumerate() {
        let _ = write!(
            out,
            "<div class=\"op\" id=\"op-{i}\"><h3><span class=\"m {m}\">{M}</span><span class=\"path\">{p}</span></h3>",
            m = esc(method),
            M = esc(&method.to_uppercase()),
            p = esc(path)
        );
        let _ = write!(out, "<p><b>{}</b></p>", esc(str_of(op, "summary")));
        paragraphs(&mut out, str_of(op, "description"));
        if let Some(params) = op.get("parameters").and_then(Value::as_array) {
            out.push_str("<table><tr><th>Parameter</th><th>In</th><th>Type</th><th>Required</th><th>Description</th></tr>");
            for p in params {
                let _ = write!(
                    out,
                    "<tr><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                    esc(str_of(p, "name")),
                    esc(str_of(p, "in")),
                    p.get("schema").map(type_of).unwrap_or_default(),
                    if p.get("required").and_then(Value::as_bool).unwrap_or(false) {
                        "yes"
                    } else {
                        "no"
                    },
                    esc(str_of(p, "description"))
                );
            }
            out.push_str("</table>");
        }
        if let Some(body) = op.get("requestBody") {
            out.push_str("<p>Request body:</p><ul>");
            for (ct, c) in body
                .get("content")
                .and_then(Value::as_object)
                .unwrap_or(&empty)
            {
                let _ = write!(
                    out,
                    "<li><code>{}</code>: {}</li>",
                    esc(ct),
                    c.get("schema").map(type_of).unwrap_or_default()
                );
            }
            out.push_str("</ul>");
            paragraphs(&mut out, str_of(body, "description"));
        }
        out.push_str("<table><tr><th>Status</th><th>Description</th><th>Body</th></tr>");
        for (code, r) in op
            .get("responses")
            .and_then(Value::as_object)
            .unwrap_or(&empty)
        {
            let body: Vec<String> = r
                .get("content")
                .and_then(Value::as_object)
                .unwrap_or(&empty)
                .iter()
                .map(|(ct, c)| {
                    format!(
                        "<code>{}</code> {}",
                        esc(ct),
                        c.get("schema").map(type_of).unwrap_or_default()
                    )
                })
                .collect();
            let _ = write!(
                out,
                "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(code),
                esc(str_of(r, "description")),
                body.join("<br>")
            );
        }
        out.push_str("</table></div>");
    }
    out.push_str("<h2>Schemas</h2>");
    let schemas = doc
        .pointer("/components/schemas")
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    for (name, s) in schemas {
        let _ = write!(out, "<h3 id=\"schema-{0}\">{0}</h3>", esc(name));
        paragraphs(&mut out, str_of(s, "description"));
        let required: Vec<&str> = s
            .get("required")
            .and_then(Value::as_array)
            .map(|r| r.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        if let Some(props) = s.get("properties").and_then(Value::as_object) {
            out.push_str(
                "<table><tr><th>Field</th><th>Type</th><th>Required</th><th>Description</th></tr>",
            );
            for (field, p) in props {
                let _ = write!(
                    out,
                    "<tr><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td></tr>",
                    esc(field),
                    type_of(p),
                    if required.contains(&field.as_str()) {
                        "yes"
                    } else {
                        "no"
                    },
                    esc(str_of(p, "description"))
                );
            }
            out.push_str("</table>");
        }
    }
    out.push_str("</body></html>");
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn docs_page_lists_every_path_and_loads_nothing_external() {
        let doc = crate::openapi::document();
        assert_eq!(
            doc["openapi"].as_str().map(|v| v.starts_with("3.1")),
            Some(true)
        );
        let html = super::render_html(&doc);
        for path in doc["paths"].as_object().unwrap().keys() {
            assert!(html.contains(&super::esc(path)), "{path} missing");
        }
        assert!(!html.contains("<script"), "no scripts");
        assert!(
            !html.contains("http://") && !html.contains("https://"),
            "no external assets"
        );
    }
}
