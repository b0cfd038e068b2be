//! Every route of the server and the layers around it, top to bottom. Handlers live in their
//! feature modules (`api`, `web`, `health`) and are named by verb.
//!
//! Layers added later wrap those added earlier, so each list of layers below runs from its
//! last line to its first.

use std::time::Duration;

use anyhow::anyhow;
use axum::extract::DefaultBodyLimit;
use axum::middleware::{from_fn, from_fn_with_state};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Extension, Router};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::timeout::RequestBodyTimeoutLayer;

use crate::api::{self, ApiError};
use crate::config::ServeConfig;
use crate::hosts::{self, AllowedHosts};
use crate::state::AppState;
use crate::{health, telemetry, web};

pub fn router(state: AppState, config: &ServeConfig) -> Router {
    // Generation, for API clients: an API key (unless `--auth off`), checked after the body is
    // known to be JSON.
    let generate = Router::new()
        .route("/v1/chat/completions", post(api::chat::post))
        .route("/v1/completions", post(api::completions::post))
        .route_layer(from_fn_with_state(
            state.clone(),
            api::auth::require_api_key,
        ))
        .route_layer(from_fn(api::json::require_json));
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
        .route("/health", get(health::get));
    let api = Router::new()
        .merge(generate)
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
        .fallback(|| async { ApiError::route_not_found() })
        .method_not_allowed_fallback(|| async { ApiError::method_not_allowed() })
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
        .with_state(state)
}
