//! Serve flags whose effect shows only from outside the process, and `sotto healthcheck`:
//! the real binary, started with the flag, observed over HTTP and in what it prints.

use crate::common;

use std::time::{Duration, Instant};

use common::process::{output_within, sotto_command, ServerProcess};
use common::MODEL;
use serde_json::{json, Value};

/// A small server: one slot of a small context.
const SMALL: &[&str] = &["--ctx-size", "256", "--parallel", "1", "--port", "0"];

fn with_small(args: &[&str]) -> Vec<String> {
    SMALL
        .iter()
        .chain(args)
        .map(|arg| (*arg).to_owned())
        .collect()
}

fn start(root: &std::path::Path, args: &[&str]) -> ServerProcess {
    let args = with_small(args);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    ServerProcess::start_exactly(root, &args, &[("RUST_LOG", "info")])
}

/// `sotto serve` with `args` exits at once with an error naming `flag`.
fn refused(args: &[&str], flag: &str) {
    let dir = tempfile::tempdir().expect("dir");
    let mut command = sotto_command();
    command
        .arg("serve")
        .args(with_small(args))
        .arg("--models-dir")
        .arg(dir.path())
        .arg("--data-dir")
        .arg(dir.path().join("data"));
    let output = output_within(command, Duration::from_secs(60));
    assert!(!output.status.success(), "{args:?} accepted");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains(flag), "{args:?}: {stderr}");
}

/// A greedy completion from the server with `--auth off`.
async fn complete(base: &str, model: &str) -> Value {
    let response = common::client()
        .post(format!("{base}/v1/completions"))
        .json(&json!({ "model": model, "prompt": "One, two,", "temperature": 0, "max_tokens": 4 }))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 200);
    response.json().await.expect("json")
}

/// The state of model `id` in `/health`.
async fn model_state(base: &str, id: &str) -> String {
    common::model_health_at(base, id)
        .await
        .and_then(|m| m["state"].as_str().map(str::to_owned))
        .unwrap_or_else(|| "absent".to_owned())
}

#[tokio::test]
async fn healthcheck_exits_0_against_a_running_server_and_not_against_a_closed_port() {
    let root = tempfile::tempdir().expect("root");
    let server = start(root.path(), &[]);
    common::wait_model_ready(&server.base).await;
    let check = |port: u16, via_env: bool| {
        let mut command = sotto_command();
        command.arg("healthcheck");
        if via_env {
            command.env("SOTTO_PORT", port.to_string());
        } else {
            command.args(["--port", &port.to_string()]);
        }
        output_within(command, Duration::from_secs(30)).status
    };
    assert!(check(server.port(), false).success());
    assert!(check(server.port(), true).success(), "SOTTO_PORT");
    drop(server);
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port();
    assert!(!check(closed, false).success());
}

#[tokio::test]
async fn host_sets_the_listening_address() {
    let root = tempfile::tempdir().expect("root");
    let server = start(root.path(), &["--host", "127.0.0.2"]);
    let port = server.port();
    assert_eq!(server.base, format!("http://127.0.0.2:{port}"));
    common::wait_model_ready(&server.base).await;
    // Nothing answers on 127.0.0.1 at that port.
    assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_err());
    refused(&["--host", "localhost.example"], "--host");
}

#[tokio::test]
async fn repeated_model_flags_load_each_named_model_at_start_up() {
    let second = "second-model";
    let link = |root: &std::path::Path| {
        std::fs::create_dir_all(root.join("models")).expect("dir");
        std::os::unix::fs::symlink(
            common::model_file(),
            root.join("models").join(format!("{second}.gguf")),
        )
        .expect("link");
    };
    let both_root = tempfile::tempdir().expect("root");
    link(both_root.path());
    let both = start(
        both_root.path(),
        &["--auth", "off", "--model", MODEL, "--model", second],
    );
    let one_root = tempfile::tempdir().expect("root");
    link(one_root.path());
    let one = start(one_root.path(), &["--auth", "off", "--model", MODEL]);

    let deadline = Instant::now() + Duration::from_secs(120);
    while model_state(&both.base, second).await != "ready"
        || model_state(&both.base, MODEL).await != "ready"
    {
        assert!(Instant::now() < deadline, "both models did not load");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // With only the first named, the second waits for its first request.
    common::wait_model_ready(&one.base).await;
    assert_eq!(model_state(&one.base, second).await, "not_loaded");
    // Both answer under their own names, with the same weights the same text.
    let first = complete(&both.base, MODEL).await;
    let other = complete(&both.base, second).await;
    assert_eq!(other["model"], second);
    assert_eq!(first["choices"][0]["text"], other["choices"][0]["text"]);
}

#[tokio::test]
async fn threads_reach_the_engine() {
    let root = tempfile::tempdir().expect("root");
    let server = start(root.path(), &["--threads", "1"]);
    common::wait_model_ready(&server.base).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let log = server.stderr();
        if let Some(line) = log.lines().find(|line| line.contains("engine ready")) {
            assert!(
                line.split_whitespace().any(|word| word == "threads=1"),
                "{line}"
            );
            break;
        }
        assert!(Instant::now() < deadline, "no engine line in:\n{log}");
        std::thread::sleep(Duration::from_millis(20));
    }
    refused(&["--threads", "0"], "--threads");
}

#[tokio::test]
async fn gpu_layers_default_to_none_on_the_cpu_build_and_the_flag_reaches_the_loader() {
    for (args, expected) in [
        (&["--auth", "off"][..], "gpu_layers=0"),
        (&["--auth", "off", "--gpu-layers", "7"][..], "gpu_layers=7"),
    ] {
        let root = tempfile::tempdir().expect("root");
        let server = start(root.path(), args);
        common::wait_model_ready(&server.base).await;
        let log = server.stderr();
        let line = log
            .lines()
            .find(|line| line.contains("loading model"))
            .unwrap_or_else(|| panic!("no loading line in:\n{log}"));
        assert!(line.contains(expected), "{args:?}: {line}");
        // The CPU build has no GPU backend: nothing is offloaded whatever is asked.
        assert!(line.contains("gpu_backend=false"), "{line}");
        let reply = common::client()
            .post(format!("{}/v1/chat/completions", server.base))
            .json(&common::greedy_chat("Hi", 4))
            .send()
            .await
            .expect("chat");
        assert_eq!(reply.status(), 200, "{args:?}");
    }
    refused(&["--gpu-layers", "many"], "--gpu-layers");
}

#[tokio::test]
async fn flash_attention_takes_auto_on_or_off_and_nothing_else() {
    for mode in ["auto", "on", "off"] {
        let root = tempfile::tempdir().expect("root");
        let server = start(root.path(), &["--auth", "off", "--flash-attn", mode]);
        common::wait_model_ready(&server.base).await;
        let completion = complete(&server.base, MODEL).await;
        assert_eq!(completion["usage"]["completion_tokens"], 4, "{mode}");
    }
    refused(&["--flash-attn", "maybe"], "--flash-attn");
}

/// The KV cache types reach llama.cpp: each server answers, its cache is the size its type
/// gives (as logged, and as the memory the process holds: llama.cpp clears the whole cache
/// when it creates it, so it is resident), and a quantized V cache without flash attention
/// is refused before any model loads.
#[tokio::test]
async fn kv_cache_types_shrink_the_cache_and_the_process() {
    let mut measured = Vec::new();
    for kind in ["f16", "q8_0", "q4_0"] {
        let root = tempfile::tempdir().expect("root");
        // 8,192 cells: f16 keys and values of the default model take 180 MiB.
        let args = [
            "--ctx-size",
            "4096",
            "--parallel",
            "2",
            "--port",
            "0",
            "--auth",
            "off",
            "--cache-type-k",
            kind,
            "--cache-type-v",
            kind,
        ];
        let server = ServerProcess::start_exactly(root.path(), &args, &[("RUST_LOG", "info")]);
        common::wait_model_ready(&server.base).await;
        let completion = complete(&server.base, MODEL).await;
        assert_eq!(completion["usage"]["completion_tokens"], 4, "{kind}");
        let log = server.stderr();
        let kib: u64 = log
            .lines()
            .find(|line| line.contains("KV cache"))
            .and_then(|line| line.split("kv_cache_kib=").nth(1))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|number| number.parse().ok())
            .unwrap_or_else(|| panic!("no KV cache line in:\n{log}"));
        measured.push((kind, kib, server.peak_resident_bytes() >> 10));
    }
    let [(_, f16, f16_rss), (_, q8, q8_rss), (_, q4, q4_rss)] = measured[..] else {
        unreachable!("three types")
    };
    // q8_0 is 34 bytes per 32 values, q4_0 18: 53% and 28% of f16.
    assert_eq!(f16, 184_320, "{measured:?}");
    assert!(q8 * 100 / f16 == 53 && q4 * 100 / f16 == 28, "{measured:?}");
    // The process holds the difference (give or take 20 MiB of other memory).
    let slack = 20 * 1024;
    assert!(f16_rss > q8_rss + (f16 - q8) - slack, "{measured:?}");
    assert!(q8_rss > q4_rss + (q8 - q4) - slack, "{measured:?}");
    refused(
        &["--cache-type-v", "q8_0", "--flash-attn", "off"],
        "cache_type_v",
    );
    refused(&["--cache-type-k", "q5_1"], "--cache-type-k");
}
