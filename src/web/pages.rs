//! Rendering pages and reading form input.

use askama::Template;
use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use serde::de::DeserializeOwned;

use crate::transport::Peer;

/// Renders a template into a response with the given status.
pub fn render(status: StatusCode, template: &impl Template) -> Response {
    match template.render() {
        Ok(html) => (status, Html(html)).into_response(),
        Err(error) => {
            tracing::error!(%error, "rendering a page failed");
            (StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response()
        }
    }
}

#[derive(Template)]
#[template(path = "message.html")]
struct MessagePage<'a> {
    title: &'a str,
    message: &'a str,
    link: &'a str,
    link_text: &'a str,
}

/// A page that says one thing, with a link home.
pub fn message_page(status: StatusCode, title: &str, message: &str) -> Response {
    render(
        status,
        &MessagePage {
            title,
            message,
            link: "/",
            link_text: "Back to sotto",
        },
    )
}

pub fn internal_error() -> Response {
    message_page(
        StatusCode::INTERNAL_SERVER_ERROR,
        "Something went wrong",
        "The server could not do this. Try again.",
    )
}

/// Whether the page should warn that what is typed into it crosses the network unencrypted:
/// plain HTTP to anything but this machine itself.
pub fn insecure(peer: Peer, headers: &HeaderMap) -> bool {
    if peer.https {
        return false;
    }
    let host = headers
        .get(header::HOST)
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default();
    let name = match host.strip_prefix('[') {
        Some(bracketed) => bracketed.split(']').next().unwrap_or_default(),
        None => host.rsplit_once(':').map_or(host, |(name, _)| name),
    };
    let loopback = name.eq_ignore_ascii_case("localhost")
        || name
            .parse::<std::net::IpAddr>()
            .is_ok_and(|address| address.is_loopback());
    !loopback
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

/// A form (`application/x-www-form-urlencoded`) or JSON body. A body that cannot be read gets
/// a plain page that names nothing of its content.
pub struct Input<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Input<T> {
    type Rejection = Response;

    async fn from_request(request: Request, state: &S) -> Result<Self, Response> {
        let json = request
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/json"));
        let bytes = Bytes::from_request(request, state)
            .await
            .map_err(|_| bad_input())?;
        let parsed = if json {
            serde_json::from_slice(&bytes).ok()
        } else {
            serde_urlencoded::from_bytes(&bytes).ok()
        };
        parsed.map(Input).ok_or_else(bad_input)
    }
}

fn bad_input() -> Response {
    message_page(
        StatusCode::BAD_REQUEST,
        "Form not understood",
        "Some fields were missing or malformed. Go back and try again.",
    )
}
