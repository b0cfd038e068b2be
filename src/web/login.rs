//! Sign-up, log-in and log-out.

use std::time::Duration;

use askama::Template;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::json;

use super::pages::{insecure, internal_error, render, wants_json, Input};
use super::session;
use crate::accounts::{normalize_email, AccountError, Subject, User, PASSWORD_MAX, PASSWORD_MIN};
use crate::config::Signup;
use crate::state::AppState;
use crate::transport::Peer;

#[derive(Deserialize)]
pub struct Credentials {
    email: String,
    password: String,
}

#[derive(Template)]
#[template(path = "signup.html")]
struct SignupPage {
    open: bool,
    error: Option<String>,
    min: usize,
    max: usize,
    insecure: bool,
}

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    error: Option<&'static str>,
    insecure: bool,
}

const WRONG_CREDENTIALS: &str = "The email or the password is wrong.";

pub async fn signup_page(
    State(state): State<AppState>,
    peer: Peer,
    headers: HeaderMap,
) -> Response {
    let page = SignupPage {
        open: state.signup == Signup::Open,
        error: None,
        min: PASSWORD_MIN,
        max: PASSWORD_MAX,
        insecure: insecure(peer, &headers),
    };
    render(StatusCode::OK, &page)
}

pub async fn signup(
    State(state): State<AppState>,
    peer: Peer,
    headers: HeaderMap,
    Input(form): Input<Credentials>,
) -> Response {
    let json = wants_json(&headers);
    let refuse = |status: StatusCode, message: String| {
        if json {
            return (status, Json(json!({ "error": { "message": message } }))).into_response();
        }
        let page = SignupPage {
            open: state.signup == Signup::Open,
            error: Some(message),
            min: PASSWORD_MIN,
            max: PASSWORD_MAX,
            insecure: insecure(peer, &headers),
        };
        render(status, &page)
    };
    if state.signup == Signup::Closed {
        return refuse(
            StatusCode::FORBIDDEN,
            "Sign-up is closed on this server.".into(),
        );
    }
    let user = match state.accounts.create_user(&form.email, form.password).await {
        Ok(user) => user,
        Err(error @ (AccountError::InvalidEmail | AccountError::PasswordLength)) => {
            return refuse(StatusCode::BAD_REQUEST, capitalize(&error.to_string()))
        }
        Err(error @ AccountError::EmailTaken) => {
            return refuse(StatusCode::CONFLICT, capitalize(&error.to_string()))
        }
        Err(AccountError::Busy) => return Refusal::Busy.into_response(json),
        Err(error) => {
            tracing::error!(%error, "sign-up failed");
            return internal_error();
        }
    };
    start_session(&state, user.id, None, peer.https, json).await
}

pub async fn login_page(peer: Peer, headers: HeaderMap) -> Response {
    let page = LoginPage {
        error: None,
        insecure: insecure(peer, &headers),
    };
    render(StatusCode::OK, &page)
}

pub async fn login(
    State(state): State<AppState>,
    peer: Peer,
    headers: HeaderMap,
    Input(form): Input<Credentials>,
) -> Response {
    let json = wants_json(&headers);
    match check_password(&state, peer, &form.email, form.password).await {
        Ok(user) => {
            let previous = session::token(&headers, peer.https);
            start_session(&state, user.id, previous, peer.https, json).await
        }
        Err(Refusal::Wrong) => {
            if json {
                (
                    StatusCode::UNAUTHORIZED,
                    Json(json!({ "error": { "message": WRONG_CREDENTIALS } })),
                )
                    .into_response()
            } else {
                render(
                    StatusCode::UNAUTHORIZED,
                    &LoginPage {
                        error: Some(WRONG_CREDENTIALS),
                        insecure: insecure(peer, &headers),
                    },
                )
            }
        }
        Err(refusal) => refusal.into_response(json),
    }
}

/// Why a password check did not let someone in.
pub enum Refusal {
    Wrong,
    /// Too many failures for this email or client: refused without being checked.
    Throttled(Duration),
    /// The password threads are all busy: refused without being checked.
    Busy,
    Failed,
}

impl Refusal {
    /// The answer for every refusal but [`Refusal::Wrong`], whose wording depends on the form.
    pub fn into_response(self, json: bool) -> Response {
        let (status, title, message, retry_after) = match self {
            Self::Wrong => (
                StatusCode::UNAUTHORIZED,
                "Wrong password",
                WRONG_CREDENTIALS,
                None,
            ),
            Self::Throttled(wait) => (
                StatusCode::TOO_MANY_REQUESTS,
                "Too many attempts",
                "Too many failed logins. Wait a few minutes and try again.",
                Some(wait.as_secs().max(1)),
            ),
            Self::Busy => (
                StatusCode::SERVICE_UNAVAILABLE,
                "Busy",
                "The server is busy checking passwords. Try again in a moment.",
                Some(BUSY_RETRY_SECS),
            ),
            Self::Failed => return internal_error(),
        };
        let mut response = if json {
            (status, Json(json!({ "error": { "message": message } }))).into_response()
        } else {
            super::pages::message_page(status, title, message)
        };
        if let Some(secs) = retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}

/// Seconds a client is asked to wait when the password threads are busy.
const BUSY_RETRY_SECS: u64 = 2;

/// Checks an email and password under the login throttle. The attempt is counted before the
/// password is hashed, so a burst of guesses cannot all pass the throttle together; only a
/// right password or a check that never ran gives the count back.
pub async fn check_password(
    state: &AppState,
    peer: Peer,
    email: &str,
    password: String,
) -> Result<User, Refusal> {
    let email = normalize_email(email).unwrap_or_default();
    let subjects = [Subject::Email(&email), Subject::Client(peer.ip)];
    let attempt = state
        .throttle
        .begin(&subjects)
        .map_err(Refusal::Throttled)?;
    match state.accounts.authenticate(&email, password).await {
        Ok(user) => {
            attempt.succeeded();
            Ok(user)
        }
        Err(AccountError::WrongCredentials) => Err(Refusal::Wrong),
        Err(AccountError::Busy) => {
            attempt.not_evaluated();
            Err(Refusal::Busy)
        }
        Err(error) => {
            attempt.not_evaluated();
            tracing::error!(%error, "checking a password failed");
            Err(Refusal::Failed)
        }
    }
}

/// A fresh token at every login; a session the browser still had is ended server-side.
pub async fn start_session(
    state: &AppState,
    user_id: i64,
    previous: Option<String>,
    https: bool,
    json: bool,
) -> Response {
    if let Some(previous) = previous {
        end_session(state, &previous).await;
    }
    let token = match state.accounts.start_session(user_id).await {
        Ok(token) => token,
        Err(error) => {
            tracing::error!(%error, "creating a session failed");
            return internal_error();
        }
    };
    let mut response = if json {
        Json(json!({ "ok": true })).into_response()
    } else {
        Redirect::to("/").into_response()
    };
    let cookie = session::set_cookie(&token, state.session_policy.absolute.as_secs(), https);
    response.headers_mut().insert(header::SET_COOKIE, cookie);
    response
}

pub async fn logout(State(state): State<AppState>, peer: Peer, headers: HeaderMap) -> Response {
    if let Some(token) = session::token(&headers, peer.https) {
        end_session(&state, &token).await;
    }
    let mut response = Redirect::to("/login").into_response();
    response
        .headers_mut()
        .insert(header::SET_COOKIE, session::clear_cookie(peer.https));
    response
}

/// Ends a session on the server, with the prompts it cached.
pub async fn end_session(state: &AppState, token: &str) {
    if let Err(error) = state.accounts.end_session(token).await {
        tracing::error!(%error, "ending a session failed");
    }
    state.registry.forget(crate::caller::session(token));
}

fn capitalize(text: &str) -> String {
    let mut chars = text.chars();
    chars
        .next()
        .map(|first| first.to_uppercase().chain(chars).collect::<String>() + ".")
        .unwrap_or_default()
}
