//! docs/compatibility.md against the running server: every field its tables list does what
//! the table says (a refused one is a 400 naming it, an ignored one is named in
//! `x-sotto-ignored-params`, a supported one is not), and an unknown `/v1` path is a 404 that
//! lists exactly the `/v1` routes of `src/router.rs`, which are exactly the document's sections.
//! (That the tables match the request types' own lists is a unit test in
//! `src/api/request/fields.rs`.)

use crate::common;
use crate::privacy::routes;

use std::collections::BTreeSet;

use common::{client, shared_app, MODEL};
use serde_json::{json, Value};

const DOC: &str = include_str!("../docs/compatibility.md");
const IGNORED_HEADER: &str = "x-sotto-ignored-params";

/// Each `## METHOD /v1/...` section of the document, with its table's (field, status) rows.
fn documented() -> Vec<(String, Vec<(String, String)>)> {
    DOC.split("\n## ")
        .skip(1)
        .map(|section| {
            let (heading, body) = section.split_once('\n').unwrap_or((section, ""));
            let rows = body
                .lines()
                .filter_map(|line| line.strip_prefix("| `"))
                .map(|row| {
                    let (name, rest) = row.split_once('`').expect("a field in backticks");
                    let status = rest.split('|').nth(1).expect("a status cell").trim();
                    (name.to_owned(), status.to_owned())
                })
                .collect();
            (heading.trim().to_owned(), rows)
        })
        .collect()
}

/// The `/v1` routes `src/router.rs` declares, as `METHOD /path`.
fn v1_routes() -> BTreeSet<String> {
    routes::in_router()
        .into_iter()
        .filter(|(_, path)| path.starts_with("/v1/"))
        .map(|(method, path)| format!("{method} {path}"))
        .collect()
}

async fn error_of(response: reqwest::Response, status: u16) -> (reqwest::header::HeaderMap, Value) {
    assert_eq!(response.status(), status, "{}", response.url());
    let headers = response.headers().clone();
    let body: Value = response.json().await.expect("a JSON error");
    assert_eq!(body["error"]["type"], "invalid_request_error", "{body}");
    (headers, body)
}

#[tokio::test]
async fn an_unknown_v1_path_is_a_404_naming_it_and_listing_every_endpoint() {
    let app = shared_app().await;
    let http = client();
    for (method, path) in [
        (reqwest::Method::POST, "/v1/threads"),
        (reqwest::Method::GET, "/v1/files"),
        (reqwest::Method::DELETE, "/v1/chat"),
        (reqwest::Method::GET, "/v1"),
    ] {
        let response = http
            .request(method.clone(), app.url(path))
            .bearer_auth(&app.api_key)
            .send()
            .await
            .expect("sent");
        let (_, body) = error_of(response, 404).await;
        assert_eq!(body["error"]["code"], "unknown_endpoint", "{body}");
        let message = body["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains(&format!("`{method} {path}`")), "{message}");
        assert!(message.contains("not the model"), "{message}");
        // The list in the message is the router's `/v1` routes, no more and no less.
        let listed: BTreeSet<String> = message
            .rsplit_once("endpoints are ")
            .map(|(_, list)| list.trim_end_matches('.'))
            .unwrap_or_default()
            .split(", ")
            .map(str::to_owned)
            .collect();
        assert_eq!(
            listed,
            v1_routes(),
            "the 404's list (router.rs V1_ENDPOINTS) differs from the router's /v1 routes"
        );
    }
    let sections: BTreeSet<String> = documented().into_iter().map(|(h, _)| h).collect();
    assert_eq!(
        sections,
        v1_routes(),
        "docs/compatibility.md needs one section per /v1 route"
    );

    // A long path is cut to its first 100 characters.
    let long = format!("/v1/{}", "abcdefghij".repeat(30));
    let (_, body) = error_of(app.get(&long).await, 404).await;
    let message = body["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains(&format!("`GET {}…`", &long[..100])),
        "{message}"
    );
    assert!(!message.contains(&long[..101]), "{message}");

    // Elsewhere, the plain 404 of before.
    let (_, body) = error_of(app.get("/no/such/page").await, 404).await;
    assert_eq!(body["error"]["code"], "unknown_url", "{body}");
}

#[tokio::test]
async fn a_wrong_method_on_a_v1_route_is_a_405_naming_the_right_ones() {
    let app = shared_app().await;
    let (headers, body) = error_of(app.get("/v1/chat/completions").await, 405).await;
    assert_eq!(headers["allow"], "POST");
    assert_eq!(body["error"]["code"], "method_not_allowed");
    let message = body["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("/v1/chat/completions") && message.contains("GET"),
        "{message}"
    );
    let models = app
        .post("/v1/models/{id}".replace("{id}", MODEL).as_str(), json!({}))
        .await;
    let (headers, body) = error_of(models, 405).await;
    assert_eq!(headers["allow"], "GET, HEAD");
    let message = body["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("`/v1/models/{id}`"), "{message}");
}

/// A value of `field` for the table's verdict: one that asks for what a refused field does,
/// any for an ignored one, a valid one (with the fields it needs) for a supported one.
fn sample(endpoint: &str, field: &str, status: &str) -> Value {
    if endpoint.starts_with("/v1/messages") {
        return messages_sample(endpoint, field, status);
    }
    let tools = if endpoint.contains("responses") {
        json!([{ "type": "function", "name": "f" }])
    } else {
        json!([{ "type": "function", "function": { "name": "f" } }])
    };
    let value = match (field, status) {
        ("best_of", "refused") => json!(2),
        ("n", _) => json!(2),
        ("top_logprobs", "refused") => json!(2),
        ("echo", "refused") => json!(true),
        ("suffix", "refused") => json!("after"),
        ("functions", "refused") => json!([{ "name": "f" }]),
        ("function_call", "refused") => json!("auto"),
        ("previous_response_id", "refused") => json!("resp_1"),
        ("conversation", "refused") => json!("conv_1"),
        ("background", "refused") => json!(true),
        ("prompt", "refused") => json!({ "id": "pmpt_1" }),
        ("include", "refused") => json!(["reasoning.encrypted_content"]),
        ("truncation", "refused") => json!("auto"),
        (_, "ignored") => json!({ "any": ["value"] }),
        ("messages", _) => json!([{ "role": "user", "content": "Hi" }]),
        ("input", _) if endpoint.contains("embeddings") => json!(["Hi", "there"]),
        ("input", _) => json!([{ "role": "user", "content": "Hi" }]),
        ("instructions", _) => json!("Be brief."),
        ("text", _) => json!({ "format": { "type": "text" } }),
        ("model", _) => json!(MODEL),
        ("prompt", _) => json!("Hi"),
        ("max_tokens" | "max_completion_tokens" | "max_output_tokens", _) => json!(1),
        ("temperature" | "top_p" | "min_p", _) => json!(0.5),
        ("frequency_penalty" | "presence_penalty", _) => json!(0.1),
        ("repeat_penalty", _) => json!(1.1),
        ("top_k" | "seed", _) => json!(7),
        ("logit_bias", _) => json!({ "0": -1 }),
        ("logprobs", _) => json!(if endpoint.contains("chat") {
            json!(true)
        } else {
            json!(1)
        }),
        ("top_logprobs", _) => return json!({ "logprobs": true, "top_logprobs": 2 }),
        ("stop", _) => json!(["\n\n"]),
        ("stream", _) => json!(true),
        ("stream_options", _) => return json!({ "stream": true, field: { "include_usage": true } }),
        ("response_format", _) => json!({ "type": "text" }),
        ("tools", _) => return json!({ field: tools, "tool_choice": "none" }),
        ("tool_choice" | "parallel_tool_calls", _) => {
            return json!({ "tools": tools, "tool_choice": "none", "parallel_tool_calls": false })
        }
        ("reasoning_format", _) => json!("none"),
        ("dimensions", "refused") => json!(7),
        ("encoding_format", _) => json!("base64"),
        _ => panic!("{endpoint}: no sample for `{field}` ({status}); add one to this test"),
    };
    json!({ field: value })
}

/// [`sample`] for Anthropic's Messages fields.
fn messages_sample(endpoint: &str, field: &str, status: &str) -> Value {
    let tools = json!([{ "name": "f", "input_schema": { "type": "object" } }]);
    let value = match (field, status) {
        ("container", "refused") => json!("container_1"),
        ("output_config", "refused") => json!({ "effort": "low" }),
        (_, "ignored") => json!({ "any": ["value"] }),
        ("messages", _) => {
            json!([{ "role": "user", "content": [{ "type": "text", "text": "Hi" }] }])
        }
        ("model", _) => json!(MODEL),
        ("max_tokens", _) => json!(1),
        ("system", _) => json!([{ "type": "text", "text": "Be brief." }]),
        ("stop_sequences", _) => json!(["\n\n"]),
        ("stream", _) => json!(true),
        ("temperature" | "top_p", _) => json!(0.5),
        ("top_k", _) => json!(7),
        ("thinking", _) => json!({ "type": "enabled", "budget_tokens": 1024 }),
        ("tools" | "tool_choice", _) => {
            return json!({ "tools": tools, "tool_choice": { "type": "none" } })
        }
        _ => panic!("{endpoint}: no sample for `{field}` ({status}); add one to this test"),
    };
    json!({ field: value })
}

fn request(endpoint: &str, extra: &Value) -> Value {
    if endpoint.contains("embeddings") {
        let mut body = json!({ "input": "Hi", "model": MODEL });
        for (key, value) in extra.as_object().expect("an object") {
            body[key.as_str()] = value.clone();
        }
        return body;
    }
    let (mut body, budget) = if endpoint.contains("chat") || endpoint.starts_with("/v1/messages") {
        (
            json!({ "messages": [{ "role": "user", "content": "Hi" }] }),
            "max_tokens",
        )
    } else if endpoint.contains("responses") {
        (json!({ "input": "Hi" }), "max_output_tokens")
    } else {
        (json!({ "prompt": "Hi" }), "max_tokens")
    };
    for (key, value) in [
        ("model", json!(MODEL)),
        (budget, json!(1)),
        ("temperature", json!(0)),
    ] {
        body[key] = value;
    }
    for (key, value) in extra.as_object().expect("an object") {
        body[key.as_str()] = value.clone();
    }
    body
}

#[tokio::test]
async fn every_documented_field_does_what_the_document_says() {
    let app = shared_app().await;
    let mut checked = 0;
    for (heading, rows) in documented() {
        let Some(path) = heading.strip_prefix("POST ") else {
            assert!(
                rows.is_empty(),
                "{heading} takes no body: its table is {rows:?}"
            );
            continue;
        };
        let mut ignored = Vec::new();
        let mut all_ignored = serde_json::Map::new();
        for (field, status) in &rows {
            let extra = sample(path, field, status);
            let response = app.post(path, request(path, &extra)).await;
            let code = response.status().as_u16();
            let named = response
                .headers()
                .get(IGNORED_HEADER)
                .map(|value| value.to_str().unwrap_or_default().to_owned());
            let body = response.text().await.unwrap_or_default();
            match status.as_str() {
                "refused" => {
                    assert_eq!(code, 400, "{path} `{field}`: {body}");
                    let error: Value = serde_json::from_str(&body).expect("JSON");
                    if path.starts_with("/v1/messages") {
                        // Anthropic's shape has no `param`: the message begins with the field.
                        let message = error["error"]["message"].as_str().unwrap_or_default();
                        assert!(message.starts_with(&format!("{field}: ")), "{path}: {body}");
                    } else {
                        assert_eq!(error["error"]["param"], field.as_str(), "{path}: {body}");
                    }
                }
                "ignored" => {
                    assert_eq!(code, 200, "{path} `{field}`: {body}");
                    assert_eq!(named.as_deref(), Some(field.as_str()), "{path}");
                    ignored.push(field.as_str());
                    all_ignored.extend(extra.as_object().cloned().unwrap_or_default());
                }
                "supported" => {
                    assert_eq!(code, 200, "{path} `{field}`: {body}");
                    assert_eq!(named, None, "{path} `{field}` is supported, not ignored");
                }
                other => panic!("{path} `{field}`: unknown status `{other}`"),
            }
            checked += 1;
        }
        // All of them at once, named in the table's order; `null` counts as not sent, and so
        // does a field no table lists.
        all_ignored.insert("not_an_openai_field".into(), json!(true));
        let nulled = usize::from(ignored.len() > 1);
        if nulled == 1 {
            all_ignored.insert(ignored[0].into(), Value::Null);
        }
        let response = app
            .post(path, request(path, &Value::Object(all_ignored)))
            .await;
        assert_eq!(response.status(), 200, "{path}");
        let header = response
            .headers()
            .get(IGNORED_HEADER)
            .map(|value| value.to_str().unwrap_or_default().to_owned());
        assert_eq!(header, Some(ignored[nulled..].join(", ")), "{path}");
    }
    assert!(checked > 60, "only {checked} fields were checked");
}
