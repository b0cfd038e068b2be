//! `POST /v1/chat/completions`.

use axum::extract::State;
use axum::response::Response;
use axum::Extension;

use super::error::{ApiError, ApiResult};
use super::generate::{self, Kind};
use super::json::ApiJson;
use super::request::GenerationBody;
use crate::chat_template::TemplateError;
use crate::engine::CacheOwner;
use crate::state::AppState;

pub async fn post(
    State(state): State<AppState>,
    owner: Option<Extension<CacheOwner>>,
    ApiJson(body): ApiJson<GenerationBody>,
) -> ApiResult<Response> {
    let settings = body.settings()?;
    let messages = body.chat_messages()?;
    let model = state.model(body.model.as_deref())?;
    let prompt = model
        .template
        .render(&messages)
        .map_err(|error| match error {
            TemplateError::Rejected(_) => ApiError::invalid_value("messages", error.to_string()),
            TemplateError::Render => ApiError::internal(),
        })?;
    // The template writes any BOS token itself.
    let tokens = generate::tokenize(&model, prompt, false).await?;
    generate::respond(
        Kind::Chat,
        model,
        tokens,
        "messages",
        settings,
        owner.map(|Extension(owner)| owner),
    )
    .await
}
