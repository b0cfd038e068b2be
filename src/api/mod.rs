//! The OpenAI-compatible API under `/v1`.

mod auth;
mod chat;
mod completions;
pub mod error;
mod generate;
mod json;
mod models;
mod request;

use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use axum::{Extension, Router};

use crate::state::AppState;
pub use error::ApiError;
use json::BodyLimit;

/// The API. Listing models is public; generating needs an API key unless `--auth off`.
pub fn router(state: &AppState, max_body: usize) -> Router<AppState> {
    let generate = Router::new()
        .route("/v1/chat/completions", post(chat::post))
        .route("/v1/completions", post(completions::post))
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            auth::require_api_key,
        ));
    // The browser UI's way in: the same handler, with the session cookie and the page's CSRF
    // token instead of an API key.
    let ui = Router::new()
        .route("/ui/chat/completions", post(chat::post))
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            crate::web::session::require_page_session,
        ));
    Router::new()
        .route("/v1/models", get(models::list))
        .route("/v1/models/{id}", get(models::get))
        .merge(generate)
        .merge(ui)
        .layer(DefaultBodyLimit::max(max_body))
        .layer(Extension(BodyLimit(max_body)))
}
