//! What the README's "Using the API" promises about request fields, each shown by what the
//! server answers: the forms of `prompt`, the `developer` role, the `user` field, the
//! sampling defaults, the stop limit, `--max-body` and the numbers in a context error.

use crate::common;

use common::{greedy_chat, message_text, shared_app, spawn_app, MODEL};
use serde_json::{json, Value};

/// A 400 naming `param`; returns its message.
async fn refused(response: reqwest::Response, param: &str) -> String {
    let status = response.status();
    let body: Value = response.json().await.expect("json");
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["param"], param, "{body}");
    body["error"]["message"]
        .as_str()
        .expect("message")
        .to_owned()
}

fn completion_text(completion: &Value) -> String {
    completion["choices"][0]["text"]
        .as_str()
        .expect("text")
        .to_owned()
}

#[tokio::test]
async fn a_prompt_may_be_a_string_a_one_string_array_or_token_ids() {
    let app = shared_app().await;
    let text = "The three primary colours are";
    let with = |prompt: Value| json!({ "model": MODEL, "prompt": prompt, "temperature": 0, "max_tokens": 12 });
    let ids: Vec<i32> = common::vocab_model()
        .vocab()
        .tokenize(text.as_bytes(), false, true)
        .iter()
        .map(|t| t.0)
        .collect();
    let mut answers = Vec::new();
    for prompt in [json!(text), json!([text]), json!(ids)] {
        let response = app.post("/v1/completions", with(prompt.clone())).await;
        assert_eq!(response.status(), 200, "{prompt}");
        let completion: Value = response.json().await.expect("json");
        assert_eq!(completion["usage"]["prompt_tokens"], ids.len(), "{prompt}");
        answers.push(completion_text(&completion));
    }
    assert!(!answers[0].is_empty());
    assert_eq!(answers[0], answers[1], "one-string array");
    assert_eq!(answers[0], answers[2], "token ids");

    // Several prompts, or several token lists, are one request each: said, not guessed.
    refused(
        app.post("/v1/completions", with(json!([text, text]))).await,
        "prompt",
    )
    .await;
    refused(
        app.post("/v1/completions", with(json!([ids.clone(), ids])))
            .await,
        "prompt",
    )
    .await;
    let message = refused(
        app.post("/v1/completions", with(json!([49152_u32 * 10])))
            .await,
        "prompt",
    )
    .await;
    assert!(message.contains("vocabulary"), "{message}");
}

#[tokio::test]
async fn the_developer_role_is_the_system_role() {
    let app = shared_app().await;
    let with = |role: &str| {
        json!({
            "model": MODEL,
            "messages": [
                { "role": role, "content": "You answer every question with one word, in French." },
                { "role": "user", "content": "What colour is the sky?" },
            ],
            "temperature": 0, "max_tokens": 16,
        })
    };
    let system = app.chat(with("system")).await;
    let developer = app.chat(with("developer")).await;
    assert_eq!(message_text(&system), message_text(&developer));
    assert_eq!(
        system["usage"]["prompt_tokens"],
        developer["usage"]["prompt_tokens"]
    );
    // Not dropped: without it the template's own system prompt is used instead.
    let mut without = with("system");
    without["messages"] = json!([without["messages"][1]]);
    let without = app.chat(without).await;
    assert_ne!(
        system["usage"]["prompt_tokens"],
        without["usage"]["prompt_tokens"]
    );
}

#[tokio::test]
async fn the_user_field_is_accepted_and_changes_nothing_and_is_not_stored() {
    let app = spawn_app(|_| {}).await;
    let canary = format!("user-field-canary-{}", common::uuid_like());
    let plain = app.chat(greedy_chat("Name a colour.", 12)).await;
    let mut body = greedy_chat("Name a colour.", 12);
    body["user"] = json!(canary);
    let tagged = app.chat(body.clone()).await;
    assert_eq!(message_text(&plain), message_text(&tagged));
    body["stream"] = json!(true);
    let streamed = app.stream("/v1/chat/completions", body).await;
    assert_eq!(
        common::stream_pieces(&streamed).concat(),
        message_text(&plain)
    );
    // Nothing the server wrote holds it (the database and its journal included).
    for entry in walk(&app.data_dir) {
        let bytes = std::fs::read(&entry).expect("readable");
        assert!(
            !bytes
                .windows(canary.len())
                .any(|window| window == canary.as_bytes()),
            "{} holds the user field",
            entry.display()
        );
    }
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).expect("dir").flatten() {
        let path = entry.path();
        if path.is_dir() {
            files.extend(walk(&path));
        } else {
            files.push(path);
        }
    }
    files
}

#[tokio::test]
async fn absent_sampling_fields_take_the_documented_defaults() {
    // README: temperature 0.8, top_k 40, top_p 0.95, min_p 0.05.
    let app = shared_app().await;
    let request = |seed: u32, sampling: Value| {
        let mut body = json!({
            "model": MODEL,
            "messages": [{ "role": "user", "content": "Invent a name for a cat and describe it." }],
            "seed": seed, "max_tokens": 32,
        });
        for (field, value) in sampling.as_object().expect("fields") {
            body[field] = value.clone();
        }
        body
    };
    let documented = json!({ "temperature": 0.8, "top_k": 40, "top_p": 0.95, "min_p": 0.05 });
    let mut differs = 0;
    for seed in [1, 2, 3, 4] {
        let absent = message_text(&app.chat(request(seed, json!({}))).await);
        let explicit = message_text(&app.chat(request(seed, documented.clone())).await);
        assert_eq!(absent, explicit, "seed {seed}");
        // The comparison can tell: other settings with the same seed give other text.
        let other = json!({ "temperature": 1.5, "top_k": 0, "top_p": 1.0, "min_p": 0.0 });
        if message_text(&app.chat(request(seed, other)).await) != absent {
            differs += 1;
        }
    }
    assert!(differs > 0, "other sampling settings gave the same texts");
}

#[tokio::test]
async fn sixteen_stop_sequences_are_accepted_and_seventeen_refused() {
    let app = shared_app().await;
    let with = |n: usize| {
        let mut body = greedy_chat("Say hello.", 4);
        body["stop"] = json!((0..n).map(|i| format!("never-{i}")).collect::<Vec<_>>());
        body
    };
    assert_eq!(
        app.post("/v1/chat/completions", with(16)).await.status(),
        200
    );
    let message = refused(app.post("/v1/chat/completions", with(17)).await, "stop").await;
    assert!(message.contains("16"), "{message}");
    refused(
        app.post("/v1/completions", {
            let mut body = with(17);
            body["prompt"] = json!("Hello");
            body.as_object_mut().expect("object").remove("messages");
            body
        })
        .await,
        "stop",
    )
    .await;
}

#[tokio::test]
async fn max_body_bounds_the_request_body_and_the_error_says_the_limit() {
    let limit = 2000;
    let app = spawn_app(|config| config.max_body = limit).await;
    let body_of = |len: usize| {
        let mut body = greedy_chat("", 2);
        let empty = body.to_string().len();
        body["messages"][0]["content"] = json!("a ".repeat((len - empty) / 2));
        let text = body.to_string();
        assert!(text.len() <= len && text.len() + 2 > len);
        text
    };
    let under = app.post_raw("/v1/chat/completions", body_of(limit)).await;
    assert_eq!(under.status(), 200, "a body of exactly the limit");
    let over = app
        .post_raw("/v1/chat/completions", body_of(limit + 2))
        .await;
    assert_eq!(over.status(), 413);
    let error: Value = over.json().await.expect("json");
    assert_eq!(error["error"]["code"], "request_too_large");
    let message = error["error"]["message"].as_str().expect("message");
    assert!(message.contains(&limit.to_string()), "{message}");
}

#[tokio::test]
async fn a_context_error_says_by_how_much() {
    let app = shared_app().await;
    let context = 1024;
    let fits = app.chat(greedy_chat("hi", 1)).await;
    let prompt = fits["usage"]["prompt_tokens"]
        .as_u64()
        .expect("prompt tokens");
    let room = context - prompt;
    // One token too many: the message gives the context, the prompt, the ask and the room.
    let over = app
        .post("/v1/chat/completions", greedy_chat("hi", room as u32 + 1))
        .await;
    let status = over.status();
    let error: Value = over.json().await.expect("json");
    assert_eq!(status, 400);
    assert_eq!(error["error"]["code"], "context_length_exceeded");
    let message = error["error"]["message"].as_str().expect("message");
    for number in [context, prompt, room + 1, room] {
        assert!(
            message
                .split(|c: char| !c.is_ascii_digit())
                .any(|word| word == number.to_string()),
            "{number} missing from {message}"
        );
    }
    assert_eq!(
        app.post("/v1/chat/completions", greedy_chat("hi", room as u32))
            .await
            .status(),
        200,
        "exactly the room fits"
    );

    // A prompt alone too long: its size and the context.
    let words = 1500;
    let text = "word ".repeat(words);
    let request = json!({ "model": MODEL, "prompt": text, "max_tokens": 1 });
    let response = app.post("/v1/completions", request).await;
    let error: Value = response.json().await.expect("json");
    let message = error["error"]["message"].as_str().expect("message");
    let size = common::vocab_model()
        .vocab()
        .tokenize(text.as_bytes(), false, true)
        .len();
    for number in [context as usize, size] {
        assert!(
            message
                .split(|c: char| !c.is_ascii_digit())
                .any(|word| word == number.to_string()),
            "{number} missing from {message}"
        );
    }
}
