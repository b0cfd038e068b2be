//! Errors in Anthropic's shape: `{"type": "error", "error": {"type", "message"}}`.
//!
//! Everything on the Messages routes fails with the API's one [`ApiError`], whichever layer
//! raised it (the JSON check, the key check, the body reader, the handler, the engine's
//! 429/503). [`anthropic_errors`] wraps those routes and renders it again in this shape: one
//! conversion point. Anthropic's errors have no `param`, so the message starts with the field
//! it names, as Anthropic's own do.

use axum::body::Body;
use axum::extract::Request;
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::Response;
use serde::Serialize;

use crate::api::ApiError;

#[derive(Debug, Serialize)]
pub struct ErrorBody {
    #[serde(rename = "type")]
    kind: &'static str,
    error: ErrorDetail,
}

#[derive(Debug, Serialize)]
pub struct ErrorDetail {
    #[serde(rename = "type")]
    kind: &'static str,
    message: String,
}

impl From<&ApiError> for ErrorDetail {
    fn from(error: &ApiError) -> Self {
        let body = error.body();
        let message = match body.error.param.map(anthropic_param) {
            Some(param) => format!("{param}: {}", body.error.message),
            None => body.error.message.to_owned(),
        };
        Self {
            kind: error_type(error.status()),
            message,
        }
    }
}

impl From<&ApiError> for ErrorBody {
    fn from(error: &ApiError) -> Self {
        Self {
            kind: "error",
            error: ErrorDetail::from(error),
        }
    }
}

/// Anthropic's error types, by status.
fn error_type(status: StatusCode) -> &'static str {
    match status.as_u16() {
        401 => "authentication_error",
        403 => "permission_error",
        404 => "not_found_error",
        413 => "request_too_large",
        429 => "rate_limit_error",
        503 | 529 => "overloaded_error",
        500.. => "api_error",
        _ => "invalid_request_error",
    }
}

/// A field as Anthropic names it: chat's checks, which the Messages request goes through, name
/// chat's fields.
fn anthropic_param(param: &str) -> String {
    match param {
        "stop" => "stop_sequences".to_owned(),
        "parallel_tool_calls" => "tool_choice.disable_parallel_tool_use".to_owned(),
        "tool_choice.function.name" => "tool_choice.name".to_owned(),
        _ => param
            .replace(".function.parameters", ".input_schema")
            .replace(".function.name", ".name"),
    }
}

/// The route layer of the Messages routes: an [`ApiError`] response, from any layer inside it,
/// answers in Anthropic's shape with the same status and headers (`Retry-After`,
/// `WWW-Authenticate`).
pub async fn anthropic_errors(request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    let Some(error) = response.extensions().get::<ApiError>().cloned() else {
        return response;
    };
    let (mut parts, _) = response.into_parts();
    parts.headers.remove(header::CONTENT_LENGTH);
    let body = serde_json::to_vec(&ErrorBody::from(&error)).unwrap_or_default();
    Response::from_parts(parts, Body::from(body))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rendered(error: ApiError) -> serde_json::Value {
        serde_json::to_value(ErrorBody::from(&error)).expect("serializable")
    }

    #[test]
    fn errors_name_the_field_as_anthropic_does_and_keep_their_status_class() {
        let body = rendered(ApiError::invalid_value(
            "tools[1].function.parameters",
            "Not a schema.",
        ));
        assert_eq!(body["type"], "error");
        assert_eq!(body["error"]["type"], "invalid_request_error");
        assert_eq!(
            body["error"]["message"],
            "tools[1].input_schema: Not a schema."
        );
        let missing = rendered(ApiError::missing("max_tokens"));
        assert_eq!(
            missing["error"]["message"],
            "max_tokens: Missing required parameter: `max_tokens`."
        );
        let auth = rendered(ApiError::unauthorized("No key."));
        assert_eq!(auth["error"]["type"], "authentication_error");
        let busy = rendered(ApiError::from(crate::engine::SubmitError::QueueFull));
        assert_eq!(busy["error"]["type"], "rate_limit_error");
        let failed = rendered(ApiError::generation_failed(
            "the grammar could not be followed",
        ));
        assert_eq!(failed["error"]["type"], "api_error");
        assert_eq!(
            error_type(StatusCode::SERVICE_UNAVAILABLE),
            "overloaded_error"
        );
        assert_eq!(
            error_type(StatusCode::PAYLOAD_TOO_LARGE),
            "request_too_large"
        );
    }
}
