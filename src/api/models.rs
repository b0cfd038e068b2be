//! `GET /v1/models` and `GET /v1/models/{id}`.

use axum::extract::{Path, State};
use axum::Json;
use serde::Serialize;

use super::error::{ApiError, ApiResult};
use crate::models::{ModelError, ModelFile};
use crate::state::AppState;

#[derive(Serialize)]
pub struct ModelList {
    object: &'static str,
    data: Vec<ModelObject>,
}

/// OpenAI's fields, plus what a user of an uncensored server should be able to check: whether
/// it is loaded, its context per request, the exact chat template its prompts go through, and
/// the completion budget of requests without `max_tokens` (`null`: the rest of the context),
/// so a client can know it before a reply is cut.
#[derive(Serialize)]
pub struct ModelObject {
    id: String,
    object: &'static str,
    created: u64,
    owned_by: &'static str,
    max_tokens_default: Option<u32>,
    loaded: bool,
    /// `not_loaded`, `loading`, `ready` or `failed`: the chat page says when one is loading.
    state: &'static str,
    /// For an alias (`--alias`), the id of the model it stands for, which replies name.
    #[serde(skip_serializing_if = "Option::is_none")]
    alias_of: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    size_bytes: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    context_length: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    chat_template: Option<String>,
}

/// Every model file, then every alias of one (an alias of a missing file is not listed).
pub async fn list(State(state): State<AppState>) -> Json<ModelList> {
    let files = state.registry.files();
    let mut data: Vec<ModelObject> = files.iter().map(|file| summary(file, &state)).collect();
    for (alias, model) in state.registry.aliases().sorted() {
        if let Some(file) = files.iter().find(|file| file.id == model) {
            data.push(alias_summary(alias, file, &state));
        }
    }
    Json(ModelList {
        object: "list",
        data,
    })
}

pub async fn get(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<Json<ModelObject>> {
    let file = state
        .registry
        .file(&id)
        .ok_or(ApiError::from(ModelError::NotFound))?;
    let mut body = if file.id == id {
        summary(&file, &state)
    } else {
        alias_summary(&id, &file, &state)
    };
    body.size_bytes = Some(file.bytes);
    if let Some(model) = state
        .registry
        .loaded()
        .into_iter()
        .find(|model| model.id == file.id)
    {
        body.context_length = Some(model.engine.slot_context());
        body.chat_template = Some(model.template.source().to_owned());
    }
    Ok(Json(body))
}

fn summary(file: &ModelFile, state: &AppState) -> ModelObject {
    let model_state = state.registry.state(&file.id);
    ModelObject {
        id: file.id.clone(),
        object: "model",
        created: file.created,
        owned_by: "sotto",
        max_tokens_default: state.max_tokens_default,
        loaded: model_state == "ready",
        state: model_state,
        alias_of: None,
        size_bytes: None,
        context_length: None,
        chat_template: None,
    }
}

fn alias_summary(alias: &str, file: &ModelFile, state: &AppState) -> ModelObject {
    ModelObject {
        id: alias.to_owned(),
        alias_of: Some(file.id.clone()),
        ..summary(file, state)
    }
}
