//! Security headers on every kind of response: the chat page and the other pages, `/health`,
//! every error the server answers (404, 405, 413, 415, 421, an OpenAI error), a stream and an
//! asset.

use crate::common;

use common::{client, greedy_chat, shared_app, spawn_app};
use serde_json::json;

const CSP: &str = "default-src 'self'; script-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; img-src 'self' data:";

/// The headers every response carries, and `Cache-Control: no-store` but on static assets.
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
    assert_eq!(header("x-frame-options"), "DENY", "{what}");
    if !what.starts_with("asset") {
        assert_eq!(header("cache-control"), "no-store", "{what}");
    }
}

#[tokio::test]
async fn pages_errors_streams_and_assets_carry_the_security_headers() {
    let app = shared_app().await;
    let get = |path: &str| client().get(app.url(path)).send();

    let page = get("/login").await.expect("page");
    assert_eq!(page.status(), 200);
    assert_secure(&page, "page");

    for (path, status) in [
        ("/", 303),
        ("/health", 200),
        ("/privacy", 200),
        ("/v1/models", 200),
    ] {
        let response = get(path).await.expect("response");
        assert_eq!(response.status(), status, "{path}");
        assert_secure(&response, path);
    }
    let not_found = get("/no/such/route").await.expect("404");
    assert_eq!(not_found.status(), 404);
    assert_secure(&not_found, "404");
    let wrong_method = get("/v1/chat/completions").await.expect("405");
    assert_eq!(wrong_method.status(), 405);
    assert_secure(&wrong_method, "405");

    let error = client()
        .post(app.url("/v1/chat/completions"))
        .json(&json!({}))
        .send()
        .await
        .expect("error");
    assert_eq!(error.status(), 401);
    assert_secure(&error, "API error");

    let unsupported = client()
        .post(app.url("/v1/chat/completions"))
        .bearer_auth(&app.api_key)
        .header("content-type", "text/plain")
        .body(greedy_chat("hi", 1).to_string())
        .send()
        .await
        .expect("415");
    assert_eq!(unsupported.status(), 415);
    assert_secure(&unsupported, "415");

    let too_large = client()
        .post(app.url("/v1/chat/completions"))
        .bearer_auth(&app.api_key)
        .header("content-type", "application/json")
        .body(vec![b' '; 5 << 20])
        .send()
        .await
        .expect("413");
    assert_eq!(too_large.status(), 413);
    assert_secure(&too_large, "413");

    let mut body = greedy_chat("hi", 3);
    body["stream"] = json!(true);
    let stream = app.post("/v1/chat/completions", body).await;
    assert_eq!(stream.status(), 200);
    assert_secure(&stream, "stream");
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
    let asset = get(stylesheet).await.expect("asset");
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

/// A name the server does not answer to (DNS rebinding) is refused before any route.
#[tokio::test]
async fn a_refused_host_name_carries_the_security_headers() {
    let app = spawn_app(|config| config.allowed_hosts = vec!["sotto.lan".into()]).await;
    let port = app.base.rsplit(':').next().expect("port");
    let refused = client()
        .get(app.url("/login"))
        .header("host", format!("evil.example:{port}"))
        .send()
        .await
        .expect("421");
    assert_eq!(refused.status(), 421);
    assert_secure(&refused, "421");
}
