//! Logging that cannot leak what users say.
//!
//! Request logs carry method, route template, status and latency: never a URI, header, body or
//! address. Only this crate's events pass below WARN, whatever `RUST_LOG` says, so a library's
//! debug or trace output (HTTP internals, llama.cpp) can never print request data. Panics log
//! their location, not their message.

use std::io::IsTerminal;
use std::sync::Arc;
use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::Response;
use tracing::Level;
use tracing_subscriber::filter::{filter_fn, EnvFilter, FilterExt};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::Layer;

/// Installs the stderr logger (once per process; later calls do nothing) and the panic hook.
pub fn init() {
    let configured = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let ours_or_warnings =
        filter_fn(|meta| meta.target().starts_with("sotto") || *meta.level() <= Level::WARN);
    let layer = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_filter(configured.and(ours_or_warnings));
    let _ = tracing_subscriber::registry().with(layer).try_init();
    std::panic::set_hook(Box::new(|info| {
        let location = info
            .location()
            .map(|l| format!("{}:{}", l.file(), l.line()));
        tracing::error!(
            location = location.as_deref().unwrap_or("unknown"),
            "panic (message withheld: it may hold request data)"
        );
    }));
}

/// Why a request failed on the server's side, attached to its response by the API's and the
/// pages' error types and logged by [`log_request`]: the one place failures are logged. Only
/// the server's own errors go here (storage, a lost task, a template): never request content.
#[derive(Debug, Clone)]
pub struct FailureCause(pub Arc<anyhow::Error>);

/// Logs one line per request: method, route template, status, time to the response head, and
/// for a server failure its cause.
pub async fn log_request(request: Request, next: Next) -> Response {
    let method = request.method().clone();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "(unmatched)".to_owned(), |path| path.as_str().to_owned());
    let started = Instant::now();
    let mut response = next.run(request).await;
    let status = response.status().as_u16();
    let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
    match response.extensions_mut().remove::<FailureCause>() {
        Some(FailureCause(cause)) => tracing::error!(
            target: "sotto::http",
            %method,
            route,
            status,
            latency_ms,
            cause = format!("{cause:#}"),
            "request failed"
        ),
        None => {
            tracing::info!(target: "sotto::http", %method, route, status, latency_ms, "request")
        }
    }
    response
}
