//! What to look for (the canary in every encoding a log, a serializer or a database could give
//! it, and the client's addresses as text and as bytes) and where: every byte of every file a
//! server left behind.

use std::path::{Path, PathBuf};

use base64::Engine as _;

/// One form of something that must not be found, named for the failure message.
pub struct Needle {
    pub name: String,
    pub bytes: Vec<u8>,
}

fn needle(name: impl Into<String>, bytes: impl Into<Vec<u8>>) -> Needle {
    Needle {
        name: name.into(),
        bytes: bytes.into(),
    }
}

/// The canary `token` (letters and digits, so that it passes as a header, a host name and an
/// email) and `text` (the token with characters that JSON, URLs and HTML escape, sent in
/// every free-text field), in every encoding worth finding.
pub fn canary_needles(token: &str, text: &str) -> Vec<Needle> {
    let mut needles = vec![
        needle("the canary", token),
        needle("the canary, lower-case", token.to_lowercase()),
        needle("the canary, upper-case", token.to_uppercase()),
        needle("the canary, hex", hex(token.as_bytes())),
        needle("the canary, UTF-16LE", utf16(token, u16::to_le_bytes)),
        needle("the canary, UTF-16BE", utf16(token, u16::to_be_bytes)),
        needle("the canary text", text),
        needle("the canary text, JSON-escaped", json_escaped(text)),
        needle("the canary text, URL-encoded", url_encoded(text, "%20")),
        needle("the canary text, form-encoded", url_encoded(text, "+")),
        needle("the canary text, HTML-escaped", html_escaped(text)),
    ];
    let engines = [
        ("base64", base64::engine::general_purpose::STANDARD_NO_PAD),
        (
            "base64url",
            base64::engine::general_purpose::URL_SAFE_NO_PAD,
        ),
    ];
    for (name, engine) in engines {
        for offset in 0..3 {
            needles.push(needle(
                format!("the canary, {name} at offset {offset}"),
                base64_inside(&engine, token.as_bytes(), offset),
            ));
        }
    }
    needles
}

/// A client address as text and as the four bytes of the IPv4 address.
pub fn address_needles(address: [u8; 4]) -> Vec<Needle> {
    let [a, b, c, d] = address;
    vec![
        needle(format!("{a}.{b}.{c}.{d}"), format!("{a}.{b}.{c}.{d}")),
        needle(format!("{a}.{b}.{c}.{d} as 4 bytes"), address.to_vec()),
    ]
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn utf16(text: &str, bytes: fn(u16) -> [u8; 2]) -> Vec<u8> {
    text.encode_utf16().flat_map(bytes).collect()
}

fn json_escaped(text: &str) -> String {
    let quoted = serde_json::to_string(text).expect("a string serializes");
    quoted[1..quoted.len() - 1].to_owned()
}

fn url_encoded(text: &str, space: &str) -> String {
    let mut out = String::new();
    for byte in text.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(byte as char)
            }
            b' ' => out.push_str(space),
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}

fn html_escaped(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#x27;")
}

/// The base64 characters that encode only `bytes`, when they are preceded by `offset`
/// (0 to 2) other bytes: whatever came before the canary, these characters appear.
fn base64_inside(engine: &impl base64::Engine, bytes: &[u8], offset: usize) -> String {
    let mut padded = vec![b'x'; offset];
    padded.extend_from_slice(bytes);
    let encoded = engine.encode(&padded);
    // Groups of 3 bytes (4 characters) that lie wholly inside the canary.
    let first = offset.div_ceil(3);
    let last = padded.len() / 3;
    encoded[first * 4..last * 4].to_owned()
}

/// Where `needle` occurs in `haystack`.
pub fn positions(haystack: &[u8], needle: &[u8]) -> Vec<usize> {
    if needle.is_empty() || haystack.len() < needle.len() {
        return Vec::new();
    }
    haystack
        .windows(needle.len())
        .enumerate()
        .filter(|(_, window)| *window == needle)
        .map(|(at, _)| at)
        .collect()
}

/// Every regular file under `dir` (symbolic links, such as the model, are not the server's).
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return files;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let kind = entry.file_type().expect("file type");
        if kind.is_dir() {
            files.extend(files_under(&path));
        } else if kind.is_file() {
            files.push(path);
        }
    }
    files.sort();
    files
}

/// What of `needles` is in `bytes` (described for a failure message), except occurrences that
/// `allowed` accepts (given the needle, the bytes and the position).
pub fn findings(
    place: &str,
    bytes: &[u8],
    needles: &[Needle],
    allowed: impl Fn(&Needle, &[u8], usize) -> bool,
) -> Vec<String> {
    let mut found = Vec::new();
    for needle in needles {
        for at in positions(bytes, &needle.bytes) {
            if !allowed(needle, bytes, at) {
                let context =
                    &bytes[at.saturating_sub(60)..(at + needle.bytes.len() + 60).min(bytes.len())];
                found.push(format!(
                    "{} in {place} at byte {at}: …{}…",
                    needle.name,
                    String::from_utf8_lossy(context).escape_debug()
                ));
            }
        }
    }
    found
}

#[test]
fn base64_inside_is_found_whatever_precedes_it() {
    let engine = base64::engine::general_purpose::STANDARD_NO_PAD;
    for offset in 0..3 {
        let part = base64_inside(&engine, b"CANARY0123456789", offset);
        for before in ["", "a", "ab", "abc", "abcd"] {
            if before.len() % 3 == offset {
                let whole = engine.encode(format!("{before}CANARY0123456789 and after"));
                assert!(whole.contains(&part), "{before:?} {offset}");
            }
        }
    }
}
