//! The parsers against realistic replies: each format whole and split at every byte, and the
//! ways a call goes wrong (not offered, refused, truncated, malformed, hostile).

mod formats;
mod reasoning;
mod robustness;
mod splits;

use super::{collect, parse_complete, Delta, Parsed, ReasoningMode, StreamParser, ToolCall};
use super::{ToolFormat, Validator};

const OFFERED: [&str; 2] = ["get_weather", "search"];

/// Accepts any arguments but those containing `"refuse"`, to test refusals.
fn validator() -> Validator {
    std::sync::Arc::new(|_name: &str, arguments: &str| !arguments.contains("\"refuse\""))
}

fn offered() -> Vec<String> {
    OFFERED.iter().map(|name| (*name).to_owned()).collect()
}

fn whole(format: ToolFormat, reasoning: ReasoningMode, text: &str) -> Parsed {
    parse_complete(Some(format), reasoning, offered(), validator(), text)
}

fn call(name: &str, arguments: &str) -> ToolCall {
    ToolCall {
        name: name.to_owned(),
        arguments: arguments.to_owned(),
    }
}

/// The deltas of `parts` pushed one after the other, checked against the stream contract:
/// every call start is followed by its arguments, and indexes count 0, 1, ...
fn stream(format: Option<ToolFormat>, reasoning: ReasoningMode, parts: &[&str]) -> Vec<Delta> {
    let mut parser = StreamParser::new(format, reasoning, offered(), validator());
    let mut deltas: Vec<Delta> = parts.iter().flat_map(|part| parser.push(part)).collect();
    deltas.extend(parser.finish());
    let mut expected_index = 0;
    for (at, delta) in deltas.iter().enumerate() {
        if let Delta::CallStart { index, .. } = delta {
            assert_eq!(*index, expected_index, "call indexes count emitted calls");
            assert!(
                matches!(deltas.get(at + 1), Some(Delta::CallArguments { index: i, .. }) if i == index),
                "a call start is followed by its arguments"
            );
            expected_index += 1;
        }
    }
    deltas
}

/// Parses `text` whole, then split in two at every character boundary and one character at
/// a time, and asserts every way gives the same reply. Returns the reply.
fn same_however_split(format: ToolFormat, reasoning: ReasoningMode, text: &str) -> Parsed {
    let expected = whole(format, reasoning, text);
    for at in (0..=text.len()).filter(|&at| text.is_char_boundary(at)) {
        let (head, tail) = text.split_at(at);
        let parsed = collect(stream(Some(format), reasoning, &[head, tail]));
        assert_eq!(parsed, expected, "{format:?} split at byte {at}");
    }
    let chars: Vec<String> = text.chars().map(String::from).collect();
    let parts: Vec<&str> = chars.iter().map(String::as_str).collect();
    assert_eq!(
        collect(stream(Some(format), reasoning, &parts)),
        expected,
        "{format:?} char by char"
    );
    expected
}
