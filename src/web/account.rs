//! The account page: API keys and account deletion.

use askama::Template;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::json;

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
}

async fn account_response(
    state: &AppState,
    signed_in: &SignedIn,
    headers: &HeaderMap,
    status: StatusCode,
    new_key: Option<String>,
    error: Option<String>,
) -> Response {
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
        return (status, Json(body)).into_response();
    }
    let page = AccountPage {
        email: signed_in.user.email.clone(),
        created_at: signed_in.user.created_at.clone(),
        keys,
        new_key,
        error,
    };
    render(status, &page)
}

pub async fn get(
    State(state): State<AppState>,
    signed_in: SignedIn,
    headers: HeaderMap,
) -> Response {
    account_response(&state, &signed_in, &headers, StatusCode::OK, None, None).await
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
                Some(key),
                None,
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
                None,
                Some(message),
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
        Ok(_) => {
            state.registry.forget(crate::caller::api_key(id));
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

/// Deletes the account after the password is confirmed.
pub async fn delete(
    State(state): State<AppState>,
    signed_in: SignedIn,
    headers: HeaderMap,
    Input(form): Input<Confirmation>,
) -> Response {
    if state
        .accounts
        .authenticate(&signed_in.user.email, form.password)
        .await
        .is_err()
    {
        let message = "The password is wrong; the account was not deleted.".to_owned();
        return account_response(
            &state,
            &signed_in,
            &headers,
            StatusCode::UNAUTHORIZED,
            None,
            Some(message),
        )
        .await;
    }
    match state.accounts.credentials(signed_in.user.id).await {
        Ok((key_ids, session_hashes)) => {
            for key_id in key_ids {
                state.registry.forget(crate::caller::api_key(key_id));
            }
            for hash in session_hashes {
                state.registry.forget(crate::caller::session_hash(&hash));
            }
        }
        Err(error) => tracing::error!(%error, "listing credentials failed"),
    }
    if let Err(error) = state.accounts.delete_user(signed_in.user.id).await {
        tracing::error!(%error, "deleting an account failed");
        return internal_error();
    }
    let mut response = if wants_json(&headers) {
        Json(json!({ "deleted": true })).into_response()
    } else {
        message_page(
            StatusCode::OK,
            "Account deleted",
            "Your account, sessions and API keys are gone from this server.",
        )
    };
    response
        .headers_mut()
        .insert(header::SET_COOKIE, session::clear_cookie());
    response
}
