//! API keys for `/v1`: `Authorization: Bearer sk-sotto-...`. Cookies are ignored here, so a
//! page on another site can never spend a signed-in user's session on the API.

use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::ApiError;
use crate::caller;
use crate::state::AppState;

pub async fn require_api_key(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    if !state.require_api_key {
        request.extensions_mut().insert(caller::anonymous());
        return next.run(request).await;
    }
    let key = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
        .map(str::trim);
    let Some(key) = key else {
        return ApiError::unauthorized("Send an API key: `Authorization: Bearer sk-sotto-...`. Create one on your account page.").into_response();
    };
    match state.accounts.key_id(key).await {
        Ok(Some(key_id)) => {
            request.extensions_mut().insert(caller::api_key(key_id));
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
