//! `POST /v1/chat/completions`.

use std::sync::Arc;

use axum::extract::State;
use axum::response::Response;
use llama_cpp_2::token::LlamaToken;

use super::auth::Caller;
use super::error::{ApiError, ApiResult};
use super::generate::{self, Kind};
use super::json::ApiJson;
use super::request::GenerationBody;
use super::response_format;
use crate::chat_template::{Placement, TemplateError, TemplateMessage};
use crate::models::LoadedModel;
use crate::state::AppState;

pub async fn post(
    State(state): State<AppState>,
    Caller(owner): Caller,
    ApiJson(body): ApiJson<GenerationBody>,
) -> ApiResult<Response> {
    let mut settings = body.settings()?;
    let messages = body.chat_messages()?;
    let model = state.model(body.model.as_deref())?;
    let tokens = prompt_tokens(&model, messages).await?;
    settings.constraint =
        response_format::constraint(&model, body.response_format.as_ref()).await?;
    generate::respond(
        Kind::Chat,
        model,
        tokens,
        "messages",
        settings,
        state.max_tokens_default,
        owner,
    )
    .await
}

/// The conversation as the model's template lays it out, tokenized with its content as text.
/// Off the async runtime: both take time in proportion to the conversation.
async fn prompt_tokens(
    model: &Arc<LoadedModel>,
    messages: Vec<TemplateMessage>,
) -> ApiResult<Vec<LlamaToken>> {
    let rendering = Arc::clone(model);
    let tokens = tokio::task::spawn_blocking(move || {
        let model = rendering;
        let prompt = model.template.render_prompt(&messages)?;
        if prompt.placement == Placement::Verbatim {
            tracing::debug!(
                model = %model.id,
                "the chat template changes message content; content is used as sent"
            );
        }
        // The template writes any BOS token itself.
        Ok(model.engine.tokenize(&prompt.text, &prompt.content, false))
    })
    .await
    .map_err(ApiError::internal)?;
    tokens.map_err(|error| match error {
        TemplateError::Rejected(_) => ApiError::invalid_value("messages", error.to_string()),
        TemplateError::Render | TemplateError::Unplaceable => {
            ApiError::internal(anyhow::Error::new(error).context(format!("model {}", model.id)))
        }
    })
}
