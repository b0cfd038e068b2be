//! The host names this server answers to, against DNS rebinding: a page at
//! `http://evil.example:8080` whose name the attacker re-points at 127.0.0.1 is same-origin
//! with itself, so the browser lets it read this server's answers. It still says
//! `Host: evil.example`, which is refused here.
//!
//! Allowed without configuration: IP literals (a rebinding attack needs a name the attacker
//! controls, so a browser that sends an address was pointed at that address by its user),
//! `localhost` and `*.localhost`. Names under which the server is reached (`sotto.lan`, a
//! public host) are listed with `--allowed-hosts`; `.example.org` allows its subdomains too,
//! and `*` turns the check off.

use std::net::IpAddr;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::api::ApiError;

#[derive(Debug, Clone)]
pub enum AllowedHosts {
    Any,
    /// Lower-case names; a leading dot also allows subdomains.
    Names(Arc<[String]>),
}

impl AllowedHosts {
    pub fn new(configured: &[String]) -> Self {
        if configured.iter().any(|name| name.trim() == "*") {
            return Self::Any;
        }
        let names = configured
            .iter()
            .map(|name| {
                let name = name.trim().trim_end_matches('.').to_ascii_lowercase();
                name.strip_prefix('*').map(str::to_owned).unwrap_or(name)
            })
            .filter(|name| !name.is_empty())
            .collect();
        Self::Names(names)
    }

    /// Whether a `Host` value (name or address, with or without a port) is served.
    pub fn allows(&self, host: &str) -> bool {
        let Self::Names(names) = self else {
            return true;
        };
        let name = host_name(host);
        if name.parse::<IpAddr>().is_ok() || name == "localhost" || name.ends_with(".localhost") {
            return true;
        }
        names.iter().any(|allowed| match allowed.strip_prefix('.') {
            Some(parent) => name == parent || name.ends_with(allowed.as_str()),
            None => name == *allowed,
        })
    }
}

/// Whether a `Host` value names this machine itself: `localhost` or a loopback address.
pub fn is_loopback(host: &str) -> bool {
    let name = host_name(host);
    name == "localhost"
        || name
            .parse::<IpAddr>()
            .is_ok_and(|address| address.is_loopback())
}

/// The name part of a `Host` value, lower case: no port, no brackets around an IPv6 address,
/// no trailing dot.
fn host_name(host: &str) -> String {
    let host = host.trim();
    let name = match host.strip_prefix('[') {
        Some(bracketed) => bracketed.split(']').next().unwrap_or_default(),
        None => host.rsplit_once(':').map_or(host, |(name, _port)| name),
    };
    name.trim_end_matches('.').to_ascii_lowercase()
}

/// Refuses requests for a host that is not allowed, before anything else reads them. A request
/// without a host at all (HTTP/1.0, a health probe) does not come from a browser and passes.
pub async fn check(State(hosts): State<AllowedHosts>, request: Request, next: Next) -> Response {
    let host = request
        .uri()
        .authority()
        .map(|authority| authority.as_str().to_owned())
        .or_else(|| {
            request
                .headers()
                .get(header::HOST)
                .and_then(|value| value.to_str().ok())
                .map(str::to_owned)
        });
    match host {
        Some(host) if !hosts.allows(&host) => refuse(request.uri().path()),
        _ => next.run(request).await,
    }
}

fn refuse(path: &str) -> Response {
    if path.starts_with("/v1/") || path.starts_with("/ui/") {
        return ApiError::host_not_allowed().into_response();
    }
    (
        StatusCode::MISDIRECTED_REQUEST,
        crate::api::error::HOST_NOT_ALLOWED,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_and_localhost_pass_names_must_be_listed() {
        let hosts = AllowedHosts::new(&["sotto.lan".into(), ".example.org".into()]);
        for allowed in [
            "127.0.0.1:8080",
            "192.168.1.20",
            "[::1]:8080",
            "localhost:8080",
            "app.localhost",
            "SOTTO.LAN:8080",
            "sotto.lan.",
            "example.org",
            "chat.example.org:443",
        ] {
            assert!(hosts.allows(allowed), "{allowed}");
        }
        for refused in [
            "evil.example:8080",
            "sotto.lan.evil.example",
            "notexample.org",
            "localhost.evil.example",
            "",
        ] {
            assert!(!hosts.allows(refused), "{refused}");
        }
        assert!(AllowedHosts::new(&["*".into()]).allows("evil.example"));
        assert!(
            is_loopback("localhost:8080") && is_loopback("[::1]:80") && is_loopback("127.0.0.2")
        );
        assert!(!is_loopback("sotto.lan:8080") && !is_loopback("192.168.1.20") && !is_loopback(""));
        assert!(!AllowedHosts::new(&[]).allows("sotto.lan"));
    }
}
