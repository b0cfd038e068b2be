//! The prompt cache: a conversation's next turn re-uses its prefix, for the same caller only,
//! gives the same output as without the cache, and is dropped when the caller's key goes.

use crate::common;

use std::time::{Duration, Instant};

use common::{client, create_api_key, message_text, spawn_app, TestApp, MODEL};
use serde_json::{json, Value};

async fn chat_as(app: &TestApp, key: &str, messages: &Value) -> Value {
    chat_long(app, key, messages, 24).await
}

async fn chat_long(app: &TestApp, key: &str, messages: &Value, max_tokens: u32) -> Value {
    let body = json!({
        "model": MODEL, "messages": messages, "temperature": 0, "max_tokens": max_tokens,
    });
    let response = client()
        .post(app.url("/v1/chat/completions"))
        .bearer_auth(key)
        .json(&body)
        .send()
        .await
        .expect("chat");
    assert_eq!(response.status(), 200);
    response.json().await.expect("json")
}

fn cached(completion: &Value) -> u64 {
    completion["usage"]["prompt_tokens_details"]["cached_tokens"]
        .as_u64()
        .expect("cached_tokens")
}

#[tokio::test]
async fn a_second_turn_reuses_its_prefix_for_its_own_key_only() {
    let app = spawn_app(|config| config.parallel = 2).await;
    let alice = app.api_key.clone();
    let bob = create_api_key(&app.base).await;

    let mut messages = json!([
        { "role": "system", "content": "You are a helpful assistant who answers briefly." },
        { "role": "user", "content": "Name three rivers in Europe." },
    ]);
    let first = chat_as(&app, &alice, &messages).await;
    assert_eq!(cached(&first), 0);
    let prompt_tokens = first["usage"]["prompt_tokens"]
        .as_u64()
        .expect("prompt tokens");
    messages.as_array_mut().expect("array").extend([
        json!({ "role": "assistant", "content": message_text(&first) }),
        json!({ "role": "user", "content": "Which of them is the longest?" }),
    ]);
    let reused_before = app.model_health().await["cache_reused_tokens"]
        .as_u64()
        .expect("counter");

    let second = chat_as(&app, &alice, &messages).await;
    assert!(
        cached(&second) >= prompt_tokens,
        "turn 2 re-used {} of turn 1's {prompt_tokens} prompt tokens",
        cached(&second)
    );
    let reused_after = app.model_health().await["cache_reused_tokens"]
        .as_u64()
        .expect("counter");
    assert_eq!(reused_after - reused_before, cached(&second));

    // Another key with the very same conversation starts cold, and gets the same answer.
    let other = chat_as(&app, &bob, &messages).await;
    assert_eq!(cached(&other), 0);
    assert_eq!(message_text(&other), message_text(&second));
}

#[tokio::test]
async fn revoking_a_key_drops_what_it_cached() {
    let app = spawn_app(|config| config.parallel = 2).await;
    // A key created on the account page, so it can be revoked there.
    let email = format!("cache-{}@example.com", common::uuid_like());
    let cookie = common::signup(&app.base, &email, "correct horse battery").await;
    let created = common::create_key_for(&app.base, &cookie, "soon revoked").await;
    let key = created["new_key"].as_str().expect("key");
    let id = created["keys"][0]["id"].as_i64().expect("id");

    let messages = json!([{ "role": "user", "content": "Tell me about the moon." }]);
    chat_as(&app, key, &messages).await;
    assert_eq!(app.model_health().await["cached_conversations"], 1);

    let revoked = client()
        .post(app.url(&format!("/account/keys/{id}/revoke")))
        .header("cookie", &cookie)
        .send()
        .await
        .expect("revoke");
    assert_eq!(revoked.status(), 303);
    let deadline = Instant::now() + Duration::from_secs(10);
    while app.model_health().await["cached_conversations"] != 0 {
        assert!(
            Instant::now() < deadline,
            "the revoked key's cache was kept"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn cache_mb_zero_disables_the_cache() {
    let app = spawn_app(|config| config.cache_mb = 0).await;
    let messages = json!([{ "role": "user", "content": "Hello there." }]);
    chat_as(&app, &app.api_key, &messages).await;
    let again = chat_as(&app, &app.api_key, &messages).await;
    assert_eq!(cached(&again), 0);
    assert_eq!(app.model_health().await["cached_conversations"], 0);
}

#[tokio::test]
async fn a_new_conversation_gets_a_copy_of_a_shared_system_prompt_and_the_old_one_stays() {
    let app = spawn_app(|config| config.parallel = 2).await;
    let key = app.api_key.clone();
    let system = json!({
        "role": "system",
        "content": "You are a meticulous travel planner. Answer in short bullet points, give \
                    prices in euros, mention opening hours when they matter, and never invent \
                    places that do not exist.",
    });
    let ask = |question: &str| json!([system, { "role": "user", "content": question }]);

    // Long enough that the system prompt is a small part of the cached conversation.
    let mut trip = ask("Plan one day in Lisbon.");
    let first = chat_long(&app, &key, &trip, 96).await;

    // A different conversation with the same long system prompt (over 40 tokens): the cached
    // one is kept, and the new one still starts from a copy of the shared prefix.
    let other = chat_as(&app, &key, &ask("What should I pack for Oslo in winter?")).await;
    assert!(
        cached(&other) >= 40,
        "the new conversation re-used only {} tokens",
        cached(&other)
    );
    assert_eq!(app.model_health().await["cached_conversations"], 2);
    let cold = spawn_app(|config| config.parallel = 2).await;
    let fresh = chat_as(
        &cold,
        &cold.api_key,
        &ask("What should I pack for Oslo in winter?"),
    )
    .await;
    assert_eq!(cached(&fresh), 0);
    assert_eq!(message_text(&other), message_text(&fresh));

    // And the first conversation's next turn still finds all of it.
    trip.as_array_mut().expect("array").extend([
        json!({ "role": "assistant", "content": message_text(&first) }),
        json!({ "role": "user", "content": "And the evening?" }),
    ]);
    let next = chat_as(&app, &key, &trip).await;
    assert!(cached(&next) >= first["usage"]["prompt_tokens"].as_u64().expect("tokens"));
}

#[tokio::test]
async fn the_idle_engine_decodes_the_turn_boundary_so_the_next_turn_prefills_only_its_message() {
    let app = spawn_app(|config| config.parallel = 2).await;
    let key = app.api_key.clone();
    let health_count = |health: &Value| {
        health["cache_decoded_ahead_tokens"]
            .as_u64()
            .expect("counter")
    };
    let ahead_before = health_count(&app.model_health().await);

    let mut messages = json!([{ "role": "user", "content": "Name three rivers in Europe." }]);
    let first = chat_as(&app, &key, &messages).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    let ahead = loop {
        let ahead = health_count(&app.model_health().await) - ahead_before;
        if ahead > 0 {
            break ahead;
        }
        assert!(Instant::now() < deadline, "nothing was decoded ahead");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    // ChatML's `<|im_end|>\n<|im_start|>user\n`, after the reply's last token if `max_tokens`
    // cut it (a token sampled but not decoded yet).
    let cut = first["choices"][0]["finish_reason"] == "length";
    let boundary = ahead - u64::from(cut);
    assert_eq!(boundary, 5, "decoded {ahead} tokens ahead");

    messages.as_array_mut().expect("array").extend([
        json!({ "role": "assistant", "content": message_text(&first) }),
        json!({ "role": "user", "content": "Which of them is the longest?" }),
    ]);
    let second = chat_as(&app, &key, &messages).await;
    let usage = |completion: &Value, field: &str| completion["usage"][field].as_u64().expect(field);
    assert_eq!(
        cached(&second),
        usage(&first, "prompt_tokens") + usage(&first, "completion_tokens") + boundary,
        "turn 2 should prefill only the new message and the assistant's opening"
    );

    // The cells decoded ahead hold what a cold server computes: the same answer.
    let cold = spawn_app(|config| config.parallel = 2).await;
    let fresh = chat_as(&cold, &cold.api_key, &messages).await;
    assert_eq!(cached(&fresh), 0);
    assert_eq!(message_text(&second), message_text(&fresh));
}

#[tokio::test]
async fn a_running_request_lends_its_prefix_to_the_same_callers_next_request_only() {
    let app = spawn_app(|config| config.parallel = 3).await;
    let bob = create_api_key(&app.base).await;
    // Whole prompts under 64 tokens: llama.cpp's CPU attention switches kernels (with other
    // rounding) at 64 queries, so a longer cold prompt could not be compared token for token
    // with a cached prefix plus a short suffix.
    let system = "You review rental contracts. Quote the clause you mean and say whom it favours.";
    let ask = |question: &str| {
        json!([
            { "role": "system", "content": system },
            { "role": "user", "content": question },
        ])
    };
    // A long request of the caller is still generating (its first token is out, so its
    // prompt is in its cells) when the next one with the same system prompt arrives.
    let mut running = app
        .post(
            "/v1/chat/completions",
            json!({
                "model": MODEL, "messages": ask("Is a three-month deposit fair?"),
                "max_tokens": 600, "logit_bias": { "0": -100, "2": -100 }, "stream": true,
            }),
        )
        .await;
    assert_eq!(running.status(), 200);
    // The role chunk comes at once; the first content chunk only once the prompt is decoded.
    let mut received = String::new();
    while received.matches("\"content\":").count() < 2 {
        let chunk = running.chunk().await.expect("stream").expect("more chunks");
        received.push_str(&String::from_utf8_lossy(&chunk));
    }

    let next = ask("Who pays for repairs to the boiler?");
    let alice = chat_as(&app, &app.api_key, &next).await;
    assert!(
        cached(&alice) >= 25,
        "the running request lent only {} tokens",
        cached(&alice)
    );
    // Another caller never gets a copy.
    let other = chat_as(&app, &bob, &next).await;
    assert_eq!(cached(&other), 0);
    drop(running);

    // The copy gives what a cold prefill on an idle server gives.
    let cold = spawn_app(|config| config.parallel = 3).await;
    let fresh = chat_as(&cold, &cold.api_key, &next).await;
    assert_eq!(message_text(&alice), message_text(&fresh));
}

#[tokio::test]
async fn a_conversation_whose_slot_was_taken_comes_back_from_ram_for_its_caller_only() {
    // One slot: each new conversation takes it from the one before.
    let app = spawn_app(|config| config.parallel = 1).await;
    let alice = app.api_key.clone();
    let bob = create_api_key(&app.base).await;
    let moon = json!([{ "role": "user", "content": "Tell me about the moon." }]);
    let first = chat_as(&app, &alice, &moon).await;
    let prompt_tokens = first["usage"]["prompt_tokens"]
        .as_u64()
        .expect("prompt tokens");

    // Another conversation of Alice's takes the slot: the first is set aside in RAM.
    let vegetable = json!([{ "role": "user", "content": "Name a green vegetable." }]);
    chat_as(&app, &alice, &vegetable).await;
    let health = app.model_health().await;
    assert_eq!(health["cached_conversations_in_ram"], 1);
    assert_eq!(health["cached_conversations"], 2);

    // Bob asking the very same gets nothing of it: a cold prefill, and the same answer.
    let bobs = chat_as(&app, &bob, &moon).await;
    assert_eq!(cached(&bobs), 0);
    assert_eq!(message_text(&bobs), message_text(&first));

    // Alice asking again gets its cells back, all but the prompt's last token (decoded to
    // sample from), and the same answer as when it was prefilled.
    let again = chat_as(&app, &alice, &moon).await;
    assert_eq!(cached(&again), prompt_tokens - 1);
    assert_eq!(message_text(&again), message_text(&first));
    // Her other conversation and Bob's wait in RAM; the slot holds hers again.
    let health = app.model_health().await;
    assert_eq!(health["cached_conversations_in_ram"], 2);
    assert_eq!(health["cached_conversations"], 3);
}
