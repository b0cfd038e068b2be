//! What `sotto models pull REF` downloads: an `http(s)://` URL, or `hf:OWNER/REPO/FILE.gguf`
//! (`@REVISION` optional) resolved the way Hugging Face's own tools do, to
//! `{endpoint}/{owner}/{repo}/resolve/{revision}/{file}`.

use reqwest::Url;

use super::error::PullError;
use super::names;

pub const DEFAULT_HF_ENDPOINT: &str = "https://huggingface.co";

/// A parsed reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    pub url: Url,
    /// The `.gguf` file name the URL ends with (percent-decoded and checked); `None` when it
    /// ends with something else, so the name must come from `--name` or the server.
    pub file_name: Option<String>,
    /// Whether this is a Hugging Face reference (its token is sent to its endpoint only).
    pub hf: bool,
}

impl Source {
    /// The same URL with its last path segment replaced: another part of a split model.
    pub fn sibling(&self, file_name: &str) -> Url {
        let mut url = self.url.clone();
        if let Ok(mut segments) = url.path_segments_mut() {
            segments.pop().push(file_name);
        }
        url
    }
}

pub fn parse(reference: &str, hf_endpoint: &str) -> Result<Source, PullError> {
    if let Some(rest) = reference.strip_prefix("hf:") {
        return parse_hf(rest, hf_endpoint);
    }
    let url = web_url(reference).ok_or(PullError::Reference(
        "REF must be an http:// or https:// URL, or hf:OWNER/REPO/FILE.gguf",
    ))?;
    let file_name = file_name(&url)?;
    Ok(Source {
        url,
        file_name,
        hf: false,
    })
}

fn parse_hf(rest: &str, hf_endpoint: &str) -> Result<Source, PullError> {
    const SHAPE: &str =
        "an hf: reference is hf:OWNER/REPO/FILE.gguf or hf:OWNER/REPO/FILE.gguf@REVISION";
    let (path, revision) = match rest.rsplit_once('@') {
        Some((path, revision)) if !revision.is_empty() => (path, revision),
        Some(_) => return Err(PullError::Reference(SHAPE)),
        None => (rest, "main"),
    };
    let segments: Vec<&str> = path.split('/').collect();
    let plain = |segment: &&str| !segment.is_empty() && *segment != "." && *segment != "..";
    if segments.len() < 3 || !segments.iter().all(plain) {
        return Err(PullError::Reference(SHAPE));
    }
    let mut url = web_url(hf_endpoint.trim_end_matches('/')).ok_or(PullError::Reference(
        "the Hugging Face endpoint must be an http:// or https:// URL",
    ))?;
    url.set_query(None);
    url.set_fragment(None);
    {
        let mut path = url
            .path_segments_mut()
            .map_err(|()| PullError::Reference("the Hugging Face endpoint is not a base URL"))?;
        // `push` percent-encodes each piece: a revision like `refs/pr/1` stays one segment.
        path.pop_if_empty()
            .extend(&segments[..2])
            .push("resolve")
            .push(revision)
            .extend(&segments[2..]);
    }
    let file_name = file_name(&url)?;
    if file_name.is_none() {
        return Err(PullError::Reference("an hf: reference names a .gguf file"));
    }
    Ok(Source {
        url,
        file_name,
        hf: true,
    })
}

fn web_url(text: &str) -> Option<Url> {
    let url = Url::parse(text).ok()?;
    (matches!(url.scheme(), "http" | "https") && url.host_str().is_some()).then_some(url)
}

/// The URL's last path segment when it is a `.gguf` file name; an error when it names a path.
fn file_name(url: &Url) -> Result<Option<String>, PullError> {
    let last = url
        .path_segments()
        .and_then(|mut segments| segments.next_back())
        .unwrap_or_default();
    let decoded = percent_encoding::percent_decode_str(last).decode_utf8_lossy();
    if !decoded.to_ascii_lowercase().ends_with(".gguf") {
        return Ok(None);
    }
    match names::id_of(&decoded) {
        Some(_) => Ok(Some(decoded.into_owned())),
        None => Err(PullError::Reference(
            "the URL's file name is not a plain file name (a path, `..` or a leading `.`)",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hf(reference: &str) -> String {
        parse(reference, DEFAULT_HF_ENDPOINT)
            .expect("a valid reference")
            .url
            .to_string()
    }

    #[test]
    fn resolves_hugging_face_references() {
        assert_eq!(
            hf("hf:bartowski/Qwen2.5-0.5B-Instruct-GGUF/Qwen2.5-0.5B-Instruct-Q4_K_M.gguf"),
            "https://huggingface.co/bartowski/Qwen2.5-0.5B-Instruct-GGUF/resolve/main/Qwen2.5-0.5B-Instruct-Q4_K_M.gguf"
        );
        assert_eq!(
            hf("hf:o/r/sub dir/m.gguf@refs/pr/1"),
            "https://huggingface.co/o/r/resolve/refs%2Fpr%2F1/sub%20dir/m.gguf"
        );
        let mirror = parse("hf:o/r/m.gguf@v1", "http://127.0.0.1:9/mirror/").expect("valid");
        assert_eq!(
            mirror.url.as_str(),
            "http://127.0.0.1:9/mirror/o/r/resolve/v1/m.gguf"
        );
        assert_eq!(mirror.file_name.as_deref(), Some("m.gguf"));
        assert!(mirror.hf);
    }

    #[test]
    fn refuses_malformed_references() {
        for reference in [
            "hf:o/r",
            "hf:o//m.gguf",
            "hf:o/r/../m.gguf",
            "hf:o/r/m.gguf@",
            "hf:o/r/README.md",
            "ftp://host/m.gguf",
            "file:///etc/passwd",
            "models/m.gguf",
            "https://host/..%2F..%2Fm.gguf",
            "https://host/%2Fetc%2Fm.gguf",
            "https://host/.m.gguf",
        ] {
            assert!(
                parse(reference, DEFAULT_HF_ENDPOINT).is_err(),
                "{reference} was accepted"
            );
        }
        assert!(parse("hf:o/r/m.gguf", "not a url").is_err());
    }

    #[test]
    fn urls_keep_their_query_and_may_lack_a_file_name() {
        let source = parse("https://host/a/m.gguf?download=true", "").expect("valid");
        assert_eq!(source.file_name.as_deref(), Some("m.gguf"));
        assert_eq!(
            source.sibling("m-00002-of-00002.gguf").as_str(),
            "https://host/a/m-00002-of-00002.gguf?download=true"
        );
        let source = parse("https://host/download?id=7", "").expect("valid");
        assert_eq!(source.file_name, None);
        assert!(!source.hf);
    }
}
