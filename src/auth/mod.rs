//! How a request proves who sent it, for the API and the pages alike: the session cookie, the
//! page's anti-CSRF token and the API key in `Authorization`. Nothing here answers a request;
//! the API and the pages each refuse in their own error shape.

mod cookie;
mod csrf;

use axum::http::{header, HeaderMap};

pub(crate) use cookie::{session_token, with_session, without_session};
pub(crate) use csrf::{csrf_token, csrf_token_matches};

/// The header the chat page sends its anti-CSRF token in.
pub(crate) const CSRF_HEADER: &str = "x-csrf-token";

/// The key in `Authorization: Bearer <key>`; the scheme's name is case-insensitive (RFC 9110).
pub(crate) fn bearer_key(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, key) = value.trim_start().split_once(' ')?;
    let key = key.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !key.is_empty()).then_some(key)
}

/// Anthropic's clients send their key as `x-api-key`.
pub const API_KEY_HEADER: &str = "x-api-key";

/// The API key of a request: `Authorization: Bearer KEY`, or else `x-api-key: KEY` (Anthropic's
/// way, accepted on every `/v1` route so one key works for both kinds of client).
pub(crate) fn api_key(headers: &HeaderMap) -> Option<&str> {
    bearer_key(headers).or_else(|| {
        let key = headers.get(API_KEY_HEADER)?.to_str().ok()?.trim();
        (!key.is_empty()).then_some(key)
    })
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn authorization(value: &'static str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::AUTHORIZATION, HeaderValue::from_static(value));
        headers
    }

    #[test]
    fn bearer_scheme_is_case_insensitive_and_the_key_is_required() {
        assert_eq!(bearer_key(&authorization("Bearer sk-1")), Some("sk-1"));
        assert_eq!(bearer_key(&authorization("bearer  sk-1 ")), Some("sk-1"));
        assert_eq!(bearer_key(&authorization("Basic sk-1")), None);
        assert_eq!(bearer_key(&authorization("Bearer ")), None);
        assert_eq!(bearer_key(&HeaderMap::new()), None);
    }

    #[test]
    fn x_api_key_is_read_when_there_is_no_bearer_key() {
        let mut headers = HeaderMap::new();
        headers.insert(API_KEY_HEADER, HeaderValue::from_static(" sk-2 "));
        assert_eq!(api_key(&headers), Some("sk-2"));
        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Bearer sk-1"),
        );
        assert_eq!(api_key(&headers), Some("sk-1"));
        headers.insert(API_KEY_HEADER, HeaderValue::from_static(""));
        headers.remove(header::AUTHORIZATION);
        assert_eq!(api_key(&headers), None);
    }
}
