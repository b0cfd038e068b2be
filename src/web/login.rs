//! Sign-up, log-in and log-out.

use std::net::{IpAddr, SocketAddr};

use askama::Template;
use axum::extract::{ConnectInfo, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Extension, Json};
use serde::Deserialize;
use serde_json::json;

use super::pages::{internal_error, render, wants_json, Input};
use super::session;
use crate::accounts::{normalize_email, AccountError, Subject, PASSWORD_MAX, PASSWORD_MIN};
use crate::config::Signup;
use crate::state::AppState;

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
}

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    error: Option<&'static str>,
}

const WRONG_CREDENTIALS: &str = "The email or the password is wrong.";

pub async fn signup_page(State(state): State<AppState>) -> Response {
    let page = SignupPage {
        open: state.signup == Signup::Open,
        error: None,
        min: PASSWORD_MIN,
        max: PASSWORD_MAX,
    };
    render(StatusCode::OK, &page)
}

pub async fn signup(
    State(state): State<AppState>,
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
        Err(error) => {
            tracing::error!(%error, "sign-up failed");
            return internal_error();
        }
    };
    start_session(&state, user.id, None, json).await
}

pub async fn login_page() -> Response {
    render(StatusCode::OK, &LoginPage { error: None })
}

pub async fn login(
    State(state): State<AppState>,
    connection: Option<Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
    Input(form): Input<Credentials>,
) -> Response {
    let json = wants_json(&headers);
    let email = normalize_email(&form.email).unwrap_or_default();
    let client: Option<IpAddr> = connection.map(|Extension(ConnectInfo(address))| address.ip());
    let mut subjects = vec![Subject::Email(&email)];
    subjects.extend(client.map(Subject::Client));

    if let Err(wait) = state.throttle.check(&subjects) {
        let message = "Too many failed logins. Wait a few minutes and try again.";
        let mut response = if json {
            (
                StatusCode::TOO_MANY_REQUESTS,
                Json(json!({ "error": { "message": message } })),
            )
                .into_response()
        } else {
            super::pages::message_page(StatusCode::TOO_MANY_REQUESTS, "Too many attempts", message)
        };
        response.headers_mut().insert(
            header::RETRY_AFTER,
            HeaderValue::from(wait.as_secs().max(1)),
        );
        return response;
    }
    match state.accounts.authenticate(&email, form.password).await {
        Ok(user) => start_session(&state, user.id, session::token(&headers), json).await,
        Err(AccountError::WrongCredentials) => {
            state.throttle.record_failure(&subjects);
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
                    },
                )
            }
        }
        Err(error) => {
            tracing::error!(%error, "login failed");
            internal_error()
        }
    }
}

/// A fresh token at every login; a session the browser still had is ended server-side.
async fn start_session(
    state: &AppState,
    user_id: i64,
    previous: Option<String>,
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
    let cookie = session::set_cookie(&token, state.session_policy.absolute.as_secs());
    response.headers_mut().insert(header::SET_COOKIE, cookie);
    response
}

pub async fn logout(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if let Some(token) = session::token(&headers) {
        end_session(&state, &token).await;
    }
    let mut response = Redirect::to("/login").into_response();
    response
        .headers_mut()
        .insert(header::SET_COOKIE, session::clear_cookie());
    response
}

/// Ends a session on the server, with the prompts it cached.
async fn end_session(state: &AppState, token: &str) {
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
