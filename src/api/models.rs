//! `GET /v1/models` and `GET /v1/models/{id}`.

use axum::extract::{Path, State};
use axum::Json;
use serde_json::{json, Value};

use super::error::{ApiError, ApiResult};
use crate::models::{ModelError, ModelFile};
use crate::state::AppState;

pub async fn list(State(state): State<AppState>) -> Json<Value> {
    let data: Vec<Value> = state
        .registry
        .files()
        .iter()
        .map(|file| summary(file, &state))
        .collect();
    Json(json!({ "object": "list", "data": data }))
}

/// One model, plus what a user of an uncensored server should be able to check: whether it is
/// loaded, its context per request, and the exact chat template its prompts go through.
pub async fn get(State(state): State<AppState>, Path(id): Path<String>) -> ApiResult<Json<Value>> {
    let file = state
        .registry
        .file(&id)
        .ok_or(ApiError::from(ModelError::NotFound))?;
    let mut body = summary(&file, &state);
    body["size_bytes"] = json!(file.bytes);
    body["loaded"] = json!(false);
    if let Some(model) = state
        .registry
        .loaded()
        .into_iter()
        .find(|model| model.id == id)
    {
        body["loaded"] = json!(true);
        body["context_length"] = json!(model.engine.slot_context());
        body["chat_template"] = json!(model.template.source());
    }
    Ok(Json(body))
}

/// OpenAI's fields, plus the completion budget of requests without `max_tokens` (`null`: the
/// rest of the context), so a client can know it before a reply is cut.
fn summary(file: &ModelFile, state: &AppState) -> Value {
    json!({
        "id": file.id,
        "object": "model",
        "created": file.created,
        "owned_by": "sotto",
        "max_tokens_default": state.max_tokens_default,
    })
}
