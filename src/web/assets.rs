//! Static assets, embedded in the binary (the Docker image and `make run` need no `static/`
//! directory at run time), served as `/static/<build>/<path>`.
//!
//! `<build>` is ONE digest of the whole embedded tree, not one per file: the chat page's ES
//! modules import each other by relative paths (`./state.js`), which resolve against the
//! importing module's URL and carry no query string. Under one prefix per build, every module a
//! page loads comes from the same build, so all of them can be cached for a year as immutable,
//! and a new build is still picked up at once (its pages name a new prefix). A URL under any
//! other prefix (a page of an earlier build still open in a tab) gets a 404 that says so.

use std::sync::OnceLock;

use axum::extract::Path;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use include_dir::{include_dir, Dir};
use sha2::{Digest, Sha256};

static STATIC: Dir<'static> = include_dir!("$CARGO_MANIFEST_DIR/static");

/// Hex digits of the build digest in URLs: 64 bits tell builds apart.
const BUILD_HEX_LEN: usize = 16;

/// The digest of every embedded file, computed once.
fn build() -> &'static str {
    static BUILD: OnceLock<String> = OnceLock::new();
    BUILD.get_or_init(|| {
        let mut files = Vec::new();
        collect(&STATIC, &mut files);
        tree_digest(files)
    })
}

fn collect(dir: &'static Dir<'static>, files: &mut Vec<(String, &'static [u8])>) {
    for file in dir.files() {
        files.push((file.path().to_string_lossy().into_owned(), file.contents()));
    }
    for sub in dir.dirs() {
        collect(sub, files);
    }
}

/// SHA-256 over every (path, contents) pair in path order, each part length-prefixed so that
/// no two different trees feed the hash the same bytes (a renamed file changes it too).
fn tree_digest(mut files: Vec<(String, &[u8])>) -> String {
    files.sort_by(|a, b| a.0.cmp(&b.0));
    let mut hasher = Sha256::new();
    for (path, contents) in &files {
        hasher.update((path.len() as u64).to_le_bytes());
        hasher.update(path.as_bytes());
        hasher.update((contents.len() as u64).to_le_bytes());
        hasher.update(contents);
    }
    let hex = format!("{:x}", hasher.finalize());
    hex[..BUILD_HEX_LEN].to_owned()
}

/// The URL of an asset, for templates: `/static/<build>/<path>`.
pub fn url(path: &str) -> String {
    format!("/static/{}/{path}", build())
}

/// `GET /static/{*path}`: `path` is `<build>/<file>`.
pub async fn get(Path(path): Path<String>) -> Response {
    let Some((prefix, file_path)) = path.split_once('/') else {
        return not_found("No such file.");
    };
    if prefix != build() {
        return not_found(
            "This file belongs to another version of sotto than the one running now: reload the page.",
        );
    }
    let Some(file) = STATIC.get_file(file_path) else {
        return not_found("No such file.");
    };
    let mut response = file.contents().into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(content_type(file_path)),
    );
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=31536000, immutable"),
    );
    response
}

/// Plain text; not cached (the security headers add `no-store`), so a later build can serve it.
fn not_found(text: &'static str) -> Response {
    (StatusCode::NOT_FOUND, text).into_response()
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

#[cfg(test)]
mod tests {
    use super::*;

    fn digest(files: &[(&str, &'static [u8])]) -> String {
        tree_digest(files.iter().map(|(p, c)| (p.to_string(), *c)).collect())
    }

    #[test]
    fn the_digest_covers_every_file_its_path_and_nothing_else() {
        let base = digest(&[("app/a.js", b"one"), ("app/b.js", b"two")]);
        assert_eq!(base.len(), BUILD_HEX_LEN);
        assert!(base.bytes().all(|b| b.is_ascii_hexdigit()));
        // The order files are listed in does not matter.
        assert_eq!(base, digest(&[("app/b.js", b"two"), ("app/a.js", b"one")]));
        // Any change does: contents, a name, a file added.
        assert_ne!(base, digest(&[("app/a.js", b"one"), ("app/b.js", b"tw0")]));
        assert_ne!(base, digest(&[("app/a.js", b"one"), ("app/c.js", b"two")]));
        assert_ne!(
            base,
            digest(&[("app/a.js", b"one"), ("app/b.js", b"two"), ("x", b"")])
        );
        // Moving bytes between a name and its contents does too.
        assert_ne!(digest(&[("ab", b"c")]), digest(&[("a", b"bc")]));
    }

    #[test]
    fn urls_share_one_prefix_so_relative_imports_stay_in_the_build() {
        let main = url("app/main.js");
        let css = url("chat.css");
        let prefix = format!("/static/{}/", build());
        assert_eq!(main, format!("{prefix}app/main.js"));
        assert_eq!(css, format!("{prefix}chat.css"));
        assert!(
            !main.contains('?'),
            "no query: a relative import would drop it"
        );
    }

    /// Every asset a template names is embedded (a typo would only show as a 404 in a browser).
    #[test]
    fn every_asset_named_in_a_template_exists() {
        let templates = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("templates");
        let mut named = 0;
        for entry in std::fs::read_dir(templates).expect("templates/") {
            let text = std::fs::read_to_string(entry.expect("entry").path()).expect("template");
            for rest in text.split("assets::url(\"").skip(1) {
                let path = rest.split('"').next().expect("a closing quote");
                assert!(STATIC.get_file(path).is_some(), "{path} is not in static/");
                named += 1;
            }
        }
        assert!(
            named > 0,
            "the templates name their assets through assets::url"
        );
    }

    async fn fetch(path: &str) -> Response {
        get(Path(path.to_owned())).await
    }

    #[tokio::test]
    async fn the_current_build_is_served_immutable() {
        let response = fetch(&format!("{}/app/main.js", build())).await;
        assert_eq!(response.status(), StatusCode::OK);
        let headers = response.headers();
        assert_eq!(
            headers[header::CACHE_CONTROL],
            "public, max-age=31536000, immutable"
        );
        assert_eq!(
            headers[header::CONTENT_TYPE],
            "text/javascript; charset=utf-8"
        );
    }

    #[tokio::test]
    async fn another_build_a_missing_prefix_or_file_is_not_found() {
        let other = "0".repeat(BUILD_HEX_LEN);
        assert_ne!(other, build());
        for path in [
            format!("{other}/app/main.js"),
            "app/main.js".to_owned(),
            "chat.css".to_owned(),
            format!("{}/app/nothing-here.js", build()),
            format!("{}/", build()),
        ] {
            let response = fetch(&path).await;
            assert_eq!(response.status(), StatusCode::NOT_FOUND, "{path}");
            assert!(
                !response.headers().contains_key(header::CACHE_CONTROL),
                "{path}: a 404 must not be cached for a year"
            );
        }
        let outdated = fetch(&format!("{other}/app/main.js")).await;
        let text = axum::body::to_bytes(outdated.into_body(), 1024)
            .await
            .expect("body");
        assert!(
            String::from_utf8_lossy(&text).contains("reload the page"),
            "an outdated page is told what to do"
        );
    }
}
