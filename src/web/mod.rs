//! The browser side: account pages, the chat page, the privacy statement and static assets.
//! Routes are listed in `crate::router`.

pub mod account;
pub mod assets;
pub mod error;
pub mod guard;
pub mod login;
mod message;
mod pages;
pub mod privacy;
mod session;

use axum::http::{header, HeaderMap, StatusCode};

use crate::auth;
use error::WebResult;
use session::SignedIn;

#[derive(askama::Template)]
#[template(path = "chat.html")]
struct ChatPage {
    email: String,
    csrf_token: String,
    insecure: bool,
}

/// The chat. Conversations live in the browser; the page only needs who is signed in and the
/// token its requests must carry.
pub async fn home(signed_in: SignedIn) -> WebResult {
    let page = ChatPage {
        email: signed_in.user.email,
        csrf_token: auth::csrf_token(&signed_in.token),
        insecure: signed_in.insecure,
    };
    pages::render(StatusCode::OK, &page)
}

/// Whether the client asked for JSON rather than a page.
pub fn wants_json(headers: &HeaderMap) -> bool {
    let says_json = |name| {
        headers
            .get(name)
            .and_then(|value: &header::HeaderValue| value.to_str().ok())
            .is_some_and(|value| value.contains("application/json"))
    };
    says_json(header::ACCEPT) || says_json(header::CONTENT_TYPE)
}
