//! Who runs next: a freed slot goes to the caller holding the fewest, so one caller cannot
//! crowd out another.

use crate::common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::{chat_with, endless_stream, spawn_app};
use futures::StreamExt;
use serde_json::Value;

/// A chat completion request with another caller's key.
#[tokio::test]
async fn one_caller_cannot_crowd_out_another() {
    // Two slots and the default queue: one key used to take all 66 places.
    let app = spawn_app(|config| config.parallel = 2).await;
    let caller_b = common::create_api_key(&app.base).await;

    // Caller A sends 60 long streams at once. Its share for these defaults is 33 (half the
    // places); more are accepted only if some of A's finished during the burst.
    let a_done = Arc::new(AtomicUsize::new(0));
    let body = endless_stream(300);
    let burst =
        futures::future::join_all((0..60).map(|_| chat_with(&app, &app.api_key, &body))).await;
    let mut readers = Vec::new();
    let mut refused = Vec::new();
    for response in burst {
        match response.status().as_u16() {
            200 => {
                let done = Arc::clone(&a_done);
                readers.push(tokio::spawn(async move {
                    if common::stream_completes(response).await {
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
    let response = chat_with(&app, &caller_b, &endless_stream(16)).await;
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
