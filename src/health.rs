//! `GET /health`: liveness and each model's state for anyone; the engine counters (live
//! activity) only for a caller on this machine, one with an API key, or anyone when
//! `--auth off` lets anyone use the models anyway. `GET /healthz` and `GET /readyz`: the
//! probes orchestrators expect, which say nothing but alive and ready. `GET /metrics`: the
//! same activity for Prometheus, to the same callers (or on `--metrics-addr`).

use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;

use crate::api::ApiError;
use crate::auth;
use crate::monitoring::{EngineGauges, ModelGauges};
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
    /// In idle slots or set aside in RAM.
    cached_conversations: usize,
    /// Of those, set aside in RAM because another request took their slot.
    cached_conversations_in_ram: usize,
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
    let counters = may_see_activity(&state, peer, &headers).await;
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
                    cached_conversations: engine.cached_conversations(),
                    cached_conversations_in_ram: engine.spilled_conversations(),
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

/// Whether this caller may see what the engines are doing (`/health`'s counters, `/metrics`):
/// anyone when `--auth off` lets anyone use the models anyway, a caller on this machine, or
/// one with a valid API key. How busy the server is, and when, is not for the whole internet.
pub async fn may_see_activity(state: &AppState, peer: Peer, headers: &HeaderMap) -> bool {
    if !state.require_api_key || peer.ip.is_loopback() {
        return true;
    }
    let Some(key) = auth::api_key(headers) else {
        return false;
    };
    matches!(state.accounts.key_hash(key).await, Ok(Some(_)))
}

/// Prometheus's text exposition format, version 0.0.4.
const EXPOSITION: &str = "text/plain; version=0.0.4; charset=utf-8";

/// `GET /metrics` on the main listener, for the callers who may see `/health`'s counters.
/// A Prometheus on this machine scrapes it as it is; one elsewhere sends an API key (its
/// scrape config's `authorization`), or scrapes `--metrics-addr` instead.
pub async fn metrics(State(state): State<AppState>, peer: Peer, headers: HeaderMap) -> Response {
    if !may_see_activity(&state, peer, &headers).await {
        return ApiError::unauthorized(
            "Metrics are served to this machine and to callers with an API key (`Authorization: Bearer sk-sotto-...`); or serve them on an address of their own with `--metrics-addr`.",
        )
        .into_response();
    }
    metrics_open(State(state)).await
}

/// `GET /metrics` on `--metrics-addr`: whoever reaches that address may read it; choosing
/// the address is the operator's access control.
pub async fn metrics_open(State(state): State<AppState>) -> Response {
    let loaded = state.registry.loaded();
    let mut ids: Vec<String> = state
        .registry
        .files()
        .into_iter()
        .map(|file| file.id)
        .collect();
    // A loaded model whose file was removed since is still running.
    ids.extend(loaded.iter().map(|model| model.id.clone()));
    ids.sort();
    ids.dedup();
    let models: Vec<ModelGauges> = ids
        .into_iter()
        .map(|id| {
            let engine = loaded.iter().find(|model| model.id == id).map(|model| {
                let engine = &model.engine;
                EngineGauges {
                    slots: engine.slots(),
                    busy: engine.active(),
                    waiting: engine.waiting(),
                    cached_conversations: engine.cached_conversations(),
                }
            });
            ModelGauges { id, engine }
        })
        .collect();
    let body = state.metrics.render(&models);
    (
        [(header::CONTENT_TYPE, HeaderValue::from_static(EXPOSITION))],
        body,
    )
        .into_response()
}
