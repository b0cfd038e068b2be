//! The little JSON the parsers need, without recursion on the input's depth: where a streamed
//! value ends, the members of a valid object or array, compacting, and reading one call.
//! Validity itself is serde_json's (skipping a value, it keeps its own stack, not recursion).

use std::ops::Range;

use serde::de::IgnoredAny;

/// Finds where a streamed JSON object or array ends, one byte at a time.
#[derive(Debug, Default)]
pub(super) struct JsonScan {
    depth: usize,
    in_string: bool,
    escaped: bool,
}

#[derive(Debug, PartialEq, Eq)]
pub(super) enum Step {
    /// The value is still open.
    More,
    /// The value ends just before this byte of the text fed.
    Done(usize),
    /// The text does not start with `{` or `[`.
    NotContainer,
}

impl JsonScan {
    /// Feeds the next text of the value (the first call starts at its first byte, whitespace
    /// allowed). Structure characters are ASCII, so bytes are enough.
    pub(super) fn feed(&mut self, text: &str) -> Step {
        for (at, byte) in text.bytes().enumerate() {
            if self.in_string {
                match byte {
                    _ if self.escaped => self.escaped = false,
                    b'\\' => self.escaped = true,
                    b'"' => self.in_string = false,
                    _ => {}
                }
                continue;
            }
            match byte {
                b'{' | b'[' => self.depth += 1,
                b' ' | b'\t' | b'\n' | b'\r' if self.depth == 0 => {}
                _ if self.depth == 0 => return Step::NotContainer,
                b'}' | b']' => {
                    self.depth -= 1;
                    if self.depth == 0 {
                        return Step::Done(at + 1);
                    }
                }
                b'"' => self.in_string = true,
                _ => {}
            }
        }
        Step::More
    }
}

/// A call as read from the model's JSON.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Call {
    pub name: String,
    /// Compact JSON text of an object.
    pub arguments: String,
}

pub(super) fn is_valid(text: &str) -> bool {
    serde_json::from_str::<IgnoredAny>(text).is_ok()
}

/// Reads `{"name": "f", "arguments": {...}}` (or `"parameters"`; arguments may also be a JSON
/// string holding the object, and may be missing when the function takes none).
pub(super) fn parse_call(text: &str) -> Option<Call> {
    if !is_valid(text) || !text.trim_start().starts_with('{') {
        return None;
    }
    let mut name = None;
    let mut arguments = None;
    for (key, value) in members(text) {
        let value = &text[value];
        match decode_string(&text[key?])?.as_str() {
            "name" => name = Some(decode_string(value)?),
            "arguments" | "parameters" => arguments = Some(arguments_text(value)?),
            _ => {}
        }
    }
    Some(Call {
        name: name?,
        arguments: arguments.unwrap_or_else(|| "{}".to_owned()),
    })
}

/// Reads a list of calls: None unless it is a valid array of calls.
pub(super) fn parse_calls(text: &str) -> Option<Vec<Call>> {
    if !is_valid(text) || !text.trim_start().starts_with('[') {
        return None;
    }
    members(text)
        .into_iter()
        .map(|(_, item)| parse_call(&text[item]))
        .collect()
}

/// Arguments must be an object, written as one or as a string of one.
pub(super) fn arguments_text(value: &str) -> Option<String> {
    if value.starts_with('{') {
        return Some(compact(value));
    }
    let inner = decode_string(value)?;
    (inner.trim_start().starts_with('{') && is_valid(&inner)).then(|| compact(&inner))
}

fn decode_string(text: &str) -> Option<String> {
    text.starts_with('"')
        .then(|| serde_json::from_str::<String>(text).ok())
        .flatten()
}

/// The members of a valid object (key span, value span) or elements of a valid array
/// (no key), read at the top level only.
pub(super) fn members(text: &str) -> Vec<(Option<Range<usize>>, Range<usize>)> {
    let mut found = Vec::new();
    let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
    let mut key: Option<Range<usize>> = None;
    let mut start: Option<usize> = None;
    let mut close = |key: &mut Option<Range<usize>>, start: &mut Option<usize>, end: usize| {
        if let Some(begin) = start.take() {
            let end = begin + text[begin..end].trim_end().len();
            found.push((key.take(), begin..end));
        }
    };
    for (at, byte) in text.bytes().enumerate() {
        if in_string {
            match byte {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        let begins = depth == 1 && start.is_none();
        match byte {
            b' ' | b'\t' | b'\n' | b'\r' => continue,
            b'{' | b'[' => depth += 1,
            b'}' | b']' => {
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    close(&mut key, &mut start, at);
                    break;
                }
            }
            b',' if depth == 1 => close(&mut key, &mut start, at),
            b':' if depth == 1 => {
                key = start.take().map(|begin| begin..at);
                continue;
            }
            b'"' => in_string = true,
            _ => {}
        }
        if begins && depth >= 1 && byte != b',' {
            start = Some(at);
        }
    }
    found
}

/// Valid JSON without the whitespace between tokens.
pub(super) fn compact(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let (mut in_string, mut escaped) = (false, false);
    for c in text.chars() {
        if in_string {
            match c {
                _ if escaped => escaped = false,
                '\\' => escaped = true,
                '"' => in_string = false,
                _ => {}
            }
        } else if c == '"' {
            in_string = true;
        } else if c.is_ascii_whitespace() {
            continue;
        }
        out.push(c);
    }
    out.trim().to_owned()
}
