//! What the server stores and what it never stores, as a page and as JSON.

use askama::Template;
use axum::http::StatusCode;
use axum::response::Response;
use axum::Json;
use serde_json::{json, Value};

use super::pages::render;

#[derive(Template)]
#[template(path = "privacy.html")]
struct PrivacyPage;

pub async fn page() -> Response {
    render(StatusCode::OK, &PrivacyPage)
}

pub async fn json() -> Json<Value> {
    Json(json!({
        "stored": {
            "users": ["email (lower case)", "Argon2id password hash", "creation date"],
            "sessions": ["SHA-256 of the session token", "user id", "creation and expiry times"],
            "api_keys": ["name", "first characters of the key", "SHA-256 of the key", "creation date"],
        },
        "never_stored": [
            "prompts", "completions", "conversations", "request bodies", "header values",
            "IP addresses", "user agents", "last-seen times", "per-request token counts",
        ],
        "conversations": "kept in your browser only",
        "logs": "method, route template, status and latency of each request; nothing else about it",
        "prompt_injection": "none: nothing is added to your messages and nothing is filtered",
        "chat_templates": "published at /v1/models/{id}",
        "account_deletion": "removes the user, their sessions and their API keys in one transaction",
    }))
}
