//! sotto: a private chat assistant server with an OpenAI-compatible API in front of llama.cpp.
//!
//! [`serve`] runs the whole application on a listener the caller binds, so tests start it on
//! port 0 and stop it with a future.

pub mod api;
pub mod chat_template;
pub mod config;
pub mod engine;
pub mod models;
pub mod telemetry;

use std::future::Future;
use std::sync::Arc;

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};
use tokio::net::TcpListener;
use tower_http::catch_panic::CatchPanicLayer;

use api::ApiError;
use config::ServeConfig;
use engine::EngineConfig;
use models::{LoadedModel, ModelError, ModelRegistry};

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub registry: Arc<ModelRegistry>,
    /// Used when a request names no model.
    default_model: Option<String>,
}

impl AppState {
    /// The named model, or the default one; loads it if needed.
    pub fn model(&self, id: Option<&str>) -> Result<Arc<LoadedModel>, ApiError> {
        let id = id
            .or(self.default_model.as_deref())
            .ok_or(ModelError::NotFound)?;
        Ok(self.registry.get(id)?)
    }
}

/// Builds the application and starts loading its models.
pub fn app(config: &ServeConfig) -> anyhow::Result<Router> {
    let engine_config = EngineConfig {
        parallel: config.parallel,
        ctx_per_slot: config.ctx_size,
        threads: config.engine_threads(),
        queue: config.queue,
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
    let state = AppState {
        registry,
        default_model: preload.first().cloned(),
    };
    Ok(Router::new()
        .merge(api::router(config.max_body))
        .route("/health", get(health))
        .fallback(|| async { ApiError::route_not_found() })
        .method_not_allowed_fallback(|| async { ApiError::method_not_allowed() })
        .layer(axum::middleware::from_fn(telemetry::log_request))
        .layer(CatchPanicLayer::custom(|_| {
            ApiError::internal().into_response()
        }))
        .with_state(state))
}

/// Serves until `shutdown` completes.
pub async fn serve(
    config: ServeConfig,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let app = app(&config)?;
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await?;
    Ok(())
}

/// Liveness plus each model's state and load, in counts only.
async fn health(State(state): State<AppState>) -> Response {
    let models: Vec<Value> = state
        .registry
        .files()
        .into_iter()
        .map(|file| {
            let loaded = state
                .registry
                .loaded()
                .into_iter()
                .find(|model| model.id == file.id);
            let mut entry = json!({ "id": file.id, "state": state.registry.state(&file.id) });
            if let Some(model) = loaded {
                entry["active"] = json!(model.engine.active());
                entry["in_flight"] = json!(model.engine.in_flight());
                entry["cancelled"] = json!(model.engine.cancelled());
            }
            entry
        })
        .collect();
    Json(json!({ "status": "ok", "models": models })).into_response()
}
