//! Every integration test of the server, in one binary: one link instead of one per file
//! (each links llama.cpp), and one shared server ([`common::shared_app`]) for the tests that
//! need no configuration of their own. Run one file's tests with
//! `cargo test --release --test integration headers::`. `shutdown.rs` is a binary of its own:
//! it counts the engine threads of its whole process.

mod common;

mod accounts;
mod agent_clients;
mod api_promises;
mod architecture;
mod browser;
mod chat_api;
mod choices;
mod cli;
mod compatibility;
mod config_file;
mod connections;
mod control_tokens;
mod embeddings;
mod engine;
mod errors;
mod flags;
mod forms;
mod headers;
mod login;
mod logprobs;
mod logs;
mod messages;
mod metrics;
mod openai_sdk;
mod privacy;
mod promises;
mod prompt_cache;
mod pull;
mod pull_hostile;
mod residency;
mod responses;
mod scheduling;
mod security;
mod structured_output;
mod tools;
