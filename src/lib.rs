//! sotto: a private chat assistant server with an OpenAI-compatible API in front of llama.cpp.
//!
//! [`serve`] runs the whole application on a listener the caller binds, so tests start it on
//! port 0 and stop it with a future.

pub mod accounts;
pub mod api;
pub mod caller;
pub mod chat_template;
pub mod cli;
pub mod clock;
pub mod config;
pub mod engine;
pub mod hosts;
pub mod models;
pub mod state;
pub mod storage;
pub mod telemetry;
pub mod transport;
pub mod web;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};
use tokio::net::TcpListener;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::timeout::RequestBodyTimeoutLayer;

use accounts::{Accounts, LoginThrottle, SessionPolicy};
use api::ApiError;
use config::{Auth, ServeConfig};
use engine::EngineConfig;
use hosts::AllowedHosts;
use models::ModelRegistry;
use state::AppState;
use storage::Database;

/// Builds the application, opens the database and starts loading the models.
fn app(config: &ServeConfig) -> anyhow::Result<(Router, AppState)> {
    let engine_config = EngineConfig {
        parallel: config.parallel,
        ctx_per_slot: config.ctx_size,
        threads: config.engine_threads(),
        queue: config.queue,
        max_per_caller: config.requests_per_caller(),
        cache_mb: config.cache_mb,
        cache_idle: Duration::from_secs(config.cache_idle_secs),
        flash_attn: config.flash_attn.enabled(),
    };
    let registry = ModelRegistry::new(config.models_dir.clone(), engine_config);
    let preload: Vec<String> = if config.models.is_empty() {
        registry.files().into_iter().map(|file| file.id).collect()
    } else {
        config.models.clone()
    };
    if preload.is_empty() {
        tracing::warn!(dir = %config.models_dir.display(), "no .gguf models found; run `make model`");
    }
    registry.preload(&preload)?;

    let session_policy = SessionPolicy {
        idle: Duration::from_secs(config.session_idle_hours * 3600),
        absolute: Duration::from_secs(config.session_max_hours * 3600),
    };
    let database = Database::open(&config.data_dir)?;
    let state = AppState {
        registry,
        default_model: preload.first().cloned(),
        accounts: Accounts::new(database, session_policy),
        throttle: Arc::new(LoginThrottle::new(
            config.login_max_failures,
            Duration::from_secs(config.login_window_secs),
        )),
        session_policy,
        signup: config.signup,
        require_api_key: config.auth == Auth::On,
        max_tokens_default: (config.max_tokens_default > 0).then_some(config.max_tokens_default),
    };
    if !state.require_api_key {
        tracing::warn!("--auth off: the API answers anyone who can reach this port");
    }
    let router = Router::new()
        .merge(api::router(&state, config.max_body))
        .merge(web::privacy_json_route())
        .merge(web::router())
        .route("/health", get(health))
        .fallback(|| async { ApiError::route_not_found() })
        .method_not_allowed_fallback(|| async { ApiError::method_not_allowed() })
        .layer(RequestBodyTimeoutLayer::new(Duration::from_secs(
            config.body_timeout_secs,
        )))
        .layer(api::cors())
        .layer(axum::middleware::from_fn(telemetry::log_request))
        .layer(axum::middleware::from_fn_with_state(
            AllowedHosts::new(&config.allowed_hosts),
            hosts::check,
        ))
        .layer(axum::middleware::from_fn(web::guard::security_headers))
        .layer(CatchPanicLayer::custom(|_| {
            ApiError::internal().into_response()
        }))
        .with_state(state.clone());
    Ok((router, state))
}

/// Serves until `shutdown` completes.
pub async fn serve(
    config: ServeConfig,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let (app, state) = app(&config)?;
    let sweeper = tokio::spawn(caller::forget_revoked(
        state.accounts.clone(),
        Arc::clone(&state.registry),
        !state.require_api_key,
    ));
    let limits = transport::Limits {
        max_connections: config.max_connections as usize,
        header_timeout: Duration::from_secs(config.header_timeout_secs),
        trusted_proxies: config.trusted_proxies.clone(),
    };
    // The peer address reaches only the in-memory login throttle; it is never logged or stored.
    transport::serve(listener, app, limits, shutdown).await;
    sweeper.abort();
    Ok(())
}

/// Liveness and each model's state for anyone; the engine counters (live activity) only for a
/// caller on this machine, one with an API key, or anyone when `--auth off` lets anyone use
/// the models anyway.
async fn health(
    State(state): State<AppState>,
    peer: transport::Peer,
    headers: HeaderMap,
) -> Response {
    let counters =
        !state.require_api_key || peer.ip.is_loopback() || has_valid_key(&state, &headers).await;
    let loaded = if counters {
        state.registry.loaded()
    } else {
        Vec::new()
    };
    let models: Vec<Value> = state
        .registry
        .files()
        .into_iter()
        .map(|file| {
            let mut entry = json!({ "id": file.id, "state": state.registry.state(&file.id) });
            if let Some(model) = loaded.iter().find(|model| model.id == file.id) {
                entry["active"] = json!(model.engine.active());
                entry["in_flight"] = json!(model.engine.in_flight());
                entry["cancelled"] = json!(model.engine.cancelled());
                entry["cache_reused_tokens"] = json!(model.engine.reused_tokens());
                entry["cache_decoded_ahead_tokens"] = json!(model.engine.decoded_ahead());
                entry["cached_conversations"] = json!(model.engine.cached_slots());
            }
            entry
        })
        .collect();
    Json(json!({ "status": "ok", "models": models })).into_response()
}

async fn has_valid_key(state: &AppState, headers: &HeaderMap) -> bool {
    let Some(key) = api::bearer_key(headers) else {
        return false;
    };
    matches!(state.accounts.key_hash(key).await, Ok(Some(_)))
}
