//! The agent clients users point at sotto with `base_url`, each driven through its headline
//! feature (tool calls, structured output) against the real server and the real default model:
//! the official OpenAI Python and Node SDKs, instructor, pydantic-ai and LangChain; and the
//! embeddings clients of LangChain and the Vercel AI SDK.
//!
//! Each client is a script (tests/sdk/*.py, tests/e2e/openai-sdk-check.mjs) that reads
//! SOTTO_BASE_URL, SOTTO_API_KEY and SOTTO_MODEL, exits non-zero at its first failed check and
//! prints "N passed, 0 failed" when all pass. `make test` installs what they need: .venv and
//! .venv-instructor (`make venv`) and tests/e2e/node_modules (`make browser-deps`).

mod common;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{shared_app, MODEL};

/// Each script makes a handful of requests of at most 200 tokens: seconds, not minutes, even
/// with the other scripts running beside it on two cores.
const TIME_LIMIT: Duration = Duration::from_secs(240);

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// An interpreter `make venv` prepares: `variable` names it, else the virtualenv in the root.
fn python(variable: &str, venv: &str) -> PathBuf {
    let python = std::env::var_os(variable)
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join(venv).join("bin/python"));
    assert!(
        python.exists(),
        "{} is missing: run `make venv` (make test does)",
        python.display()
    );
    python
}

fn main_python() -> PathBuf {
    python("SOTTO_TEST_PYTHON", ".venv")
}

/// instructor's pins conflict with .venv's openai, so it has a virtualenv of its own.
fn instructor_python() -> PathBuf {
    python("SOTTO_TEST_INSTRUCTOR_PYTHON", ".venv-instructor")
}

/// Reads all of `pipe` on a thread of its own.
fn drain<R: Read + Send + 'static>(pipe: Option<R>) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let mut text = String::new();
        if let Some(mut pipe) = pipe {
            let _ = pipe.read_to_string(&mut text);
        }
        text
    })
}

/// Runs `program script` against the shared server and fails the test with the script's whole
/// output unless it exits 0 having printed its "N passed, 0 failed" line. Returns its stdout.
async fn run_client(program: PathBuf, script: &str) -> String {
    let app = shared_app().await;
    let mut child = Command::new(&program)
        .arg(root().join(script))
        .current_dir(root())
        .env("SOTTO_BASE_URL", app.url("/v1"))
        .env("SOTTO_API_KEY", &app.api_key)
        .env("SOTTO_MODEL", MODEL)
        // No __pycache__ beside the scripts; no colour codes in the output shown on failure.
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|error| panic!("{} does not start: {error}", program.display()));
    // Read both pipes while the script runs, or a chatty script blocks on a full pipe.
    let stdout = drain(child.stdout.take());
    let stderr = drain(child.stderr.take());

    // The server runs on another runtime, but polling keeps this one free for the others' tests.
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("waiting for the script") {
            break Some(status);
        }
        if started.elapsed() > TIME_LIMIT {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let stdout = stdout.join().expect("stdout reader");
    let stderr = stderr.join().expect("stderr reader");
    let elapsed = started.elapsed();
    let Some(status) = status else {
        panic!("{script} did not finish within {TIME_LIMIT:?}:\n{stdout}\n{stderr}");
    };
    assert!(
        status.success(),
        "{script} failed ({status}) after {elapsed:.1?}:\n{stdout}\n{stderr}"
    );
    assert!(
        stdout
            .lines()
            .any(|line| line.ends_with(" passed, 0 failed")),
        "{script} exited 0 without its summary line:\n{stdout}\n{stderr}"
    );
    eprintln!("{script} ({elapsed:.1?}):\n{stdout}");
    stdout
}

#[tokio::test]
async fn the_openai_python_sdk_calls_tools_and_parses_structured_output() {
    run_client(main_python(), "tests/sdk/openai_tools_check.py").await;
}

#[tokio::test]
async fn the_openai_node_sdk_calls_a_tool_and_gets_a_json_schema_reply() {
    let sdk = root().join("tests/e2e/node_modules/openai/package.json");
    assert!(
        sdk.exists(),
        "tests/e2e/node_modules/openai is missing: run `make browser-deps` (make test does)"
    );
    run_client(PathBuf::from("node"), "tests/e2e/openai-sdk-check.mjs").await;
}

#[tokio::test]
async fn instructor_gets_a_valid_response_model_in_its_default_tools_mode() {
    run_client(instructor_python(), "tests/sdk/instructor_check.py").await;
}

#[tokio::test]
async fn a_pydantic_ai_agent_with_a_tool_returns_its_output_type() {
    let stdout = run_client(main_python(), "tests/sdk/pydantic_ai_check.py").await;
    // Whether a 135M model chose to call the tool is its own affair; that the script said so
    // shows the agent ran the tool-offering path at all.
    assert!(stdout.contains("the agent's tool ran"), "{stdout}");
}

#[tokio::test]
async fn langchain_binds_tools_and_returns_structured_output() {
    run_client(main_python(), "tests/sdk/langchain_check.py").await;
}

#[tokio::test]
async fn langchain_embeds_documents_and_ranks_the_paraphrase_first() {
    run_client(main_python(), "tests/sdk/langchain_embeddings_check.py").await;
}

#[tokio::test]
async fn the_vercel_ai_sdk_embeds_one_value_and_many() {
    let sdk = root().join("tests/e2e/node_modules/ai/package.json");
    assert!(
        sdk.exists(),
        "tests/e2e/node_modules/ai is missing: run `make browser-deps` (make test does)"
    );
    run_client(PathBuf::from("node"), "tests/e2e/ai-sdk-embed-check.mjs").await;
}
