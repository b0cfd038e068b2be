//! `POST /v1/responses` against the real server and the real default model: the Response
//! object's shape, the typed stream events in order, function calls and their round trip,
//! `text.format`, the errors (named as Responses names its fields), and that nothing is stored.
//! Then the clients that use it by default: the official OpenAI Python SDK, the OpenAI Agents
//! SDK and pydantic-ai's Responses model (scripts in tests/sdk/).

use crate::common;

use common::clients::{main_python, run_client};
use common::{shared_app, sse_events, MODEL};
use futures::StreamExt;
use serde_json::{json, Value};

const PATH: &str = "/v1/responses";

fn weather_tool() -> Value {
    json!([{
        "type": "function", "name": "get_weather", "description": "Weather for a city.",
        "parameters": { "type": "object", "properties": { "city": { "type": "string" } },
                        "required": ["city"], "additionalProperties": false },
    }])
}

async fn respond(body: Value) -> Value {
    let response = shared_app().await.post(PATH, body).await;
    assert_eq!(response.status(), 200);
    response.json().await.expect("a JSON response")
}

/// The error a request gets: its status and its `param`.
async fn refusal(body: Value) -> (u16, String, String) {
    let response = shared_app().await.post(PATH, body).await;
    let status = response.status().as_u16();
    let error: Value = response.json().await.expect("a JSON error");
    let param = error["error"]["param"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let message = error["error"]["message"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    (status, param, message)
}

/// Each event's SSE name and its JSON data, checking that the two agree.
async fn stream(body: Value) -> Vec<Value> {
    let response = shared_app().await.post(PATH, body).await;
    assert_eq!(response.status(), 200);
    let mut events = sse_events(response);
    let mut all = Vec::new();
    while let Some(event) = events.next().await {
        let event = event.expect("a well-formed event");
        let data: Value = serde_json::from_str(&event.data).expect("JSON data");
        assert_eq!(data["type"], event.event.as_str(), "{data}");
        all.push(data);
    }
    for (number, event) in all.iter().enumerate() {
        assert_eq!(event["sequence_number"], number, "{event}");
    }
    all
}

fn types(events: &[Value]) -> Vec<&str> {
    events.iter().filter_map(|e| e["type"].as_str()).collect()
}

#[tokio::test]
async fn a_plain_response_has_openais_shape_and_is_never_stored() {
    let app = shared_app().await;
    let body = json!({
        "model": MODEL, "input": "Say hello.", "instructions": "Be brief.",
        "max_output_tokens": 40, "temperature": 0, "store": true, "metadata": { "a": "b" },
    });
    let response = app.post(PATH, body).await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["x-sotto-ignored-params"],
        "metadata, store"
    );
    let reply: Value = response.json().await.expect("json");
    assert!(
        reply["id"]
            .as_str()
            .unwrap_or_default()
            .starts_with("resp_"),
        "{reply}"
    );
    assert_eq!(reply["object"], "response");
    assert_eq!(reply["store"], false);
    assert_eq!(reply["model"], MODEL);
    assert_eq!(reply["instructions"], "Be brief.");
    assert_eq!(reply["tools"], json!([]));
    assert_eq!(reply["text"]["format"]["type"], "text");
    let message = &reply["output"][0];
    assert_eq!(message["type"], "message", "{reply}");
    assert!(message["id"]
        .as_str()
        .unwrap_or_default()
        .starts_with("msg_"));
    assert_eq!(message["role"], "assistant");
    let part = &message["content"][0];
    assert_eq!(part["type"], "output_text");
    assert_eq!(part["annotations"], json!([]));
    assert!(
        !part["text"].as_str().unwrap_or_default().is_empty(),
        "{reply}"
    );
    let usage = &reply["usage"];
    let (input, output) = (
        usage["input_tokens"].as_u64(),
        usage["output_tokens"].as_u64(),
    );
    assert!(input > Some(0) && output > Some(0), "{usage}");
    assert_eq!(
        usage["total_tokens"].as_u64(),
        Some(input.unwrap_or(0) + output.unwrap_or(0))
    );
    assert!(
        usage["input_tokens_details"]["cached_tokens"].is_u64(),
        "{usage}"
    );
    assert_eq!(usage["output_tokens_details"]["reasoning_tokens"], 0);

    // Nothing to read back, delete or list.
    let id = reply["id"].as_str().unwrap_or_default();
    for (method, path) in [
        (reqwest::Method::GET, format!("{PATH}/{id}")),
        (reqwest::Method::DELETE, format!("{PATH}/{id}")),
        (reqwest::Method::GET, format!("{PATH}/{id}/input_items")),
    ] {
        let answer = common::client()
            .request(method, app.url(&path))
            .bearer_auth(&app.api_key)
            .send()
            .await
            .expect("sent");
        assert_eq!(answer.status(), 404, "{path}");
        let error: Value = answer.json().await.expect("json");
        assert_eq!(error["error"]["type"], "invalid_request_error");
        let text = error["error"]["message"].as_str().unwrap_or_default();
        assert!(
            text.contains("stores no responses") && text.contains("`input`"),
            "{text}"
        );
    }
    let (status, param, message) =
        refusal(json!({ "input": "Again.", "previous_response_id": id })).await;
    assert_eq!((status, param.as_str()), (400, "previous_response_id"));
    assert!(
        message.contains("whole conversation in `input`"),
        "{message}"
    );
}

#[tokio::test]
async fn a_reply_cut_by_its_budget_is_incomplete_and_says_why() {
    let body = json!({ "input": "Count from one to fifty in words.", "max_output_tokens": 4, "temperature": 0 });
    let reply = respond(body.clone()).await;
    assert_eq!(reply["status"], "incomplete", "{reply}");
    assert_eq!(reply["incomplete_details"]["reason"], "max_output_tokens");
    assert_eq!(reply["output"][0]["status"], "incomplete");
    assert_eq!(reply["usage"]["output_tokens"], 4);

    let mut streamed = body;
    streamed["stream"] = json!(true);
    let events = stream(streamed).await;
    let last = events.last().expect("events");
    assert_eq!(last["type"], "response.incomplete", "{last}");
    assert_eq!(
        last["response"]["incomplete_details"]["reason"],
        "max_output_tokens"
    );
}

#[tokio::test]
async fn a_streamed_text_reply_sends_openais_events_in_order() {
    let events = stream(json!({
        "input": [{ "role": "user", "content": [{ "type": "input_text", "text": "Say hello." }] }],
        "max_output_tokens": 200, "temperature": 0, "stream": true,
    }))
    .await;
    let names = types(&events);
    let deltas = names
        .iter()
        .filter(|n| **n == "response.output_text.delta")
        .count();
    assert!(deltas > 0, "{names:?}");
    let mut expected = vec![
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
    ];
    expected.extend(std::iter::repeat_n("response.output_text.delta", deltas));
    expected.extend([
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]);
    assert_eq!(names, expected);
    assert_eq!(events[0]["response"]["status"], "in_progress");
    let text: String = events
        .iter()
        .filter(|e| e["type"] == "response.output_text.delta")
        .filter_map(|e| e["delta"].as_str())
        .collect();
    let done = &events[names.len() - 4];
    assert_eq!(done["text"], text.as_str());
    let completed = &events[names.len() - 1]["response"];
    assert_eq!(completed["status"], "completed");
    assert_eq!(completed["output"][0]["content"][0]["text"], text.as_str());
    assert!(completed["usage"]["output_tokens"].as_u64() > Some(0));
}

#[tokio::test]
async fn a_function_call_is_an_output_item_and_its_result_goes_back_as_input() {
    let ask = json!([{ "role": "user", "content": "What is the weather in Paris?" }]);
    let reply = respond(json!({
        "input": ask, "tools": weather_tool(), "tool_choice": "required",
        "max_output_tokens": 100, "temperature": 0,
    }))
    .await;
    let call = &reply["output"][0];
    assert_eq!(call["type"], "function_call", "{reply}");
    assert_eq!(call["name"], "get_weather");
    assert_eq!(call["status"], "completed");
    assert!(call["id"].as_str().unwrap_or_default().starts_with("fc_"));
    let call_id = call["call_id"].as_str().unwrap_or_default();
    assert!(call_id.starts_with("call_"), "{call}");
    let arguments: Value =
        serde_json::from_str(call["arguments"].as_str().unwrap_or_default()).expect("JSON");
    assert!(arguments["city"].is_string(), "{arguments}");
    assert_eq!(reply["tool_choice"], "required");
    assert_eq!(reply["tools"][0]["name"], "get_weather");

    // The call and its output sent back, as the SDKs do: a text answer.
    let mut history = ask.as_array().cloned().unwrap_or_default();
    history.push(call.clone());
    history.push(
        json!({ "type": "function_call_output", "call_id": call_id, "output": "sunny, 21 C" }),
    );
    let answer = respond(json!({
        "input": history, "tools": weather_tool(), "tool_choice": "none",
        "max_output_tokens": 60, "temperature": 0,
    }))
    .await;
    assert_eq!(answer["output"][0]["type"], "message", "{answer}");

    // Streamed, the call's own events.
    let events = stream(json!({
        "input": ask, "tools": weather_tool(), "tool_choice": { "type": "function", "name": "get_weather" },
        "max_output_tokens": 100, "temperature": 0, "stream": true,
    }))
    .await;
    let names = types(&events);
    assert_eq!(
        names[2..],
        [
            "response.output_item.added",
            "response.function_call_arguments.delta",
            "response.function_call_arguments.done",
            "response.output_item.done",
            "response.completed",
        ],
        "{names:?}"
    );
    assert_eq!(events[2]["item"]["type"], "function_call");
    assert_eq!(events[2]["item"]["status"], "in_progress");
    assert_eq!(events[4]["arguments"], events[3]["delta"]);
    assert_eq!(events[4]["name"], "get_weather");
}

#[tokio::test]
async fn text_format_json_schema_is_enforced() {
    let schema = json!({
        "type": "object", "additionalProperties": false, "required": ["city", "sky"],
        "properties": { "city": { "type": "string", "maxLength": 20 },
                        "sky": { "type": "string", "enum": ["sunny", "rain"] } },
    });
    let reply = respond(json!({
        "input": "Describe the weather in Rome.", "max_output_tokens": 100, "temperature": 0,
        "text": { "format": { "type": "json_schema", "name": "weather", "schema": schema, "strict": true } },
    }))
    .await;
    let text = reply["output"][0]["content"][0]["text"]
        .as_str()
        .unwrap_or_default();
    let value: Value = serde_json::from_str(text).expect("JSON output");
    assert!(jsonschema::is_valid(&schema, &value), "{value}");
    assert_eq!(reply["text"]["format"]["name"], "weather");
    let object = respond(json!({
        "input": "A JSON object about Rome.", "max_output_tokens": 60, "temperature": 0,
        "text": { "format": { "type": "json_object" } },
    }))
    .await;
    let text = object["output"][0]["content"][0]["text"]
        .as_str()
        .unwrap_or_default();
    if object["status"] == "completed" {
        assert!(
            serde_json::from_str::<Value>(text).is_ok_and(|v| v.is_object()),
            "{text}"
        );
    }
}

#[tokio::test]
async fn errors_name_the_responses_field() {
    let user = |text: &str| json!({ "role": "user", "content": text });
    let call = json!({ "type": "function_call", "call_id": "c", "name": "get_weather", "arguments": "[1]" });
    let many: Vec<Value> = (0..10_000).map(|_| user("x")).collect();
    let cases = [
        (
            json!({ "input": "x", "max_output_tokens": 0 }),
            "max_output_tokens",
        ),
        (
            json!({ "input": "x", "max_output_tokens": 100_000 }),
            "max_output_tokens",
        ),
        (json!({ "input": "x", "temperature": 3 }), "temperature"),
        (json!({}), "input"),
        (json!({ "input": [] }), "input"),
        (json!({ "input": many }), "input"),
        (
            json!({ "input": [user("a"), { "type": "computer_call" }] }),
            "input[1].type",
        ),
        (
            json!({ "input": [user("a"), { "type": "item_reference", "id": "x" }] }),
            "input[1].type",
        ),
        (json!({ "input": [user("a"), call] }), "input[1].arguments"),
        (
            json!({ "input": [{ "role": "user", "content": [{ "type": "input_image", "image_url": "x" }] }] }),
            "input[0].content[0].type",
        ),
        (
            json!({ "input": [{ "type": "function_call_output", "output": "x" }] }),
            "input[0].call_id",
        ),
        (
            json!({ "input": "x", "tools": [{ "type": "web_search" }] }),
            "tools[0].type",
        ),
        (
            json!({ "input": "x", "tools": [{ "type": "mcp", "server_label": "x" }] }),
            "tools[0].type",
        ),
        (
            json!({ "input": "x", "tools": [{ "type": "function" }] }),
            "tools[0].name",
        ),
        (
            json!({ "input": "x", "tools": [{ "type": "function", "name": "f", "parameters": [] }] }),
            "tools[0].parameters",
        ),
        (
            json!({ "input": "x", "tools": weather_tool(), "tool_choice": { "type": "function", "name": "g" } }),
            "tool_choice.name",
        ),
        (
            json!({ "input": "x", "text": { "format": { "type": "json_schema", "name": "a",
                "schema": { "type": "array", "contains": { "type": "string" } } } } }),
            "text.format.schema",
        ),
        (
            json!({ "input": "x", "include": ["reasoning.encrypted_content"] }),
            "include",
        ),
        (json!({ "input": "x", "background": true }), "background"),
        (
            json!({ "input": "x", "conversation": "conv_1" }),
            "conversation",
        ),
        (
            json!({ "input": "x", "prompt": { "id": "pmpt_1" } }),
            "prompt",
        ),
        (json!({ "input": "x", "truncation": "auto" }), "truncation"),
        (json!({ "input": "x", "top_logprobs": 3 }), "top_logprobs"),
    ];
    for (body, expected) in cases {
        let (status, param, message) = refusal(body).await;
        assert_eq!((status, param.as_str()), (400, expected), "{message}");
        assert!(
            !message.contains("messages") && !message.contains("max_tokens`"),
            "{message}"
        );
    }
    // Defaults of refused fields are accepted, as the SDKs send them.
    let reply = respond(json!({
        "input": "x", "max_output_tokens": 1, "include": [], "background": false,
        "truncation": "disabled", "previous_response_id": null,
    }))
    .await;
    assert_eq!(reply["status"], "incomplete");
}

#[tokio::test]
async fn the_openai_python_sdk_creates_streams_calls_and_parses_responses() {
    run_client(main_python(), "tests/sdk/openai_responses_check.py").await;
}

#[tokio::test]
async fn an_openai_agents_sdk_agent_runs_a_tool_to_its_final_output() {
    run_client(main_python(), "tests/sdk/openai_agents_check.py").await;
}

#[tokio::test]
async fn a_pydantic_ai_agent_on_its_responses_model_answers() {
    run_client(main_python(), "tests/sdk/pydantic_ai_responses_check.py").await;
}
