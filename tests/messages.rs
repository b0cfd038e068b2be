//! Anthropic's Messages API over real HTTP, against the real server and the real default model:
//! the reply's shape, the stream's events in order, tool use, stop reasons, `count_tokens`,
//! `x-api-key`, and errors in Anthropic's shape from every layer of the route. (The official
//! SDK's round trip is in tests/agent_clients.rs.)

use crate::common;

use common::{client, shared_app, TestApp, MODEL};
use futures::StreamExt;
use serde_json::{json, Value};

const MESSAGES: &str = "/v1/messages";

fn ask(text: &str, max_tokens: u32) -> Value {
    json!({
        "model": MODEL, "max_tokens": max_tokens, "temperature": 0,
        "system": [{ "type": "text", "text": "You are brief." }],
        "messages": [{ "role": "user", "content": [{ "type": "text", "text": text }] }],
    })
}

fn weather_tools(choice: Value) -> Value {
    json!({
        "model": MODEL, "max_tokens": 100, "temperature": 0,
        "messages": [{ "role": "user", "content": "What is the weather in Paris?" }],
        "tools": [{ "name": "get_weather", "description": "Weather for a city.", "input_schema": {
            "type": "object", "properties": { "city": { "type": "string", "maxLength": 30 } },
            "required": ["city"], "additionalProperties": false,
        } }],
        "tool_choice": choice,
    })
}

/// A request that must succeed, sent with Anthropic's headers (`x-api-key`, no bearer key).
async fn create(app: &TestApp, body: &Value) -> Value {
    let response = client()
        .post(app.url(MESSAGES))
        .header("x-api-key", &app.api_key)
        .header("anthropic-version", "2023-06-01")
        .json(body)
        .send()
        .await
        .expect("sent");
    let status = response.status();
    let text = response.text().await.unwrap_or_default();
    assert_eq!(status, 200, "{text}");
    serde_json::from_str(&text).expect("json")
}

/// An error answer: its status, and Anthropic's shape with the error's type; returns the message.
async fn anthropic_error(response: reqwest::Response, status: u16, kind: &str) -> String {
    assert_eq!(response.status(), status);
    let body: Value = response.json().await.expect("a JSON error");
    assert_eq!(body["type"], "error", "{body}");
    assert_eq!(body["error"]["type"], kind, "{body}");
    assert!(
        body.get("param").is_none() && body["error"].get("code").is_none(),
        "{body}"
    );
    body["error"]["message"]
        .as_str()
        .expect("message")
        .to_owned()
}

/// Each event's name and its JSON data, in order.
async fn events(app: &TestApp, body: &Value) -> Vec<(String, Value)> {
    let response = app.post(MESSAGES, body.clone()).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    let mut stream = common::sse_events(response);
    let mut out = Vec::new();
    while let Some(event) = stream.next().await {
        let event = event.expect("a well-formed event");
        let data: Value = serde_json::from_str(&event.data).expect("json data");
        assert_eq!(data["type"], event.event.as_str(), "the name is the type");
        out.push((event.event, data));
    }
    out
}

fn text_of(message: &Value) -> String {
    message["content"]
        .as_array()
        .expect("content")
        .iter()
        .filter(|b| b["type"] == "text")
        .filter_map(|b| b["text"].as_str())
        .collect()
}

#[tokio::test]
async fn a_message_has_anthropics_shape_and_count_tokens_counts_its_prompt() {
    let app = shared_app().await;
    let body = ask("Name three fruits.", 20);
    let message = create(app, &body).await;
    assert!(message["id"]
        .as_str()
        .is_some_and(|id| id.starts_with("msg_")));
    assert_eq!(message["type"], "message");
    assert_eq!(message["role"], "assistant");
    assert_eq!(message["model"], MODEL);
    assert_eq!(message["content"][0]["type"], "text", "{message}");
    assert!(!text_of(&message).is_empty());
    let usage = &message["usage"];
    assert_eq!(usage["output_tokens"], 20, "{message}");
    assert_eq!(message["stop_reason"], "max_tokens");
    assert_eq!(message["stop_sequence"], Value::Null);

    let counted = app.post("/v1/messages/count_tokens", body.clone()).await;
    assert_eq!(counted.status(), 200);
    let counted: Value = counted.json().await.expect("json");
    let prompt = usage["input_tokens"].as_u64().expect("input_tokens")
        + usage["cache_read_input_tokens"]
            .as_u64()
            .expect("cache reads");
    assert_eq!(counted["input_tokens"].as_u64(), Some(prompt), "{usage}");
    assert!(prompt > 10, "{usage}");

    // A stop sequence taken from that greedy reply ends the same reply there, and is named.
    let text = text_of(&message);
    let word = text
        .split_whitespace()
        .nth(2)
        .expect("three words")
        .to_owned();
    let mut stopped = body.clone();
    stopped["stop_sequences"] = json!(["never-generated-zzz", word]);
    let again = create(app, &stopped).await;
    assert_eq!(again["stop_reason"], "stop_sequence", "{again}");
    assert_eq!(again["stop_sequence"], word.as_str());
    assert!(text.starts_with(&text_of(&again)), "{text:?} / {again}");
}

#[tokio::test]
async fn a_streamed_message_sends_anthropics_events_in_order() {
    let app = shared_app().await;
    let mut body = ask("Say hello.", 12);
    let whole = create(app, &body).await;
    body["stream"] = json!(true);
    let events = events(app, &body).await;
    let names: Vec<&str> = events.iter().map(|(name, _)| name.as_str()).collect();
    let deltas = names.len() - 6;
    let mut expected = vec!["message_start", "ping", "content_block_start"];
    expected.extend(std::iter::repeat_n("content_block_delta", deltas));
    expected.extend(["content_block_stop", "message_delta", "message_stop"]);
    assert_eq!(names, expected);
    assert!(deltas > 1, "{names:?}");
    let start = &events[0].1["message"];
    assert_eq!(start["content"], json!([]));
    // The prompt's size: how much of it came from the cache depends on what other tests did
    // with the shared server in between.
    let prompt = |usage: &Value| {
        usage["input_tokens"].as_u64().unwrap_or_default()
            + usage["cache_read_input_tokens"]
                .as_u64()
                .unwrap_or_default()
    };
    assert_eq!(
        prompt(&start["usage"]),
        prompt(&whole["usage"]),
        "{start} / {whole}"
    );
    let text: String = events
        .iter()
        .filter(|(name, _)| name == "content_block_delta")
        .map(|(_, data)| {
            assert_eq!(data["index"], 0);
            assert_eq!(data["delta"]["type"], "text_delta");
            data["delta"]["text"].as_str().expect("text").to_owned()
        })
        .collect();
    assert_eq!(text, text_of(&whole), "streamed and not, one greedy text");
    let delta = &events[events.len() - 2].1;
    assert_eq!(delta["delta"]["stop_reason"], whole["stop_reason"]);
    assert_eq!(
        delta["usage"]["output_tokens"],
        whole["usage"]["output_tokens"]
    );
}

#[tokio::test]
async fn tools_are_used_through_tool_use_blocks_streamed_and_not() {
    let app = shared_app().await;
    let body = weather_tools(json!({ "type": "tool", "name": "get_weather" }));
    let message = create(app, &body).await;
    assert_eq!(message["stop_reason"], "tool_use", "{message}");
    let call = message["content"]
        .as_array()
        .and_then(|blocks| blocks.iter().find(|b| b["type"] == "tool_use"))
        .expect("a tool_use block");
    assert!(call["id"]
        .as_str()
        .is_some_and(|id| id.starts_with("toolu_")));
    assert_eq!(call["name"], "get_weather");
    assert!(call["input"]["city"].is_string(), "{call}");

    let mut streamed = weather_tools(json!({ "type": "any" }));
    streamed["stream"] = json!(true);
    let events = events(app, &streamed).await;
    let start = events
        .iter()
        .find(|(name, data)| {
            name == "content_block_start" && data["content_block"]["type"] == "tool_use"
        })
        .expect("a tool_use block starts");
    let index = &start.1["index"];
    assert_eq!(start.1["content_block"]["input"], json!({}));
    let partial: String = events
        .iter()
        .filter(|(name, data)| name == "content_block_delta" && &data["index"] == index)
        .map(|(_, data)| {
            assert_eq!(data["delta"]["type"], "input_json_delta");
            data["delta"]["partial_json"]
                .as_str()
                .expect("json")
                .to_owned()
        })
        .collect();
    let input: Value = serde_json::from_str(&partial).expect("the pieces make JSON");
    assert!(input["city"].is_string(), "{input}");
    let delta = events
        .iter()
        .find(|(name, _)| name == "message_delta")
        .expect("delta");
    assert_eq!(delta.1["delta"]["stop_reason"], "tool_use");

    // The result goes back as a tool_result block; with `none` the answer is text.
    let mut answer = weather_tools(json!({ "type": "none" }));
    answer["messages"] = json!([
        { "role": "user", "content": "What is the weather in Paris?" },
        { "role": "assistant", "content": [call] },
        { "role": "user", "content": [
            { "type": "tool_result", "tool_use_id": call["id"], "content": [{ "type": "text", "text": "Sunny." }] },
            { "type": "text", "text": "Answer in one sentence." },
        ] },
    ]);
    let reply = create(app, &answer).await;
    assert_ne!(reply["stop_reason"], "tool_use", "{reply}");
    assert!(!text_of(&reply).is_empty(), "{reply}");
}

#[tokio::test]
async fn errors_come_in_anthropics_shape_from_every_layer() {
    let app = shared_app().await;
    let http = client();
    let send = |body: Value| app.post(MESSAGES, body);

    let mut no_max = ask("Hi", 5);
    no_max.as_object_mut().expect("object").remove("max_tokens");
    let message = anthropic_error(send(no_max).await, 400, "invalid_request_error").await;
    assert!(message.starts_with("max_tokens: "), "{message}");

    let mut image = ask("SECRET-TEXT", 5);
    image["messages"][0]["content"]
        .as_array_mut()
        .expect("blocks")
        .push(json!({ "type": "image", "source": { "data": "SECRET" } }));
    let message = anthropic_error(send(image).await, 400, "invalid_request_error").await;
    assert!(
        message.starts_with("messages[0].content[1].type: "),
        "{message}"
    );
    assert!(!message.contains("SECRET"), "{message}");

    let mut server_tool = ask("Hi", 5);
    server_tool["tools"] = json!([{ "type": "web_search_20250305", "name": "web_search" }]);
    let message = anthropic_error(send(server_tool).await, 400, "invalid_request_error").await;
    assert!(message.starts_with("tools[0]: "), "{message}");

    let mut bad_choice = weather_tools(json!({ "type": "tool", "name": "nope" }));
    bad_choice["max_tokens"] = json!(5);
    let message = anthropic_error(send(bad_choice).await, 400, "invalid_request_error").await;
    assert!(message.starts_with("tool_choice.name: "), "{message}");

    let mut hot = ask("Hi", 5);
    hot["temperature"] = json!(1.5);
    let message = anthropic_error(send(hot).await, 400, "invalid_request_error").await;
    assert!(message.starts_with("temperature: "), "{message}");

    let bad_json = app.post_raw(MESSAGES, "{\"messages\": [SECRET").await;
    let message = anthropic_error(bad_json, 400, "invalid_request_error").await;
    assert!(
        message.contains("not valid JSON") && !message.contains("SECRET"),
        "{message}"
    );

    let no_key = http
        .post(app.url(MESSAGES))
        .json(&ask("Hi", 5))
        .send()
        .await
        .expect("sent");
    assert_eq!(no_key.headers()["www-authenticate"], "Bearer");
    anthropic_error(no_key, 401, "authentication_error").await;
    let wrong_key = http
        .post(app.url("/v1/messages/count_tokens"))
        .header("x-api-key", "sk-sotto-not-a-key")
        .json(&ask("Hi", 5))
        .send()
        .await
        .expect("sent");
    anthropic_error(wrong_key, 401, "authentication_error").await;

    let plain = http
        .post(app.url(MESSAGES))
        .header("x-api-key", &app.api_key)
        .body("{}")
        .send()
        .await
        .expect("sent");
    anthropic_error(plain, 415, "invalid_request_error").await;

    let huge = format!("{{\"x\": \"{}\"}}", "a".repeat(5 * 1024 * 1024));
    anthropic_error(app.post_raw(MESSAGES, huge).await, 413, "request_too_large").await;

    // A huge conversation meets chat's limits (the context), in this shape too.
    let mut long = ask("Hi", 5);
    long["messages"] = json!(vec![
        json!({ "role": "user", "content": "hello there" });
        10_000
    ]);
    let message = anthropic_error(send(long).await, 400, "invalid_request_error").await;
    assert!(message.contains("context"), "{message}");
}

#[tokio::test]
async fn anthropics_headers_pass_cors_and_ignored_fields_are_named() {
    let app = shared_app().await;
    let preflight = client()
        .request(reqwest::Method::OPTIONS, app.url(MESSAGES))
        .header("origin", "https://example.com")
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "x-api-key,anthropic-version,anthropic-dangerous-direct-browser-access,content-type",
        )
        .send()
        .await
        .expect("sent");
    assert!(preflight.status().is_success(), "{}", preflight.status());
    let allowed = preflight.headers()["access-control-allow-headers"]
        .to_str()
        .unwrap_or_default();
    assert!(allowed == "*" || allowed.contains("x-api-key"), "{allowed}");

    let mut body = ask("Hi", 2);
    body["metadata"] = json!({ "user_id": "someone" });
    body["service_tier"] = json!("auto");
    let response = app.post(MESSAGES, body).await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["x-sotto-ignored-params"],
        "metadata, service_tier"
    );
}
