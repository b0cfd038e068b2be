//! `logprobs` and `top_logprobs`: OpenAI's shapes for chat and legacy completions, whole and
//! streamed, with values that are log-probabilities of the model's own distribution.

use crate::common;

use common::{greedy_chat, shared_app, MODEL};
use serde_json::{json, Value};

/// Checks one chat `logprobs.content` entry; returns its logprob and its alternatives'.
fn check_entry(entry: &Value, top: usize) -> (f64, Vec<f64>) {
    let token = entry["token"].as_str().expect("token");
    let bytes: Vec<u8> = entry["bytes"]
        .as_array()
        .expect("bytes")
        .iter()
        .map(|b| u8::try_from(b.as_u64().expect("a byte")).expect("a byte"))
        .collect();
    assert_eq!(String::from_utf8_lossy(&bytes), token, "{entry}");
    let logprob = entry["logprob"].as_f64().expect("logprob");
    assert!(logprob <= 0.0, "{entry}");
    let alternatives: Vec<f64> = entry["top_logprobs"]
        .as_array()
        .expect("top_logprobs")
        .iter()
        .map(|alternative| {
            assert!(alternative["token"].is_string() && alternative["bytes"].is_array());
            alternative["logprob"].as_f64().expect("logprob")
        })
        .collect();
    assert_eq!(alternatives.len(), top, "as many as asked: {entry}");
    assert!(
        alternatives.windows(2).all(|pair| pair[0] >= pair[1]),
        "most likely first: {entry}"
    );
    (logprob, alternatives)
}

#[tokio::test]
async fn chat_logprobs_have_openai_shape_and_greedy_picks_the_top_token() {
    let app = shared_app().await;
    let mut request = greedy_chat("Name three colours.", 8);
    request["logprobs"] = json!(true);
    request["top_logprobs"] = json!(5);
    let reply = app.chat(request).await;
    let choice = &reply["choices"][0];
    let content = choice["logprobs"]["content"].as_array().expect("content");
    let completion_tokens = reply["usage"]["completion_tokens"].as_u64().expect("usage");
    // One entry per completion token (an end-of-turn token is neither: it adds no text).
    assert_eq!(content.len() as u64, completion_tokens, "{reply}");
    assert!(choice["logprobs"]["refusal"].is_null());
    let mut text = String::new();
    for entry in content {
        let (logprob, alternatives) = check_entry(entry, 5);
        // At temperature 0 the chosen token is the most likely one.
        assert!((logprob - alternatives[0]).abs() < 1e-6, "{entry}");
        assert_eq!(entry["token"], entry["top_logprobs"][0]["token"]);
        text.push_str(entry["token"].as_str().unwrap_or_default());
    }
    assert_eq!(
        text,
        choice["message"]["content"].as_str().expect("content")
    );
    // Probabilities of distinct tokens at one step sum to at most 1.
    let first = &content[0]["top_logprobs"];
    let mass: f64 = (0..5)
        .filter_map(|i| first[i]["logprob"].as_f64())
        .map(f64::exp)
        .sum();
    assert!(mass <= 1.0 + 1e-4, "{mass}");

    // Without `top_logprobs`, each entry has an empty list; without `logprobs`, `null`.
    let mut request = greedy_chat("Name three colours.", 4);
    request["logprobs"] = json!(true);
    let reply = app.chat(request).await;
    for entry in reply["choices"][0]["logprobs"]["content"]
        .as_array()
        .expect("content")
    {
        check_entry(entry, 0);
    }
    let reply = app.chat(greedy_chat("Name three colours.", 4)).await;
    assert!(reply["choices"][0]["logprobs"].is_null(), "{reply}");
}

#[tokio::test]
async fn streamed_chat_logprobs_cover_every_token_once() {
    let app = shared_app().await;
    let mut request = greedy_chat("Name three colours.", 12);
    request["logprobs"] = json!(true);
    request["top_logprobs"] = json!(2);
    let whole = app.chat(request.clone()).await;
    request["stream"] = json!(true);
    let payloads = app.stream("/v1/chat/completions", request).await;
    let mut streamed = Vec::new();
    for payload in payloads.iter().filter(|p| p.as_str() != "[DONE]") {
        let chunk: Value = serde_json::from_str(payload).expect("chunk");
        if let Some(content) = chunk["choices"][0]["logprobs"]["content"].as_array() {
            for entry in content {
                check_entry(entry, 2);
                streamed.push(entry["token"].clone());
            }
        }
    }
    let whole: Vec<Value> = whole["choices"][0]["logprobs"]["content"]
        .as_array()
        .expect("content")
        .iter()
        .map(|entry| entry["token"].clone())
        .collect();
    assert!(!whole.is_empty());
    assert_eq!(streamed, whole);
}

#[tokio::test]
async fn legacy_completions_logprobs_are_parallel_lists() {
    let app = shared_app().await;
    let request = json!({
        "model": MODEL,
        "prompt": "The capital of France is",
        "max_tokens": 6,
        "temperature": 0,
        "logprobs": 3,
    });
    let response = app.post("/v1/completions", request.clone()).await;
    assert_eq!(response.status(), 200);
    let reply: Value = response.json().await.expect("json");
    let choice = &reply["choices"][0];
    let logprobs = &choice["logprobs"];
    let tokens = logprobs["tokens"].as_array().expect("tokens");
    assert!(!tokens.is_empty());
    for list in ["token_logprobs", "top_logprobs", "text_offset"] {
        assert_eq!(
            logprobs[list].as_array().map(Vec::len),
            Some(tokens.len()),
            "{list}"
        );
    }
    let text: String = tokens.iter().filter_map(Value::as_str).collect();
    assert_eq!(text, choice["text"].as_str().expect("text"));
    let mut offset = 0;
    for (i, token) in tokens.iter().enumerate() {
        assert_eq!(logprobs["text_offset"][i], offset);
        offset += token.as_str().unwrap_or_default().chars().count();
        let top = logprobs["top_logprobs"][i].as_object().expect("a map");
        assert!(!top.is_empty() && top.len() <= 3, "{top:?}");
        // Greedy: the chosen token is the most likely, so it is first among its alternatives.
        let (first, best) = top.iter().next().expect("an alternative");
        assert_eq!(Some(first.as_str()), token.as_str());
        assert_eq!(best.as_f64(), logprobs["token_logprobs"][i].as_f64());
    }

    // Streamed: the same tokens, offsets continuing across chunks.
    let mut streamed_request = request;
    streamed_request["stream"] = json!(true);
    let payloads = app.stream("/v1/completions", streamed_request).await;
    let mut streamed = Vec::new();
    let mut offsets = Vec::new();
    for payload in payloads.iter().filter(|p| p.as_str() != "[DONE]") {
        let chunk: Value = serde_json::from_str(payload).expect("chunk");
        let lists = &chunk["choices"][0]["logprobs"];
        if let Some(chunk_tokens) = lists["tokens"].as_array() {
            streamed.extend(chunk_tokens.iter().cloned());
            offsets.extend(
                lists["text_offset"]
                    .as_array()
                    .expect("offsets")
                    .iter()
                    .cloned(),
            );
        }
    }
    assert_eq!(&streamed, tokens);
    assert_eq!(Some(&offsets), logprobs["text_offset"].as_array());
}

#[tokio::test]
async fn out_of_range_logprobs_are_refused_by_name() {
    let app = shared_app().await;
    let cases = [
        (
            "/v1/chat/completions",
            json!({ "logprobs": true, "top_logprobs": 21 }),
            "top_logprobs",
        ),
        (
            "/v1/chat/completions",
            json!({ "top_logprobs": 2 }),
            "top_logprobs",
        ),
        ("/v1/chat/completions", json!({ "logprobs": 2 }), "logprobs"),
        (
            "/v1/chat/completions",
            json!({ "logprobs": true, "top_logprobs": -1 }),
            "top_logprobs",
        ),
        ("/v1/completions", json!({ "logprobs": 21 }), "logprobs"),
        ("/v1/completions", json!({ "logprobs": true }), "logprobs"),
        (
            "/v1/completions",
            json!({ "logprobs": 1, "top_logprobs": 2 }),
            "top_logprobs",
        ),
    ];
    for (path, fields, param) in cases {
        let mut request = if path.contains("chat") {
            greedy_chat("Hi", 2)
        } else {
            json!({ "model": MODEL, "prompt": "Hi", "max_tokens": 2 })
        };
        for (field, value) in fields.as_object().expect("fields") {
            request[field] = value.clone();
        }
        let response = app.post(path, request).await;
        assert_eq!(response.status(), 400, "{path} {fields}");
        let body: Value = response.json().await.expect("json");
        assert_eq!(body["error"]["param"], param, "{body}");
        assert_eq!(body["error"]["type"], "invalid_request_error");
    }
}
