//! Security headers on every kind of response: a page, an API error, a stream, an asset.

mod common;

use common::{client, greedy_chat, shared_app};
use serde_json::json;

const CSP: &str = "default-src 'self'; script-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; img-src 'self' data:";

fn assert_secure(response: &reqwest::Response, what: &str) {
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned()
    };
    assert!(
        header("content-security-policy").starts_with(CSP),
        "{what}: CSP is {:?}",
        header("content-security-policy")
    );
    assert_eq!(header("x-content-type-options"), "nosniff", "{what}");
    assert_eq!(header("referrer-policy"), "same-origin", "{what}");
}

#[tokio::test]
async fn pages_errors_streams_and_assets_carry_the_security_headers() {
    let app = shared_app().await;

    let page = client().get(app.url("/login")).send().await.expect("page");
    assert_eq!(page.status(), 200);
    assert_secure(&page, "page");
    assert_eq!(page.headers()["cache-control"], "no-store");

    let error = client()
        .post(app.url("/v1/chat/completions"))
        .json(&json!({}))
        .send()
        .await
        .expect("error");
    assert_eq!(error.status(), 401);
    assert_secure(&error, "API error");
    assert_eq!(error.headers()["cache-control"], "no-store");

    let mut body = greedy_chat("hi", 3);
    body["stream"] = json!(true);
    let stream = app.post("/v1/chat/completions", body).await;
    assert_eq!(stream.status(), 200);
    assert_secure(&stream, "stream");
    assert_eq!(stream.headers()["cache-control"], "no-store");
    assert_eq!(stream.headers()["x-accel-buffering"], "no");

    let html = page.text().await.expect("html");
    let stylesheet = html
        .split("href=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("a stylesheet link");
    // `/static/<build digest>/style.css`: one prefix per build (see src/web/assets.rs).
    let build = stylesheet
        .strip_prefix("/static/")
        .and_then(|rest| rest.strip_suffix("/style.css"))
        .unwrap_or_default();
    assert!(
        !build.is_empty() && build.bytes().all(|b| b.is_ascii_hexdigit()),
        "{stylesheet}"
    );
    let asset = client()
        .get(app.url(stylesheet))
        .send()
        .await
        .expect("asset");
    assert_eq!(asset.status(), 200);
    assert_secure(&asset, "asset");
    assert_eq!(
        asset.headers()["cache-control"],
        "public, max-age=31536000, immutable"
    );
    assert!(asset.headers()["content-type"]
        .to_str()
        .unwrap_or("")
        .starts_with("text/css"));
}
