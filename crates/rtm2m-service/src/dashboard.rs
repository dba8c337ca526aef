//! The dashboard: one page, a stylesheet and a script, embedded in the binary (no CDN, no build step). The
//! page takes its token from the URL fragment (`/#token=...`, never sent to the server in a request line)
//! or asks for it, then reads the API and subscribes to the WebSocket.

use crate::writer::Shared;
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use std::sync::Arc;

/// The page.
pub const INDEX_HTML: &str = include_str!("../assets/index.html");
/// The script.
pub const APP_JS: &str = include_str!("../assets/app.js");
/// The stylesheet.
pub const STYLE_CSS: &str = include_str!("../assets/style.css");

fn asset(body: &'static str, content_type: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
            (header::CONTENT_SECURITY_POLICY, HeaderValue::from_static("default-src 'self'; style-src 'self' 'unsafe-inline'; connect-src 'self' ws: wss:; img-src 'self' data:")),
        ],
        body,
    )
        .into_response()
}

/// The dashboard's routes (no token: the page holds no data; the API calls it makes need one).
pub fn routes() -> Router<Arc<Shared>> {
    Router::new()
        .route(
            "/",
            get(|| async { asset(INDEX_HTML, "text/html; charset=utf-8") }),
        )
        .route(
            "/assets/app.js",
            get(|| async { asset(APP_JS, "text/javascript; charset=utf-8") }),
        )
        .route(
            "/assets/style.css",
            get(|| async { asset(STYLE_CSS, "text/css; charset=utf-8") }),
        )
}
