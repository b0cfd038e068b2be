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

/// Whether the page should warn that what is typed into it crosses the network unencrypted:
/// plain HTTP to anything but this machine itself.
pub fn insecure(peer: Peer, headers: &HeaderMap) -> bool {
    let host = headers
        .get(header::HOST)
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default();
    !peer.https && !crate::hosts::is_loopback(host)
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
