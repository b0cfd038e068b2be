//! A JSON body extractor whose rejections are OpenAI-shaped errors that name the bad field
//! (a JSON path such as `messages[2].content`) without echoing its value.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;

use super::error::ApiError;
use super::request::{Documented, IgnoredParams};

/// One body read as two types: the fields both completion endpoints share, and the endpoint's
/// own. Each type's errors name their field by its path in the body. The third part names the
/// fields the body sent that the endpoint accepts and ignores, for the response's header.
pub struct ApiJsonPair<A, B>(pub A, pub B, pub IgnoredParams);

impl<S, A, B> FromRequest<S> for ApiJsonPair<A, B>
where
    S: Send + Sync,
    A: DeserializeOwned,
    B: DeserializeOwned + Documented,
{
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        let bytes = read_body(request, state).await?;
        let (shared, own) = (parse(&bytes)?, parse(&bytes)?);
        Ok(ApiJsonPair(
            shared,
            own,
            IgnoredParams::find(&bytes, B::FIELDS),
        ))
    }
}

/// One body read as one type (an endpoint whose fields nothing else shares), with the fields
/// it sent that the endpoint accepts and ignores.
pub struct ApiJson<T>(pub T, pub IgnoredParams);

impl<S, T> FromRequest<S> for ApiJson<T>
where
    S: Send + Sync,
    T: DeserializeOwned + Documented,
{
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        let bytes = read_body(request, state).await?;
        let body = parse(&bytes)?;
        Ok(ApiJson(body, IgnoredParams::find(&bytes, T::FIELDS)))
    }
}

async fn read_body<S: Send + Sync>(request: Request, state: &S) -> Result<Bytes, ApiError> {
    let limit = request
        .extensions()
        .get::<BodyLimit>()
        .map_or(usize::MAX, |limit| limit.0);
    Bytes::from_request(request, state)
        .await
        .map_err(|rejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::body_too_large(limit)
            } else {
                ApiError::invalid_json("The request body could not be read.")
            }
        })
}

pub async fn require_json(request: Request, next: Next) -> Response {
    let is_json = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(';').next())
        .map(|essence| essence.trim().to_ascii_lowercase())
        .is_some_and(|essence| essence == "application/json" || essence.ends_with("+json"));
    if is_json {
        next.run(request).await
    } else {
        ApiError::json_required().into_response()
    }
}

/// The configured body limit, put in request extensions so the rejection can quote it.
#[derive(Debug, Clone, Copy)]
pub struct BodyLimit(pub usize);

pub fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::invalid_json(
            "The request body is empty; send a JSON object.",
        ));
    }
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut deserializer).map_err(describe)?;
    deserializer.end().map_err(|error| {
        ApiError::invalid_json(format!(
            "The request body has trailing characters after its JSON value (line {}, column {}).",
            error.line(),
            error.column()
        ))
    })?;
    Ok(value)
}

fn describe(error: serde_path_to_error::Error<serde_json::Error>) -> ApiError {
    let path = error.path().to_string();
    let inner = error.into_inner();
    if !inner.is_data() {
        return ApiError::invalid_json(format!(
            "The request body is not valid JSON (line {}, column {}).",
            inner.line(),
            inner.column()
        ));
    }
    let reason = safe_reason(&inner.to_string());
    if let Some(field) = reason.strip_prefix("missing field ") {
        let field = field.trim_matches('`');
        let full = if path == "." {
            field.to_owned()
        } else {
            format!("{path}.{field}")
        };
        return ApiError::missing(&full);
    }
    if path == "." {
        return ApiError::invalid_value(
            "body",
            format!("The request body must be a JSON object: {reason}."),
        );
    }
    ApiError::invalid_value(&path, format!("Invalid value for `{path}`: {reason}."))
}

/// What was expected, from serde's message, with whatever the client sent cut out.
///
/// serde's messages put the client's value first ("invalid type: string \"…\", expected
/// f32") and the schema's expectation last, so only the text after the last ", expected " is
/// kept.
fn safe_reason(message: &str) -> String {
    let message = message
        .rsplit_once(" at line ")
        .map_or(message, |(head, _)| head);
    if message.starts_with("missing field `") && message.matches('`').count() == 2 {
        return message.to_owned();
    }
    if message.starts_with("data did not match any variant") {
        return "it has the wrong type".to_owned();
    }
    match message.rsplit_once(", expected ") {
        Some((_, expected)) => format!("expected {}", humanize(expected)),
        None => "it has the wrong type or value".to_owned(),
    }
}

fn humanize(expected: &str) -> &str {
    match expected {
        "u8" | "u16" | "u32" | "u64" | "usize" => "a non-negative integer",
        "i8" | "i16" | "i32" | "i64" | "isize" => "an integer",
        "f32" | "f64" => "a number",
        "a boolean" | "a string" => expected,
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Body {
        temperature: Option<f32>,
        messages: Vec<Message>,
    }

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Message {
        role: Role,
        content: String,
    }

    #[derive(Debug, Deserialize)]
    #[serde(rename_all = "lowercase")]
    enum Role {
        User,
    }

    fn error_of(body: &str) -> serde_json::Value {
        let error = parse::<Body>(body.as_bytes()).expect_err("rejected");
        serde_json::to_value(error.body()).expect("serializable")
    }

    #[test]
    fn wrong_type_names_the_path_not_the_value() {
        let error = error_of(r#"{"temperature": "SECRET", "messages": []}"#);
        assert_eq!(error["error"]["param"], "temperature");
        let message = error["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains("a number"), "{message}");
        assert!(!message.contains("SECRET"), "{message}");
    }

    #[test]
    fn nested_unknown_variant_is_not_echoed() {
        let error = error_of(r#"{"messages": [{"role": "SECRET, expected x", "content": "a"}]}"#);
        assert_eq!(error["error"]["param"], "messages[0].role");
        assert!(!error.to_string().contains("SECRET"));
    }

    #[test]
    fn missing_fields_and_syntax_errors() {
        assert_eq!(
            error_of(r#"{"temperature": 1}"#)["error"]["param"],
            "messages"
        );
        assert_eq!(
            error_of(r#"{"messages": [SECRET"#)["error"]["code"],
            "invalid_json"
        );
        assert!(!error_of(r#"{"messages": [SECRET"#)
            .to_string()
            .contains("SECRET"));
        assert_eq!(
            error_of("").get("error").map(|e| e["code"].clone()),
            Some("invalid_json".into())
        );
    }
}
