//! Rendering pages and reading form input.

use askama::Template;
use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse};
use serde::de::DeserializeOwned;

use super::error::{WebError, WebResult};
use crate::transport::Peer;

/// Renders a template into a response with the given status.
pub fn render(status: StatusCode, template: &impl Template) -> WebResult {
    Ok((status, Html(template.render()?)).into_response())
}

#[derive(Template)]
#[template(path = "message.html")]
pub struct MessagePage<'a> {
    title: &'a str,
    message: &'a str,
    link: &'a str,
    link_text: &'a str,
}

impl<'a> MessagePage<'a> {
    /// A page that says one thing, with a link home.
    pub fn home(title: &'a str, message: &'a str) -> Self {
        Self {
            title,
            message,
            link: "/",
            link_text: "Back to sotto",
        }
    }
}

/// Whether the page should warn that what is typed into it crosses the network unencrypted:
/// plain HTTP to anything but this machine itself.
pub fn insecure(peer: Peer, headers: &HeaderMap) -> bool {
    let host = headers
        .get(header::HOST)
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default();
    !peer.https && !crate::hosts::is_loopback(host)
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

/// A form (`application/x-www-form-urlencoded`) or JSON body. A body that cannot be read is
/// refused without naming anything of its content.
pub struct Input<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Input<T> {
    type Rejection = WebError;

    async fn from_request(request: Request, state: &S) -> Result<Self, WebError> {
        let json = request
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/json"));
        let bytes = Bytes::from_request(request, state)
            .await
            .map_err(|_| WebError::bad_form())?;
        let parsed = if json {
            serde_json::from_slice(&bytes).ok()
        } else {
            serde_urlencoded::from_bytes(&bytes).ok()
        };
        parsed.map(Input).ok_or_else(WebError::bad_form)
    }
}
