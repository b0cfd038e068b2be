//! What reaches the server's own output: nothing of llama.cpp's logging, even at
//! `RUST_LOG=trace`, and a panic's location but never its message.

use crate::common;

use common::process::ServerProcess;

/// llama.cpp's own log lines never reach the server's output, even at `RUST_LOG=trace`: they
/// are not the server's to vet for content.
#[tokio::test]
async fn llama_cpp_logs_nothing_even_at_trace() {
    let root = tempfile::tempdir().expect("root");
    let server = ServerProcess::start_with_env(root.path(), &[], None, &[("RUST_LOG", "trace")]);
    common::wait_model_ready(&server.base).await;
    let stderr = server.stderr();
    assert!(stderr.contains("listening on"), "{stderr}");
    for line in [
        "llama_model_loader",
        "load_tensors",
        "llama_context",
        "print_info",
        "llama_kv_cache",
        "ggml_",
    ] {
        assert!(!stderr.contains(line), "llama.cpp logged {line}:\n{stderr}");
    }
}

/// The panic hook logs where a panic happened, never its message (which may hold request
/// data). No request can make a handler panic, so the hook is installed in a child process
/// (this test binary again, running only the helper below) that then panics.
#[test]
fn a_panic_logs_its_location_not_its_message() {
    let output = std::process::Command::new(std::env::current_exe().expect("test binary"))
        .args([
            "--exact",
            "logs::panic_hook_child",
            "--nocapture",
            "--test-threads",
            "1",
        ])
        .env("SOTTO_TEST_PANIC_HOOK_CHILD", "1")
        .output()
        .expect("the child runs");
    let printed = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        !output.status.success(),
        "the child did not panic: {printed}"
    );
    assert!(printed.contains("message withheld"), "{printed}");
    assert!(printed.contains("tests/logs.rs:"), "no location: {printed}");
    assert!(
        !printed.contains("4417-KESTREL"),
        "the message was logged: {printed}"
    );
}

#[test]
fn panic_hook_child() {
    if std::env::var_os("SOTTO_TEST_PANIC_HOOK_CHILD").is_none() {
        return;
    }
    sotto::telemetry::init();
    panic!("the vault code is 4417-KESTREL-0093");
}
