//! Every route of the server and the layers around it, top to bottom. Handlers live in their
//! feature modules (`api`, `web`, `health`) and are named by verb.
//!
//! Layers added later wrap those added earlier, so each list of layers below runs from its
//! last line to its first.

use std::time::Duration;

use anyhow::anyhow;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request};
use axum::http::{header, HeaderValue, Method};
use axum::middleware::{from_fn, from_fn_with_state};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Router};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::timeout::RequestBodyTimeoutLayer;

use crate::api::{self, ApiError};
use crate::config::ServeConfig;
use crate::hosts::{self, AllowedHosts};
use crate::state::AppState;
use crate::{health, monitoring, telemetry, web};

/// Every `/v1` endpoint, listed by the 404 for any other `/v1` path. tests/compatibility.rs
/// reads the routes below from this file's text and fails when one under `/v1` is missing here.
const V1_ENDPOINTS: &[(&str, &str)] = &[
    ("POST", "/v1/chat/completions"),
    ("POST", "/v1/completions"),
    ("POST", "/v1/messages"),
    ("POST", "/v1/messages/count_tokens"),
    ("POST", "/v1/responses"),
    ("GET", "/v1/responses/{id}"),
    ("DELETE", "/v1/responses/{id}"),
    ("GET", "/v1/responses/{id}/input_items"),
    ("POST", "/v1/embeddings"),
    ("GET", "/v1/models"),
    ("GET", "/v1/models/{id}"),
    ("GET", "/v1/privacy"),
];

/// How much of an unknown path its 404 repeats.
const MAX_SHOWN_PATH: usize = 100;

pub fn router(state: AppState, config: &ServeConfig) -> Router {
    // Generation and embeddings, for API clients: an API key (unless `--auth off`), checked after the body is
    // known to be JSON.
    let generate = Router::new()
        .route("/v1/chat/completions", post(api::chat::post))
        .route("/v1/completions", post(api::completions::post))
        .route("/v1/responses", post(api::responses::post))
        .route("/v1/embeddings", post(api::embeddings::post))
        .route_layer(from_fn_with_state(
            state.clone(),
            api::auth::require_api_key,
        ))
        .route_layer(from_fn(api::json::require_json));
    // Anthropic's Messages API: the same checks, and every error they raise, from the JSON
    // check in, answered in Anthropic's shape.
    let anthropic = Router::new()
        .route("/v1/messages", post(api::messages::post))
        .route(
            "/v1/messages/count_tokens",
            post(api::messages::count_tokens),
        )
        .route_layer(from_fn_with_state(
            state.clone(),
            api::auth::require_api_key,
        ))
        .route_layer(from_fn(api::json::require_json))
        .route_layer(from_fn(api::messages::anthropic_errors));
    // The same handler for the chat page: its session cookie and anti-CSRF token instead of a
    // key. Same origin only: CORS (below) never opens `/ui` to other sites.
    let ui = Router::new()
        .route("/ui/chat/completions", post(api::chat::post))
        .route_layer(from_fn_with_state(
            state.clone(),
            api::auth::require_page_session,
        ))
        .route_layer(from_fn(api::json::require_json));
    // Public: what models there are, and what this server keeps.
    let public = Router::new()
        .route("/v1/models", get(api::models::list))
        .route("/v1/models/{id}", get(api::models::get))
        .route("/v1/privacy", get(web::privacy::json))
        // Nothing is stored: these answer 404 with how to send the history instead. Behind
        // no key, as they read nothing.
        .route(
            "/v1/responses/{id}",
            get(api::responses::stored).delete(api::responses::stored),
        )
        .route(
            "/v1/responses/{id}/input_items",
            get(api::responses::stored),
        )
        .route("/health", get(health::get))
        .route("/healthz", get(health::alive))
        .route("/readyz", get(health::ready));
    // Prometheus's scrape, here unless `--metrics-addr` gives it a listener of its own (then
    // this path is a 404 here, and the metrics are only where the operator put them).
    let public = match config.metrics_addr {
        None => public.route("/metrics", get(health::metrics)),
        Some(_) => public,
    };
    let api = Router::new()
        .merge(generate)
        .merge(anthropic)
        .merge(ui)
        .merge(public)
        .layer(DefaultBodyLimit::max(config.max_body))
        .layer(Extension(api::BodyLimit(config.max_body)));

    // The pages. A form another site sends is refused; errors answer as a page, or as JSON to
    // a client that asks for it.
    let pages = Router::new()
        .route("/", get(web::home))
        .route(
            "/signup",
            get(web::login::signup_page).post(web::login::signup),
        )
        .route(
            "/login",
            get(web::login::login_page).post(web::login::login),
        )
        .route("/logout", post(web::login::logout))
        .route("/account", get(web::account::get))
        .route("/account/keys", post(web::account::create_key))
        .route("/account/keys/{id}/revoke", post(web::account::revoke_key))
        .route("/account/password", post(web::account::change_password))
        .route(
            "/account/logout-everywhere",
            post(web::account::log_out_everywhere),
        )
        .route("/account/delete", post(web::account::delete))
        .route("/privacy", get(web::privacy::page))
        .route("/static/{*path}", get(web::assets::get))
        .layer(from_fn(web::guard::same_origin_only))
        .layer(from_fn(web::error::json_when_asked));

    Router::new()
        .merge(api)
        .merge(pages)
        .fallback(not_found)
        .method_not_allowed_fallback(wrong_method)
        .layer(RequestBodyTimeoutLayer::new(Duration::from_secs(
            config.body_timeout_secs,
        )))
        // Wraps every route: a preflight must be answered before method routing refuses it.
        .layer(api::cors())
        .layer(from_fn(telemetry::log_request))
        // Before anything reads the request: DNS rebinding never reaches a handler.
        .layer(from_fn_with_state(
            AllowedHosts::new(&config.allowed_hosts),
            hosts::check,
        ))
        .layer(from_fn(web::guard::security_headers))
        // The panic hook has logged where; the client gets the API's error, never the message.
        .layer(CatchPanicLayer::custom(|_| {
            ApiError::internal(anyhow!("a handler panicked")).into_response()
        }))
        .layer(from_fn_with_state(state.metrics.clone(), monitoring::track))
        .with_state(state)
}

/// The `--metrics-addr` listener: `/metrics` for whoever reaches that address, nothing else.
/// The Host check still applies: a page that rebinds its own name to this address must not
/// read it either.
pub fn metrics_router(state: AppState, config: &ServeConfig) -> Router {
    Router::new()
        .route("/metrics", get(health::metrics_open))
        .fallback(|| async { ApiError::route_not_found() })
        .layer(from_fn_with_state(
            AllowedHosts::new(&config.allowed_hosts),
            hosts::check,
        ))
        .layer(from_fn(web::guard::security_headers))
        .layer(from_fn_with_state(state.metrics.clone(), monitoring::track))
        .with_state(state)
}

fn is_v1(path: &str) -> bool {
    path == "/v1" || path.starts_with("/v1/")
}

/// A standard method by name; any other (a client may send any token) is not repeated.
fn method_name(method: &Method) -> &'static str {
    monitoring::standard_method(method).unwrap_or("this method")
}

/// The fallback: under `/v1`, a 404 that says the URL is wrong and lists the endpoints there
/// are (clients report a bare 404 as a missing model); elsewhere, a plain 404. The log names
/// no route for either (`telemetry::log_request`), so the path is never logged.
async fn not_found(request: Request) -> ApiError {
    let path = request.uri().path();
    if !is_v1(path) {
        return ApiError::route_not_found();
    }
    // Cut on a character boundary: the path is a client's text, shown back to it only.
    let mut shown: String = path.chars().take(MAX_SHOWN_PATH).collect();
    if shown.len() < path.len() {
        shown.push('…');
    }
    let endpoints = V1_ENDPOINTS
        .iter()
        .map(|(method, path)| format!("{method} {path}"))
        .collect::<Vec<_>>()
        .join(", ");
    ApiError::unknown_endpoint(method_name(request.method()), &shown, &endpoints)
}

/// A known `/v1` path with a method it does not take: a 405 naming the methods it does, in
/// the message and the `Allow` header.
async fn wrong_method(request: Request) -> Response {
    let Some(endpoint) = request
        .extensions()
        .get::<MatchedPath>()
        .map(|matched| matched.as_str())
        .filter(|endpoint| is_v1(endpoint))
    else {
        return ApiError::method_not_allowed().into_response();
    };
    let mut allowed: Vec<&str> = V1_ENDPOINTS
        .iter()
        .filter(|(_, path)| *path == endpoint)
        .map(|(method, _)| *method)
        .collect();
    // A GET route also answers HEAD.
    if allowed.contains(&"GET") {
        allowed.push("HEAD");
    }
    let allowed = allowed.join(", ");
    let mut response =
        ApiError::wrong_method(method_name(request.method()), endpoint, &allowed).into_response();
    if let Ok(value) = HeaderValue::from_str(&allowed) {
        response.headers_mut().insert(header::ALLOW, value);
    }
    response
}
