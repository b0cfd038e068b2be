//! Generation through the API and the chat page, and answers of every error status, each to a
//! request full of the canary.

use std::time::{Duration, Instant};

use futures::StreamExt;
use reqwest::Method;
use serde_json::{json, Value};

use super::common::{self, sse_payloads, MODEL};
use super::probe::{expect, replacing, Probe};
use super::routes::{Route, FALLBACK, WRONG_METHOD};

/// The default model under a second id, never preloaded: a request for it gets 503.
pub const LOADING: &str = "privacy-loading-model";
pub const MAX_BODY: usize = 64 * 1024;

const CHAT: Route = ("POST", "/v1/chat/completions");
const LEGACY: Route = ("POST", "/v1/completions");
const UI_CHAT: Route = ("POST", "/ui/chat/completions");
const EMBEDDINGS: Route = ("POST", "/v1/embeddings");

/// Chat messages of every role, each holding the canary.
fn messages(text: &str) -> Value {
    json!([
        { "role": "system", "content": format!("System: {text}") },
        { "role": "developer", "content": [{ "type": "text", "text": format!("Developer: {text}") }] },
        { "role": "user", "content": format!("Repeat {text}") },
        { "role": "assistant", "content": format!("Assistant: {text}") },
        { "role": "user", "content": format!("Again: {text}") },
    ])
}

/// A conversation with a tool: its description and parameters, a call's arguments and the
/// tool's result all hold the canary; the reply must call it.
fn tool_chat(text: &str) -> Value {
    let arguments = json!({ "query": text }).to_string();
    json!({
        "messages": [
            { "role": "user", "content": format!("Look up {text}") },
            { "role": "assistant", "content": null, "tool_calls": [
                { "id": "call_canary", "type": "function", "function": { "name": "lookup", "arguments": arguments } }
            ] },
            { "role": "tool", "tool_call_id": "call_canary", "content": format!("Found: {text}") },
        ],
        "tools": [{ "type": "function", "function": {
            "name": "lookup",
            "description": format!("Looks up {text}"),
            "parameters": { "type": "object", "properties": {
                "query": { "type": "string", "description": text }
            }, "required": ["query"] },
        } }],
        "tool_choice": "required", "max_tokens": 24, "temperature": 0,
    })
}

/// Structured output whose schema holds the canary in a description and an enum value.
fn schema_chat(text: &str) -> Value {
    json!({
        "messages": messages(text), "max_tokens": 24, "temperature": 0,
        "response_format": { "type": "json_schema", "json_schema": { "name": "canary", "schema": {
            "type": "object", "description": text,
            "properties": { "word": { "type": "string", "enum": [text, "other"] } },
            "required": ["word"], "additionalProperties": false,
        } } },
    })
}

/// Successful generation: chat and legacy completions, streamed and not, with the canary in
/// every text field.
pub async fn generation(probe: &Probe, key: &str, text: &str) {
    let token = &probe.token;
    let chat = json!({
        "messages": messages(text), "user": text, "stop": [text, token],
        "max_tokens": 8, "temperature": 0,
    });
    expect(probe.api(CHAT, key).json(&chat), 200).await;
    let mut streamed = chat.clone();
    streamed["stream"] = json!(true);
    streamed["stream_options"] = json!({ "include_usage": true });
    let payloads = sse_payloads(expect(probe.api(CHAT, key).json(&streamed), 200).await).await;
    assert_eq!(payloads.last().map(String::as_str), Some("[DONE]"));
    // Tokens' logprobs, whole and streamed; two choices are more than this server's one
    // place per caller (400 naming `n`).
    let mut scored = chat.clone();
    scored["logprobs"] = json!(true);
    scored["top_logprobs"] = json!(3);
    expect(probe.api(CHAT, key).json(&scored), 200).await;
    scored["stream"] = json!(true);
    let payloads = sse_payloads(expect(probe.api(CHAT, key).json(&scored), 200).await).await;
    assert_eq!(payloads.last().map(String::as_str), Some("[DONE]"));
    scored["n"] = json!(2);
    let refused = expect(probe.api(CHAT, key).json(&scored), 400).await;
    assert!(!refused.text().await.unwrap_or_default().contains(text));
    // Tools, a replayed call and its result, and a schema: the canary in every text of them.
    for body in [tool_chat(text), schema_chat(text)] {
        expect(probe.api(CHAT, key).json(&body), 200).await;
        let mut streamed = body;
        streamed["stream"] = json!(true);
        let payloads = sse_payloads(expect(probe.api(CHAT, key).json(&streamed), 200).await).await;
        assert_eq!(payloads.last().map(String::as_str), Some("[DONE]"));
    }
    // Structured output: the canary in a schema's description, property name and values,
    // enforced (200) and refused (400, the schema uses `contains`).
    let schema = json!({
        "type": "object", "description": text,
        "properties": { text: { "enum": [text, "other"] } },
        "required": [text], "additionalProperties": false,
    });
    let mut structured = chat.clone();
    structured["response_format"] = json!({
        "type": "json_schema",
        "json_schema": { "name": "canary", "description": text, "schema": schema },
    });
    expect(probe.api(CHAT, key).json(&structured), 200).await;
    structured["response_format"]["json_schema"]["schema"] =
        json!({ "type": "array", "description": text, "contains": { "const": text } });
    let refused = expect(probe.api(CHAT, key).json(&structured), 400).await;
    let refusal = refused.text().await.unwrap_or_default();
    assert!(!refusal.contains(text), "the refusal echoes the schema");
    for (prompt, stream) in [(json!(text), false), (json!([text]), true)] {
        let body = json!({
            "prompt": prompt, "user": text, "stop": text, "max_tokens": 8, "stream": stream,
            "logprobs": 2,
        });
        let response = expect(probe.api(LEGACY, key).json(&body), 200).await;
        if stream {
            let payloads = sse_payloads(response).await;
            assert_eq!(payloads.last().map(String::as_str), Some("[DONE]"));
        }
    }
}

/// Embeddings of the canary, in every form of input, and refusals of it (too long, a wrong
/// type); no answer may repeat it.
pub async fn embeddings(probe: &Probe, key: &str, text: &str) {
    let token = &probe.token;
    for body in [
        json!({ "input": text, "user": text }),
        json!({ "input": [text, token], "encoding_format": "base64", "user": token }),
        json!({ "input": [[1, 2, 3], [4, 5]], "user": text }),
    ] {
        let response = expect(probe.api(EMBEDDINGS, key).json(&body), 200).await;
        let answer: Value = response.json().await.expect("JSON");
        assert_eq!(answer["object"], "list", "{answer:.200}");
    }
    for body in [
        json!({ "input": ["short", format!("{text} ").repeat(400)] }),
        json!({ "input": [text, 1] }),
        json!({ "input": text, "encoding_format": text }),
    ] {
        let refused = expect(probe.api(EMBEDDINGS, key).json(&body), 400).await;
        let said = refused.text().await.unwrap_or_default();
        assert!(
            !said.contains(token.as_str()),
            "an embeddings refusal echoes the input"
        );
    }
}

/// The chat page's way in: the session cookie and the token read from the page.
pub async fn browser(probe: &Probe, session: &str, text: &str) {
    let page = expect(probe.page(("GET", "/"), Method::GET, "/", session), 200).await;
    let html = page.text().await.expect("the page");
    let csrf = html
        .split(r#"name="sotto-csrf" content=""#)
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("the page's anti-CSRF token")
        .to_owned();
    let body = json!({ "messages": messages(text), "max_tokens": 8, "stream": true });
    let request = probe.page(UI_CHAT, Method::POST, UI_CHAT.1, session);
    let response = expect(replacing(request, "x-csrf-token", &csrf).json(&body), 200).await;
    assert_eq!(
        sse_payloads(response).await.last().map(String::as_str),
        Some("[DONE]")
    );
    // The canary's token instead of the page's: refused.
    let request = probe.page(UI_CHAT, Method::POST, UI_CHAT.1, session);
    expect(request.json(&body), 403).await;
}

/// Answers of every error status, each to a request full of the canary.
pub async fn errors(probe: &Probe, key: &str, text: &str) {
    let token = &probe.token;
    let chat = |extra: Value| {
        let mut body = json!({ "messages": messages(text), "max_tokens": 8 });
        body.as_object_mut()
            .expect("object")
            .extend(extra.as_object().expect("object").clone());
        body
    };
    // 400: a bad field, broken JSON, a prompt longer than the context.
    expect(
        probe
            .api(CHAT, key)
            .json(&chat(json!({ "temperature": text }))),
        400,
    )
    .await;
    // A schema the engine cannot take (`uniqueItems`), the canary in its values: an undefined
    // `format` (an annotation, dropped) and a pattern.
    let unenforceable = json!({ "type": "json_schema", "json_schema": { "name": "c", "schema": {
        "type": "array", "uniqueItems": true,
        "items": { "type": "string", "format": text, "pattern": format!("(a+)+{text}") },
    } } });
    let answer = probe
        .api(CHAT, key)
        .json(&chat(json!({ "response_format": unenforceable })));
    let answer = answer.send().await.expect("sent");
    let status = answer.status().as_u16();
    let said = answer.text().await.unwrap_or_default();
    assert_eq!(
        status, 400,
        "an unenforceable keyword is refused, not ignored"
    );
    assert!(!said.contains(text), "the refusal repeats the schema");
    let broken = format!("{{\"messages\": [{}", json!(text));
    let raw = |body: String| {
        probe
            .api(CHAT, key)
            .header("content-type", "application/json")
            .body(body)
    };
    expect(raw(broken), 400).await;
    let long = json!([{ "role": "user", "content": format!("{text} ").repeat(300) }]);
    expect(probe.api(CHAT, key).json(&json!({ "messages": long })), 400).await;
    // 401: the canary as the key (the probe's default `Authorization`).
    expect(
        probe
            .request(CHAT, Method::POST, CHAT.1)
            .json(&chat(json!({}))),
        401,
    )
    .await;
    // 404: an unknown model, an unknown route.
    expect(
        probe.api(CHAT, key).json(&chat(json!({ "model": token }))),
        404,
    )
    .await;
    let lost = format!("/v1/{token}/x?q={token}");
    expect(
        probe
            .request(FALLBACK, Method::POST, &lost)
            .body(text.to_owned()),
        404,
    )
    .await;
    // 405: a known path, another method.
    expect(
        probe
            .request(WRONG_METHOD, Method::DELETE, CHAT.1)
            .body(text.to_owned()),
        405,
    )
    .await;
    // 413: a body over `--max-body`.
    let huge = json!([{ "role": "user", "content": text.repeat(MAX_BODY / text.len() + 1) }]);
    expect(probe.api(CHAT, key).json(&json!({ "messages": huge })), 413).await;
    // 415: not JSON.
    let plain = probe
        .api(CHAT, key)
        .header("content-type", "text/plain")
        .body(text.to_owned());
    expect(plain, 415).await;
    // 421: a host name this server does not answer to.
    let host = format!("{token}.example");
    expect(probe.get(FALLBACK, "/health").header("host", host), 421).await;
    // 503: a model that is not loaded yet.
    expect(
        probe
            .api(CHAT, key)
            .json(&chat(json!({ "model": LOADING }))),
        503,
    )
    .await;
    // 429: a second request while the caller's one place is taken; then that stream is
    // dropped half-way.
    let endless = chat(json!({
        "max_tokens": 600, "stream": true, "logit_bias": { "0": -100, "2": -100 },
    }));
    let running = expect(probe.api(CHAT, key).json(&endless), 200).await;
    let mut body = running.bytes_stream();
    body.next().await.expect("a chunk").expect("bytes");
    expect(probe.api(CHAT, key).json(&chat(json!({}))), 429).await;
    drop(body);
    wait_idle(&probe.base).await;
}

async fn wait_idle(base: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let model = common::model_health_at(base, MODEL)
            .await
            .expect("the model");
        if model["in_flight"] == 0 {
            assert_eq!(model["cancelled"], 1, "the dropped stream was cancelled");
            return;
        }
        assert!(Instant::now() < deadline, "the dropped stream kept running");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
