//! The account page: API keys and account deletion.

use askama::Template;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::json;

use super::login::{check_password, start_session, Refusal};
use super::pages::{internal_error, message_page, render, wants_json, Input};
use super::session::{self, SignedIn};
use crate::accounts::{AccountError, ApiKeyInfo};
use crate::state::AppState;

#[derive(Template)]
#[template(path = "account.html")]
struct AccountPage {
    email: String,
    created_at: String,
    keys: Vec<ApiKeyInfo>,
    new_key: Option<String>,
    error: Option<String>,
    notice: Option<String>,
    insecure: bool,
}

/// What the account page says besides its contents.
#[derive(Default)]
struct Outcome {
    new_key: Option<String>,
    error: Option<String>,
    notice: Option<String>,
}

async fn account_response(
    state: &AppState,
    signed_in: &SignedIn,
    headers: &HeaderMap,
    status: StatusCode,
    outcome: Outcome,
) -> Response {
    let Outcome {
        new_key,
        error,
        notice,
    } = outcome;
    let keys = match state.accounts.keys(signed_in.user.id).await {
        Ok(keys) => keys,
        Err(error) => {
            tracing::error!(%error, "listing keys failed");
            return internal_error();
        }
    };
    if wants_json(headers) {
        let keys: Vec<_> = keys
            .iter()
            .map(|k| json!({ "id": k.id, "name": k.name, "prefix": k.prefix, "created_at": k.created_at }))
            .collect();
        let mut body = json!({ "email": signed_in.user.email, "created_at": signed_in.user.created_at, "keys": keys });
        if let Some(key) = new_key {
            body["new_key"] = json!(key);
        }
        if let Some(error) = error {
            body["error"] = json!({ "message": error });
        }
        if let Some(notice) = notice {
            body["notice"] = json!(notice);
        }
        return (status, Json(body)).into_response();
    }
    let page = AccountPage {
        email: signed_in.user.email.clone(),
        created_at: signed_in.user.created_at.clone(),
        keys,
        new_key,
        error,
        notice,
        insecure: signed_in.insecure,
    };
    render(status, &page)
}

pub async fn get(
    State(state): State<AppState>,
    signed_in: SignedIn,
    headers: HeaderMap,
) -> Response {
    account_response(
        &state,
        &signed_in,
        &headers,
        StatusCode::OK,
        Outcome::default(),
    )
    .await
}

#[derive(Deserialize)]
pub struct NewKey {
    name: String,
}

/// Creates a key and shows it once, in this response only (never in a URL or a redirect).
pub async fn create_key(
    State(state): State<AppState>,
    signed_in: SignedIn,
    headers: HeaderMap,
    Input(form): Input<NewKey>,
) -> Response {
    match state
        .accounts
        .create_key(signed_in.user.id, &form.name)
        .await
    {
        Ok((_, key)) => {
            account_response(
                &state,
                &signed_in,
                &headers,
                StatusCode::CREATED,
                Outcome {
                    new_key: Some(key),
                    ..Outcome::default()
                },
            )
            .await
        }
        Err(AccountError::KeyName) => {
            let message = "Key names are 1 to 64 characters.".to_owned();
            account_response(
                &state,
                &signed_in,
                &headers,
                StatusCode::BAD_REQUEST,
                Outcome {
                    error: Some(message),
                    ..Outcome::default()
                },
            )
            .await
        }
        Err(error) => {
            tracing::error!(%error, "creating a key failed");
            internal_error()
        }
    }
}

pub async fn revoke_key(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Path(id): Path<i64>,
) -> Response {
    match state.accounts.revoke_key(id, Some(signed_in.user.id)).await {
        Ok(key_hash) => {
            state
                .registry
                .forget(crate::caller::api_key_hash(&key_hash));
            Redirect::to("/account").into_response()
        }
        Err(AccountError::NotFound) => Redirect::to("/account").into_response(),
        Err(error) => {
            tracing::error!(%error, "revoking a key failed");
            internal_error()
        }
    }
}

#[derive(Deserialize)]
pub struct Confirmation {
    password: String,
}

/// Deletes the account after the password is confirmed (under the login throttle: this is a
/// password check like any other).
pub async fn delete(
    State(state): State<AppState>,
    signed_in: SignedIn,
    headers: HeaderMap,
    Input(form): Input<Confirmation>,
) -> Response {
    let json = wants_json(&headers);
    let checked =
        check_password(&state, signed_in.peer, &signed_in.user.email, form.password).await;
    match checked {
        Ok(_) => {}
        Err(Refusal::Wrong) => {
            let message = "The password is wrong; the account was not deleted.".to_owned();
            return refuse(&state, &signed_in, &headers, message).await;
        }
        Err(refusal) => return refusal.into_response(json),
    }
    forget_everything(&state, signed_in.user.id).await;
    if let Err(error) = state.accounts.delete_user(signed_in.user.id).await {
        tracing::error!(%error, "deleting an account failed");
        return internal_error();
    }
    let mut response = if json {
        Json(json!({ "deleted": true })).into_response()
    } else {
        message_page(
            StatusCode::OK,
            "Account deleted",
            "Your account, sessions and API keys are gone from this server.",
        )
    };
    response.headers_mut().insert(
        header::SET_COOKIE,
        session::clear_cookie(signed_in.peer.https),
    );
    response
}

#[derive(Deserialize)]
pub struct PasswordChange {
    current_password: String,
    new_password: String,
    /// A checkbox: present (any value) to revoke every API key too.
    #[serde(default)]
    revoke_keys: Option<String>,
}

/// Changes the password. Every session ends (a stolen cookie stops working) and this browser
/// gets a new one; API keys are revoked too when asked.
pub async fn change_password(
    State(state): State<AppState>,
    signed_in: SignedIn,
    headers: HeaderMap,
    Input(form): Input<PasswordChange>,
) -> Response {
    let json = wants_json(&headers);
    let user_id = signed_in.user.id;
    let checked = check_password(
        &state,
        signed_in.peer,
        &signed_in.user.email,
        form.current_password,
    )
    .await;
    match checked {
        Ok(_) => {}
        Err(Refusal::Wrong) => {
            let message = "The current password is wrong; nothing was changed.".to_owned();
            return refuse(&state, &signed_in, &headers, message).await;
        }
        Err(refusal) => return refusal.into_response(json),
    }
    // Sessions end with the change; their cached prompts go first, while they are still listed.
    let Ok(before) = state.accounts.credentials(Some(user_id)).await else {
        return internal_error();
    };
    match state
        .accounts
        .set_password(user_id, form.new_password)
        .await
    {
        Ok(()) => {}
        Err(error @ AccountError::PasswordLength) => {
            let mut message = error.to_string();
            message[..1].make_ascii_uppercase();
            return account_response(
                &state,
                &signed_in,
                &headers,
                StatusCode::BAD_REQUEST,
                Outcome {
                    error: Some(message + "."),
                    ..Outcome::default()
                },
            )
            .await;
        }
        Err(AccountError::Busy) => return Refusal::Busy.into_response(json),
        Err(error) => {
            tracing::error!(%error, "changing a password failed");
            return internal_error();
        }
    }
    for hash in &before.session_hashes {
        state.registry.forget(crate::caller::session_hash(hash));
    }
    if form.revoke_keys.is_some() {
        if let Err(error) = revoke_all_keys(&state, user_id).await {
            tracing::error!(%error, "revoking keys failed");
            return internal_error();
        }
    }
    start_session(&state, user_id, None, signed_in.peer.https, json).await
}

/// Ends every session of the user, this one included, and revokes every API key: what to do
/// when a device or a key may be in someone else's hands.
pub async fn log_out_everywhere(State(state): State<AppState>, signed_in: SignedIn) -> Response {
    forget_everything(&state, signed_in.user.id).await;
    let ended = state.accounts.end_all_sessions(signed_in.user.id).await;
    let revoked = revoke_all_keys(&state, signed_in.user.id).await;
    if let Err(error) = ended.and(revoked) {
        tracing::error!(%error, "logging out everywhere failed");
        return internal_error();
    }
    let mut response = Redirect::to("/login").into_response();
    response.headers_mut().insert(
        header::SET_COOKIE,
        session::clear_cookie(signed_in.peer.https),
    );
    response
}

async fn revoke_all_keys(state: &AppState, user_id: i64) -> Result<(), AccountError> {
    for key in state.accounts.keys(user_id).await? {
        let key_hash = state.accounts.revoke_key(key.id, Some(user_id)).await?;
        state
            .registry
            .forget(crate::caller::api_key_hash(&key_hash));
    }
    Ok(())
}

/// Drops the prompts cached for every key and session of the user.
async fn forget_everything(state: &AppState, user_id: i64) {
    match state.accounts.credentials(Some(user_id)).await {
        Ok(credentials) => {
            for owner in crate::caller::owners(&credentials) {
                state.registry.forget(owner);
            }
        }
        Err(error) => tracing::error!(%error, "listing credentials failed"),
    }
}

/// The account page with a 401 and what was wrong.
async fn refuse(
    state: &AppState,
    signed_in: &SignedIn,
    headers: &HeaderMap,
    message: String,
) -> Response {
    let outcome = Outcome {
        error: Some(message),
        ..Outcome::default()
    };
    account_response(state, signed_in, headers, StatusCode::UNAUTHORIZED, outcome).await
}
