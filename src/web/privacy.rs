//! What the server stores and what it never stores, as a page and as JSON.

use askama::Template;
use axum::http::StatusCode;
use axum::Json;
use serde::Serialize;

use super::error::WebResult;
use super::pages::render;

#[derive(Template)]
#[template(path = "privacy.html")]
struct PrivacyPage;

pub async fn page() -> WebResult {
    render(StatusCode::OK, &PrivacyPage)
}

#[derive(Serialize)]
pub struct Statement {
    stored: Stored,
    never_stored: &'static [&'static str],
    conversations: &'static str,
    prompt_cache: &'static str,
    logs: &'static str,
    prompt_injection: &'static str,
    chat_templates: &'static str,
    account_deletion: &'static str,
}

/// Each table of the database and what its rows hold.
#[derive(Serialize)]
struct Stored {
    users: &'static [&'static str],
    sessions: &'static [&'static str],
    api_keys: &'static [&'static str],
}

pub async fn json() -> Json<Statement> {
    Json(Statement {
        stored: Stored {
            users: &["email (lower case)", "Argon2id password hash", "creation date"],
            sessions: &["SHA-256 of the session token", "user id", "creation and expiry times"],
            api_keys: &["name", "first characters of the key", "SHA-256 of the key", "creation date"],
        },
        never_stored: &[
            "prompts", "completions", "conversations", "request bodies", "header values",
            "IP addresses", "user agents", "last-seen times", "per-request token counts",
        ],
        conversations: "kept in your browser only",
        prompt_cache: "the model's KV state of your recent conversations, in the server's memory only (a slot, then RAM), never on disk, re-used only for your own API key or browser session; dropped at log-out, key revocation, account deletion, when idle (--cache-idle-secs) or when full (--cache-mb)",
        logs: "method, route template, status and latency of each request, and the cause of a server failure (never request content); nothing else about it",
        prompt_injection: "none: nothing is added to your messages and nothing is filtered",
        chat_templates: "published at /v1/models/{id}",
        account_deletion: "removes the user, their sessions and their API keys in one transaction",
    })
}
