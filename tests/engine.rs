//! The engine under concurrency: batching does not change greedy outputs, a dropped stream
//! frees its slot, a full queue answers 429, one caller cannot crowd out another, and a
//! loading model answers 503.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{endless_stream, greedy_chat, message_text, spawn_app, TestApp, MODEL};
use futures::StreamExt;
use serde_json::{json, Value};

const PROMPTS: [&str; 4] = [
    "Write a short poem about autumn leaves.",
    "Explain what a compiler does in two sentences.",
    "List three fruits that are red.",
    "What is 12 times 12? Answer and explain.",
];

#[tokio::test]
async fn greedy_outputs_are_identical_alone_and_batched() {
    let app = spawn_app(|config| config.parallel = 4).await;
    let mut alone = Vec::new();
    for prompt in PROMPTS {
        alone.push(message_text(&app.chat(greedy_chat(prompt, 48)).await));
    }
    // Twice, streaming and not, so prompts are prefilled while others decode.
    for round in 0..2 {
        let together = futures::future::join_all(PROMPTS.iter().enumerate().map(|(i, prompt)| {
            let app = &app;
            async move {
                if round == 1 && i % 2 == 1 {
                    tokio::time::sleep(Duration::from_millis(40 * i as u64)).await;
                }
                message_text(&app.chat(greedy_chat(prompt, 48)).await)
            }
        }))
        .await;
        assert_eq!(alone, together, "round {round}");
    }
    assert!(alone.iter().all(|text| !text.is_empty()));
}

#[tokio::test]
async fn a_dropped_stream_frees_its_slot_at_once() {
    // One slot and no queue: if the cancelled sequence kept its slot, the next request would
    // be refused with 429.
    // Long enough (~40 s of generation) that only a real cancellation ends it in time.
    let app = spawn_app(|config| {
        config.parallel = 1;
        config.queue = 0;
        config.ctx_size = 8192;
    })
    .await;
    let response = app.post("/v1/chat/completions", endless_stream(8000)).await;
    assert_eq!(response.status(), 200);
    let mut body = response.bytes_stream();
    for _ in 0..3 {
        body.next().await.expect("a chunk").expect("chunk bytes");
    }
    assert_eq!(app.in_flight().await, 1);
    assert_eq!(app.cancelled().await, 0);
    drop(body);

    app.wait_idle().await;
    assert_eq!(app.cancelled().await, 1);
    let started = Instant::now();
    let next = app
        .post("/v1/chat/completions", greedy_chat("Say hello.", 4))
        .await;
    assert_eq!(next.status(), 200, "the slot was not freed");
    let body: Value = next.json().await.expect("json");
    assert_eq!(body["usage"]["completion_tokens"], 4);
    // Recorded, not asserted: machines here are shared and noisy.
    eprintln!(
        "request after cancellation served in {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn a_full_queue_answers_429_with_retry_after() {
    // One caller may take every place here (its default share would be one), so another
    // caller, within its own share, finds the queue full.
    let app = spawn_app(|config| {
        config.parallel = 1;
        config.queue = 1;
        config.max_requests_per_caller = Some(2);
    })
    .await;
    let running = app.post("/v1/chat/completions", endless_stream(900)).await;
    let waiting = app.post("/v1/chat/completions", endless_stream(900)).await;
    assert_eq!(
        (running.status().as_u16(), waiting.status().as_u16()),
        (200, 200)
    );

    let other = common::create_api_key(&app.base).await;
    let refused = post_as(&app, &other, greedy_chat("hi", 4)).await;
    assert_eq!(refused.status(), 429);
    assert!(refused.headers()["retry-after"]
        .to_str()
        .expect("header")
        .parse::<u32>()
        .is_ok());
    let body: Value = refused.json().await.expect("json");
    assert_eq!(body["error"]["code"], "queue_full");

    drop((running, waiting));
    app.wait_idle().await;
    assert_eq!(
        app.post("/v1/chat/completions", greedy_chat("hi", 4))
            .await
            .status(),
        200
    );
}

/// A chat completion request with another caller's key.
async fn post_as(app: &TestApp, key: &str, body: Value) -> reqwest::Response {
    common::client()
        .post(app.url("/v1/chat/completions"))
        .bearer_auth(key)
        .json(&body)
        .send()
        .await
        .expect("request sent")
}

#[tokio::test]
async fn one_caller_cannot_crowd_out_another() {
    // Two slots and the default queue: one key used to take all 66 places.
    let app = spawn_app(|config| config.parallel = 2).await;
    let caller_b = common::create_api_key(&app.base).await;

    // Caller A sends 60 long streams at once. Its share for these defaults is 33 (half the
    // places); more are accepted only if some of A's finished during the burst.
    let a_done = Arc::new(AtomicUsize::new(0));
    let burst = futures::future::join_all(
        (0..60).map(|_| post_as(&app, &app.api_key, endless_stream(300))),
    )
    .await;
    let mut readers = Vec::new();
    let mut refused = Vec::new();
    for response in burst {
        match response.status().as_u16() {
            200 => {
                let done = Arc::clone(&a_done);
                readers.push(tokio::spawn(async move {
                    if completes(response).await {
                        done.fetch_add(1, Ordering::SeqCst);
                    }
                }));
            }
            429 => refused.push(response),
            status => panic!("caller A got {status}"),
        }
    }
    let accepted = readers.len();
    assert!(
        (33..60).contains(&accepted),
        "{accepted} of caller A's 60 requests accepted"
    );
    for response in refused {
        assert!(response.headers()["retry-after"]
            .to_str()
            .expect("header")
            .parse::<u32>()
            .is_ok());
        let body: Value = response.json().await.expect("json");
        assert_eq!(body["error"]["code"], "too_many_requests_in_flight");
        assert_eq!(body["error"]["type"], "rate_limit_error");
        let message = body["error"]["message"].as_str().expect("message");
        assert!(message.contains("in flight"), "{message}");
    }

    // Caller B is served, and gets a slot as soon as one frees: only A's requests running
    // when B arrived (one per slot) may finish before B's first token. In arrival order B
    // would wait for about 30 more of them.
    let done_before_b = a_done.load(Ordering::SeqCst);
    let response = post_as(&app, &caller_b, endless_stream(16)).await;
    assert_eq!(response.status(), 200, "caller B was refused");
    // Within the HTTP client's own timeout (120 s), so this is the message a failure gives.
    let (at_first_token, at_end) =
        tokio::time::timeout(Duration::from_secs(100), watch(response, &a_done))
            .await
            .expect("caller B's reply did not finish in time");
    // The margin covers A's streams that ended before B was sent but were not read yet.
    let slots = 2;
    assert!(
        at_first_token - done_before_b <= slots + 2,
        "{} of A's requests finished between B's arrival and its first token",
        at_first_token - done_before_b
    );
    assert!(
        at_end < accepted,
        "all {accepted} of A's requests finished before B's"
    );
    eprintln!("A finished {done_before_b} before B arrived, {at_first_token} before B's first token, {at_end} before B's end");

    for reader in &readers {
        reader.abort();
    }
    app.wait_idle().await;
}

/// Whether a stream ends with `[DONE]`; a stream cut short (the client's timeout) does not.
async fn completes(response: reqwest::Response) -> bool {
    let mut events = common::sse_events(response);
    let mut last = None;
    while let Some(event) = events.next().await {
        let Ok(event) = event else {
            return false;
        };
        last = Some(event.data);
    }
    last.as_deref() == Some("[DONE]")
}

/// Reads a stream to its end; returns what `counter` held at its first content token and at
/// its end.
async fn watch(response: reqwest::Response, counter: &AtomicUsize) -> (usize, usize) {
    let mut events = common::sse_events(response);
    let mut at_first_token = None;
    while let Some(event) = events.next().await {
        let payload = [event.expect("a well-formed event").data];
        if at_first_token.is_none() && !common::stream_pieces(&payload).is_empty() {
            at_first_token = Some(counter.load(Ordering::SeqCst));
        }
    }
    let at_end = counter.load(Ordering::SeqCst);
    (at_first_token.expect("a content token"), at_end)
}

#[tokio::test]
async fn a_model_added_while_running_answers_503_until_loaded() {
    let app = spawn_app(|_| {}).await;
    let second = "second-model";
    std::os::unix::fs::symlink(
        common::model_file(),
        app.models_dir.join(format!("{second}.gguf")),
    )
    .expect("symlink");

    let list: Value = app.get("/v1/models").await.json().await.expect("json");
    assert_eq!(list["data"].as_array().map(Vec::len), Some(2));

    let mut request = greedy_chat("hi", 4);
    request["model"] = json!(second);
    let loading = app.post("/v1/chat/completions", request.clone()).await;
    assert_eq!(loading.status(), 503);
    assert!(loading.headers().contains_key("retry-after"));
    let body: Value = loading.json().await.expect("json");
    assert_eq!(body["error"]["code"], "model_loading");

    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let response = app.post("/v1/chat/completions", request.clone()).await;
        if response.status() == 200 {
            let body: Value = response.json().await.expect("json");
            assert_eq!(body["model"], second);
            break;
        }
        assert_eq!(response.status(), 503);
        assert!(Instant::now() < deadline, "the second model never loaded");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The first model still answers under its own name.
    assert_eq!(app.chat(greedy_chat("hi", 2)).await["model"], MODEL);
}
