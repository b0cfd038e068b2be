//! The browser side: account pages, privacy statement and static assets.

mod account;
pub mod assets;
pub mod guard;
mod login;
mod pages;
mod privacy;
pub mod session;

use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;

use crate::state::AppState;
use session::SignedIn;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(home))
        .route("/signup", get(login::signup_page).post(login::signup))
        .route("/login", get(login::login_page).post(login::login))
        .route("/logout", post(login::logout))
        .route("/account", get(account::get))
        .route("/account/keys", post(account::create_key))
        .route("/account/keys/{id}/revoke", post(account::revoke_key))
        .route("/account/password", post(account::change_password))
        .route(
            "/account/logout-everywhere",
            post(account::log_out_everywhere),
        )
        .route("/account/delete", post(account::delete))
        .route("/privacy", get(privacy::page))
        .route("/static/{*path}", get(assets::get))
        .layer(axum::middleware::from_fn(guard::same_origin_only))
}

/// `/v1/privacy`: public, JSON, next to the API it describes.
pub fn privacy_json_route() -> Router<AppState> {
    Router::new().route("/v1/privacy", get(privacy::json))
}

#[derive(askama::Template)]
#[template(path = "chat.html")]
struct ChatPage {
    email: String,
    csrf_token: String,
    insecure: bool,
}

/// The chat. Conversations live in the browser; the page only needs who is signed in and the
/// token its requests must carry.
async fn home(signed_in: SignedIn) -> Response {
    let page = ChatPage {
        email: signed_in.user.email,
        csrf_token: session::csrf_token(&signed_in.token),
        insecure: signed_in.insecure,
    };
    pages::render(axum::http::StatusCode::OK, &page)
}
