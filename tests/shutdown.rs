//! Stopping a server: open requests finish, then every engine thread ends before `serve`
//! returns. llama.cpp tears its process-wide state down at exit, and an engine thread still
//! freeing its context at that moment crashes the process: a test binary once died of a
//! segmentation fault after all of its tests had passed. SIGTERM drains: streams get
//! `--drain-secs` to finish, then end with an error event.
//!
//! Alone in its binary: it counts the process's engine threads, which another test's server
//! would add to.

mod common;

use common::process::ServerProcess;
use common::{client, endless_stream, greedy_chat, sse_payloads, test_config, wait_model_ready};
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

/// SIGTERM, as Docker and systemd stop a process: the server stops accepting, lets a stream
/// that ends in time finish, ends the streams still running after `--drain-secs` with an
/// error event, and exits 0.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_lets_streams_finish_within_the_drain_time_then_ends_the_rest_and_exits_0() {
    let root = tempfile::tempdir().expect("root");
    let args = ["--auth", "off", "--parallel", "4", "--drain-secs", "3"];
    let mut server = ServerProcess::start(root.path(), &args, None);
    wait_model_ready(&server.base).await;
    let url = format!("{}/v1/chat/completions", server.base);
    // Three streams that would run far longer than the drain time...
    let mut endless = Vec::new();
    for _ in 0..3 {
        let response = client()
            .post(&url)
            .json(&endless_stream(900))
            .send()
            .await
            .expect("a stream starts");
        assert_eq!(response.status(), 200);
        endless.push(tokio::spawn(sse_payloads(response)));
    }
    // ...and one that ends within it.
    let mut short = greedy_chat("Say hello.", 8);
    short["stream"] = json!(true);
    let short = client()
        .post(&url)
        .json(&short)
        .send()
        .await
        .expect("a stream starts");
    server.signal("TERM");

    assert_eq!(
        sse_payloads(short).await.last().map(String::as_str),
        Some("[DONE]"),
        "the short stream ran to its end"
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while client()
        .get(format!("{}/health", server.base))
        .send()
        .await
        .is_ok()
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the server still accepts connections after SIGTERM"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    for stream in endless {
        let payloads = stream.await.expect("the stream's reader");
        let pieces = common::stream_pieces(&payloads);
        assert!(!pieces.is_empty(), "the stream was running: {payloads:?}");
        let last: serde_json::Value = payloads
            .last()
            .and_then(|payload| serde_json::from_str(payload).ok())
            .expect("a final JSON event");
        assert_eq!(
            last["error"]["code"], "engine_stopped",
            "the stream ends with an error event: {last}"
        );
    }
    let status = tokio::task::spawn_blocking(move || {
        let status = server.wait_exit(std::time::Duration::from_secs(30));
        (status, server.stderr())
    })
    .await
    .expect("waiting for the exit");
    assert!(
        status.0.success(),
        "exit status {}:\n{}",
        status.0,
        status.1
    );
    assert!(
        status.1.contains("drain time"),
        "the log says the drain time ran out:\n{}",
        status.1
    );
}
