//! Llama 3.x calls: the reply is `{"name": .., "parameters": ..}` (or `"arguments"`), maybe
//! after `<|python_tag|>`, several separated by `;` or newlines. A bare `{` starts a call only
//! at the start of the answer; `<|python_tag|>` starts calls anywhere.

use super::emit::{Emitter, Extract};
use super::json::{parse_call, JsonScan, Step};
use super::marker::Pending;
use super::marker::{self, Scan};

const TAG: &str = "<|python_tag|>";

#[derive(Debug, Default, PartialEq, Eq)]
enum State {
    /// Only whitespace yet: a call or the tag may follow.
    #[default]
    Start,
    Text,
    /// After the tag or a call: separators are skipped, `{` starts a call.
    Between,
    Call,
}

#[derive(Debug, Default)]
pub(super) struct Llama3 {
    state: State,
    /// Text not yet emitted: held text, or the call so far.
    buf: Pending,
    scan: JsonScan,
    /// How much of a call's `buf` the scan has seen; at the start, how much whitespace.
    scanned: usize,
}

impl Extract for Llama3 {
    fn push(&mut self, text: &str, out: &mut Emitter) {
        self.buf.push(text);
        while self.step(out) {}
    }

    fn finish(&mut self, out: &mut Emitter) {
        // Between calls only separators can be held, and they are not content.
        if self.state != State::Between {
            out.content(&self.buf.take_all());
        }
    }
}

impl Llama3 {
    /// Advances one state; false when it needs more text.
    fn step(&mut self, out: &mut Emitter) -> bool {
        let rest = self.buf.rest();
        match self.state {
            State::Start => {
                let trimmed = rest[self.scanned..].trim_start();
                let skipped = rest.len() - trimmed.len();
                self.scanned = skipped;
                if trimmed.is_empty() || (TAG.starts_with(trimmed) && trimmed != TAG) {
                    return false;
                }
                if trimmed.starts_with(TAG) {
                    self.buf.advance(skipped + TAG.len());
                    self.state = State::Between;
                } else if trimmed.starts_with('{') {
                    self.buf.advance(skipped);
                    self.start_call();
                } else {
                    self.state = State::Text;
                }
                true
            }
            State::Text => match marker::scan(rest, TAG) {
                Scan::Found(at) => {
                    out.content(&rest[..at]);
                    self.buf.advance(at + TAG.len());
                    self.state = State::Between;
                    true
                }
                Scan::Partial(safe) => {
                    out.content(&rest[..safe]);
                    self.buf.advance(safe);
                    false
                }
            },
            State::Between => {
                let kept = rest
                    .trim_start_matches(|c: char| c.is_whitespace() || c == ';')
                    .len();
                let starts_call = rest[rest.len() - kept..].starts_with('{');
                self.buf.advance(rest.len() - kept);
                if kept == 0 {
                    return false;
                }
                if starts_call {
                    self.start_call();
                } else {
                    self.state = State::Text;
                }
                true
            }
            State::Call if not_a_call(rest) => {
                self.state = State::Text;
                true
            }
            State::Call => match self.scan.feed(&rest[self.scanned..]) {
                Step::More => {
                    self.scanned = rest.len();
                    false
                }
                Step::Done(end) => {
                    let raw = self.buf.take(self.scanned + end);
                    let called = out.call_or_content(parse_call(&raw), &raw);
                    self.state = if called { State::Between } else { State::Text };
                    true
                }
                Step::NotContainer => {
                    self.state = State::Text;
                    true
                }
            },
        }
    }

    fn start_call(&mut self) {
        self.scan = JsonScan::default();
        self.scanned = 0;
        self.state = State::Call;
    }
}

/// Keys a call object may start with.
const FIRST_KEYS: [&str; 6] = ["name", "type", "function", "parameters", "arguments", "id"];

/// Whether a bare JSON reply already shows it is data, not a call, by its first key: then it
/// streams as content at once instead of waiting for its end. Looks at a bounded prefix only.
fn not_a_call(call: &str) -> bool {
    let mut end = call.len().min(64);
    while !call.is_char_boundary(end) {
        end -= 1;
    }
    let Some(body) = call[..end].strip_prefix('{') else {
        return false;
    };
    let body = body.trim_start();
    let Some(key) = body.strip_prefix('"') else {
        return !body.is_empty() && !body.starts_with('}');
    };
    let key = &key[..key.len().min(12)];
    match key.split_once('"') {
        Some((whole, _)) => !FIRST_KEYS.contains(&whole),
        None => !FIRST_KEYS.iter().any(|known| known.starts_with(key)),
    }
}
