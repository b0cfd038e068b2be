//! Accepting connections: a cap on open connections, and timeouts so that slow or idle clients
//! cannot hold sockets (and file descriptors) for ever. `axum::serve` has neither, so this is
//! its accept loop with hyper's own settings turned on.
//!
//! Each request also learns who sent it ([`Peer`]): the client's address and whether the
//! connection is encrypted, believing `X-Forwarded-*` headers only from `--trusted-proxies`.

use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{ConnectInfo, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tower::ServiceExt as _;

/// What the accept loop enforces.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Open connections at most; more wait in the listen backlog, which costs no descriptor.
    pub max_connections: usize,
    /// Time a client has to send a request's headers, and to start its next request on a
    /// kept-alive connection.
    pub header_timeout: Duration,
    /// Proxies whose `X-Forwarded-For` and `X-Forwarded-Proto` are believed.
    pub trusted_proxies: Vec<IpAddr>,
}

/// The client of a request, as far as this server can tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Peer {
    /// The client's address: the socket's, or the one a trusted proxy reports.
    pub ip: IpAddr,
    /// Whether the client's connection is encrypted: a trusted proxy says it terminated TLS.
    pub https: bool,
}

impl Peer {
    fn of(socket: SocketAddr, headers: &HeaderMap, trusted: &[IpAddr]) -> Self {
        let direct = Self {
            ip: socket.ip(),
            https: false,
        };
        if !trusted.contains(&socket.ip()) {
            return direct;
        }
        let header = |name: &str| {
            headers
                .get_all(name)
                .iter()
                .filter_map(|value| value.to_str().ok())
                .collect::<Vec<_>>()
                .join(",")
        };
        // The nearest hop that is not one of our proxies is the client; anything further left
        // was written by the client itself and proves nothing.
        let forwarded_for = header("x-forwarded-for");
        let client = forwarded_for
            .rsplit(',')
            .filter_map(|hop| hop.trim().parse::<IpAddr>().ok())
            .find(|hop| !trusted.contains(hop))
            .unwrap_or(direct.ip);
        let proto = header("x-forwarded-proto");
        let https = proto
            .rsplit(',')
            .next()
            .is_some_and(|last| last.trim().eq_ignore_ascii_case("https"));
        Self { ip: client, https }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Peer {
    type Rejection = StatusCode;

    /// Every request that came through [`serve`] has one; a request without it fails closed.
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, StatusCode> {
        parts
            .extensions
            .get::<Peer>()
            .copied()
            .ok_or(StatusCode::INTERNAL_SERVER_ERROR)
    }
}

/// The connections still open once the server has stopped accepting: each closes once its
/// request is answered.
pub struct Draining {
    open: Arc<Semaphore>,
    capacity: u32,
}

impl Draining {
    /// Waits until every connection has closed, at most `limit`. Whether they all did.
    pub async fn closed_within(&self, limit: Duration) -> bool {
        matches!(
            tokio::time::timeout(limit, self.open.acquire_many(self.capacity)).await,
            Ok(Ok(_))
        )
    }
}

/// Serves `app` until `shutdown` completes, then stops accepting and asks every connection to
/// close once its open request is answered.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: Limits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Draining {
    let mut builder = Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout);
    builder
        .http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(Some(limits.header_timeout))
        .keep_alive_timeout(limits.header_timeout);
    let builder = Arc::new(builder);
    let trusted: Arc<[IpAddr]> = limits.trusted_proxies.into();
    let capacity = limits.max_connections.clamp(1, Semaphore::MAX_PERMITS);
    let open = Arc::new(Semaphore::new(capacity));
    let graceful = GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        let permit = tokio::select! {
            permit = Arc::clone(&open).acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break,
            },
            () = &mut shutdown => break,
        };
        let (stream, socket) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of descriptors or a connection reset before it was accepted: wait a
                    // moment rather than spin. The error holds no client data.
                    tracing::warn!(%error, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let app = app.clone();
        let trusted = Arc::clone(&trusted);
        let service = hyper::service::service_fn(move |request: Request<hyper::body::Incoming>| {
            let mut request = request.map(axum::body::Body::new);
            let peer = Peer::of(socket, request.headers(), &trusted);
            request.extensions_mut().insert(peer);
            request.extensions_mut().insert(ConnectInfo(socket));
            let app = app.clone();
            // The router never fails: its error type is `Infallible`.
            async move { app.oneshot(request).await }
        });
        let connection = builder
            .serve_connection_with_upgrades(TokioIo::new(stream), service)
            .into_owned();
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            // Timeouts and resets end connections with an error; none is worth a log line.
            let _ = connection.await;
            drop(permit);
        });
    }
    drop(listener);
    // Sends every connection the signal, then waits for them: `Draining` waits with a limit.
    tokio::spawn(graceful.shutdown());
    Draining {
        open,
        capacity: u32::try_from(capacity).unwrap_or(u32::MAX),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, HeaderValue::from_static(value));
        }
        map
    }

    #[test]
    fn forwarded_headers_count_only_from_trusted_proxies() {
        let proxy: IpAddr = [10, 0, 0, 1].into();
        let socket = SocketAddr::new(proxy, 40000);
        let sent = headers(&[
            ("x-forwarded-for", "6.6.6.6, 203.0.113.7"),
            ("x-forwarded-proto", "https"),
        ]);
        let untrusted = Peer::of(socket, &sent, &[]);
        assert_eq!(
            untrusted,
            Peer {
                ip: proxy,
                https: false
            }
        );
        // The client may write anything left of what our proxy appended: the rightmost hop
        // that is not a proxy of ours is the client.
        let behind = Peer::of(socket, &sent, &[proxy]);
        assert_eq!(
            behind,
            Peer {
                ip: [203, 0, 113, 7].into(),
                https: true
            }
        );
        let plain = Peer::of(socket, &headers(&[("x-forwarded-proto", "http")]), &[proxy]);
        assert_eq!(
            plain,
            Peer {
                ip: proxy,
                https: false
            }
        );
    }
}
