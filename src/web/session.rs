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
use crate::transport::Peer;

/// The session cookie over HTTPS. `__Host-` makes browsers insist on `Secure`, `Path=/` and no
/// `Domain`: the cookie can only be set by this exact origin.
const SECURE_COOKIE: &str = "__Host-sotto";
/// The session cookie over plain HTTP, where browsers drop `Secure` cookies (except on
/// localhost). `SameSite=Strict` keeps it out of every request another site starts.
const PLAIN_COOKIE: &str = "sotto";

/// The cookie's name and attributes for a connection: each scheme reads only its own cookie,
/// so a cookie planted over plain HTTP can never stand in for the secure one.
fn cookie_for(https: bool) -> (&'static str, &'static str) {
    if https {
        (SECURE_COOKIE, "Path=/; Secure; HttpOnly; SameSite=Lax")
    } else {
        (PLAIN_COOKIE, "Path=/; HttpOnly; SameSite=Strict")
    }
}

/// The session token from the request's cookies.
pub fn token(headers: &HeaderMap, https: bool) -> Option<String> {
    let (wanted, _) = cookie_for(https);
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == wanted)
        .map(|(_, value)| value.to_owned())
        .filter(|value| !value.is_empty())
}

/// `Set-Cookie` for a new session.
pub fn set_cookie(token: &str, max_age_secs: u64, https: bool) -> HeaderValue {
    let (name, attributes) = cookie_for(https);
    let cookie = format!("{name}={token}; {attributes}; Max-Age={max_age_secs}");
    HeaderValue::from_str(&cookie).unwrap_or_else(|_| clear_cookie(https))
}

pub fn clear_cookie(https: bool) -> HeaderValue {
    let (name, attributes) = cookie_for(https);
    HeaderValue::from_str(&format!("{name}=; {attributes}; Max-Age=0"))
        .unwrap_or(HeaderValue::from_static(""))
}

/// The user of a live session. Pages that need one send everyone else to the login page.
pub struct SignedIn {
    pub user: User,
    pub token: String,
    pub peer: Peer,
    /// Plain HTTP to another machine: the page says so.
    pub insecure: bool,
}

impl FromRequestParts<AppState> for SignedIn {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let peer = Peer::from_request_parts(parts, state)
            .await
            .map_err(IntoResponse::into_response)?;
        let to_login = || {
            let mut response = Redirect::to("/login").into_response();
            response
                .headers_mut()
                .insert(header::SET_COOKIE, clear_cookie(peer.https));
            response
        };
        let token = token(&parts.headers, peer.https)
            .ok_or_else(|| Redirect::to("/login").into_response())?;
        match state.accounts.session_user(&token).await {
            Ok(Some(user)) => Ok(SignedIn {
                user,
                token,
                peer,
                insecure: super::pages::insecure(peer, &parts.headers),
            }),
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
    peer: Peer,
    request: Request,
    next: Next,
) -> Response {
    let Some(token) = token(request.headers(), peer.https) else {
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
