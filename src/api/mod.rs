//! The OpenAI-compatible API under `/v1`.

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

use crate::AppState;
pub use error::ApiError;
use json::BodyLimit;

pub fn router(max_body: usize) -> Router<AppState> {
    Router::new()
        .route("/v1/models", get(models::list))
        .route("/v1/models/{id}", get(models::get))
        .route("/v1/chat/completions", post(chat::post))
        .route("/v1/completions", post(completions::post))
        .layer(DefaultBodyLimit::max(max_body))
        .layer(Extension(BodyLimit(max_body)))
}
