//! Why a pull failed, in one line that names the host (never the path, query or a token),
//! and whether another attempt could succeed.

use std::path::PathBuf;

use reqwest::StatusCode;

#[derive(Debug, thiserror::Error)]
pub enum PullError {
    #[error("{0}")]
    Reference(&'static str),
    #[error("{0}")]
    Usage(String),
    #[error("{host} answered HTTP {status}")]
    Status { host: String, status: StatusCode },
    #[error("the connection to {host} failed")]
    Connection {
        host: String,
        #[source]
        source: reqwest::Error,
    },
    #[error("{host} closed the connection before the end of the file")]
    Incomplete { host: String },
    #[error("{host} sent {reason}; refused")]
    Refused { host: String, reason: &'static str },
    #[error("the download is larger than --max-download-gb ({limit} bytes)")]
    TooLarge { limit: u64 },
    #[error("{file} is not a GGUF file (it does not start with `GGUF`); it was deleted")]
    NotGguf { file: String },
    #[error(
        "SHA-256 mismatch for {file}: expected {expected}, got {actual}; the download was deleted"
    )]
    Mismatch {
        file: String,
        expected: String,
        actual: String,
    },
    #[error("model `{id}` exists; pass --force to replace it")]
    Exists { id: String },
    #[error("another pull of `{id}` is running")]
    Busy { id: String },
    #[error("{action} {}", path.display())]
    Disk {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl PullError {
    /// A dropped connection, a timeout or a server's passing trouble: retried, resuming.
    pub fn retryable(&self) -> bool {
        match self {
            Self::Connection { .. } | Self::Incomplete { .. } => true,
            Self::Status { status, .. } => {
                status.is_server_error()
                    || *status == StatusCode::TOO_MANY_REQUESTS
                    || *status == StatusCode::REQUEST_TIMEOUT
            }
            _ => false,
        }
    }

    pub fn connection(host: &str, error: reqwest::Error) -> Self {
        Self::Connection {
            host: host.to_owned(),
            // Its message would repeat the URL, query string included.
            source: error.without_url(),
        }
    }

    /// `map_err(PullError::disk("writing", &path))`.
    pub fn disk(
        action: &'static str,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.into();
        move |source| Self::Disk {
            action,
            path,
            source,
        }
    }
}
