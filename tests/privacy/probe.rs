//! Requests that carry the canary in every header a browser or a proxy sends, each recorded
//! against the route it exercises.

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use reqwest::{Method, RequestBuilder, Response};

use super::routes::Route;

/// The client at another address than 127.0.0.1, believed through `X-Forwarded-For` by a
/// server that trusts 127.0.0.1 as its proxy.
pub const FORWARDED_FOR: [u8; 4] = [203, 0, 113, 77];

#[derive(Clone)]
pub struct Probe {
    pub base: String,
    pub token: String,
    http: reqwest::Client,
    hit: Arc<Mutex<BTreeSet<Route>>>,
}

impl Probe {
    pub fn new(base: &str, token: &str) -> Self {
        Self {
            base: base.to_owned(),
            token: token.to_owned(),
            http: client(None),
            hit: Arc::default(),
        }
    }

    /// The same probe, connecting from `address` (another loopback address).
    pub fn connecting_from(&self, address: IpAddr) -> Self {
        Self {
            http: client(Some(address)),
            ..self.clone()
        }
    }

    /// The routes requested so far.
    pub fn exercised(&self) -> BTreeSet<Route> {
        self.hit.lock().expect("lock").clone()
    }

    /// A request to `route` at `path`, with the canary in every header: an invalid API key, a
    /// bogus session cookie and a canary-named one, a cross-site `Origin`, forwarded-for and
    /// -proto, a wrong anti-CSRF token and the rest. Later `.headers(..)` replace these.
    pub fn request(&self, route: Route, method: Method, path: &str) -> RequestBuilder {
        self.hit.lock().expect("lock").insert(route);
        let token = &self.token;
        let [a, b, c, d] = FORWARDED_FOR;
        let headers = [
            ("user-agent", format!("Mozilla/5.0 ({token}) Firefox/140.0")),
            (
                "referer",
                format!("https://{token}.example/{token}?q={token}"),
            ),
            ("origin", format!("https://{token}.example")),
            (
                "cookie",
                format!("sotto={token}; {token}={token}; theme={token}"),
            ),
            ("x-forwarded-for", format!("{token}, {a}.{b}.{c}.{d}")),
            ("x-forwarded-proto", token.clone()),
            ("authorization", format!("Bearer sk-sotto-{token}")),
            ("x-csrf-token", token.clone()),
            ("accept-language", format!("{token}, en;q=0.5")),
            ("x-canary", token.clone()),
        ];
        self.http
            .request(method, format!("{}{path}", self.base))
            .headers(header_map(&headers))
    }

    pub fn get(&self, route: Route, path: &str) -> RequestBuilder {
        self.request(route, Method::GET, path)
    }

    /// An API request with a valid key (every other canary header stays).
    pub fn api(&self, route: Route, key: &str) -> RequestBuilder {
        self.request(route, Method::POST, route.1)
            .headers(header_map(&[("authorization", format!("Bearer {key}"))]))
    }

    /// A page request of a signed-in browser: its session cookie beside the canary cookies.
    pub fn page(&self, route: Route, method: Method, path: &str, session: &str) -> RequestBuilder {
        let token = &self.token;
        self.request(route, method, path).headers(header_map(&[(
            "cookie",
            format!("{session}; {token}={token}"),
        )]))
    }

    /// A form post from this server's own page (its `Origin`; a canary one is refused, which
    /// is tested on its own).
    pub fn form(&self, route: Route, path: &str, session: Option<&str>) -> RequestBuilder {
        let request = match session {
            Some(session) => self.page(route, Method::POST, path, session),
            None => self.request(route, Method::POST, path),
        };
        request.headers(header_map(&[("origin", self.base.clone())]))
    }
}

/// `request` with `name` set to `value` alone (`.header(..)` would add a second value).
pub fn replacing(request: RequestBuilder, name: &'static str, value: &str) -> RequestBuilder {
    request.headers(header_map(&[(name, value.to_owned())]))
}

fn header_map(pairs: &[(&'static str, String)]) -> HeaderMap {
    pairs
        .iter()
        .map(|(name, value)| {
            (
                HeaderName::from_static(name),
                HeaderValue::from_str(value).expect("a header value"),
            )
        })
        .collect()
}

fn client(local_address: Option<IpAddr>) -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .redirect(reqwest::redirect::Policy::none())
        .local_address(local_address)
        .build()
        .expect("client")
}

/// Sends the request; the answer must have this status.
pub async fn expect(request: RequestBuilder, status: u16) -> Response {
    let response = request.send().await.expect("request sent");
    assert_eq!(response.status(), status, "{}", response.url());
    response
}
