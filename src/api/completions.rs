//! `POST /v1/completions`: the legacy text completion, the prompt sent to the model as is.

use axum::extract::State;
use axum::response::Response;
use llama_cpp_2::token::LlamaToken;

use super::auth::Caller;
use super::error::{ApiError, ApiResult};
use super::generate::{self, Kind, Submission};
use super::json::ApiJsonPair;
use super::reply::Shape;
use super::request::{CompletionFields, GenerationBody, Prompt};
use super::response_format::{self, ResponseFormat};
use crate::engine::Constraint;
use crate::state::AppState;

pub async fn post(
    State(state): State<AppState>,
    Caller(owner): Caller,
    ApiJsonPair(body, fields, ignored): ApiJsonPair<GenerationBody, CompletionFields>,
) -> ApiResult<Response> {
    let mut settings = body.settings()?;
    settings.logprobs = body.completion_logprobs()?;
    fields.check()?;
    let prompt = fields.prompt()?;
    let grammar = fields
        .response_format
        .as_ref()
        .and_then(ResponseFormat::spec);
    let model = state.model(body.model.as_deref())?;
    let add_bos = model.engine.model().vocab().should_add_bos();
    // The prompt is text its client wrote for the model, so special tokens spelt in it are
    // parsed, as llama.cpp's server does: this endpoint is for clients that lay out a prompt
    // themselves (their own chat format, fill-in-the-middle), which takes control tokens, and
    // whoever writes the prompt writes every turn in it anyway. Apps that put someone else's
    // text in a prompt should use the chat endpoint, where message content is only ever text.
    let tokens = match prompt {
        Prompt::Text(text) => generate::tokenize(&model, text.clone(), add_bos).await?,
        Prompt::Texts(texts) => match texts.as_slice() {
            [text] => generate::tokenize(&model, text.clone(), add_bos).await?,
            _ => {
                return Err(ApiError::unsupported(
                    "prompt",
                    "Send one prompt per request.",
                ))
            }
        },
        Prompt::Tokens(tokens) => {
            let n_vocab = model.engine.model().n_vocab();
            tokens
                .iter()
                .map(|&token| {
                    i32::try_from(token)
                        .ok()
                        .filter(|t| *t < n_vocab)
                        .map(LlamaToken)
                        .ok_or_else(|| ApiError::invalid_value("prompt", format!("Token ids must be below the model's vocabulary size ({n_vocab}).")))
                })
                .collect::<ApiResult<Vec<_>>>()?
        }
    };
    let constraint = match grammar {
        Some(spec) => Some(Constraint {
            grammar: response_format::compile(&model, spec, response_format::SCHEMA_PARAM).await?,
            trigger: None,
        }),
        None => None,
    };
    let submission = Submission {
        kind: Kind::Text,
        prompt: tokens,
        prompt_param: "prompt",
        settings,
        constraint,
        shape: Shape::Text,
    };
    let response = generate::respond(model, submission, state.max_tokens_default, owner).await?;
    Ok(ignored.apply(response))
}
