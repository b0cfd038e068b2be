//! One file's download: streamed to `NAME.partial`, resumed with a Range request after a
//! dropped connection (here, with a few retries, or by running the command again), checked
//! (size limit, GGUF magic, SHA-256) and renamed into place.

use std::path::{Path, PathBuf};
use std::time::Duration;

use reqwest::header::{CONTENT_DISPOSITION, CONTENT_RANGE};
use reqwest::{Response, StatusCode, Url};

use super::error::PullError;
use super::http::{Fetcher, Opened};
use super::names;
use super::partial::{self, Partial};
use super::progress::Progress;

/// Attempts per file before giving up (the partial file stays for a later resume).
const ATTEMPTS: u32 = 5;

/// What to download and where.
pub struct Job<'a> {
    pub url: Url,
    /// The file name in the models directory; `None`: the server's `Content-Disposition` names it.
    pub file_name: Option<String>,
    pub expected_sha256: Option<String>,
    pub dir: &'a Path,
    pub force: bool,
    pub max_bytes: u64,
}

pub struct Pulled {
    pub path: PathBuf,
    pub bytes: u64,
    pub sha256: String,
    /// What the hash was checked against, if anything.
    pub checked_against: Option<&'static str>,
}

/// Where a download stands between attempts.
struct State {
    partial: Option<Partial>,
    file_name: Option<String>,
    published_sha256: Option<String>,
}

pub async fn download(fetcher: &Fetcher, job: &Job<'_>) -> Result<Pulled, PullError> {
    let mut state = State {
        partial: None,
        file_name: None,
        published_sha256: None,
    };
    let host = job.url.host_str().unwrap_or("the server").to_owned();
    let mut progress = Progress::new(job.file_name.as_deref().unwrap_or(&host));
    if let Some(name) = &job.file_name {
        open_partial(&mut state, job, name, &mut progress)?;
    }
    let mut attempt = 1;
    loop {
        let result = transfer(fetcher, job, &mut state, &mut progress).await;
        let flushed = match state.partial.as_mut() {
            Some(partial) => partial.flush(),
            None => Ok(()),
        };
        match result.and(flushed) {
            Ok(()) => break,
            Err(error) if error.retryable() && attempt < ATTEMPTS => {
                let delay = Duration::from_secs(1 << (attempt - 1));
                progress.note(&format!(
                    "{}; retrying in {}s (attempt {} of {ATTEMPTS})",
                    with_causes(&error),
                    delay.as_secs(),
                    attempt + 1
                ));
                tokio::time::sleep(delay).await;
                attempt += 1;
            }
            Err(error) => {
                progress.finish();
                match state.partial {
                    Some(partial) if error.retryable() && partial.written > 0 => {
                        progress.note(&format!(
                            "the partial download is kept in {}: run the same command to resume",
                            partial.path.display()
                        ))
                    }
                    Some(partial) => partial.discard(),
                    None => {}
                }
                return Err(error);
            }
        }
    }
    progress.finish();
    let partial = state
        .partial
        .ok_or(PullError::Usage("nothing was downloaded".into()))?;
    let file_name = state.file_name.unwrap_or_default();
    finish(partial, &file_name, job, state.published_sha256)
}

/// Checks the finished file, then renames it to its model name.
fn finish(
    partial: Partial,
    file_name: &str,
    job: &Job<'_>,
    published: Option<String>,
) -> Result<Pulled, PullError> {
    if !partial.starts_with_gguf_magic() {
        partial.discard();
        return Err(PullError::NotGguf {
            file: file_name.to_owned(),
        });
    }
    let bytes = partial.written;
    let (sha256, path) = partial.finish()?;
    let expected = match (&job.expected_sha256, published) {
        (Some(given), _) => Some((given.clone(), "--sha256")),
        (None, Some(published)) => Some((published, "the hash the server published")),
        (None, None) => None,
    };
    if let Some((expected, _)) = &expected {
        if *expected != sha256 {
            let _ = std::fs::remove_file(&path);
            return Err(PullError::Mismatch {
                file: file_name.to_owned(),
                expected: expected.clone(),
                actual: sha256,
            });
        }
    }
    let target = job.dir.join(file_name);
    partial::publish(&path, &target)?;
    Ok(Pulled {
        path: target,
        bytes,
        sha256,
        checked_against: expected.map(|(_, against)| against),
    })
}

/// One request, from where the partial file ends (two when the server cannot serve that
/// range and the file starts over).
async fn transfer(
    fetcher: &Fetcher,
    job: &Job<'_>,
    state: &mut State,
    progress: &mut Progress,
) -> Result<(), PullError> {
    let (mut response, host, total) = loop {
        let offset = state.partial.as_ref().map_or(0, |partial| partial.written);
        let Opened {
            response,
            host,
            published_sha256,
        } = fetcher.get(&job.url, offset).await?;
        state.published_sha256 = state.published_sha256.take().or(published_sha256);
        let refused = |reason| PullError::Refused {
            host: host.clone(),
            reason,
        };
        let named = served_name(&response).map_err(refused)?;
        if state.partial.is_none() {
            let name = named.ok_or(PullError::Usage(
                "the URL names no .gguf file and the server gave no file name: pass --name".into(),
            ))?;
            open_partial(state, job, &name, progress)?;
        }
        let Some(partial) = state.partial.as_mut() else {
            return Err(PullError::Usage("no file to write to".into()));
        };
        let total = match response.status() {
            StatusCode::RANGE_NOT_SATISFIABLE if offset > 0 => {
                // Asked for bytes past the end: done if the file is exactly that long.
                if range_total(&response) == Some(offset) {
                    progress.note("the partial download was already complete");
                    return Ok(());
                }
                progress.note("the server cannot resume this file: starting over");
                partial.restart()?;
                continue;
            }
            StatusCode::RANGE_NOT_SATISFIABLE => {
                return Err(PullError::Status {
                    host,
                    status: response.status(),
                })
            }
            StatusCode::PARTIAL_CONTENT => {
                let (start, total) =
                    content_range(&response).ok_or(refused("a bad Content-Range"))?;
                if start != offset {
                    return Err(refused("a range other than the one asked for"));
                }
                total
            }
            _ => {
                if offset > 0 {
                    progress.note("the server sent the whole file again: starting over");
                    partial.restart()?;
                }
                response.content_length()
            }
        };
        break (response, host, total);
    };
    let Some(partial) = state.partial.as_mut() else {
        return Err(PullError::Usage("no file to write to".into()));
    };
    if total.is_some_and(|total| total > job.max_bytes) {
        return Err(PullError::TooLarge {
            limit: job.max_bytes,
        });
    }
    progress.start(partial.written, total);
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|error| PullError::connection(&host, error))?
    {
        let after = partial.written + chunk.len() as u64;
        if total.is_some_and(|total| after > total) {
            return Err(PullError::Refused {
                host,
                reason: "more bytes than it announced",
            });
        }
        if after > job.max_bytes {
            return Err(PullError::TooLarge {
                limit: job.max_bytes,
            });
        }
        partial.write(&chunk)?;
        progress.advance(partial.written);
    }
    if total.is_some_and(|total| partial.written < total) {
        return Err(PullError::Incomplete { host });
    }
    Ok(())
}

fn open_partial(
    state: &mut State,
    job: &Job<'_>,
    file_name: &str,
    progress: &mut Progress,
) -> Result<(), PullError> {
    let id = names::id_of(file_name).ok_or(PullError::Reference(
        "the file name is not a plain .gguf file name",
    ))?;
    let target = job.dir.join(file_name);
    if !job.force && target.symlink_metadata().is_ok() {
        return Err(PullError::Exists { id: id.to_owned() });
    }
    let partial = Partial::open(job.dir.join(format!("{file_name}.partial")), id)?;
    if partial.written > 0 {
        progress.note(&format!(
            "resuming {file_name} after {} bytes already downloaded",
            partial.written
        ));
    }
    state.partial = Some(partial);
    state.file_name = Some(file_name.to_owned());
    Ok(())
}

/// The `.gguf` file name the server gives, if any. A name with a path in it is refused
/// outright: a server that sends one is not to be trusted with the rest.
fn served_name(response: &Response) -> Result<Option<String>, &'static str> {
    let Some(header) = response.headers().get(CONTENT_DISPOSITION) else {
        return Ok(None);
    };
    let Some(name) = header
        .to_str()
        .ok()
        .and_then(names::content_disposition_name)
    else {
        return Ok(None);
    };
    if !names::valid_id(&name) {
        return Err("a Content-Disposition file name with a path in it");
    }
    Ok(names::id_of(&name).is_some().then_some(name))
}

/// `Content-Range: bytes START-END/TOTAL` as (START, TOTAL); TOTAL may be `*`.
fn content_range(response: &Response) -> Option<(u64, Option<u64>)> {
    let value = response.headers().get(CONTENT_RANGE)?.to_str().ok()?;
    let (range, total) = value.strip_prefix("bytes ")?.split_once('/')?;
    let start = range.split_once('-')?.0.trim().parse().ok()?;
    Some((start, total.trim().parse().ok()))
}

/// The TOTAL of a 416's `Content-Range: bytes */TOTAL`.
fn range_total(response: &Response) -> Option<u64> {
    let value = response.headers().get(CONTENT_RANGE)?.to_str().ok()?;
    value.strip_prefix("bytes */")?.trim().parse().ok()
}

/// The error and its causes on one line, as `error: ...` prints them at the end.
fn with_causes(error: &PullError) -> String {
    let mut line = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        line.push_str(": ");
        line.push_str(&cause.to_string());
        source = cause.source();
    }
    line
}
