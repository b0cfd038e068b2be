//! `n` choices per request: decoded side by side from one prefill of the prompt, whose KV cells
//! are copied to the other choices' slots.

use crate::common;

use common::{greedy_chat, shared_app, spawn_app, MODEL};
use serde_json::{json, Value};

fn texts(reply: &Value) -> Vec<String> {
    reply["choices"]
        .as_array()
        .expect("choices")
        .iter()
        .enumerate()
        .map(|(i, choice)| {
            assert_eq!(choice["index"], i, "{reply}");
            choice["message"]["content"]
                .as_str()
                .or(choice["text"].as_str())
                .expect("text")
                .to_owned()
        })
        .collect()
}

#[tokio::test]
async fn n_choices_share_one_prefill_and_are_reproducible_with_a_seed() {
    // A server of its own: the prefill counter must see only this test's requests.
    let app = spawn_app(|config| config.parallel = 4).await;
    let prompt = "Write one sentence about a lighthouse keeper and the sea.";
    let request = json!({
        "model": MODEL,
        "messages": [{ "role": "user", "content": prompt }],
        "max_tokens": 12,
        "temperature": 1.0,
        "seed": 42,
        "n": 3,
    });
    let before = app.model_health().await["prefilled_tokens"]
        .as_u64()
        .expect("prefilled_tokens");
    let first = app.chat(request.clone()).await;
    let after = app.model_health().await["prefilled_tokens"]
        .as_u64()
        .expect("prefilled_tokens");
    let choices = texts(&first);
    assert_eq!(choices.len(), 3);
    let prompt_tokens = first["usage"]["prompt_tokens"].as_u64().expect("usage");
    let cached = first["usage"]["prompt_tokens_details"]["cached_tokens"]
        .as_u64()
        .expect("cached");
    // One prefill: the prompt's tokens not taken from the cache, once, not three times.
    assert_eq!(after - before, prompt_tokens - cached, "{first}");
    let single = app
        .chat(json!({
            "model": MODEL,
            "messages": [{ "role": "user", "content": prompt }],
            "max_tokens": 1,
        }))
        .await;
    assert_eq!(
        single["usage"]["prompt_tokens"], prompt_tokens,
        "the prompt counted once"
    );
    let completion = first["usage"]["completion_tokens"].as_u64().expect("usage");
    assert!(
        (3..=36).contains(&completion),
        "every choice's tokens: {first}"
    );
    // Different seeds per choice: at temperature 1 they differ.
    assert!(
        choices[0] != choices[1] || choices[1] != choices[2],
        "{choices:?}"
    );

    let again = app.chat(request).await;
    assert_eq!(
        texts(&again),
        choices,
        "the same seed gives the same choices"
    );
}

#[tokio::test]
async fn greedy_choices_equal_the_single_greedy_reply() {
    let app = shared_app().await;
    let single = app.chat(greedy_chat("Name three rivers.", 16)).await;
    let mut request = greedy_chat("Name three rivers.", 16);
    request["n"] = json!(2);
    let reply = app.chat(request).await;
    let single = texts(&single).remove(0);
    // A copied prompt must leave each choice exactly where one prefill would.
    assert_eq!(texts(&reply), vec![single.clone(), single]);
}

#[tokio::test]
async fn streamed_choices_carry_their_index_and_end_each_once() {
    let app = shared_app().await;
    let mut request = greedy_chat("Count to five.", 10);
    request["n"] = json!(2);
    request["stream"] = json!(true);
    request["stream_options"] = json!({ "include_usage": true });
    let payloads = app.stream("/v1/chat/completions", request).await;
    assert_eq!(payloads.last().map(String::as_str), Some("[DONE]"));
    let mut text = [String::new(), String::new()];
    let mut finishes = [0, 0];
    let mut usages = 0;
    for payload in &payloads[..payloads.len() - 1] {
        let chunk: Value = serde_json::from_str(payload).expect("chunk");
        if chunk["usage"].is_object() {
            usages += 1;
            assert_eq!(chunk["choices"], json!([]));
            continue;
        }
        let choice = &chunk["choices"][0];
        let index = usize::try_from(choice["index"].as_u64().expect("index")).expect("index");
        text[index].push_str(choice["delta"]["content"].as_str().unwrap_or_default());
        if choice["finish_reason"].is_string() {
            finishes[index] += 1;
        }
    }
    assert_eq!(finishes, [1, 1]);
    assert_eq!(usages, 1);
    assert!(!text[0].is_empty());
    assert_eq!(text[0], text[1], "greedy choices agree");

    // Legacy completions too.
    let reply: Value = app
        .post(
            "/v1/completions",
            json!({ "model": MODEL, "prompt": "The sea is", "max_tokens": 4, "temperature": 0, "n": 2 }),
        )
        .await
        .json()
        .await
        .expect("json");
    let texts = texts(&reply);
    assert_eq!(texts.len(), 2);
    assert_eq!(texts[0], texts[1]);
}

#[tokio::test]
async fn more_choices_than_slots_is_refused_by_name() {
    let app = shared_app().await;
    let slots = app.get(&format!("/v1/models/{MODEL}")).await;
    assert_eq!(slots.status(), 200);
    let mut request = greedy_chat("Hi", 2);
    // The test servers run with the default 4 slots.
    request["n"] = json!(5);
    let response = app.post("/v1/chat/completions", request).await;
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["error"]["param"], "n");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("at most 4"),
        "{body}"
    );
}
