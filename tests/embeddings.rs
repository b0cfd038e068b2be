//! `POST /v1/embeddings`, answered by the real default model over real HTTP: the shape OpenAI
//! clients read, vectors that mean something, every form of input, the limits, and callers
//! sharing the embeddings context fairly.

use crate::common;

use std::time::{Duration, Instant};

use base64::Engine as _;
use common::{new_user_key, shared_app, spawn_app, vocab_model, TestApp, MODEL};
use serde_json::{json, Value};

/// The default model's hidden size: its vectors' length.
const DIMENSIONS: usize = 576;

async fn embed_with(app: &TestApp, key: &str, body: Value) -> reqwest::Response {
    common::client()
        .post(app.url("/v1/embeddings"))
        .bearer_auth(key)
        .json(&body)
        .send()
        .await
        .expect("request sent")
}

/// A request that must succeed; returns its JSON.
async fn embed(app: &TestApp, body: Value) -> Value {
    let response = embed_with(app, &app.api_key, body).await;
    let status = response.status();
    let text = response.text().await.unwrap_or_default();
    assert_eq!(status, 200, "{text}");
    serde_json::from_str(&text).expect("JSON")
}

fn vectors(list: &Value) -> Vec<Vec<f32>> {
    list["data"]
        .as_array()
        .expect("data")
        .iter()
        .map(|item| {
            item["embedding"]
                .as_array()
                .expect("a float array")
                .iter()
                .map(|x| x.as_f64().expect("a number") as f32)
                .collect()
        })
        .collect()
}

fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// A 400 naming `param`; returns its message.
async fn refused(response: reqwest::Response, param: &str) -> String {
    let status = response.status();
    let body: Value = response.json().await.expect("JSON error");
    assert_eq!(status, 400, "`{param}`: {body:.200}");
    assert_eq!(body["error"]["type"], "invalid_request_error", "{body}");
    assert_eq!(body["error"]["param"], param, "{body}");
    body["error"]["message"]
        .as_str()
        .expect("message")
        .to_owned()
}

#[tokio::test]
async fn two_inputs_give_unit_vectors_of_one_length_in_openais_shape() {
    let app = shared_app().await;
    let texts = ["The cat sits on the mat.", "Stock markets fell on Monday."];
    let list = embed(app, json!({ "model": MODEL, "input": texts })).await;
    assert_eq!(list["object"], "list");
    assert_eq!(list["model"], MODEL);
    for (index, item) in list["data"].as_array().expect("data").iter().enumerate() {
        assert_eq!(item["object"], "embedding");
        assert_eq!(item["index"], index);
    }
    let vectors = vectors(&list);
    assert_eq!(vectors.len(), 2);
    for vector in &vectors {
        assert_eq!(vector.len(), DIMENSIONS);
        let norm = dot(vector, vector).sqrt();
        assert!((norm - 1.0).abs() < 1e-4, "norm {norm}");
    }
    assert_ne!(vectors[0], vectors[1]);
    // The tokens of both texts, with the special tokens the tokenizer adds.
    let vocab = vocab_model().vocab();
    let tokens: usize = texts
        .iter()
        .map(|text| vocab.tokenize(text.as_bytes(), true, false).len())
        .sum();
    assert_eq!(list["usage"]["prompt_tokens"], tokens);
    assert_eq!(list["usage"]["total_tokens"], tokens);
}

#[tokio::test]
async fn a_paraphrase_is_closer_than_an_unrelated_sentence() {
    let app = shared_app().await;
    // Measured with this model: paraphrases 0.89-0.97, unrelated sentences 0.71-0.80.
    let triples = [
        (
            "The cat sits on the mat.",
            "A cat is sitting on the mat.",
            "Stock markets fell sharply on Monday.",
        ),
        (
            "How do I reset my password?",
            "How can I change my password?",
            "The recipe needs two cups of flour.",
        ),
        (
            "The weather is sunny and warm today.",
            "Today it is warm and sunny outside.",
            "He plays the violin in an orchestra.",
        ),
    ];
    for (text, paraphrase, unrelated) in triples {
        let list = embed(app, json!({ "input": [text, paraphrase, unrelated] })).await;
        let v = vectors(&list);
        let (close, far) = (dot(&v[0], &v[1]), dot(&v[0], &v[2]));
        assert!(close > far + 0.05, "{text}: {close} vs {far}");
    }
}

/// Exact comparisons on a server of their own: a vector decoded in the same batch as other
/// requests' inputs can differ in its last digits (llama.cpp's kernels depend on batch size).
#[tokio::test]
async fn base64_and_token_ids_give_exactly_the_vectors_of_floats_and_text() {
    let app = spawn_app(|_| {}).await;
    let text = "Embeddings turn text into vectors.";
    let floats = vectors(&embed(&app, json!({ "input": text })).await);
    let encoded = embed(&app, json!({ "input": text, "encoding_format": "base64" })).await;
    let encoded = encoded["data"][0]["embedding"].as_str().expect("a string");
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .expect("base64");
    let decoded: Vec<f32> = bytes
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    assert_eq!(decoded, floats[0]);

    let ids: Vec<i32> = vocab_model()
        .vocab()
        .tokenize(text.as_bytes(), false, false)
        .iter()
        .map(|t| t.0)
        .collect();
    let from_ids = embed(&app, json!({ "input": ids })).await;
    assert_eq!(vectors(&from_ids), floats);
    let lists = embed(&app, json!({ "input": [ids, ids] })).await;
    assert_eq!(lists["data"].as_array().map(Vec::len), Some(2));
    assert_eq!(
        from_ids["usage"]["prompt_tokens"],
        embed(&app, json!({ "input": text })).await["usage"]["prompt_tokens"]
    );
}

#[tokio::test]
async fn too_many_inputs_too_long_ones_and_bad_values_are_refused_by_name() {
    let app = shared_app().await;
    let post = |body: Value| app.post("/v1/embeddings", body);
    refused(post(json!({ "input": vec!["a"; 2049] })).await, "input").await;
    refused(post(json!({ "input": vec!["a"; 10_000] })).await, "input").await;
    refused(post(json!({ "input": [] })).await, "input").await;
    refused(post(json!({ "input": ["a", ""] })).await, "input[1]").await;
    refused(post(json!({ "model": MODEL })).await, "input").await;
    // Longer than the embeddings context (1024 tokens, the tests' `--ctx-size`): refused,
    // never cut short; the message names it and repeats none of it.
    let long = "secretword ".repeat(1100);
    let message = refused(post(json!({ "input": ["short", long] })).await, "input[1]").await;
    assert!(message.contains("1024"), "{message}");
    assert!(!message.contains("secretword"), "{message}");
    let message = refused(
        post(json!({ "input": [[1, 2], [3, -1]] })).await,
        "input[1]",
    )
    .await;
    assert!(message.contains("vocabulary"), "{message}");
    refused(post(json!({ "input": [1, 1_i64 << 40] })).await, "input").await;
    let message = refused(
        post(json!({ "input": "a", "dimensions": 256 })).await,
        "dimensions",
    )
    .await;
    assert!(message.contains("576"), "{message}");
    refused(
        post(json!({ "input": "a", "encoding_format": "int8" })).await,
        "encoding_format",
    )
    .await;
    // The model's own size is accepted.
    let list = embed(app, json!({ "input": "a", "dimensions": DIMENSIONS })).await;
    assert_eq!(vectors(&list)[0].len(), DIMENSIONS);
}

#[tokio::test]
async fn unknown_fields_pass_silently_and_user_is_named_as_ignored() {
    let app = shared_app().await;
    let response = app
        .post(
            "/v1/embeddings",
            json!({ "input": "a", "not_an_openai_field": true }),
        )
        .await;
    assert_eq!(response.status(), 200);
    assert!(response.headers().get("x-sotto-ignored-params").is_none());
    let response = app
        .post("/v1/embeddings", json!({ "input": "a", "user": "someone" }))
        .await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["x-sotto-ignored-params"], "user");
    // Auth as for chat: no key, no embeddings.
    let anonymous = common::client()
        .post(app.url("/v1/embeddings"))
        .json(&json!({ "input": "a" }))
        .send()
        .await
        .expect("sent");
    assert_eq!(anonymous.status(), 401);
}

/// One caller's large batch is processed in pieces: another caller's requests, sent after it
/// started, are answered while it still runs.
#[tokio::test]
async fn a_second_caller_is_served_while_a_large_batch_runs() {
    let app = shared_app().await;
    let (other_key, _, _) = new_user_key(app).await;
    // About 560 tokens: several of the embeddings thread's decodes (at least 128 tokens each).
    let inputs: Vec<String> = (0..48)
        .map(|i| format!("Sentence number {i} is about something else entirely."))
        .collect();
    let large = async {
        let started = Instant::now();
        let response = embed_with(app, &app.api_key, json!({ "input": inputs })).await;
        assert_eq!(response.status(), 200);
        let list: Value = response.json().await.expect("JSON");
        assert_eq!(vectors(&list).len(), 48);
        started.elapsed()
    };
    let small = async {
        // Long enough for the large request to be queued first.
        tokio::time::sleep(Duration::from_millis(200)).await;
        let started = Instant::now();
        let requests = (0..4).map(|i| {
            embed_with(
                app,
                &other_key,
                json!({ "input": format!("Question {i}?") }),
            )
        });
        for response in futures::future::join_all(requests).await {
            assert_eq!(response.status(), 200);
        }
        started.elapsed() + Duration::from_millis(200)
    };
    let (large, small) = tokio::join!(large, small);
    eprintln!("48 inputs: {large:?}; the other caller's 4 requests: {small:?}");
    assert!(small < large, "the other caller waited for the whole batch");
}
