//! The session cookie. Its name and attributes depend on the connection's scheme, and each
//! scheme reads only its own cookie, so a cookie planted over plain HTTP can never stand in for
//! the secure one.

use std::time::Duration;

use axum_extra::extract::cookie::{Cookie, CookieJar, SameSite};

/// Over HTTPS. `__Host-` makes browsers insist on `Secure`, `Path=/` and no `Domain`: the
/// cookie can only be set by this exact origin.
const SECURE_NAME: &str = "__Host-sotto";
/// Over plain HTTP, where browsers drop `Secure` cookies (except on localhost).
/// `SameSite=Strict` keeps it out of every request another site starts.
const PLAIN_NAME: &str = "sotto";

fn session_cookie(value: String, https: bool) -> Cookie<'static> {
    let name = if https { SECURE_NAME } else { PLAIN_NAME };
    let same_site = if https {
        SameSite::Lax
    } else {
        SameSite::Strict
    };
    Cookie::build((name, value))
        .path("/")
        .http_only(true)
        .secure(https)
        .same_site(same_site)
        .build()
}

/// The session token the request carries for its scheme.
pub(crate) fn session_token(jar: &CookieJar, https: bool) -> Option<String> {
    let name = if https { SECURE_NAME } else { PLAIN_NAME };
    jar.get(name)
        .map(|cookie| cookie.value().to_owned())
        .filter(|token| !token.is_empty())
}

/// Sets the cookie of a new session, for as long as the session may last.
pub(crate) fn with_session(
    jar: CookieJar,
    token: String,
    lifetime: Duration,
    https: bool,
) -> CookieJar {
    let mut cookie = session_cookie(token, https);
    let secs = i64::try_from(lifetime.as_secs()).unwrap_or(i64::MAX);
    cookie.set_max_age(cookie::time::Duration::seconds(secs));
    jar.add(cookie)
}

/// Tells the browser to drop the session cookie (with the attributes it was set with, or a
/// browser keeps a `__Host-` cookie).
pub(crate) fn without_session(jar: CookieJar, https: bool) -> CookieJar {
    jar.remove(session_cookie(String::new(), https))
}

#[cfg(test)]
mod tests {
    use axum::http::{header, HeaderMap, HeaderValue};
    use axum::response::IntoResponse;

    use super::*;

    fn set_cookie(jar: CookieJar) -> String {
        let response = jar.into_response();
        let value = response
            .headers()
            .get(header::SET_COOKIE)
            .expect("Set-Cookie");
        value.to_str().expect("ASCII").to_owned()
    }

    #[test]
    fn each_scheme_has_its_own_cookie() {
        let secure = set_cookie(with_session(
            CookieJar::new(),
            "t".into(),
            Duration::from_secs(60),
            true,
        ));
        assert!(secure.starts_with("__Host-sotto=t"), "{secure}");
        for attribute in ["Secure", "HttpOnly", "SameSite=Lax", "Path=/", "Max-Age=60"] {
            assert!(secure.contains(attribute), "{secure} lacks {attribute}");
        }
        let plain = set_cookie(with_session(
            CookieJar::new(),
            "t".into(),
            Duration::from_secs(60),
            false,
        ));
        assert!(
            plain.starts_with("sotto=t") && plain.contains("SameSite=Strict"),
            "{plain}"
        );
        assert!(!plain.contains("Secure"), "{plain}");
    }

    #[test]
    fn a_plain_cookie_is_not_read_over_https() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            HeaderValue::from_static("sotto=planted; other=1"),
        );
        let jar = CookieJar::from_headers(&headers);
        assert_eq!(session_token(&jar, false).as_deref(), Some("planted"));
        assert_eq!(session_token(&jar, true), None);
    }

    #[test]
    fn removal_keeps_the_attributes() {
        let mut headers = HeaderMap::new();
        headers.insert(header::COOKIE, HeaderValue::from_static("__Host-sotto=t"));
        let removal = set_cookie(without_session(CookieJar::from_headers(&headers), true));
        assert!(removal.starts_with("__Host-sotto=;"), "{removal}");
        for attribute in ["Secure", "Path=/", "Max-Age=0"] {
            assert!(removal.contains(attribute), "{removal} lacks {attribute}");
        }
    }
}
