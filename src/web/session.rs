//! The signed-in user of a page request, and the session cookie on the way out.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::cookie::CookieJar;

use super::error::WebError;
use crate::accounts::User;
use crate::auth;
use crate::state::AppState;
use crate::transport::Peer;

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
        let jar = CookieJar::from_headers(&parts.headers);
        let Some(token) = auth::session_token(&jar, peer.https) else {
            return Err(Redirect::to("/login").into_response());
        };
        match state.accounts.session_user(&token).await {
            Ok(Some(user)) => Ok(SignedIn {
                user,
                token,
                peer,
                insecure: super::pages::insecure(peer, &parts.headers),
            }),
            // An ended or expired session: the browser may forget its cookie.
            Ok(None) => Err(signed_out(jar, peer.https, Redirect::to("/login"))),
            Err(error) => Err(WebError::from(error).into_response()),
        }
    }
}

/// `response`, telling the browser to drop its session cookie.
pub fn signed_out(jar: CookieJar, https: bool, response: impl IntoResponse) -> Response {
    (auth::without_session(jar, https), response).into_response()
}
