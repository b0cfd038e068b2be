//! The session cookie and the signed-in user of a page request.

use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use sha2::{Digest, Sha256};

use crate::accounts::User;
use crate::api::ApiError;
use crate::state::AppState;

/// `__Host-` makes browsers insist on `Secure`, `Path=/` and no `Domain`: the cookie can only
/// be set by this exact origin.
pub const COOKIE: &str = "__Host-sotto";

/// The session token from the request's cookies.
pub fn token(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value.to_owned())
        .filter(|value| !value.is_empty())
}

/// `Set-Cookie` for a new session. Browsers accept `Secure` cookies on http://localhost.
pub fn set_cookie(token: &str, max_age_secs: u64) -> HeaderValue {
    let cookie =
        format!("{COOKIE}={token}; Path=/; Secure; HttpOnly; SameSite=Lax; Max-Age={max_age_secs}");
    HeaderValue::from_str(&cookie).unwrap_or_else(|_| clear_cookie())
}

pub fn clear_cookie() -> HeaderValue {
    HeaderValue::from_static("__Host-sotto=; Path=/; Secure; HttpOnly; SameSite=Lax; Max-Age=0")
}

/// The user of a live session. Pages that need one send everyone else to the login page.
pub struct SignedIn {
    pub user: User,
    pub token: String,
}

impl FromRequestParts<AppState> for SignedIn {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let to_login = || {
            let mut response = Redirect::to("/login").into_response();
            response
                .headers_mut()
                .insert(header::SET_COOKIE, clear_cookie());
            response
        };
        let token = token(&parts.headers).ok_or_else(|| Redirect::to("/login").into_response())?;
        match state.accounts.session_user(&token).await {
            Ok(Some(user)) => Ok(SignedIn { user, token }),
            Ok(None) => Err(to_login()),
            Err(error) => {
                tracing::error!(%error, "session lookup failed");
                Err(super::pages::internal_error())
            }
        }
    }
}

/// The page's anti-CSRF token: derived from the session token, which is secret (`HttpOnly`),
/// so another site can neither read nor forge it, and nothing extra is stored.
pub fn csrf_token(session_token: &str) -> String {
    let digest = Sha256::new()
        .chain_update(b"sotto-csrf\0")
        .chain_update(session_token.as_bytes())
        .finalize();
    digest.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// Guards the UI's API route: a live session plus the page's CSRF token in `X-CSRF-Token`.
/// Answers in OpenAI's error shape, like the API it fronts.
pub async fn require_page_session(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let Some(token) = token(request.headers()) else {
        return ApiError::session_required().into_response();
    };
    let sent = request
        .headers()
        .get("x-csrf-token")
        .and_then(|value| value.to_str().ok());
    if sent != Some(csrf_token(&token).as_str()) {
        return ApiError::csrf_rejected().into_response();
    }
    let mut request = request;
    match state.accounts.session_user(&token).await {
        Ok(Some(_)) => {
            request
                .extensions_mut()
                .insert(crate::caller::session(&token));
            next.run(request).await
        }
        Ok(None) => ApiError::session_required().into_response(),
        Err(error) => {
            tracing::error!(%error, "session lookup failed");
            ApiError::internal().into_response()
        }
    }
}
