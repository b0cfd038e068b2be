//! Anthropic's Messages API: `POST /v1/messages` and `POST /v1/messages/count_tokens`.
//!
//! A request is translated into chat's [`ChatJob`](super::chat::ChatJob) ([`request`],
//! [`convert`]) and planned, submitted and parsed by chat's own path; only the shapes differ:
//! content blocks ([`response`]), Anthropic's stream events ([`events`]) and errors ([`error`]).

mod convert;
mod error;
mod events;
mod request;
mod response;

use axum::extract::State;
use axum::response::{IntoResponse, Response};

use super::auth::Caller;
use super::chat;
use super::error::{ApiError, ApiResult};
use super::generate;
use super::json::ApiJson;
use super::reply::{chat_reply, Shape};
pub use error::anthropic_errors;
pub use request::{CountTokensRequest, MessagesRequest};
use response::{message_id, Reply, TokenCount};

use crate::state::AppState;

pub async fn post(
    State(state): State<AppState>,
    Caller(owner): Caller,
    ApiJson(body, ignored): ApiJson<MessagesRequest>,
) -> ApiResult<Response> {
    let translated = body.translate(true)?;
    let (model, submission) = chat::plan(&state, translated.job).await?;
    let input_tokens = u32::try_from(submission.prompt.len()).unwrap_or(u32::MAX);
    // `max_tokens` is required here, so the server's default never applies.
    let started = generate::start(&model, submission, state.max_tokens_default, owner)?;
    let Shape::Chat(parser) = started.shape else {
        return Err(ApiError::internal(anyhow::anyhow!(
            "a chat plan gave a text shape"
        )));
    };
    let reply = Reply {
        id: message_id(),
        model: started.model,
        stops: translated.stops,
        thinking: translated.thinking,
    };
    let response = if started.stream {
        events::stream(reply, parser, started.events, input_tokens)
    } else {
        let (parsed, finish, _) = chat_reply(parser, started.events).await?;
        axum::Json(reply.whole(parsed, &finish)?).into_response()
    };
    Ok(ignored.apply(response))
}

/// The prompt's length in tokens, rendered exactly as `post` renders it: `input_tokens` plus
/// `cache_read_input_tokens` of a reply to the same body.
pub async fn count_tokens(
    State(state): State<AppState>,
    ApiJson(CountTokensRequest(body), ignored): ApiJson<CountTokensRequest>,
) -> ApiResult<Response> {
    let translated = body.translate(false)?;
    let (_, submission) = chat::plan(&state, translated.job).await?;
    let count = TokenCount {
        input_tokens: submission.prompt.len(),
    };
    Ok(ignored.apply(axum::Json(count).into_response()))
}
