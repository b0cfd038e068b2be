//! One GET of a model file: redirects followed by hand (a few at most, never from https to
//! http) so that the hash Hugging Face publishes on its redirect is seen, and so that its
//! token goes to its own host only, never to the storage it redirects to.

use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderValue, AUTHORIZATION, ETAG, LOCATION, RANGE};
use reqwest::{Client, Response, Url};

use super::error::PullError;

/// Hugging Face redirects once, to its storage; a mirror may add a hop or two.
const MAX_REDIRECTS: usize = 5;

pub struct Fetcher {
    client: Client,
    /// `Authorization: Bearer $HF_TOKEN`, for the Hugging Face endpoint's host only.
    token: Option<(String, HeaderValue)>,
}

/// A response with a body to read (200, 206 or 416), and what the hops before it said.
pub struct Opened {
    pub response: Response,
    pub host: String,
    /// A SHA-256 a server published for the file (lowercase hex), if one did.
    pub published_sha256: Option<String>,
}

impl Fetcher {
    /// `hf_host`: the Hugging Face endpoint's host, which gets `HF_TOKEN` when it is set.
    pub fn new(hf_host: Option<&str>) -> Result<Self, PullError> {
        let client = Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(Duration::from_secs(30))
            // Between two reads of the body, not for the whole download.
            .read_timeout(Duration::from_secs(60))
            .user_agent(concat!("sotto/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|error| PullError::connection("the HTTP client", error))?;
        let token = match (hf_host, std::env::var("HF_TOKEN")) {
            (Some(host), Ok(token)) if !token.trim().is_empty() => {
                let mut value = HeaderValue::from_str(&format!("Bearer {}", token.trim()))
                    .map_err(|_| PullError::Usage("HF_TOKEN is not a valid header value".into()))?;
                // Kept out of any debug output of the request.
                value.set_sensitive(true);
                Some((host.to_owned(), value))
            }
            _ => None,
        };
        Ok(Self { client, token })
    }

    /// GETs `url` from byte `offset` on.
    pub async fn get(&self, url: &Url, offset: u64) -> Result<Opened, PullError> {
        let mut url = url.clone();
        let mut published_sha256 = None;
        for _ in 0..=MAX_REDIRECTS {
            let host = url.host_str().unwrap_or("the server").to_owned();
            let mut headers = HeaderMap::new();
            if offset > 0 {
                let range = HeaderValue::from_str(&format!("bytes={offset}-"))
                    .map_err(|_| PullError::Usage("a range".into()))?;
                headers.insert(RANGE, range);
            }
            let on_hf = self.token.as_ref().filter(|(hf, _)| *hf == host);
            if let Some((_, token)) = on_hf {
                headers.insert(AUTHORIZATION, token.clone());
            }
            let response = self
                .client
                .get(url.clone())
                .headers(headers)
                .send()
                .await
                .map_err(|error| PullError::connection(&host, error))?;
            published_sha256 =
                published_sha256.or_else(|| published_hash(response.headers(), on_hf.is_some()));
            let status = response.status();
            if status.is_redirection() {
                url = next_hop(&url, &response, &host)?;
                continue;
            }
            if status.is_success() || status == reqwest::StatusCode::RANGE_NOT_SATISFIABLE {
                return Ok(Opened {
                    response,
                    host,
                    published_sha256,
                });
            }
            return Err(PullError::Status { host, status });
        }
        let host = url.host_str().unwrap_or("the server").to_owned();
        Err(PullError::Refused {
            host,
            reason: "too many redirects",
        })
    }
}

fn next_hop(url: &Url, response: &Response, host: &str) -> Result<Url, PullError> {
    let refused = |reason| PullError::Refused {
        host: host.to_owned(),
        reason,
    };
    let location = response
        .headers()
        .get(LOCATION)
        .and_then(|value| value.to_str().ok())
        .ok_or(refused("a redirect without a Location"))?;
    let next = url
        .join(location)
        .map_err(|_| refused("a redirect to an invalid URL"))?;
    match (url.scheme(), next.scheme()) {
        ("https", "https") | ("http", "http" | "https") => Ok(next),
        ("https", "http") => Err(refused("a redirect from https to http")),
        _ => Err(refused("a redirect to a scheme other than http(s)")),
    }
}

/// Hugging Face sends an LFS file's SHA-256 as `X-Linked-Etag` on its redirect (and as the
/// `ETag` of its own responses). Another server's `ETag` may be any opaque value, so it is
/// trusted only from the Hugging Face endpoint; a value that is not 64 hex digits (a git
/// object id, an MD5) is not a SHA-256 and is ignored.
fn published_hash(headers: &HeaderMap, from_hf: bool) -> Option<String> {
    let linked = headers.get("x-linked-etag");
    let etag = headers.get(ETAG).filter(|_| from_hf);
    linked.or(etag).and_then(|value| {
        let text = value.to_str().ok()?;
        let text = text.trim().trim_start_matches("W/").trim_matches('"');
        (text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit()))
            .then(|| text.to_ascii_lowercase())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        pairs
            .iter()
            .map(|(name, value)| {
                (
                    reqwest::header::HeaderName::from_static(name),
                    HeaderValue::from_str(value).expect("value"),
                )
            })
            .collect()
    }

    #[test]
    fn reads_published_hashes_only_where_they_are_hashes() {
        let sha = "A5FD3B62230AA5EC60212297DC9D20EAA70578AC519E00D93A17E44C087A6818";
        let linked = headers(&[("x-linked-etag", &format!("\"{sha}\""))]);
        assert_eq!(
            published_hash(&linked, false),
            Some(sha.to_ascii_lowercase())
        );
        let etag = headers(&[("etag", &format!("W/\"{sha}\""))]);
        assert!(published_hash(&etag, true).is_some());
        assert_eq!(published_hash(&etag, false), None);
        let git_oid = headers(&[("etag", "\"9c1f2d6e0a8a7b7f2e5d4c3b2a1908f7e6d5c4b3\"")]);
        assert_eq!(published_hash(&git_oid, true), None);
    }
}
