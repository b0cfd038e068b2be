//! Attacks on the transport a security review replayed against the real server: slow and
//! idle connections, DNS rebinding, cross-site API calls, the bearer scheme.

use crate::common;

use std::time::{Duration, Instant};

use common::process::ServerProcess;
use common::{client, spawn_app};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Sends `request` as written on a new connection and returns the whole answer as text.
async fn raw(base: &str, request: &str) -> String {
    let address = base.trim_start_matches("http://");
    let mut stream = TcpStream::connect(address).await.expect("connect");
    stream.write_all(request.as_bytes()).await.expect("write");
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(60), stream.read_to_end(&mut answer))
        .await
        .expect("the server answers")
        .expect("read");
    String::from_utf8_lossy(&answer).into_owned()
}

fn status_of(answer: &str) -> u16 {
    answer
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_and_idle_connections_are_closed_under_a_low_file_limit() {
    let root = tempfile::tempdir().expect("root");
    let args = ["--max-connections", "200", "--header-timeout-secs", "2"];
    let server = ServerProcess::start(root.path(), &args, Some(256));
    common::wait_model_ready(&server.base).await;
    let address = server.base.trim_start_matches("http://").to_owned();

    // More half-sent requests than the process has descriptors.
    let mut stalled = Vec::new();
    for _ in 0..300 {
        let mut stream = TcpStream::connect(&address).await.expect("connect");
        stream
            .write_all(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
            .await
            .expect("write");
        stalled.push(stream);
    }
    let served = client()
        .get(format!("{}/health", server.base))
        .send()
        .await
        .expect("a normal request is served");
    assert_eq!(served.status(), 200);

    let deadline = Instant::now() + Duration::from_secs(60);
    for mut stream in stalled {
        let left = deadline.saturating_duration_since(Instant::now());
        let mut byte = [0u8; 64];
        let closed = tokio::time::timeout(left, async {
            // EOF or a reset: either way the server let go of the connection.
            loop {
                match stream.read(&mut byte).await {
                    Ok(0) | Err(_) => return,
                    Ok(_) => {}
                }
            }
        })
        .await;
        assert!(closed.is_ok(), "a stalled connection stayed open");
    }
    assert!(!server.stderr().contains("Too many open files"));
}

#[tokio::test]
async fn other_host_names_are_refused_and_listed_ones_served() {
    let app = spawn_app(|config| config.allowed_hosts = vec!["sotto.lan".into()]).await;
    let port = app.port();
    for path in ["/v1/models", "/login", "/"] {
        let answer = raw(
            &app.base,
            &format!(
                "GET {path} HTTP/1.1\r\nHost: evil.example:{port}\r\nConnection: close\r\n\r\n"
            ),
        )
        .await;
        assert_eq!(status_of(&answer), 421, "{path}: {answer}");
        assert!(
            !answer.contains("evil.example"),
            "the name is echoed: {answer}"
        );
    }
    let api = raw(
        &app.base,
        &format!(
            "GET /v1/models HTTP/1.1\r\nHost: evil.example:{port}\r\nConnection: close\r\n\r\n"
        ),
    )
    .await;
    assert!(api.contains("\"code\":\"host_not_allowed\""), "{api}");
    for host in [
        format!("sotto.lan:{port}"),
        format!("127.0.0.1:{port}"),
        format!("localhost:{port}"),
    ] {
        let answer = raw(
            &app.base,
            &format!("GET /login HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"),
        )
        .await;
        assert_eq!(status_of(&answer), 200, "{host}");
    }
}

#[tokio::test]
async fn the_api_reads_json_only_and_answers_any_origin() {
    let app = common::shared_app().await;
    // A page on another site can send this without asking first (no preflight).
    for key in [Some(app.api_key.as_str()), None] {
        let mut request = client()
            .post(app.url("/v1/chat/completions"))
            .header("content-type", "text/plain")
            .header("origin", "https://evil.example")
            .body(common::greedy_chat("hello", 2).to_string());
        if let Some(key) = key {
            request = request.bearer_auth(key);
        }
        let response = request.send().await.expect("request");
        assert_eq!(response.status(), 415);
        let body: Value = response.json().await.expect("json");
        assert_eq!(body["error"]["code"], "unsupported_media_type");
    }
    let preflight = client()
        .request(reqwest::Method::OPTIONS, app.url("/v1/chat/completions"))
        .header("origin", "https://app.example")
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "authorization,content-type",
        )
        .send()
        .await
        .expect("preflight");
    assert!(preflight.status().is_success(), "{}", preflight.status());
    // Any origin is allowed (named back), never with credentials: `/v1` ignores cookies.
    assert_eq!(
        preflight.headers()["access-control-allow-origin"],
        "https://app.example"
    );
    assert!(!preflight
        .headers()
        .contains_key("access-control-allow-credentials"));
    let methods = preflight.headers()["access-control-allow-methods"]
        .to_str()
        .expect("methods");
    assert!(methods.contains("POST"), "{methods}");
    let listed = client()
        .get(app.url("/v1/models"))
        .header("origin", "https://app.example")
        .send()
        .await
        .expect("models");
    assert_eq!(
        listed.headers()["access-control-allow-origin"],
        "https://app.example"
    );
    // The browser UI's route is same-origin only.
    let ui = client()
        .request(reqwest::Method::OPTIONS, app.url("/ui/chat/completions"))
        .header("origin", "https://app.example")
        .header("access-control-request-method", "POST")
        .send()
        .await
        .expect("ui preflight");
    assert!(!ui.headers().contains_key("access-control-allow-origin"));
}

#[tokio::test]
async fn the_bearer_scheme_is_case_insensitive() {
    let app = common::shared_app().await;
    for scheme in ["bearer", "BEARER", "Bearer"] {
        let response = client()
            .post(app.url("/v1/chat/completions"))
            .header("authorization", format!("{scheme} {}", app.api_key))
            .json(&common::greedy_chat("hi", 1))
            .send()
            .await
            .expect("request");
        assert_eq!(response.status(), 200, "{scheme}");
    }
}
