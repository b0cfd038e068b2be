//! Who may call the API, and who the caller is.
//!
//! `/v1` takes an API key (`Authorization: Bearer sk-sotto-...`, or Anthropic's `x-api-key`) and ignores cookies, so a page
//! on another site can never spend a signed-in user's session on it. `/ui` is the chat page's
//! way in: the session cookie plus the page's anti-CSRF token. Either layer puts a [`Caller`]
//! on the request; the handlers take it as an extractor, which fails closed.

use anyhow::anyhow;
use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum_extra::extract::cookie::CookieJar;

use super::ApiError;
use crate::auth;
use crate::caller;
use crate::engine::CacheOwner;
use crate::state::AppState;
use crate::transport::Peer;

/// The caller of a generation request, as the prompt cache knows them: one API key, one
/// browser session, or with `--auth off` the machine's owner.
#[derive(Debug, Clone, Copy)]
pub struct Caller(pub CacheOwner);

/// Without an identity a request would run unattributed: outside the per-caller limits and
/// the cache isolation. A route that takes a `Caller` but misses its auth layer therefore
/// answers 500 and never runs.
impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        parts.extensions.get::<Caller>().copied().ok_or_else(|| {
            ApiError::internal(anyhow!("the route has no authentication layer: refused"))
        })
    }
}

/// `/v1`: a valid API key, unless `--auth off`.
pub async fn require_api_key(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    let caller = if state.require_api_key {
        let Some(key) = auth::api_key(request.headers()) else {
            return ApiError::unauthorized("Send an API key: `Authorization: Bearer sk-sotto-...` (or `x-api-key: sk-sotto-...`). Create one on your account page.").into_response();
        };
        match state.accounts.key_hash(key).await {
            Ok(Some(key_hash)) => caller::api_key_hash(&key_hash),
            Ok(None) => {
                return ApiError::unauthorized("The API key is not valid (or was revoked).")
                    .into_response()
            }
            Err(error) => return ApiError::internal(error).into_response(),
        }
    } else {
        caller::anonymous()
    };
    request.extensions_mut().insert(Caller(caller));
    next.run(request).await
}

/// `/ui`: a live session plus the page's anti-CSRF token in `X-CSRF-Token`. Answers in
/// OpenAI's error shape, like the API it fronts.
pub async fn require_page_session(
    State(state): State<AppState>,
    peer: Peer,
    jar: CookieJar,
    mut request: Request,
    next: Next,
) -> Response {
    let Some(token) = auth::session_token(&jar, peer.https) else {
        return ApiError::session_required().into_response();
    };
    let sent = request
        .headers()
        .get(auth::CSRF_HEADER)
        .and_then(|value| value.to_str().ok());
    if !auth::csrf_token_matches(&token, sent) {
        return ApiError::csrf_rejected().into_response();
    }
    match state.accounts.session_user(&token).await {
        Ok(Some(_)) => {
            request
                .extensions_mut()
                .insert(Caller(caller::session(&token)));
            next.run(request).await
        }
        Ok(None) => ApiError::session_required().into_response(),
        Err(error) => ApiError::internal(error).into_response(),
    }
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use axum::http::{Request, StatusCode};
    use axum::routing::post;
    use axum::Router;
    use tower::ServiceExt as _;

    use super::*;

    /// A handler that takes a caller, mounted without any auth layer, as a route added in a
    /// hurry would be: it must not run.
    #[tokio::test]
    async fn a_route_without_an_auth_layer_cannot_run() {
        let ran = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let seen = std::sync::Arc::clone(&ran);
        let app = Router::new().route(
            "/v1/unguarded",
            post(move |_: Caller| async move {
                seen.store(true, std::sync::atomic::Ordering::SeqCst);
                "ran"
            }),
        );
        let request = Request::post("/v1/unguarded")
            .body(Body::empty())
            .expect("request");
        let response = app.oneshot(request).await.expect("response");
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert!(response
            .extensions()
            .get::<crate::telemetry::FailureCause>()
            .is_some());
        assert!(
            !ran.load(std::sync::atomic::Ordering::SeqCst),
            "the handler ran"
        );
    }
}
