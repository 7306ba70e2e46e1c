//! The web console: `GET /` and every `GET /console/...` deep link answer the
//! same HTML shell, `GET /console/assets/{file}` the embedded CSS/JS/SVG
//! (compiled into the binary from `crates/stemedb-server/console/`), and
//! `GET /v1/cluster/status` the cluster status on the API port, which the
//! console's cluster page reads.
//!
//! Assets carry a content hash as `ETag` and `Cache-Control: no-cache`, so a
//! browser revalidates each load and gets `304` while the binary is the same.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::OnceLock;

use axum::Json;
use axum::Router;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};

use crate::error::ApiError;
use crate::extract::path_param;
use crate::openapi::{ClusterStatus, ErrorBody};
use crate::state::AppState;

/// One embedded file.
struct Asset {
    name: &'static str,
    content_type: &'static str,
    body: &'static [u8],
}

const SHELL: Asset = Asset {
    name: "index.html",
    content_type: "text/html; charset=utf-8",
    body: include_bytes!("../../console/index.html"),
};

/// Every file under `/console/assets/`.
const ASSETS: [Asset; 4] = [
    Asset {
        name: "console.css",
        content_type: "text/css; charset=utf-8",
        body: include_bytes!("../../console/console.css"),
    },
    Asset {
        name: "app.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../../console/app.js"),
    },
    Asset {
        name: "charts.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../../console/charts.js"),
    },
    Asset {
        name: "favicon.svg",
        content_type: "image/svg+xml",
        body: include_bytes!("../../console/favicon.svg"),
    },
];

/// Only same-origin scripts, styles, images and requests; no framing.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
                   connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// Routes of this group.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(shell))
        .route("/console", get(shell))
        .route("/console/", get(shell))
        .route("/console/assets/{file}", get(asset))
        .route("/console/{*path}", get(deep_link))
        .route("/v1/cluster/status", get(cluster_status))
}

/// Total size in bytes of the console (shell and every asset).
pub fn total_bytes() -> usize {
    SHELL.body.len() + ASSETS.iter().map(|a| a.body.len()).sum::<usize>()
}

fn etag_of(body: &[u8]) -> String {
    let mut h = DefaultHasher::new();
    body.hash(&mut h);
    format!("\"{:016x}-{:x}\"", h.finish(), body.len())
}

/// ETags of the shell and the assets, computed once.
fn etags() -> &'static [String] {
    static TAGS: OnceLock<Vec<String>> = OnceLock::new();
    TAGS.get_or_init(|| {
        std::iter::once(&SHELL)
            .chain(ASSETS.iter())
            .map(|a| etag_of(a.body))
            .collect()
    })
}

fn serve_asset(index: usize, asset: &Asset, headers: &HeaderMap) -> Response {
    let tag = etags().get(index).cloned().unwrap_or_default();
    let matches = headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| {
            let t = t.trim();
            t == "*" || t.trim_start_matches("W/") == tag
        });
    let mut resp = if matches {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        (
            [(header::CONTENT_TYPE, asset.content_type)],
            asset.body.to_vec(),
        )
            .into_response()
    };
    let h = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&tag) {
        h.insert(header::ETAG, v);
    }
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    resp
}

/// The console's HTML shell (search page; the script renders the view the path names).
#[utoipa::path(get, path = "/", tag = "console",
    responses(
        (status = 200, description = "The console's HTML shell (with ETag, Cache-Control: no-cache)", content_type = "text/html", body = String),
        (status = 304, description = "Not modified (If-None-Match matched the ETag)"),
    ))]
pub async fn shell(headers: HeaderMap) -> Response {
    serve_asset(0, &SHELL, &headers)
}

/// A console deep link (`/console/subjects/{subject}`, `/console/records/{id}`,
/// `/console/cluster`): the same HTML shell; the script renders the view.
#[utoipa::path(get, path = "/console/{path}", tag = "console",
    params(("path" = String, Path, description = "Console view path, e.g. `subjects/drug%3Asemaglutide`, `records/<64 hex>`, `cluster`")),
    responses(
        (status = 200, description = "The console's HTML shell", content_type = "text/html", body = String),
        (status = 304, description = "Not modified (If-None-Match matched the ETag)"),
    ))]
pub async fn deep_link(headers: HeaderMap) -> Response {
    serve_asset(0, &SHELL, &headers)
}

/// A console asset embedded in the binary (`app.js`, `charts.js`, `console.css`, `favicon.svg`).
#[utoipa::path(get, path = "/console/assets/{file}", tag = "console",
    params(("file" = String, Path, description = "Asset file name")),
    responses(
        (status = 200, description = "The file, with its content type, ETag and Cache-Control: no-cache", content_type = "text/javascript", body = String),
        (status = 304, description = "Not modified (If-None-Match matched the ETag)"),
        (status = 404, description = "No such asset", body = ErrorBody),
    ))]
pub async fn asset(
    file: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let file = path_param(file, "file")?;
    ASSETS
        .iter()
        .enumerate()
        .find(|(_, a)| a.name == file)
        .map(|(i, a)| serve_asset(i + 1, a, &headers))
        .ok_or_else(|| ApiError::not_found(format!("no console asset {file:?}")).field("file"))
}

/// Cluster status on the API port: in cluster mode the same JSON as the
/// gateway's `GET /cluster/status` (node, mode, quorum, members, replication
/// with hints and lag, partitions); on a single node `{"mode": "single"}` with
/// empty members and partitions and null cluster fields.
#[utoipa::path(get, path = "/v1/cluster/status", tag = "ops",
    responses((status = 200, description = "Cluster status, or the single-node state", body = ClusterStatus)))]
pub async fn cluster_status(State(state): State<AppState>) -> Json<Value> {
    match &state.cluster {
        Some(c) => Json(c.status_json()),
        None => Json(json!({
            "node_id": null,
            "mode": "single",
            "quorum": null,
            "members": [],
            "replication": null,
            "partitions": [],
        })),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn console_is_self_contained_and_small() {
        let mut all = String::new();
        for a in std::iter::once(&SHELL).chain(ASSETS.iter()) {
            let text = std::str::from_utf8(a.body).expect("utf-8 asset");
            all.push_str(text);
        }
        // The SVG namespace is a name, not a fetch.
        let all = all.replace("http://www.w3.org/2000/svg", "");
        for external in ["http://", "https://", "//cdn", "@import"] {
            assert!(
                !all.contains(external),
                "console references {external}: assets must come from the binary"
            );
        }
        assert!(
            total_bytes() <= 200 * 1024,
            "console is {} bytes",
            total_bytes()
        );
        let shell = std::str::from_utf8(SHELL.body).expect("utf-8");
        for a in &ASSETS {
            if a.name.ends_with(".js") && a.name != "app.js" {
                continue;
            }
            assert!(
                shell.contains(&format!("/console/assets/{}", a.name)),
                "shell does not load {}",
                a.name
            );
        }
    }

    #[test]
    fn etags_differ_per_content() {
        assert_ne!(etag_of(b"a"), etag_of(b"b"));
        assert_eq!(etag_of(b"a"), etag_of(b"a"));
    }
}
