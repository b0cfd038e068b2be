//! Stopping a server: open requests finish, then every engine thread ends before `serve`
//! returns. llama.cpp tears its process-wide state down at exit, and an engine thread still
//! freeing its context at that moment crashes the process: a test binary once died of a
//! segmentation fault after all of its tests had passed.
//!
//! Alone in its binary: it counts the process's engine threads, which another test's server
//! would add to.

mod common;

use common::{client, greedy_chat, sse_payloads, test_config, wait_model_ready};
use serde_json::json;
use tokio::net::TcpListener;

/// Threads of this process named as the engine names its own.
fn engine_threads() -> usize {
    std::fs::read_dir("/proc/self/task")
        .expect("the process's threads")
        .flatten()
        .filter(|task| {
            std::fs::read_to_string(task.path().join("comm"))
                .is_ok_and(|name| name.trim_end() == "sotto-engine")
        })
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_lets_open_requests_finish_then_returns_once_its_engines_have_stopped() {
    let models = common::models_dir();
    let data = tempfile::tempdir().expect("data dir");
    let mut config = test_config(models.path(), data.path());
    config.auth = sotto::config::Auth::Off;
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("address"));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(sotto::serve(config, listener, async {
        let _ = stopped.await;
    }));
    wait_model_ready(&base).await;
    assert_eq!(
        engine_threads(),
        1,
        "the model's engine runs on its own thread"
    );

    // A stream is open when the server is told to stop: it runs to its end.
    let mut body = greedy_chat("Write a long story about the sea.", 48);
    body["stream"] = json!(true);
    body["stream_options"] = json!({ "include_usage": true });
    let response = client()
        .post(format!("{base}/v1/chat/completions"))
        .json(&body)
        .send()
        .await
        .expect("the stream starts");
    assert_eq!(response.status(), 200);
    stop.send(()).expect("the server is running");
    let payloads = sse_payloads(response).await;
    assert_eq!(payloads.last().map(String::as_str), Some("[DONE]"));
    let chunks: Vec<serde_json::Value> = payloads
        .iter()
        .filter_map(|p| serde_json::from_str(p).ok())
        .collect();
    let finish = chunks
        .iter()
        .find_map(|chunk| chunk["choices"][0]["finish_reason"].as_str())
        .expect("the stream ran to its end");
    assert!(["stop", "length"].contains(&finish), "{finish}");
    let usage = chunks.last().expect("a usage chunk");
    assert!(
        usage["usage"]["completion_tokens"].as_u64() > Some(0),
        "{usage}"
    );

    server
        .await
        .expect("the server task ends")
        .expect("serve returns Ok");
    assert_eq!(
        engine_threads(),
        0,
        "serve returned while an engine thread was still running"
    );
}
