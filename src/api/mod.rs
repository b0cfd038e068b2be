//! The OpenAI-compatible API under `/v1`.

mod auth;
mod chat;
mod completions;
pub mod error;
mod generate;
mod json;
mod models;
mod request;

use std::time::Duration;

use axum::extract::DefaultBodyLimit;
use axum::http::{header, HeaderName, Method};
use axum::routing::{get, post};
use axum::{Extension, Router};
use tower_http::cors::{AllowOrigin, Any, CorsLayer};

use crate::state::AppState;
pub use auth::bearer_key;
pub use error::ApiError;
use json::BodyLimit;

/// The API. Listing models is public; generating needs an API key unless `--auth off`.
pub fn router(state: &AppState, max_body: usize) -> Router<AppState> {
    // Layers run bottom-up: a body that is not JSON is refused before the key is looked up.
    let generate = Router::new()
        .route("/v1/chat/completions", post(chat::post))
        .route("/v1/completions", post(completions::post))
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            auth::require_api_key,
        ))
        .route_layer(axum::middleware::from_fn(json::require_json));
    let v1 = Router::new()
        .route("/v1/models", get(models::list))
        .route("/v1/models/{id}", get(models::get))
        .merge(generate);
    // The browser UI's way in: the same handler, with the session cookie and the page's CSRF
    // token instead of an API key. Same origin only: no CORS here.
    let ui = Router::new()
        .route("/ui/chat/completions", post(chat::post))
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            crate::web::session::require_page_session,
        ))
        .route_layer(axum::middleware::from_fn(json::require_json));
    Router::new()
        .merge(v1)
        .merge(ui)
        .layer(DefaultBodyLimit::max(max_body))
        .layer(Extension(BodyLimit(max_body)))
}

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
        ])
        .max_age(Duration::from_secs(24 * 3600))
}
