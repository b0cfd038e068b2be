//! Model ids and file names from the command line, a URL or a server's `Content-Disposition`:
//! a plain name in the models directory, never a path out of it.

/// Long enough for any real model file name.
const MAX_ID_CHARS: usize = 200;

/// Whether `id` can name a file in the models directory: no path separator, no `..`, no
/// leading `.` (hidden and temporary files), no control characters.
pub fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.chars().count() <= MAX_ID_CHARS
        && !id.starts_with('.')
        && !id.contains("..")
        && !id.chars().any(|c| c == '/' || c == '\\' || c.is_control())
}

/// The id of a `.gguf` file name that is valid, else `None`.
pub fn id_of(file_name: &str) -> Option<&str> {
    file_name.strip_suffix(".gguf").filter(|id| valid_id(id))
}

/// The file name a `Content-Disposition` header gives (`filename*=UTF-8''...` wins over
/// `filename=...`), percent-decoded; not yet checked.
pub fn content_disposition_name(header: &str) -> Option<String> {
    let params: Vec<(&str, &str)> = header
        .split(';')
        .filter_map(|param| param.split_once('='))
        .map(|(key, value)| (key.trim(), value.trim()))
        .collect();
    let param = |name: &str| {
        params
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| *value)
    };
    if let Some(extended) = param("filename*") {
        // RFC 8187: charset'language'percent-encoded; only UTF-8 (and its ASCII subset) is read.
        let (charset, rest) = extended.split_once('\'')?;
        let (_language, encoded) = rest.split_once('\'')?;
        if charset.eq_ignore_ascii_case("utf-8") || charset.eq_ignore_ascii_case("us-ascii") {
            return percent_encoding::percent_decode_str(encoded)
                .decode_utf8()
                .ok()
                .map(|name| name.into_owned());
        }
    }
    param("filename").map(|value| value.trim_matches('"').to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_plain_file_names() {
        for id in ["SmolLM2-135M-Instruct.Q4_1", "a", "model v2 (final)"] {
            assert!(valid_id(id), "{id}");
        }
        for id in [
            "",
            "../x",
            "..",
            "a/b",
            "/etc/passwd",
            ".hidden",
            "a\\b",
            "x..y",
            "a\nb",
            &"x".repeat(201),
        ] {
            assert!(!valid_id(id), "{id:?}");
        }
        assert_eq!(id_of("m.gguf"), Some("m"));
        assert_eq!(id_of("m.bin"), None);
        assert_eq!(id_of("../m.gguf"), None);
    }

    #[test]
    fn reads_content_disposition_names() {
        assert_eq!(
            content_disposition_name("attachment; filename=\"m.gguf\"").as_deref(),
            Some("m.gguf")
        );
        assert_eq!(
            content_disposition_name(
                "inline; filename*=UTF-8''Qwen%20x.gguf; filename=\"Qwen x.gguf\";"
            )
            .as_deref(),
            Some("Qwen x.gguf")
        );
        assert_eq!(
            content_disposition_name("attachment; filename*=UTF-8''..%2F..%2Fetc%2Fx.gguf")
                .as_deref(),
            Some("../../etc/x.gguf")
        );
        assert_eq!(content_disposition_name("inline"), None);
    }
}
