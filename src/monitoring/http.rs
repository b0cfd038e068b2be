//! The layer that counts every request by its route template.

use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::Response;

use super::Metrics;

/// The route label of a request no route matched: its path is the client's text, and one
/// series per path sent would let anyone grow the scrape without limit.
pub const UNMATCHED: &str = "unmatched";

/// Counts the request and times its response head. Outermost, so that every answer counts,
/// from the host check's refusals to a panic's 500.
pub async fn track(State(metrics): State<Metrics>, request: Request, next: Next) -> Response {
    let method = standard_method(request.method()).unwrap_or("other");
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| UNMATCHED.to_owned(), |path| path.as_str().to_owned());
    let started = Instant::now();
    let response = next.run(request).await;
    metrics.http_request(method, route, response.status().as_u16(), started.elapsed());
    response
}

/// The method's name if it is one of HTTP's standard ones: a name that can be shown or used
/// as a label, unlike any token a client may send.
pub fn standard_method(method: &Method) -> Option<&'static str> {
    const KNOWN: [Method; 9] = [
        Method::GET,
        Method::HEAD,
        Method::POST,
        Method::PUT,
        Method::DELETE,
        Method::PATCH,
        Method::OPTIONS,
        Method::TRACE,
        Method::CONNECT,
    ];
    KNOWN
        .iter()
        .find(|known| *known == method)
        .map(Method::as_str)
}
