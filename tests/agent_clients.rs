//! The agent clients users point at sotto with `base_url`, each driven through its headline
//! feature (tool calls, structured output) against the real server and the real default model:
//! the official OpenAI Python and Node SDKs, instructor, pydantic-ai and LangChain; Anthropic's
//! Python SDK on `/v1/messages`; and the embeddings clients of LangChain and the Vercel AI SDK.
//!
//! Each client is a script (tests/sdk/*.py, tests/e2e/openai-sdk-check.mjs) that reads
//! SOTTO_BASE_URL, SOTTO_API_KEY and SOTTO_MODEL, exits non-zero at its first failed check and
//! prints "N passed, 0 failed" when all pass. `make test` installs what they need: .venv and
//! .venv-instructor (`make venv`) and tests/e2e/node_modules (`make browser-deps`).

use crate::common;

use std::path::PathBuf;

use common::clients::{instructor_python, main_python, root, run_client};

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
async fn the_anthropic_python_sdk_sends_messages_streams_and_uses_a_tool() {
    run_client(main_python(), "tests/sdk/anthropic_check.py").await;
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
