//! Anthropic's Messages routes, each request full of the canary: in `system`, text blocks,
//! `tool_use` inputs, `tool_result` contents, tool definitions, `stop_sequences`, `metadata`
//! and the `x-api-key` header; answered, streamed, counted and refused.

use reqwest::Method;
use serde_json::{json, Value};

use super::common::sse_payloads;
use super::probe::{expect, replacing, Probe};
use super::routes::Route;

pub const MESSAGES: Route = ("POST", "/v1/messages");
pub const COUNT_TOKENS: Route = ("POST", "/v1/messages/count_tokens");

/// A conversation with a tool use and its result, the canary in every text of it.
fn conversation(text: &str) -> Value {
    json!({
        "system": [{ "type": "text", "text": format!("System: {text}") }],
        "messages": [
            { "role": "user", "content": format!("Look up {text}") },
            { "role": "assistant", "content": [
                { "type": "thinking", "thinking": text, "signature": text },
                { "type": "text", "text": format!("Looking up {text}") },
                { "type": "tool_use", "id": "toolu_canary", "name": "lookup", "input": { "query": text } },
            ] },
            { "role": "user", "content": [
                { "type": "tool_result", "tool_use_id": "toolu_canary", "is_error": true,
                  "content": [{ "type": "text", "text": format!("Found: {text}") }] },
                { "type": "text", "text": format!("Again: {text}") },
            ] },
        ],
        "tools": [{
            "name": "lookup",
            "description": format!("Looks up {text}"),
            "input_schema": { "type": "object", "properties": {
                "query": { "type": "string", "description": text, "maxLength": 20 }
            }, "required": ["query"] },
        }],
        "metadata": { "user_id": text },
        "stop_sequences": [text],
        "max_tokens": 24, "temperature": 0,
        "thinking": { "type": "enabled", "budget_tokens": 1024 },
    })
}

/// Generation, counting and refusals on both routes.
pub async fn messages(probe: &Probe, key: &str, text: &str) {
    let token = &probe.token;
    for choice in [json!({ "type": "any" }), json!({ "type": "auto" })] {
        let mut body = conversation(text);
        body["tool_choice"] = choice;
        // A valid bearer key beside a canary `x-api-key`: the bearer key wins.
        let request = replacing(probe.api(MESSAGES, key), "x-api-key", token);
        expect(request.json(&body), 200).await;
        body["stream"] = json!(true);
        let response = expect(probe.api(MESSAGES, key).json(&body), 200).await;
        let payloads = sse_payloads(response).await;
        assert!(
            payloads.last().is_some_and(|p| p.contains("message_stop")),
            "the stream ends with message_stop"
        );
    }
    let counted = expect(probe.api(COUNT_TOKENS, key).json(&conversation(text)), 200).await;
    let counted: Value = counted.json().await.expect("json");
    assert!(counted["input_tokens"].as_u64().is_some_and(|n| n > 0));

    // Refusals: an image block, a server tool, broken JSON, a canary key alone.
    let mut image = conversation(text);
    image["messages"][0]["content"] = json!([
        { "type": "text", "text": text },
        { "type": "image", "source": { "type": "base64", "media_type": "image/png", "data": text } },
    ]);
    let mut server_tool = conversation(text);
    server_tool["tools"] = json!([{ "type": format!("{token}_20250305"), "name": text }]);
    for body in [image, server_tool] {
        for route in [MESSAGES, COUNT_TOKENS] {
            let refused = expect(probe.api(route, key).json(&body), 400).await;
            let said = refused.text().await.unwrap_or_default();
            assert!(!said.contains(token), "the refusal echoes the request");
        }
    }
    let broken = format!("{{\"messages\": [{}", json!(text));
    let raw = probe
        .api(MESSAGES, key)
        .header("content-type", "application/json")
        .body(broken);
    expect(raw, 400).await;
    let canary_key = replacing(
        probe.request(COUNT_TOKENS, Method::POST, COUNT_TOKENS.1),
        "x-api-key",
        token,
    );
    expect(canary_key.json(&conversation(text)), 401).await;
}
