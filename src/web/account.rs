//! The account page: API keys, the password, sessions and account deletion.

use askama::Template;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect};
use axum::Json;
use axum_extra::extract::cookie::CookieJar;
use serde::{Deserialize, Serialize};

use super::error::{WebError, WebResult};
use super::login::{check_password, start_session, PasswordCheck};
use super::message::MessagePage;
use super::pages::{render, Input};
use super::session::{signed_out, SignedIn};
use super::wants_json;
use crate::accounts::{AccountError, ApiKeyInfo};
use crate::caller;
use crate::state::AppState;

#[derive(Template)]
#[template(path = "account.html")]
struct AccountPage {
    email: String,
    created_at: String,
    keys: Vec<ApiKeyInfo>,
    new_key: Option<String>,
    error: Option<String>,
    insecure: bool,
}

/// The account as JSON, for clients that ask for it.
#[derive(Serialize)]
struct AccountJson {
    email: String,
    created_at: String,
    keys: Vec<KeyJson>,
    #[serde(skip_serializing_if = "Option::is_none")]
    new_key: Option<String>,
}

#[derive(Serialize)]
struct KeyJson {
    id: i64,
    name: String,
    prefix: String,
    created_at: String,
}

#[derive(Serialize)]
struct Deleted {
    deleted: bool,
}

async fn account_page(
    state: &AppState,
    signed_in: &SignedIn,
    new_key: Option<String>,
    error: Option<String>,
) -> WebResult<AccountPage> {
    Ok(AccountPage {
        email: signed_in.user.email.clone(),
        created_at: signed_in.user.created_at.clone(),
        keys: state.accounts.keys(signed_in.user.id).await?,
        new_key,
        error,
        insecure: signed_in.insecure,
    })
}

/// The account page, or its JSON, with a key to show once.
async fn account_response(
    state: &AppState,
    signed_in: &SignedIn,
    headers: &HeaderMap,
    status: StatusCode,
    new_key: Option<String>,
) -> WebResult {
    let page = account_page(state, signed_in, new_key, None).await?;
    if !wants_json(headers) {
        return render(status, &page);
    }
    let keys = page
        .keys
        .into_iter()
        .map(|key| KeyJson {
            id: key.id,
            name: key.name,
            prefix: key.prefix,
            created_at: key.created_at,
        })
        .collect();
    let body = AccountJson {
        email: page.email,
        created_at: page.created_at,
        keys,
        new_key: page.new_key,
    };
    Ok((status, Json(body)).into_response())
}

/// A refusal the user can fix, shown on the account page.
async fn on_account_page(state: &AppState, signed_in: &SignedIn, error: WebError) -> WebError {
    if !error.fits_a_form() {
        return error;
    }
    let message = error.message().to_owned();
    match account_page(state, signed_in, None, Some(message)).await {
        Ok(page) => error.on_page(&page),
        Err(failure) => failure,
    }
}

pub async fn get(
    State(state): State<AppState>,
    signed_in: SignedIn,
    headers: HeaderMap,
) -> WebResult {
    account_response(&state, &signed_in, &headers, StatusCode::OK, None).await
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
) -> WebResult {
    match state
        .accounts
        .create_key(signed_in.user.id, &form.name)
        .await
    {
        Ok((_, key)) => {
            account_response(&state, &signed_in, &headers, StatusCode::CREATED, Some(key)).await
        }
        Err(error) => Err(on_account_page(&state, &signed_in, error.into()).await),
    }
}

pub async fn revoke_key(
    State(state): State<AppState>,
    signed_in: SignedIn,
    Path(id): Path<i64>,
) -> WebResult {
    match state.accounts.revoke_key(id, Some(signed_in.user.id)).await {
        Ok(key_hash) => state.registry.forget(caller::api_key_hash(&key_hash)),
        // Not this user's key, or already gone: nothing to do, nothing to tell.
        Err(AccountError::NotFound) => {}
        Err(error) => return Err(error.into()),
    }
    Ok(Redirect::to("/account").into_response())
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
    jar: CookieJar,
    Input(form): Input<Confirmation>,
) -> WebResult {
    let email = &signed_in.user.email;
    if let PasswordCheck::Wrong =
        check_password(&state, signed_in.peer, email, form.password).await?
    {
        let wrong = wrong_password("The password is wrong; the account was not deleted.");
        return Err(on_account_page(&state, &signed_in, wrong).await);
    }
    forget_everything(&state, signed_in.user.id).await?;
    state.accounts.delete_user(signed_in.user.id).await?;
    let https = signed_in.peer.https;
    Ok(if wants_json(&headers) {
        signed_out(jar, https, Json(Deleted { deleted: true }))
    } else {
        let page = MessagePage::home(
            "Account deleted",
            "Your account, sessions and API keys are gone from this server.",
        );
        signed_out(jar, https, render(StatusCode::OK, &page)?)
    })
}

fn wrong_password(message: &'static str) -> WebError {
    WebError::refused(StatusCode::UNAUTHORIZED, "wrong_credentials", message)
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
    jar: CookieJar,
    Input(form): Input<PasswordChange>,
) -> WebResult {
    let user_id = signed_in.user.id;
    let email = &signed_in.user.email;
    let checked = check_password(&state, signed_in.peer, email, form.current_password).await?;
    if let PasswordCheck::Wrong = checked {
        let wrong = wrong_password("The current password is wrong; nothing was changed.");
        return Err(on_account_page(&state, &signed_in, wrong).await);
    }
    // Sessions end with the change; their cached prompts go first, while they are still listed.
    let before = state.accounts.credentials(Some(user_id)).await?;
    if let Err(error) = state
        .accounts
        .set_password(user_id, form.new_password)
        .await
    {
        return Err(on_account_page(&state, &signed_in, error.into()).await);
    }
    for hash in &before.session_hashes {
        state.registry.forget(caller::session_hash(hash));
    }
    if form.revoke_keys.is_some() {
        revoke_all_keys(&state, user_id).await?;
    }
    start_session(
        &state,
        user_id,
        None,
        jar,
        signed_in.peer.https,
        wants_json(&headers),
    )
    .await
}

/// Ends every session of the user, this one included, and revokes every API key: what to do
/// when a device or a key may be in someone else's hands.
pub async fn log_out_everywhere(
    State(state): State<AppState>,
    signed_in: SignedIn,
    jar: CookieJar,
) -> WebResult {
    forget_everything(&state, signed_in.user.id).await?;
    state.accounts.end_all_sessions(signed_in.user.id).await?;
    revoke_all_keys(&state, signed_in.user.id).await?;
    Ok(signed_out(
        jar,
        signed_in.peer.https,
        Redirect::to("/login"),
    ))
}

async fn revoke_all_keys(state: &AppState, user_id: i64) -> Result<(), AccountError> {
    for key in state.accounts.keys(user_id).await? {
        let key_hash = state.accounts.revoke_key(key.id, Some(user_id)).await?;
        state.registry.forget(caller::api_key_hash(&key_hash));
    }
    Ok(())
}

/// Drops the prompts cached for every key and session of the user.
async fn forget_everything(state: &AppState, user_id: i64) -> Result<(), AccountError> {
    let credentials = state.accounts.credentials(Some(user_id)).await?;
    for owner in caller::owners(&credentials) {
        state.registry.forget(owner);
    }
    Ok(())
}
