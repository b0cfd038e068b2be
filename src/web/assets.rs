//! Static assets, embedded in the binary (the Docker image and `make run` need no `static/`
//! directory at run time). URLs carry a content hash, so assets can be cached for a year and a
//! new build is still picked up at once.

use std::collections::HashMap;
use std::sync::OnceLock;

use axum::extract::Path;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use include_dir::{include_dir, Dir};
use sha2::{Digest, Sha256};

static STATIC: Dir<'static> = include_dir!("$CARGO_MANIFEST_DIR/static");

/// Asset path → first 12 hex digits of its SHA-256.
fn versions() -> &'static HashMap<String, String> {
    static VERSIONS: OnceLock<HashMap<String, String>> = OnceLock::new();
    VERSIONS.get_or_init(|| {
        let mut versions = HashMap::new();
        collect(&STATIC, &mut versions);
        versions
    })
}

fn collect(dir: &'static Dir<'static>, versions: &mut HashMap<String, String>) {
    for file in dir.files() {
        let digest = Sha256::digest(file.contents());
        let hex: String = digest.iter().take(6).map(|b| format!("{b:02x}")).collect();
        versions.insert(file.path().to_string_lossy().into_owned(), hex);
    }
    for sub in dir.dirs() {
        collect(sub, versions);
    }
}

/// The versioned URL of an asset, for templates.
pub fn url(path: &str) -> String {
    match versions().get(path) {
        Some(version) => format!("/static/{path}?v={version}"),
        None => format!("/static/{path}"),
    }
}

pub async fn get(Path(path): Path<String>) -> Response {
    let Some(file) = STATIC.get_file(&path) else {
        return (StatusCode::NOT_FOUND, "not found").into_response();
    };
    let mut response = file.contents().into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(content_type(&path)),
    );
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=31536000, immutable"),
    );
    response
}

fn content_type(path: &str) -> &'static str {
    match path.rsplit_once('.').map(|(_, ext)| ext) {
        Some("css") => "text/css; charset=utf-8",
        Some("js" | "mjs") => "text/javascript; charset=utf-8",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("ico") => "image/x-icon",
        Some("json") => "application/json",
        Some("txt" | "md") => "text/plain; charset=utf-8",
        Some("woff2") => "font/woff2",
        _ => "application/octet-stream",
    }
}
