//! The Responses API, each request full of the canary: in `instructions`, every kind of input
//! item (messages of every role, a replayed `function_call` and its `function_call_output`), tool
//! definitions, a `text.format` schema, the fields sotto ignores (`store`, `metadata`, `user`)
//! and those it refuses; then the stored-response routes with the canary as the id.

use reqwest::Method;
use serde_json::{json, Value};

use super::common::sse_payloads;
use super::probe::{expect, Probe};
use super::routes::Route;

const RESPONSES: Route = ("POST", "/v1/responses");
const STORED: Route = ("GET", "/v1/responses/{id}");
const DELETE_STORED: Route = ("DELETE", "/v1/responses/{id}");
const INPUT_ITEMS: Route = ("GET", "/v1/responses/{id}/input_items");

/// Input items of every kind, each holding the canary.
fn input(text: &str) -> Value {
    let arguments = json!({ "query": text }).to_string();
    json!([
        { "role": "system", "content": format!("System: {text}") },
        { "type": "message", "role": "developer", "content": [{ "type": "input_text", "text": format!("Developer: {text}") }] },
        { "role": "user", "content": format!("Look up {text}") },
        { "type": "message", "role": "assistant", "content": [{ "type": "output_text", "text": format!("Assistant: {text}"), "annotations": [] }] },
        { "type": "reasoning", "summary": [{ "type": "summary_text", "text": text }] },
        { "type": "function_call", "call_id": "call_canary", "name": "lookup", "arguments": arguments },
        { "type": "function_call_output", "call_id": "call_canary", "output": format!("Found: {text}") },
        { "role": "user", "content": format!("Again: {text}") },
    ])
}

fn tools(text: &str) -> Value {
    json!([{
        "type": "function", "name": "lookup", "description": format!("Looks up {text}"),
        "parameters": { "type": "object", "properties": {
            "query": { "type": "string", "description": text }
        }, "required": ["query"] },
    }])
}

pub async fn responses(probe: &Probe, key: &str, text: &str) {
    let token = &probe.token;
    let plain = json!({
        "input": input(text), "instructions": format!("Instructions: {text}"),
        "tools": tools(text), "tool_choice": "required", "max_output_tokens": 24, "temperature": 0,
        "store": true, "metadata": { text: text }, "user": text, "safety_identifier": text,
        "prompt_cache_key": text,
    });
    let answer = expect(probe.api(RESPONSES, key).json(&plain), 200).await;
    let reply: Value = answer.json().await.expect("a response");
    assert_eq!(reply["store"], false);
    let mut streamed = plain.clone();
    streamed["stream"] = json!(true);
    let events = sse_payloads(expect(probe.api(RESPONSES, key).json(&streamed), 200).await).await;
    // The budget may cut the call: either way the stream ends with the whole response.
    let ended = |last: &String| {
        last.contains(r#""response.completed""#) || last.contains(r#""response.incomplete""#)
    };
    assert!(events.last().is_some_and(ended), "{:?}", events.last());
    // A schema holding the canary: enforced, then refused (`contains`).
    let schema = json!({
        "type": "object", "description": text, "additionalProperties": false,
        "properties": { text: { "enum": [text, "other"] } }, "required": [text],
    });
    let structured = json!({
        "input": format!("Say {text}"), "max_output_tokens": 24, "temperature": 0, "stream": true,
        "text": { "format": { "type": "json_schema", "name": "canary", "description": text, "schema": schema } },
    });
    sse_payloads(expect(probe.api(RESPONSES, key).json(&structured), 200).await).await;
    // Refusals: none repeats what it refuses.
    let refused = [
        json!({ "input": input(text), "previous_response_id": format!("resp_{token}") }),
        json!({ "input": input(text), "conversation": text, "include": [text] }),
        json!({ "input": input(text), "text": { "format": { "type": "json_schema", "name": "c",
            "schema": { "type": "array", "description": text, "contains": { "const": text } } } } }),
        json!({ "input": [{ "type": text, "content": text }] }),
        json!({ "input": [{ "role": "user", "content": [{ "type": "input_image", "image_url": text }] }] }),
        json!({ "input": input(text), "tools": [{ "type": "web_search", "name": text }] }),
        json!({ "input": input(text), "temperature": text }),
    ];
    for body in refused {
        let answer = expect(probe.api(RESPONSES, key).json(&body), 400).await;
        let said = answer.text().await.unwrap_or_default();
        assert!(
            !said.contains(token.as_str()),
            "a refusal repeats the request: {said}"
        );
    }
    // Nothing stored: the canary as the id, on every route that would read it.
    let id = format!("resp_{token}");
    for (route, method) in [
        (STORED, Method::GET),
        (DELETE_STORED, Method::DELETE),
        (INPUT_ITEMS, Method::GET),
    ] {
        let path = route.1.replace("{id}", &id);
        let answer = expect(probe.request(route, method, &path), 404).await;
        let said = answer.text().await.unwrap_or_default();
        assert!(
            !said.contains(token.as_str()),
            "the 404 repeats the id: {said}"
        );
    }
}
