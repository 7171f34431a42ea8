//! The web UI: one page (`/`) and its ES modules, stylesheet and icon under `/ui/`, compiled
//! into the binary so a bare `warren` serves it with no build step and no files beside it.
//!
//! The page talks only to the `/api` beside it, with the user's basic-auth credentials, so
//! serving it needs no authentication. Assets are not fingerprinted: every answer carries an
//! ETag (a CRC of the bytes) and `Cache-Control: no-cache`, so a browser revalidates with a
//! cheap 304 and picks up a new binary's UI at once.

use super::Api;
use super::error::ApiError;
use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

/// An embedded file: its path under `/ui/`, content type and bytes.
struct Asset {
    path: &'static str,
    content_type: &'static str,
    bytes: &'static [u8],
}

macro_rules! asset {
    ($path:literal, $content_type:expr) => {
        Asset {
            path: $path,
            content_type: $content_type,
            bytes: include_bytes!(concat!("ui/", $path)),
        }
    };
}

const JS: &str = "text/javascript; charset=utf-8";

static INDEX: Asset = asset!("index.html", "text/html; charset=utf-8");

static ASSETS: &[Asset] = &[
    asset!("style.css", "text/css; charset=utf-8"),
    asset!("favicon.svg", "image/svg+xml"),
    asset!("app.js", JS),
    asset!("api.js", JS),
    asset!("dom.js", JS),
    asset!("chart.js", JS),
    asset!("pages/overview.js", JS),
    asset!("pages/connections.js", JS),
    asset!("pages/exchanges.js", JS),
    asset!("pages/queues.js", JS),
    asset!("pages/admin.js", JS),
];

/// The page may load only its own scripts and styles and talk only to its own origin, so a
/// message payload or object name that slips into markup cannot run anything.
const CSP: &str = "default-src 'self'; img-src 'self' data:; style-src 'self'; \
    script-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'";

pub fn routes() -> Router<Api> {
    Router::new()
        .route("/", get(index))
        .route("/ui/{*path}", get(asset))
}

async fn index(headers: HeaderMap) -> Response {
    serve(&INDEX, &headers)
}

async fn asset(Path(path): Path<String>, headers: HeaderMap) -> Response {
    match ASSETS.iter().find(|a| a.path == path) {
        Some(a) => serve(a, &headers),
        None => ApiError::not_found().into_response(),
    }
}

fn serve(asset: &Asset, request: &HeaderMap) -> Response {
    let etag = format!("\"{:08x}\"", crc32c::crc32c(asset.bytes));
    let fresh = request
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag));
    let mut r = if fresh {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        (
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static(asset.content_type),
            )],
            asset.bytes,
        )
            .into_response()
    };
    let h = r.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&etag) {
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
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_module_the_page_imports_is_served() {
        // Each `from "./x.js"` / `from "../x.js"` in an embedded module names an asset.
        for a in ASSETS.iter().filter(|a| a.content_type == JS) {
            let text = std::str::from_utf8(a.bytes).expect("UTF-8 module");
            let dir = a.path.rsplit_once('/').map_or("", |(d, _)| d);
            for spec in text.split("from \"").skip(1) {
                let spec = spec.split('"').next().unwrap_or("");
                let resolved = if let Some(rest) = spec.strip_prefix("../") {
                    rest.to_owned()
                } else if let Some(rest) = spec.strip_prefix("./") {
                    if dir.is_empty() {
                        rest.to_owned()
                    } else {
                        format!("{dir}/{rest}")
                    }
                } else {
                    panic!("{}: import of {spec} is not relative", a.path);
                };
                assert!(
                    ASSETS.iter().any(|x| x.path == resolved),
                    "{} imports {spec}, which is not embedded",
                    a.path
                );
            }
        }
    }

    #[test]
    fn the_index_loads_embedded_files() {
        let html = std::str::from_utf8(INDEX.bytes).expect("UTF-8");
        for part in html.split("\"/ui/").skip(1) {
            let path = part.split('"').next().unwrap_or("");
            assert!(ASSETS.iter().any(|a| a.path == path), "{path} not embedded");
        }
    }
}
