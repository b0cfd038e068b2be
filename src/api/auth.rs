//! API keys for `/v1`: `Authorization: Bearer sk-sotto-...`. Cookies are ignored here, so a
//! page on another site can never spend a signed-in user's session on the API.

use axum::extract::{Request, State};
use axum::http::{header, HeaderMap};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::ApiError;
use crate::caller;
use crate::state::AppState;

/// The key in `Authorization: Bearer <key>`; the scheme's name is case-insensitive (RFC 9110).
pub fn bearer_key(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, key) = value.trim_start().split_once(' ')?;
    let key = key.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !key.is_empty()).then_some(key)
}

pub async fn require_api_key(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    if !state.require_api_key {
        request.extensions_mut().insert(caller::anonymous());
        return next.run(request).await;
    }
    let Some(key) = bearer_key(request.headers()) else {
        return ApiError::unauthorized("Send an API key: `Authorization: Bearer sk-sotto-...`. Create one on your account page.").into_response();
    };
    match state.accounts.key_hash(key).await {
        Ok(Some(key_hash)) => {
            request
                .extensions_mut()
                .insert(caller::api_key_hash(&key_hash));
            next.run(request).await
        }
        Ok(None) => {
            ApiError::unauthorized("The API key is not valid (or was revoked).").into_response()
        }
        Err(error) => {
            tracing::error!(%error, "checking an API key failed");
            ApiError::internal().into_response()
        }
    }
}
