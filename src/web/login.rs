//! Sign-up, log-in and log-out.

use askama::Template;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect};
use axum::Json;
use axum_extra::extract::cookie::CookieJar;
use serde::{Deserialize, Serialize};

use super::error::{WebError, WebResult};
use super::pages::{insecure, render, Input};
use super::session::signed_out;
use super::wants_json;
use crate::accounts::{normalize_email, AccountError, Subject, User, PASSWORD_MAX, PASSWORD_MIN};
use crate::auth;
use crate::config::Signup;
use crate::state::AppState;
use crate::transport::Peer;

#[derive(Deserialize)]
pub struct Credentials {
    email: String,
    password: String,
}

/// The JSON answer of a form that worked.
#[derive(Serialize)]
pub struct Done {
    pub ok: bool,
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

impl SignupPage {
    fn new(state: &AppState, insecure: bool, error: Option<String>) -> Self {
        Self {
            open: state.signup == Signup::Open,
            error,
            min: PASSWORD_MIN,
            max: PASSWORD_MAX,
            insecure,
        }
    }
}

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    error: Option<String>,
    insecure: bool,
}

pub async fn signup_page(
    State(state): State<AppState>,
    peer: Peer,
    headers: HeaderMap,
) -> WebResult {
    render(
        StatusCode::OK,
        &SignupPage::new(&state, insecure(peer, &headers), None),
    )
}

pub async fn signup(
    State(state): State<AppState>,
    peer: Peer,
    headers: HeaderMap,
    jar: CookieJar,
    Input(form): Input<Credentials>,
) -> WebResult {
    let insecure = insecure(peer, &headers);
    let form_again = |message| SignupPage::new(&state, insecure, Some(message));
    if state.signup == Signup::Closed {
        return Err(WebError::signup_closed().on_form(form_again));
    }
    let user = match state.accounts.create_user(&form.email, form.password).await {
        Ok(user) => user,
        Err(error) => return Err(WebError::from(error).on_form(form_again)),
    };
    start_session(&state, user.id, None, jar, peer.https, wants_json(&headers)).await
}

pub async fn login_page(peer: Peer, headers: HeaderMap) -> WebResult {
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
    jar: CookieJar,
    Input(form): Input<Credentials>,
) -> WebResult {
    match check_password(&state, peer, &form.email, form.password).await? {
        PasswordCheck::Passed(user) => {
            let previous = auth::session_token(&jar, peer.https);
            start_session(
                &state,
                user.id,
                previous,
                jar,
                peer.https,
                wants_json(&headers),
            )
            .await
        }
        PasswordCheck::Wrong => Err(WebError::from(AccountError::WrongCredentials).on_form(
            |message| LoginPage {
                error: Some(message),
                insecure: insecure(peer, &headers),
            },
        )),
    }
}

/// What a password check that ran found.
pub enum PasswordCheck {
    Passed(User),
    Wrong,
}

/// Checks an email and password under the login throttle. The attempt is counted before the
/// password is hashed, so a burst of guesses cannot all pass the throttle together; only a
/// right password or a check that never ran gives the count back. Refused unchecked: too many
/// failures (429), every password thread busy (503).
pub async fn check_password(
    state: &AppState,
    peer: Peer,
    email: &str,
    password: String,
) -> WebResult<PasswordCheck> {
    let email = normalize_email(email).unwrap_or_default();
    let subjects = [Subject::Email(&email), Subject::Client(peer.ip)];
    let attempt = state
        .throttle
        .begin(&subjects)
        .map_err(WebError::throttled)?;
    match state.accounts.authenticate(&email, password).await {
        Ok(user) => {
            attempt.succeeded();
            Ok(PasswordCheck::Passed(user))
        }
        Err(AccountError::WrongCredentials) => Ok(PasswordCheck::Wrong),
        Err(error) => {
            attempt.not_evaluated();
            Err(error.into())
        }
    }
}

/// A fresh token at every login; a session the browser still had is ended server-side.
pub async fn start_session(
    state: &AppState,
    user_id: i64,
    previous: Option<String>,
    jar: CookieJar,
    https: bool,
    json: bool,
) -> WebResult {
    if let Some(previous) = previous {
        end_session(state, &previous).await?;
    }
    let token = state.accounts.start_session(user_id).await?;
    let jar = auth::with_session(jar, token, state.session_policy.absolute, https);
    Ok(if json {
        (jar, Json(Done { ok: true })).into_response()
    } else {
        (jar, Redirect::to("/")).into_response()
    })
}

pub async fn logout(State(state): State<AppState>, peer: Peer, jar: CookieJar) -> WebResult {
    if let Some(token) = auth::session_token(&jar, peer.https) {
        end_session(&state, &token).await?;
    }
    Ok(signed_out(jar, peer.https, Redirect::to("/login")))
}

/// Ends a session on the server, with the prompts it cached.
pub async fn end_session(state: &AppState, token: &str) -> Result<(), AccountError> {
    state.registry.forget(crate::caller::session(token));
    state.accounts.end_session(token).await
}
