//! The OpenAI-compatible API under `/v1`, and the chat page's way to it under `/ui`. Routes are
//! listed in `crate::router`.

pub mod auth;
pub mod chat;
pub mod completions;
pub mod embeddings;
pub mod error;
mod generate;
pub mod json;
pub mod messages;
pub mod models;
mod reply;
mod request;
mod response;
mod response_format;
pub mod responses;
mod schemas;
mod stream;
mod tool_use;

use std::time::Duration;

use axum::http::{header, HeaderName, Method};
use tower_http::cors::{AllowOrigin, Any, CorsLayer};

pub use error::ApiError;
pub use json::BodyLimit;

/// Any origin may call `/v1`, as OpenAI's API allows, so browser-based clients work. That is
/// safe because `/v1` ignores cookies: a page can only spend a key it already holds. Nothing
/// else is shared with other origins (the pages, `/ui`).
///
/// It wraps the whole app rather than the `/v1` routes: a preflight (`OPTIONS`) must be
/// answered before method routing would refuse it with 405.
pub fn cors() -> CorsLayer {
    let api_only = AllowOrigin::predicate(|_, request| request.uri.path().starts_with("/v1/"));
    CorsLayer::new()
        .allow_origin(api_only)
        .allow_methods([Method::GET, Method::POST])
        .allow_headers(Any)
        .expose_headers([
            header::RETRY_AFTER,
            HeaderName::from_static(generate::MAX_TOKENS_DEFAULT_HEADER),
            request::IGNORED_PARAMS_HEADER,
        ])
        .max_age(Duration::from_secs(24 * 3600))
}
