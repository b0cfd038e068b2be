//! sotto: a private chat assistant server with an OpenAI-compatible API in front of llama.cpp.
//!
//! [`serve`] runs the whole application on a listener the caller binds, so tests start it on
//! port 0 and stop it with a future. Everything else is private to the crate but the
//! configuration, the administration commands and the logger `main.rs` needs, and the
//! [`testing`] surface the integration tests use.

#![forbid(unsafe_code)]

mod accounts;
mod api;
mod auth;
mod caller;
mod chat_template;
pub mod cli;
mod clock;
pub mod config;
mod engine;
mod gguf;
mod health;
mod hosts;
mod models;
mod monitoring;
mod pull;
mod router;
mod state;
mod storage;
pub mod telemetry;
mod tool_calls;
mod transport;
mod web;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use futures::FutureExt as _;
use tokio::net::TcpListener;

use accounts::{Accounts, LoginThrottle, SessionPolicy};
use clock::Clock;
use config::{Auth, ServeConfig};
use engine::EngineConfig;
use models::{Aliases, ModelRegistry, TemplateFiles};
use monitoring::Metrics;
use state::AppState;
use storage::Database;

/// What the integration tests reach below the HTTP surface: tokenizing the way the server does,
/// to prove that message content never becomes control tokens; and a server whose clock the
/// test moves forward, to see sessions and login windows run out without waiting.
#[doc(hidden)]
pub mod testing {
    pub use crate::chat_template::{ChatTemplate, TemplateMessage};
    pub use crate::clock::Clock;
    pub use crate::engine::{backend, tokenize, SpecialTokens};

    /// [`crate::serve`] with sessions and the login throttle on `clock`.
    pub async fn serve_with_clock(
        config: crate::config::ServeConfig,
        clock: Clock,
        listener: tokio::net::TcpListener,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        crate::serve_on(config, clock, listener, shutdown).await
    }
}

/// Opens the database and starts loading the models.
fn app_state(config: &ServeConfig, clock: Clock) -> anyhow::Result<AppState> {
    let engine_config = EngineConfig {
        parallel: config.parallel,
        ctx_per_slot: config.ctx_size,
        threads: config.engine_threads(),
        queue: config.queue,
        max_per_caller: config.requests_per_caller(),
        cache_mb: config.cache_mb,
        cache_idle: Duration::from_secs(config.cache_idle_secs),
        flash_attn: config.flash_attn.enabled(),
        cache_type_k: config.cache_type_k.llama(),
        cache_type_v: config.cache_type_v.llama(),
        gpu_layers: config.gpu_layers,
    };
    let templates = TemplateFiles::parse(&config.chat_template_files);
    let metrics = Metrics::new();
    let registry = ModelRegistry::new(
        config.models_dir.clone(),
        Aliases::new(&config.aliases),
        engine_config,
        templates,
        metrics.clone(),
        config.residency(),
    );
    let files = registry.files();
    for (alias, model) in registry.aliases().sorted() {
        if !files.iter().any(|file| file.id == model) {
            tracing::warn!(
                alias,
                model,
                "the alias names no model in the models folder (yet)"
            );
        }
        if files.iter().any(|file| file.id == alias) {
            tracing::warn!(alias, "the alias hides the model of the same id");
        }
    }
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
        accounts: Accounts::new(database, session_policy, clock.clone()),
        throttle: Arc::new(LoginThrottle::new(
            config.login_max_failures,
            Duration::from_secs(config.login_window_secs),
            clock,
        )),
        session_policy,
        signup: config.signup,
        require_api_key: config.auth == Auth::On,
        max_tokens_default: (config.max_tokens_default > 0).then_some(config.max_tokens_default),
        metrics,
    };
    if !state.require_api_key {
        tracing::warn!("--auth off: the API answers anyone who can reach this port");
    }
    Ok(state)
}

/// Serves until `shutdown` completes.
pub async fn serve(
    config: ServeConfig,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    serve_on(config, Clock::default(), listener, shutdown).await
}

async fn serve_on(
    config: ServeConfig,
    clock: Clock,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    // Bound first: an address in use fails the start, before any model loads.
    let metrics_listener = match config.metrics_addr {
        Some(address) => {
            let listener = TcpListener::bind(address)
                .await
                .with_context(|| format!("binding --metrics-addr {address}"))?;
            tracing::info!("metrics on http://{}/metrics", listener.local_addr()?);
            Some(listener)
        }
        None => None,
    };
    let state = app_state(&config, clock)?;
    let sweeper = tokio::spawn(caller::forget_revoked(
        state.accounts.clone(),
        Arc::clone(&state.registry),
        !state.require_api_key,
    ));
    let upkeep = tokio::spawn(metrics_upkeep(state.metrics.clone()));
    let unloader = tokio::spawn(models::unload_idle(Arc::clone(&state.registry)));
    let registry = Arc::clone(&state.registry);
    let limits = transport::Limits {
        max_connections: config.max_connections as usize,
        header_timeout: Duration::from_secs(config.header_timeout_secs),
        trusted_proxies: config.trusted_proxies.clone(),
    };
    let shutdown = shutdown.boxed().shared();
    // Scrapes are short: the metrics listener stops with the main one and is not drained.
    let metrics_server = metrics_listener.map(|listener| {
        let app = router::metrics_router(state.clone(), &config);
        tokio::spawn(transport::serve(
            listener,
            app,
            limits.clone(),
            shutdown.clone(),
        ))
    });
    let app = router::router(state, &config);
    // The peer address reaches only the in-memory login throttle; it is never logged or stored.
    let draining = transport::serve(listener, app, limits, shutdown).await;
    sweeper.abort();
    upkeep.abort();
    if let Some(server) = metrics_server {
        drop(server.await);
    }
    unloader.abort();
    let drained = draining
        .closed_within(Duration::from_secs(config.drain_secs))
        .await;
    if !drained {
        tracing::warn!(
            seconds = config.drain_secs,
            "requests still open after the drain time; ending them"
        );
    }
    // Stopping the engines ends what they still run: each stream gets its error event, each
    // waiting request its error, and their connections close. They stop before `serve`
    // returns, so the process may exit at once (see `engine::Engine::stop`).
    tokio::task::spawn_blocking(move || registry.stop()).await?;
    if !drained && !draining.closed_within(FINAL_FLUSH).await {
        tracing::warn!("connections still open after their requests were ended");
    }
    Ok(())
}

/// Drains the histograms' samples now and then (see [`Metrics::upkeep`]).
async fn metrics_upkeep(metrics: Metrics) {
    let mut every = tokio::time::interval(Duration::from_secs(5));
    loop {
        every.tick().await;
        metrics.upkeep();
    }
}

/// How long connections get to send the error that ends their request after the drain time.
const FINAL_FLUSH: Duration = Duration::from_secs(5);
