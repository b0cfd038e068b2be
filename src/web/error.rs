//! The pages' one error type. A refusal answers as a page (the form again with what was wrong,
//! or a page that says it), or in OpenAI's error shape to a client that asked for JSON. A
//! server failure carries its cause to the request log ([`FailureCause`]) and shows nothing of
//! it; no error here ever repeats what the client sent.

use std::borrow::Cow;
use std::sync::Arc;
use std::time::Duration;

use askama::Template;
use axum::body::Body;
use axum::extract::Request;
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Response};

use super::message::MessagePage;
use super::wants_json;
use crate::accounts::AccountError;
use crate::api::error::{ErrorBody, ErrorDetail};
use crate::telemetry::FailureCause;

pub type WebResult<T = Response> = Result<T, WebError>;

#[derive(Debug)]
pub struct WebError {
    status: StatusCode,
    code: &'static str,
    title: &'static str,
    message: Cow<'static, str>,
    retry_after: Option<Duration>,
    /// The page to show instead of the message page: typically the form, with the message.
    page: Option<String>,
    cause: Option<anyhow::Error>,
}

impl WebError {
    fn new(
        status: StatusCode,
        code: &'static str,
        title: &'static str,
        message: impl Into<Cow<'static, str>>,
    ) -> Self {
        Self {
            status,
            code,
            title,
            message: message.into(),
            retry_after: None,
            page: None,
            cause: None,
        }
    }

    /// A form's value was refused; `message` says what is expected.
    pub fn refused(
        status: StatusCode,
        code: &'static str,
        message: impl Into<Cow<'static, str>>,
    ) -> Self {
        Self::new(status, code, "Not done", message)
    }

    /// Shows `page` (the form again, saying what was wrong) instead of a page of its own.
    pub fn on_page(mut self, page: &impl Template) -> Self {
        match page.render() {
            Ok(html) => self.page = Some(html),
            Err(error) => return Self::internal(error),
        }
        self
    }

    /// For a refusal the form can fix: shows the form again, built with the message. Other
    /// errors (a failure, or "wait and retry") keep a page of their own.
    pub fn on_form<T: Template>(self, form: impl FnOnce(String) -> T) -> Self {
        if !self.fits_a_form() {
            return self;
        }
        let page = form(self.message.to_string());
        self.on_page(&page)
    }

    /// Whether the form can fix it: a refusal, not a failure or "wait and retry".
    pub fn fits_a_form(&self) -> bool {
        self.status.is_client_error() && self.retry_after.is_none()
    }

    /// What the user is told.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// A body that is not the form it should be. Its content is not repeated.
    pub fn bad_form() -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "invalid_form",
            "Form not understood",
            "Some fields were missing or malformed. Go back and try again.",
        )
    }

    pub fn cross_site() -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "cross_site_request",
            "Request refused",
            "This form was sent from another site, so it was refused. Open the page on this server and try again.",
        )
    }

    pub fn signup_closed() -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "signup_closed",
            "Sign-up closed",
            "Sign-up is closed on this server.",
        )
    }

    /// Too many failed password checks for this email or client: refused unchecked.
    pub fn throttled(wait: Duration) -> Self {
        let mut error = Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            "too_many_attempts",
            "Too many attempts",
            "Too many failed logins. Wait a few minutes and try again.",
        );
        error.retry_after = Some(wait);
        error
    }

    /// Every password thread is busy: refused unchecked.
    pub fn busy() -> Self {
        let mut error = Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "server_busy",
            "Busy",
            "The server is busy checking passwords. Try again in a moment.",
        );
        error.retry_after = Some(BUSY_RETRY);
        error
    }

    pub fn internal(cause: impl Into<anyhow::Error>) -> Self {
        let mut error = Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal_error",
            "Something went wrong",
            "The server could not do this. Try again.",
        );
        error.cause = Some(cause.into());
        error
    }

    fn kind(&self) -> &'static str {
        match self.status {
            StatusCode::TOO_MANY_REQUESTS => "rate_limit_error",
            status if status.is_server_error() => "server_error",
            _ => "invalid_request_error",
        }
    }
}

/// How long a client is asked to wait when the password threads are busy.
const BUSY_RETRY: Duration = Duration::from_secs(2);

impl From<AccountError> for WebError {
    fn from(error: AccountError) -> Self {
        let refused = |status, code| Self::refused(status, code, sentence(&error.to_string()));
        match error {
            AccountError::InvalidEmail | AccountError::PasswordLength | AccountError::KeyName => {
                refused(StatusCode::BAD_REQUEST, "invalid_value")
            }
            AccountError::EmailTaken => refused(StatusCode::CONFLICT, "email_taken"),
            AccountError::WrongCredentials => {
                refused(StatusCode::UNAUTHORIZED, "wrong_credentials")
            }
            AccountError::NotFound => refused(StatusCode::NOT_FOUND, "not_found"),
            AccountError::Busy => Self::busy(),
            AccountError::Storage(_) | AccountError::Internal => Self::internal(error),
        }
    }
}

impl From<askama::Error> for WebError {
    fn from(error: askama::Error) -> Self {
        Self::internal(error)
    }
}

/// An error's text as a sentence: capital first letter, full stop.
fn sentence(text: &str) -> String {
    let mut chars = text.chars();
    chars
        .next()
        .map(|first| first.to_uppercase().chain(chars).collect::<String>() + ".")
        .unwrap_or_default()
}

/// The JSON form of an error, chosen over the page by [`json_when_asked`].
#[derive(Clone)]
struct JsonAlternative(Arc<str>);

impl IntoResponse for WebError {
    fn into_response(self) -> Response {
        let json = serde_json::to_string(&ErrorBody {
            error: ErrorDetail {
                message: &self.message,
                kind: self.kind(),
                param: None,
                code: Some(self.code),
            },
        })
        .unwrap_or_default();
        let page = self.page.unwrap_or_else(|| {
            MessagePage::home(self.title, &self.message)
                .render()
                .unwrap_or_else(|_| self.message.to_string())
        });
        let mut response = (self.status, Html(page)).into_response();
        response
            .extensions_mut()
            .insert(JsonAlternative(json.into()));
        if let Some(cause) = self.cause {
            response
                .extensions_mut()
                .insert(FailureCause(Arc::new(cause)));
        }
        if let Some(wait) = self.retry_after {
            // Rounded up: a client that waits exactly this long finds the lock released.
            let secs = (wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).max(1);
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}

/// Answers errors in JSON to clients that asked for it (`Accept` or `Content-Type`), as the
/// pages' own scripts and API clients of the account routes do.
pub async fn json_when_asked(request: Request, next: Next) -> Response {
    let json = wants_json(request.headers());
    let mut response = next.run(request).await;
    let Some(JsonAlternative(body)) = response.extensions_mut().remove::<JsonAlternative>() else {
        return response;
    };
    if json {
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        response.headers_mut().remove(header::CONTENT_LENGTH);
        *response.body_mut() = Body::from(body.to_string());
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn body(response: Response) -> String {
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .expect("body");
        String::from_utf8(bytes.to_vec()).expect("utf-8")
    }

    #[tokio::test]
    async fn a_refusal_is_a_page_with_a_json_alternative() {
        let response = WebError::throttled(Duration::from_secs(30)).into_response();
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(response.headers()[header::RETRY_AFTER], "30");
        let json = response
            .extensions()
            .get::<JsonAlternative>()
            .expect("json")
            .0
            .clone();
        let json: serde_json::Value = serde_json::from_str(&json).expect("json");
        assert_eq!(json["error"]["code"], "too_many_attempts");
        assert_eq!(json["error"]["type"], "rate_limit_error");
        assert!(body(response).await.contains("Too many failed logins"));
    }

    #[tokio::test]
    async fn a_failure_logs_its_cause_and_shows_none_of_it() {
        let response = WebError::internal(anyhow::anyhow!("disk on fire")).into_response();
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let cause = response.extensions().get::<FailureCause>().expect("cause");
        assert!(cause.0.to_string().contains("disk on fire"));
        assert!(!body(response).await.contains("disk on fire"));
    }
}
