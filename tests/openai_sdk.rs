//! The official OpenAI Python SDK, pointed at a real server with `base_url`.

use crate::common;

use std::path::PathBuf;
use std::process::Command;

use common::{spawn_app, MODEL};

/// The interpreter of the virtual environment `make test` prepares.
fn python() -> PathBuf {
    std::env::var_os("SOTTO_TEST_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/python"))
}

#[tokio::test]
async fn the_official_python_sdk_works_against_sotto() {
    let python = python();
    assert!(
        python.exists(),
        "{} is missing: run `make venv` (make test does)",
        python.display()
    );
    let app = spawn_app(|_| {}).await;
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/sdk/openai_sdk_check.py");
    let base_url = app.url("/v1");
    let api_key = app.api_key.clone();
    let output = tokio::task::spawn_blocking(move || {
        Command::new(python)
            .arg(script)
            .env("SOTTO_BASE_URL", base_url)
            .env("SOTTO_MODEL", MODEL)
            .env("SOTTO_API_KEY", api_key)
            .output()
            .expect("python runs")
    })
    .await
    .expect("join");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "SDK checks failed:\n{stdout}\n{stderr}"
    );
    assert!(stdout.contains("passed, 0 failed"), "{stdout}");
    eprintln!("{stdout}");
}
