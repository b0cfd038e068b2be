//! The OpenAI-compatible endpoints, answered by the real default model over real HTTP.

use crate::common;

use common::{greedy_chat, message_text, shared_app, spawn_app, stream_pieces, MODEL};
use serde_json::{json, Value};

#[tokio::test]
async fn models_are_listed_with_openai_fields() {
    let app = shared_app().await;
    let list: Value = app.get("/v1/models").await.json().await.expect("json");
    assert_eq!(list["object"], "list");
    let ids: Vec<&str> = list["data"]
        .as_array()
        .expect("data")
        .iter()
        .filter_map(|m| m["id"].as_str())
        .collect();
    assert_eq!(ids, [MODEL]);
    assert_eq!(list["data"][0]["object"], "model");
    assert!(list["data"][0]["created"].as_u64().is_some());
    assert_eq!(list["data"][0]["owned_by"], "sotto");

    let model: Value = app
        .get(&format!("/v1/models/{MODEL}"))
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(model["id"], MODEL);
    assert_eq!(model["loaded"], true);
    assert_eq!(model["context_length"], 1024);
    assert!(model["chat_template"]
        .as_str()
        .expect("template")
        .contains("<|im_start|>"));
}

#[tokio::test]
async fn chat_completion_has_the_openai_shape() {
    let app = shared_app().await;
    let body = app
        .chat(greedy_chat("What is the capital of France?", 16))
        .await;
    assert_eq!(body["object"], "chat.completion");
    assert!(body["id"].as_str().expect("id").starts_with("chatcmpl-"));
    assert!(body["created"].as_u64().expect("created") > 1_700_000_000);
    assert_eq!(body["model"], MODEL);
    let choice = &body["choices"][0];
    assert_eq!(choice["index"], 0);
    assert_eq!(choice["message"]["role"], "assistant");
    assert!(!message_text(&body).is_empty());
    assert!(["stop", "length"].contains(&choice["finish_reason"].as_str().expect("finish_reason")));
    let usage = &body["usage"];
    assert!(usage["prompt_tokens"].as_u64().expect("prompt_tokens") > 5);
    assert_eq!(
        usage["total_tokens"].as_u64(),
        Some(
            usage["prompt_tokens"].as_u64().unwrap_or(0)
                + usage["completion_tokens"].as_u64().unwrap_or(0)
        )
    );
}

#[tokio::test]
async fn content_parts_are_accepted_like_a_string() {
    let app = shared_app().await;
    let plain = app.chat(greedy_chat("Name a colour.", 12)).await;
    let mut parts = greedy_chat("", 12);
    parts["messages"][0]["content"] =
        json!([{ "type": "text", "text": "Name a " }, { "type": "text", "text": "colour." }]);
    let with_parts = app.chat(parts).await;
    assert_eq!(message_text(&plain), message_text(&with_parts));
}

#[tokio::test]
async fn streaming_chat_matches_the_non_streaming_answer() {
    let app = shared_app().await;
    let mut body = greedy_chat("Write one sentence about the sea.", 24);
    let whole = message_text(&app.chat(body.clone()).await);
    body["stream"] = json!(true);
    body["stream_options"] = json!({ "include_usage": true });
    let payloads = app.stream("/v1/chat/completions", body).await;
    assert_eq!(payloads.last().map(String::as_str), Some("[DONE]"));
    let chunks: Vec<Value> = payloads[..payloads.len() - 1]
        .iter()
        .map(|p| serde_json::from_str(p).expect("chunk json"))
        .collect();
    assert!(chunks
        .iter()
        .all(|c| c["object"] == "chat.completion.chunk" && c["id"] == chunks[0]["id"]));
    assert_eq!(chunks[0]["choices"][0]["delta"]["role"], "assistant");
    // The last chunk carries usage and no choices; the one before it the finish reason.
    let usage_chunk = &chunks[chunks.len() - 1];
    assert_eq!(usage_chunk["choices"], json!([]));
    assert_eq!(usage_chunk["usage"]["completion_tokens"], 24);
    let finish_chunk = &chunks[chunks.len() - 2];
    assert_eq!(finish_chunk["choices"][0]["finish_reason"], "length");
    assert!(chunks[..chunks.len() - 1]
        .iter()
        .all(|c| c["usage"].is_null()));
    assert_eq!(stream_pieces(&payloads).concat(), whole);
}

#[tokio::test]
async fn legacy_completions_stream_and_not() {
    let app = shared_app().await;
    let body = json!({ "model": MODEL, "prompt": "The three primary colours are", "temperature": 0, "max_tokens": 10 });
    let response = app.post("/v1/completions", body.clone()).await;
    assert_eq!(response.status(), 200);
    let whole: Value = response.json().await.expect("json");
    assert_eq!(whole["object"], "text_completion");
    assert!(whole["id"].as_str().expect("id").starts_with("cmpl-"));
    assert_eq!(whole["usage"]["completion_tokens"], 10);
    assert_eq!(whole["choices"][0]["finish_reason"], "length");
    let text = whole["choices"][0]["text"].as_str().expect("text");

    let mut streamed = body;
    streamed["stream"] = json!(true);
    let payloads = app.stream("/v1/completions", streamed).await;
    assert_eq!(payloads.last().map(String::as_str), Some("[DONE]"));
    assert_eq!(stream_pieces(&payloads).concat(), text);
}

#[tokio::test]
async fn max_tokens_gives_length_with_exactly_that_many_tokens() {
    let app = shared_app().await;
    for (field, n) in [
        ("max_tokens", 1),
        ("max_tokens", 7),
        ("max_completion_tokens", 13),
    ] {
        let body =
            json!({ "model": MODEL, "prompt": "1, 2, 3, 4, 5,", "temperature": 0, field: n });
        let whole: Value = app
            .post("/v1/completions", body)
            .await
            .json()
            .await
            .expect("json");
        assert_eq!(
            whole["choices"][0]["finish_reason"], "length",
            "{field}={n}"
        );
        assert_eq!(whole["usage"]["completion_tokens"], n, "{field}={n}");
    }
}

#[tokio::test]
async fn same_seed_same_text_and_seeds_matter() {
    let app = shared_app().await;
    let sample = |seed: u32| {
        json!({
            "model": MODEL,
            "messages": [{ "role": "user", "content": "Invent a name for a cat." }],
            "temperature": 1.0, "top_k": 0, "top_p": 1.0, "min_p": 0.0,
            "seed": seed, "max_tokens": 24,
        })
    };
    let first = message_text(&app.chat(sample(7)).await);
    let again = message_text(&app.chat(sample(7)).await);
    assert_eq!(first, again);
    let mut others = std::collections::BTreeSet::new();
    for seed in [8, 9, 10] {
        others.insert(message_text(&app.chat(sample(seed)).await));
    }
    others.insert(first);
    assert!(others.len() >= 2, "four seeds gave one text: {others:?}");
}

/// How many tokens the default model makes of `text`, counted in this process.
fn token_count(text: &str) -> usize {
    common::vocab_model()
        .vocab()
        .tokenize(text.as_bytes(), false, false)
        .len()
}

#[tokio::test]
async fn stop_sequences_match_across_token_boundaries_and_are_not_returned() {
    let app = shared_app().await;
    let base = json!({
        "model": MODEL, "prompt": "Once upon a time, in a small village by the sea,",
        "temperature": 0, "max_tokens": 40, "stream": true,
    });
    let pieces = stream_pieces(&app.stream("/v1/completions", base.clone()).await);
    let full = pieces.concat();
    // A stop sequence made of the end of one token and the start of the next.
    let (index, _) = pieces
        .iter()
        .enumerate()
        .skip(3)
        .find(|(i, piece)| {
            piece.chars().count() >= 2
                && pieces
                    .get(i + 1)
                    .is_some_and(|next| next.chars().count() >= 2)
        })
        .expect("two adjacent multi-character tokens");
    let tail: String = pieces[index]
        .chars()
        .rev()
        .take(2)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    let head: String = pieces[index + 1].chars().take(2).collect();
    let stop = format!("{tail}{head}");
    let expected = &full[..full.find(&stop).expect("stop occurs")];
    // The stop spans tokens however it is cut: no single token holds it.
    assert!(token_count(&stop) >= 2, "{stop:?} is one token");
    assert!(token_count(&pieces[index]) == 1 && token_count(&pieces[index + 1]) == 1);

    for stream in [false, true] {
        let mut body = base.clone();
        body["stream"] = json!(stream);
        body["stop"] = json!(["never-generated-xyz", stop]);
        let text = if stream {
            stream_pieces(&app.stream("/v1/completions", body).await).concat()
        } else {
            let whole: Value = app
                .post("/v1/completions", body)
                .await
                .json()
                .await
                .expect("json");
            assert_eq!(whole["choices"][0]["finish_reason"], "stop");
            whole["choices"][0]["text"]
                .as_str()
                .expect("text")
                .to_owned()
        };
        // Exactly the text before the stop: no part of the stop, not even its first
        // characters (which a stream must hold back until the next token tells).
        assert_eq!(text, expected, "stream={stream}");
        assert!(!text.contains(&stop));
    }
    // A single string works as well as an array.
    let mut body = base;
    body["stream"] = json!(false);
    body["stop"] = json!(stop);
    let whole: Value = app
        .post("/v1/completions", body)
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(whole["choices"][0]["text"], expected);
}

#[tokio::test]
async fn cjk_and_emoji_stream_whole_characters() {
    // Its own server: the chat case needs the greedy reply to hold emoji, and on the shared
    // one other tests' requests change how its prompt is batched, which can flip that reply
    // to plain English (seen in full runs; alone it never does).
    let app = spawn_app(|_| {}).await;
    let cases = [
        (
            "/v1/completions",
            json!({ "model": MODEL, "prompt": "日本語の文章です。東京は日本の首都です。大阪は", "temperature": 0, "max_tokens": 40 }),
        ),
        (
            "/v1/chat/completions",
            greedy_chat("Reply with three emoji about cats.", 30),
        ),
    ];
    for (path, body) in cases {
        let whole: Value = app
            .post(path, body.clone())
            .await
            .json()
            .await
            .expect("json");
        let expected = whole["choices"][0]["message"]["content"]
            .as_str()
            .or(whole["choices"][0]["text"].as_str())
            .expect("text")
            .to_owned();
        let mut streamed = body;
        streamed["stream"] = json!(true);
        let pieces = stream_pieces(&app.stream(path, streamed).await);
        assert!(pieces.iter().all(|p| !p.contains('\u{fffd}')), "{pieces:?}");
        assert!(
            expected.chars().any(|c| c.len_utf8() >= 3),
            "no CJK or emoji in {expected:?}"
        );
        assert_eq!(pieces.concat(), expected);
        // Characters spanning several tokens arrived whole: fewer pieces than tokens.
        let tokens = whole["usage"]["completion_tokens"]
            .as_u64()
            .expect("tokens") as usize;
        assert!(
            pieces.len() < tokens,
            "{} pieces for {tokens} tokens",
            pieces.len()
        );
    }
}

#[tokio::test]
async fn without_max_tokens_the_server_default_applies_and_says_so() {
    let app = spawn_app(|config| config.max_tokens_default = 5).await;
    // The end tokens are banned, so only a limit can end the reply.
    let body = json!({
        "model": MODEL,
        "messages": [{ "role": "user", "content": "Tell me a long story about dragons." }],
        "temperature": 0,
        "logit_bias": { "0": -100, "2": -100 },
    });
    let response = app.post("/v1/chat/completions", body.clone()).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["x-sotto-max-tokens-default"], "5");
    let whole: Value = response.json().await.expect("json");
    assert_eq!(whole["usage"]["completion_tokens"], 5);
    assert_eq!(whole["choices"][0]["finish_reason"], "length");

    // A stream says so in its headers, before the first token.
    let mut streamed = body.clone();
    streamed["stream"] = json!(true);
    streamed["stream_options"] = json!({ "include_usage": true });
    let response = app.post("/v1/chat/completions", streamed).await;
    assert_eq!(response.headers()["x-sotto-max-tokens-default"], "5");
    let payloads = common::sse_payloads(response).await;
    let usage: Value = serde_json::from_str(&payloads[payloads.len() - 2]).expect("usage chunk");
    assert_eq!(usage["usage"]["completion_tokens"], 5);

    // A limit the request sets wins, and no default is reported.
    for field in ["max_tokens", "max_completion_tokens"] {
        let mut explicit = body.clone();
        explicit[field] = json!(8);
        let response = app.post("/v1/chat/completions", explicit).await;
        assert!(!response
            .headers()
            .contains_key("x-sotto-max-tokens-default"));
        let whole: Value = response.json().await.expect("json");
        assert_eq!(whole["usage"]["completion_tokens"], 8, "{field}");
    }

    // Browser clients on other origins may read the header too.
    let response = common::client()
        .post(app.url("/v1/chat/completions"))
        .bearer_auth(&app.api_key)
        .header("origin", "https://client.example")
        .json(&body)
        .send()
        .await
        .expect("request sent");
    let exposed = response.headers()["access-control-expose-headers"]
        .to_str()
        .expect("header")
        .to_ascii_lowercase();
    assert!(exposed.contains("x-sotto-max-tokens-default"), "{exposed}");

    let list: Value = app.get("/v1/models").await.json().await.expect("json");
    assert_eq!(list["data"][0]["max_tokens_default"], 5);
}
