//! The session cookie and the signed-in user of a page request.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Redirect, Response};

use crate::accounts::User;
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
