//! Every error is OpenAI-shaped, has the right status, names the field and never echoes what
//! the client sent.

use crate::common;

use common::{greedy_chat, shared_app, MODEL};
use serde_json::{json, Value};

/// A value that must never come back in an error.
const SECRET: &str = "PRIVATE-CANARY-7f3a";

async fn error_of(response: reqwest::Response, status: u16) -> Value {
    assert_eq!(response.status(), status);
    assert!(response.headers()["content-type"]
        .to_str()
        .unwrap_or_default()
        .starts_with("application/json"));
    let body: Value = response.json().await.expect("error body is JSON");
    let error = &body["error"];
    assert!(
        error["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{body}"
    );
    assert!(error["type"].is_string(), "{body}");
    assert!(
        error.get("param").is_some() && error.get("code").is_some(),
        "{body}"
    );
    assert!(
        !body.to_string().contains(SECRET),
        "the error echoes the request: {body}"
    );
    body
}

#[tokio::test]
async fn malformed_json_is_an_openai_error_not_plain_text() {
    let app = shared_app().await;
    for raw in [
        format!("{{\"messages\": [{SECRET}"),
        String::new(),
        format!("{{}} {SECRET}"),
        "[1, 2]".into(),
    ] {
        let body = error_of(app.post_raw("/v1/chat/completions", raw.clone()).await, 400).await;
        assert_eq!(body["error"]["type"], "invalid_request_error", "{raw}");
    }
}

#[tokio::test]
async fn wrong_types_name_the_field() {
    let app = shared_app().await;
    let cases = [
        (json!({ "model": MODEL, "messages": SECRET }), "messages"),
        (
            json!({ "model": MODEL, "messages": [{ "role": "user", "content": 5 }] }),
            "messages[0].content",
        ),
        (
            json!({ "model": MODEL, "messages": [{ "role": SECRET, "content": "hi" }] }),
            "messages[0].role",
        ),
        (
            json!({ "model": MODEL, "messages": [{ "role": "user", "content": "hi" }], "temperature": SECRET }),
            "temperature",
        ),
        (
            json!({ "model": MODEL, "messages": [{ "role": "user", "content": "hi" }], "max_tokens": -3 }),
            "max_tokens",
        ),
        (
            json!({ "model": MODEL, "messages": [{ "role": "user", "content": "hi" }], "stop": [SECRET, 3] }),
            "stop",
        ),
        (
            json!({ "model": MODEL, "messages": [{ "role": "user", "content": [{ "type": "image_url", "image_url": { "url": SECRET } }] }] }),
            "messages[0].content[0].type",
        ),
    ];
    for (request, param) in cases {
        let body = error_of(app.post("/v1/chat/completions", request).await, 400).await;
        assert_eq!(body["error"]["param"], param, "{body}");
    }
}

#[tokio::test]
async fn bad_values_are_refused_with_their_field() {
    let app = shared_app().await;
    let cases = [
        ("messages", json!([])),
        ("temperature", json!(2.5)),
        ("top_p", json!(1.5)),
        ("top_k", json!(-1)),
        ("min_p", json!(-0.1)),
        ("presence_penalty", json!(3)),
        ("frequency_penalty", json!(-3)),
        ("repeat_penalty", json!(0)),
        ("max_tokens", json!(0)),
        ("n", json!(0)),
        ("n", json!(99)),
        ("logit_bias", json!({ SECRET: 1 })),
        ("logit_bias", json!({ "99999999": 1 })),
        ("logit_bias", json!({ "5": 500 })),
        ("stream_options", json!({ "include_usage": true })),
        // The legacy name of tools is named, not half-supported.
        (
            "functions",
            json!([{ "name": "f", "parameters": { "type": "object" } }]),
        ),
        ("tool_choice", json!("auto")),
        ("logprobs", json!(3)),
        ("top_logprobs", json!(21)),
    ];
    for (field, value) in cases {
        let mut request = greedy_chat("hi", 4);
        request[field] = value;
        let body = error_of(app.post("/v1/chat/completions", request).await, 400).await;
        assert_eq!(body["error"]["param"], field, "{body}");
    }
    let missing = error_of(
        app.post("/v1/chat/completions", json!({ "model": MODEL }))
            .await,
        400,
    )
    .await;
    assert_eq!(missing["error"]["param"], "messages");
    let missing = error_of(
        app.post("/v1/completions", json!({ "model": MODEL })).await,
        400,
    )
    .await;
    assert_eq!(missing["error"]["param"], "prompt");
}

#[tokio::test]
async fn unknown_model_is_404_model_not_found() {
    let app = shared_app().await;
    let mut request = greedy_chat("hi", 4);
    request["model"] = json!(SECRET);
    let body = error_of(app.post("/v1/chat/completions", request).await, 404).await;
    assert_eq!(body["error"]["code"], "model_not_found");
    assert_eq!(body["error"]["param"], "model");
    let body = error_of(app.get(&format!("/v1/models/{SECRET}")).await, 404).await;
    assert_eq!(body["error"]["code"], "model_not_found");
    // Path tricks do not escape the models directory.
    error_of(app.get("/v1/models/..%2F..%2Fetc%2Fpasswd").await, 404).await;
}

#[tokio::test]
async fn too_large_bodies_get_413() {
    let app = shared_app().await;
    let huge = format!(
        "{{\"model\": \"{MODEL}\", \"messages\": [{{\"role\": \"user\", \"content\": \"{}\"}}]}}",
        "a".repeat(5 << 20)
    );
    let body = error_of(app.post_raw("/v1/chat/completions", huge).await, 413).await;
    assert_eq!(body["error"]["code"], "request_too_large");
}

#[tokio::test]
async fn prompts_that_do_not_fit_are_refused_never_truncated() {
    let app = shared_app().await;
    let long = format!("{SECRET} ").repeat(600);
    let body = error_of(
        app.post("/v1/chat/completions", greedy_chat(&long, 4))
            .await,
        400,
    )
    .await;
    assert_eq!(body["error"]["code"], "context_length_exceeded");
    // The prompt fits, but not with the completion asked for.
    let body = error_of(
        app.post("/v1/chat/completions", greedy_chat("hi", 1020))
            .await,
        400,
    )
    .await;
    assert_eq!(body["error"]["code"], "context_length_exceeded");
    assert_eq!(body["error"]["param"], "max_tokens");
    let request = json!({ "model": MODEL, "prompt": long, "max_tokens": 4 });
    let body = error_of(app.post("/v1/completions", request).await, 400).await;
    assert_eq!(body["error"]["code"], "context_length_exceeded");
}

#[tokio::test]
async fn unknown_routes_and_methods_are_openai_errors() {
    let app = shared_app().await;
    error_of(app.get("/v1/nothing-here").await, 404).await;
    error_of(app.get("/v1/chat/completions").await, 405).await;
}
