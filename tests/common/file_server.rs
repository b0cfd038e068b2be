//! An HTTP file server for `sotto models pull` to download from, on its own thread and
//! runtime (the tests run the CLI as a blocking child process meanwhile). Every path serves the
//! real default model, with Range support:
//! - `/files/NAME`: the file.
//! - `/flaky/NAME`: the first request stops half way through the body and drops the
//!   connection; later ones are served normally.
//! - `/OWNER/REPO/resolve/REV/NAME`: Hugging Face's answer, a redirect to the file on another
//!   host (`localhost` instead of `127.0.0.1`) with the SHA-256 in `X-Linked-Etag` (a wrong
//!   one for the repository `tampered`).
//! - `/loop/NAME`: redirects to itself.
//! - `/download`: the file under a `Content-Disposition` name with a path in it.
//! - `/text/NAME`: a short text, not a GGUF file.
//!
//! Each request's path and headers of interest are recorded, in order.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use axum::body::{Body, Bytes};
use axum::extract::{Path, Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::middleware::{from_fn_with_state, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use sha2::{Digest, Sha256};
use tokio::sync::oneshot;

#[derive(Debug, Clone)]
pub struct Seen {
    pub path: String,
    pub host: Option<String>,
    pub range: Option<String>,
    pub authorization: Option<String>,
}

#[derive(Clone)]
struct Files {
    model: Bytes,
    sha256: String,
    port: u16,
    seen: Arc<Mutex<Vec<Seen>>>,
    dropped: Arc<AtomicBool>,
}

pub struct FileServer {
    pub base: String,
    pub port: u16,
    files: Files,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl FileServer {
    pub fn start() -> Self {
        let model = Bytes::from(std::fs::read(super::model_file()).expect("the default model"));
        let sha256 = Sha256::digest(&model)
            .iter()
            .map(|byte| format!("{byte:02x}"))
            .collect();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a port");
        listener.set_nonblocking(true).expect("non-blocking");
        let port = listener.local_addr().expect("address").port();
        let files = Files {
            model,
            sha256,
            port,
            seen: Arc::default(),
            dropped: Arc::default(),
        };
        let app = Router::new()
            .route("/files/{name}", get(file))
            .route("/flaky/{name}", get(flaky))
            .route("/loop/{name}", get(redirect_loop))
            .route("/download", get(named_with_a_path))
            .route("/text/{name}", get(|| async { "not a model" }))
            .route("/{owner}/{repo}/resolve/{revision}/{*name}", get(resolve))
            .layer(from_fn_with_state(files.clone(), record))
            .with_state(files.clone());
        let (stop, stopped) = oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
                let _ = axum::serve(listener, app)
                    .with_graceful_shutdown(async {
                        let _ = stopped.await;
                    })
                    .await;
            });
        });
        Self {
            base: format!("http://127.0.0.1:{port}"),
            port,
            files,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.files
            .seen
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    pub fn sha256(&self) -> String {
        self.files.sha256.clone()
    }

    pub fn len(&self) -> u64 {
        self.files.model.len() as u64
    }
}

impl Drop for FileServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

async fn record(State(files): State<Files>, request: Request, next: Next) -> Response {
    let seen = seen(&request);
    files
        .seen
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .push(seen);
    next.run(request).await
}

fn seen(request: &Request) -> Seen {
    let header = |name: header::HeaderName| {
        request
            .headers()
            .get(name)
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned)
    };
    Seen {
        path: request.uri().path().to_owned(),
        host: header(header::HOST),
        range: header(header::RANGE),
        authorization: header(header::AUTHORIZATION),
    }
}

async fn file(State(files): State<Files>, headers: HeaderMap) -> Response {
    serve(&files.model, &headers, false)
}

async fn flaky(State(files): State<Files>, headers: HeaderMap) -> Response {
    let first = !files.dropped.swap(true, Ordering::SeqCst);
    serve(&files.model, &headers, first)
}

async fn resolve(
    State(files): State<Files>,
    Path((_owner, repo, _revision, name)): Path<(String, String, String, String)>,
) -> Response {
    let sha256 = if repo == "tampered" {
        "ab".repeat(32)
    } else {
        files.sha256.clone()
    };
    let location = format!("http://localhost:{}/files/{name}", files.port);
    (
        StatusCode::FOUND,
        [
            (header::LOCATION, location),
            (
                header::HeaderName::from_static("x-linked-etag"),
                format!("\"{sha256}\""),
            ),
            // A git object id, as Hugging Face sends: not a SHA-256, to be ignored.
            (
                header::ETAG,
                "\"9c1f2d6e0a8a7b7f2e5d4c3b2a1908f7e6d5c4b3\"".to_owned(),
            ),
        ],
    )
        .into_response()
}

async fn redirect_loop(Path(name): Path<String>) -> Response {
    (
        StatusCode::FOUND,
        [(header::LOCATION, format!("/loop/{name}"))],
    )
        .into_response()
}

async fn named_with_a_path(State(files): State<Files>, headers: HeaderMap) -> Response {
    let mut response = serve(&files.model, &headers, false);
    response.headers_mut().insert(
        header::CONTENT_DISPOSITION,
        header::HeaderValue::from_static("attachment; filename=\"../escaped.gguf\""),
    );
    response
}

/// The file from the requested range on; with `drop`, only the first half of the whole file,
/// then a broken connection.
fn serve(model: &Bytes, headers: &HeaderMap, drop: bool) -> Response {
    let len = model.len() as u64;
    let start = headers
        .get(header::RANGE)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("bytes="))
        .and_then(|value| value.strip_suffix('-'))
        .and_then(|start| start.parse::<u64>().ok());
    let (status, start) = match start {
        Some(start) if start >= len => {
            return (
                StatusCode::RANGE_NOT_SATISFIABLE,
                [(header::CONTENT_RANGE, format!("bytes */{len}"))],
            )
                .into_response();
        }
        Some(start) => (StatusCode::PARTIAL_CONTENT, start),
        None => (StatusCode::OK, 0),
    };
    let rest = model.slice(start as usize..);
    let body = if drop {
        let half = model.slice(..model.len() / 2);
        let chunks: Vec<Result<Bytes, std::io::Error>> = half
            .chunks(64 * 1024)
            .map(|chunk| Ok(Bytes::copy_from_slice(chunk)))
            .chain(std::iter::once(Err(std::io::Error::other("dropped"))))
            .collect();
        Body::from_stream(futures::stream::iter(chunks))
    } else {
        Body::from(rest.clone())
    };
    let mut response = (status, body).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_LENGTH, rest.len().into());
    headers.insert(
        header::ACCEPT_RANGES,
        header::HeaderValue::from_static("bytes"),
    );
    if status == StatusCode::PARTIAL_CONTENT {
        let range = format!("bytes {start}-{}/{len}", len - 1);
        if let Ok(value) = header::HeaderValue::from_str(&range) {
            headers.insert(header::CONTENT_RANGE, value);
        }
    }
    response
}
