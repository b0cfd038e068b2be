//! `GET /health`: liveness and each model's state for anyone; the engine counters (live
//! activity) only for a caller on this machine, one with an API key, or anyone when
//! `--auth off` lets anyone use the models anyway. `GET /healthz` and `GET /readyz`: the
//! probes orchestrators expect, which say nothing but alive and ready.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use serde::Serialize;

use crate::auth;
use crate::state::AppState;
use crate::transport::Peer;

#[derive(Serialize)]
pub struct Health {
    status: &'static str,
    models: Vec<ModelHealth>,
}

#[derive(Serialize)]
struct ModelHealth {
    id: String,
    state: &'static str,
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    counters: Option<Counters>,
}

/// What the model's engine is doing now.
#[derive(Serialize)]
struct Counters {
    active: usize,
    in_flight: usize,
    cancelled: usize,
    cache_reused_tokens: u64,
    cache_decoded_ahead_tokens: u64,
    /// Prompt tokens prefilled; the other choices of an `n` request add none.
    prefilled_tokens: u64,
    cached_conversations: usize,
}

/// A probe's answer.
#[derive(Serialize)]
pub struct Probe {
    status: &'static str,
}

/// `GET /healthz`: the process serves HTTP.
pub async fn alive() -> Json<Probe> {
    Json(Probe { status: "ok" })
}

/// `GET /readyz`: 200 once a model is loaded and its engine thread runs; 503 before (models
/// still loading, none in the folder) and after (an engine that stopped).
pub async fn ready(State(state): State<AppState>) -> (StatusCode, Json<Probe>) {
    let ready = state
        .registry
        .loaded()
        .iter()
        .any(|model| model.engine.is_running());
    if ready {
        (StatusCode::OK, Json(Probe { status: "ready" }))
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(Probe {
                status: "not_ready",
            }),
        )
    }
}

pub async fn get(State(state): State<AppState>, peer: Peer, headers: HeaderMap) -> Json<Health> {
    let counters =
        !state.require_api_key || peer.ip.is_loopback() || has_valid_key(&state, &headers).await;
    let loaded = if counters {
        state.registry.loaded()
    } else {
        Vec::new()
    };
    let models = state
        .registry
        .files()
        .into_iter()
        .map(|file| {
            let engine = loaded
                .iter()
                .find(|model| model.id == file.id)
                .map(|model| &model.engine);
            ModelHealth {
                state: state.registry.state(&file.id),
                counters: engine.map(|engine| Counters {
                    active: engine.active(),
                    in_flight: engine.in_flight(),
                    cancelled: engine.cancelled(),
                    cache_reused_tokens: engine.reused_tokens(),
                    cache_decoded_ahead_tokens: engine.decoded_ahead(),
                    prefilled_tokens: engine.prefilled_tokens(),
                    cached_conversations: engine.cached_slots(),
                }),
                id: file.id,
            }
        })
        .collect();
    Json(Health {
        status: "ok",
        models,
    })
}

async fn has_valid_key(state: &AppState, headers: &HeaderMap) -> bool {
    let Some(key) = auth::api_key(headers) else {
        return false;
    };
    matches!(state.accounts.key_hash(key).await, Ok(Some(_)))
}
