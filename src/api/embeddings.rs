//! `POST /v1/embeddings`: one unit vector per input, from the model's embeddings context
//! (`engine::Embeddings`), in OpenAI's shape.

use std::sync::Arc;

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::Json;
use base64::Engine as _;
use llama_cpp_2::token::LlamaToken;
use serde::Serialize;

use super::auth::Caller;
use super::error::{ApiError, ApiResult};
use super::json::ApiJson;
use super::request::{EmbeddingFields, EncodingFormat, InputItem};
use crate::models::LoadedModel;
use crate::state::AppState;

#[derive(Debug, Serialize)]
struct EmbeddingList {
    object: &'static str,
    data: Vec<Embedding>,
    model: String,
    usage: EmbeddingUsage,
}

#[derive(Debug, Serialize)]
struct Embedding {
    object: &'static str,
    index: usize,
    embedding: Vector,
}

/// A vector as numbers, or as base64 of its little-endian `f32`s (`encoding_format`).
#[derive(Debug, Serialize)]
#[serde(untagged)]
enum Vector {
    Float(Vec<f32>),
    Base64(String),
}

#[derive(Debug, Serialize)]
struct EmbeddingUsage {
    prompt_tokens: usize,
    total_tokens: usize,
}

pub async fn post(
    State(state): State<AppState>,
    Caller(owner): Caller,
    ApiJson(body, ignored): ApiJson<EmbeddingFields>,
) -> ApiResult<Response> {
    // Checked before the model is looked up, so a bad request never starts a context.
    body.inputs()?;
    let format = body.encoding_format.unwrap_or_default();
    let model = state.model(body.model.as_deref())?;
    let dimensions = model.embeddings.dimensions();
    if body.dimensions.is_some_and(|d| d != dimensions as u64) {
        return Err(ApiError::unsupported(
            "dimensions",
            format!("This model's embeddings have {dimensions} dimensions and cannot be shortened: leave `dimensions` out or set it to {dimensions}."),
        ));
    }
    let tokenizing = Arc::clone(&model);
    let inputs = tokio::task::spawn_blocking(move || tokenize(&tokenizing, &body))
        .await
        .map_err(ApiError::internal)??;
    let prompt_tokens = inputs.iter().map(Vec::len).sum();
    let count = inputs.len();

    // The first request creates the context: blocking, and a fraction of a second.
    let starting = Arc::clone(&model);
    let embedder = tokio::task::spawn_blocking(move || starting.embeddings.embedder())
        .await
        .map_err(ApiError::internal)?
        .map_err(ApiError::internal)??;
    let vectors = embedder
        .submit(owner, inputs)?
        .await
        .map_err(|_| ApiError::from(crate::engine::SubmitError::Stopped))?
        .map_err(|reason| ApiError::embedding_failed(&reason))?;
    if vectors.len() != count {
        return Err(ApiError::internal(anyhow::anyhow!(
            "the embeddings thread returned {} vectors for {count} inputs",
            vectors.len()
        )));
    }
    let data = vectors
        .into_iter()
        .enumerate()
        .map(|(index, vector)| Embedding {
            object: "embedding",
            index,
            embedding: encode(vector, format),
        })
        .collect();
    let list = EmbeddingList {
        object: "list",
        data,
        model: model.id.clone(),
        usage: EmbeddingUsage {
            prompt_tokens,
            total_tokens: prompt_tokens,
        },
    };
    Ok(ignored.apply(Json(list).into_response()))
}

/// Every input as the tokens the context decodes, each checked against the context size:
/// an input too long is refused by name, never cut short.
fn tokenize(model: &LoadedModel, body: &EmbeddingFields) -> ApiResult<Vec<Vec<LlamaToken>>> {
    let embeddings = &model.embeddings;
    let n_vocab = embeddings.n_vocab();
    let max = embeddings.max_input_tokens();
    body.inputs()?
        .into_iter()
        .map(|(name, item)| {
            let tokens = match item {
                InputItem::Text(text) => embeddings.tokenize(text),
                InputItem::Tokens(ids) => {
                    let ids = ids
                        .iter()
                        .map(|&id| {
                            i32::try_from(id)
                                .ok()
                                .filter(|id| (0..n_vocab).contains(id))
                                .map(LlamaToken)
                        })
                        .collect::<Option<Vec<_>>>()
                        .ok_or_else(|| {
                            ApiError::invalid_value(
                                &name,
                                format!("Token ids in `{name}` must be from 0 to {} (the model's vocabulary).", n_vocab - 1),
                            )
                        })?;
                    embeddings.wrap(ids)
                }
            };
            if tokens.len() > max {
                return Err(ApiError::context_length_exceeded(
                    &name,
                    format!("`{name}` is {} tokens long; this model embeds at most {max} tokens per input. Split it into shorter inputs (nothing is cut short).", tokens.len()),
                ));
            }
            Ok(tokens)
        })
        .collect()
}

fn encode(vector: Vec<f32>, format: EncodingFormat) -> Vector {
    match format {
        EncodingFormat::Float => Vector::Float(vector),
        EncodingFormat::Base64 => {
            let bytes: Vec<u8> = vector.iter().flat_map(|x| x.to_le_bytes()).collect();
            Vector::Base64(base64::engine::general_purpose::STANDARD.encode(bytes))
        }
    }
}
