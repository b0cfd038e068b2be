//! The API's one error type, rendered in OpenAI's shape:
//! `{"error": {"message", "type", "param", "code"}}`.
//!
//! Messages name the offending field and never repeat what the client sent in it.

use std::sync::Arc;

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::engine::SubmitError;
use crate::models::ModelError;
use crate::telemetry::FailureCause;

/// Said when a request's `Host` is not one this server answers to. The name itself is not
/// repeated: errors never echo what the client sent.
pub const HOST_NOT_ALLOWED: &str = "This server does not answer to the host name in this request. If you run it, add the name to `--allowed-hosts` (SOTTO_ALLOWED_HOSTS).";

pub type ApiResult<T, E = ApiError> = std::result::Result<T, E>;

#[derive(Debug, Clone)]
pub struct ApiError {
    status: StatusCode,
    kind: &'static str,
    message: String,
    param: Option<String>,
    code: Option<&'static str>,
    retry_after_secs: Option<u32>,
    bearer_challenge: bool,
    /// Why the server failed, for its log only (see [`FailureCause`]); never sent.
    cause: Option<FailureCause>,
}

/// OpenAI's error body: `{"error": {"message", "type", "param", "code"}}`.
#[derive(Debug, Serialize)]
pub struct ErrorBody<'a> {
    pub error: ErrorDetail<'a>,
}

#[derive(Debug, Serialize)]
pub struct ErrorDetail<'a> {
    pub message: &'a str,
    #[serde(rename = "type")]
    pub kind: &'a str,
    pub param: Option<&'a str>,
    pub code: Option<&'a str>,
}

impl ApiError {
    fn new(status: StatusCode, kind: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            kind,
            message: message.into(),
            param: None,
            code: None,
            retry_after_secs: None,
            bearer_challenge: false,
            cause: None,
        }
    }

    fn with_param(mut self, param: impl Into<String>) -> Self {
        self.param = Some(param.into());
        self
    }

    fn with_code(mut self, code: &'static str) -> Self {
        self.code = Some(code);
        self
    }

    fn with_retry_after(mut self, secs: u32) -> Self {
        self.retry_after_secs = Some(secs);
        self
    }

    /// 400: a field has a wrong value; `message` says what is expected, not what was sent.
    pub fn invalid_value(param: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_request_error", message)
            .with_param(param)
            .with_code("invalid_value")
    }

    /// 400: a required field is missing.
    pub fn missing(param: &str) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            format!("Missing required parameter: `{param}`."),
        )
        .with_param(param)
        .with_code("missing_required_parameter")
    }

    /// 400: a field or value OpenAI defines that this server does not implement.
    pub fn unsupported(param: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_request_error", message)
            .with_param(param)
            .with_code("unsupported_value")
    }

    /// 400: the body is not JSON at all.
    pub fn invalid_json(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_request_error", message)
            .with_code("invalid_json")
    }

    /// 400: prompt plus completion do not fit the context; nothing is ever cut silently.
    pub fn context_length_exceeded(param: &str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_request_error", message)
            .with_param(param)
            .with_code("context_length_exceeded")
    }

    pub fn body_too_large(limit: usize) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "invalid_request_error",
            format!("The request body is larger than this server's limit of {limit} bytes."),
        )
        .with_code("request_too_large")
    }

    pub fn route_not_found() -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "invalid_request_error",
            "There is no such endpoint.",
        )
        .with_code("unknown_url")
    }

    /// 404 for a `/v1` path no route serves. It names the method and the path (the caller cuts
    /// it short; it is never logged) and lists the endpoints there are, so that a client does
    /// not report it as a missing model.
    pub fn unknown_endpoint(method: &str, path: &str, endpoints: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "invalid_request_error",
            format!("This server has no endpoint `{method} {path}`: the URL is wrong, not the model. Its /v1 endpoints are {endpoints}."),
        )
        .with_code("unknown_endpoint")
    }

    /// 405 for a `/v1` endpoint called with a method it does not take.
    pub fn wrong_method(method: &str, endpoint: &str, allowed: &str) -> Self {
        Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "invalid_request_error",
            format!("`{endpoint}` does not take {method}; it takes {allowed}."),
        )
        .with_code("method_not_allowed")
    }

    pub fn method_not_allowed() -> Self {
        Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "invalid_request_error",
            "This endpoint does not accept that method.",
        )
        .with_code("method_not_allowed")
    }

    /// 415: the API reads JSON only. A page on another site can send a "simple" `text/plain`
    /// POST without asking the server first (no CORS preflight); this refuses it unread.
    pub fn json_required() -> Self {
        Self::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "invalid_request_error",
            "Send the request body as JSON, with `Content-Type: application/json`.",
        )
        .with_param("content-type")
        .with_code("unsupported_media_type")
    }

    /// 421: the request names a host this server does not answer to (DNS rebinding).
    pub fn host_not_allowed() -> Self {
        Self::new(
            StatusCode::MISDIRECTED_REQUEST,
            "invalid_request_error",
            HOST_NOT_ALLOWED,
        )
        .with_param("host")
        .with_code("host_not_allowed")
    }

    /// 401 with `WWW-Authenticate: Bearer`.
    pub fn unauthorized(message: &str) -> Self {
        let mut error = Self::new(StatusCode::UNAUTHORIZED, "invalid_request_error", message)
            .with_code("invalid_api_key");
        error.bearer_challenge = true;
        error
    }

    /// 401 for the browser UI: the session is gone, the user must log in again.
    pub fn session_required() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "invalid_request_error",
            "Your session has ended; log in again.",
        )
        .with_code("session_required")
    }

    /// 403 for the browser UI: the page's CSRF token is missing or wrong.
    pub fn csrf_rejected() -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "invalid_request_error",
            "The page's security token is missing or stale; reload the page.",
        )
        .with_code("csrf_token_invalid")
    }

    /// A server failure (500). The cause goes to the server's log (with the route), never to
    /// the client; it must not hold request content, and errors of this crate never do.
    pub fn internal(cause: impl Into<anyhow::Error>) -> Self {
        let mut error = Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "server_error",
            "The server failed to handle this request.",
        );
        error.cause = Some(FailureCause(Arc::new(cause.into())));
        error
    }

    /// The model's engine stopped before the reply was complete: the server is shutting down
    /// (its drain time ran out) or the model was unloaded.
    pub fn engine_stopped() -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "server_error",
            "The model's engine has stopped: the server is shutting down or the model was unloaded; retry on a running server.",
        )
        .with_code("engine_stopped")
    }

    pub fn generation_failed(reason: &str) -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "server_error",
            format!("Generation failed: {reason}."),
        )
        .with_code("generation_failed")
    }

    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The same error with its field named as another API names it: `rename` maps a field's
    /// path (`max_tokens`, `messages[2].content`) to the caller's own, or `None` to keep it.
    /// The message's mentions of the field, in backticks, follow.
    pub fn renamed(mut self, rename: impl Fn(&str) -> Option<String>) -> Self {
        let Some(new) = self.param.as_deref().and_then(&rename) else {
            return self;
        };
        if let Some(old) = self.param.replace(new.clone()) {
            self.message = self
                .message
                .replace(&format!("`{old}`"), &format!("`{new}`"));
        }
        self
    }

    /// 404 for a stored response: this server keeps none, so none can be read or deleted.
    pub fn response_not_stored() -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "invalid_request_error",
            "This server stores no responses, so none can be read, listed or deleted. Keep the output you received and send the whole conversation in `input`.",
        )
        .with_code("response_not_found")
    }

    pub fn embedding_failed(reason: &str) -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "server_error",
            format!("Embedding failed: {reason}."),
        )
        .with_code("embedding_failed")
    }

    /// The error body, also sent as the last event of a stream that fails.
    pub fn body(&self) -> ErrorBody<'_> {
        ErrorBody {
            error: ErrorDetail {
                message: &self.message,
                kind: self.kind,
                param: self.param.as_deref(),
                code: self.code,
            },
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (self.status, axum::Json(self.body())).into_response();
        if let Some(cause) = self.cause.clone() {
            response.extensions_mut().insert(cause);
        }
        // A route of another API shape (Anthropic's Messages) renders it again in its own.
        response.extensions_mut().insert(self.clone());
        if let Some(secs) = self.retry_after_secs {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        if self.bearer_challenge {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

impl From<ModelError> for ApiError {
    fn from(error: ModelError) -> Self {
        match error {
            ModelError::NotFound => Self::new(
                StatusCode::NOT_FOUND,
                "invalid_request_error",
                "The requested model does not exist; GET /v1/models lists the available ones.",
            )
            .with_param("model")
            .with_code("model_not_found"),
            ModelError::Loading => Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "server_error",
                "The model is loading; retry in a few seconds.",
            )
            .with_code("model_loading")
            .with_retry_after(2),
            ModelError::Failed => Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "server_error",
                "The model failed to load; the server's log says why.",
            )
            .with_code("model_failed"),
            ModelError::Busy => Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "server_error",
                "Every loaded model is serving requests, and this one may load only once one of them is free (--max-loaded-models, --memory-budget-mb); retry shortly.",
            )
            .with_code("models_busy")
            .with_retry_after(5),
        }
    }
}

impl From<SubmitError> for ApiError {
    fn from(error: SubmitError) -> Self {
        match error {
            SubmitError::QueueFull => Self::new(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limit_error",
                "Every slot is busy and the queue is full; retry shortly.",
            )
            .with_code("queue_full")
            .with_retry_after(1),
            SubmitError::CallerBusy { limit } => Self::new(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limit_error",
                format!("This API key or session already has {limit} requests in flight (running or waiting) on this model, the most one caller may have at once; retry when one of them finishes."),
            )
            .with_code("too_many_requests_in_flight")
            .with_retry_after(1),
            SubmitError::Stopped => Self::engine_stopped(),
        }
    }
}
