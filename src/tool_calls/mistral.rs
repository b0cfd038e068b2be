//! Mistral calls: `[TOOL_CALLS][{"name": .., "arguments": ..}, ..]`, and the newer
//! `[TOOL_CALLS]name[ARGS]{..}` (the marker repeated before each call), which some versions
//! write `[TOOL_CALLS]name[CALL_ID]id[ARGS]{..}`.

use super::emit::{Emitter, Extract};
use super::json::{arguments_text, is_valid, parse_calls, Call, JsonScan, Step};
use super::marker::Pending;
use super::marker::{self, Scan};

const MARKER: &str = "[TOOL_CALLS]";
const ARGS: &str = "[ARGS]";
const CALL_ID: &str = "[CALL_ID]";
/// Longer "names" are text that happened to follow the marker.
const MAX_NAME: usize = 256;

#[derive(Debug, Default, PartialEq, Eq)]
enum State {
    #[default]
    Text,
    /// After the marker: `[` starts a list, anything else a name.
    Marker,
    List,
    Name,
    Args,
    /// After a call: whitespace is skipped.
    Between,
}

#[derive(Debug, Default)]
pub(super) struct Mistral {
    state: State,
    /// Text not yet handled (in a list or arguments: the JSON so far).
    buf: Pending,
    /// What was consumed since the marker, for returning it as content if the call fails.
    head: String,
    name: String,
    scan: JsonScan,
    scanned: usize,
}

impl Extract for Mistral {
    fn push(&mut self, text: &str, out: &mut Emitter) {
        self.buf.push(text);
        while self.step(out) {}
    }

    fn finish(&mut self, out: &mut Emitter) {
        if !matches!(self.state, State::Text | State::Between) {
            out.content(&std::mem::take(&mut self.head));
        }
        out.content(&self.buf.take_all());
    }
}

impl Mistral {
    fn step(&mut self, out: &mut Emitter) -> bool {
        let rest = self.buf.rest();
        match self.state {
            State::Text => match marker::scan(rest, MARKER) {
                Scan::Found(at) => {
                    out.content(&rest[..at]);
                    self.buf.advance(at);
                    self.head = self.buf.take(MARKER.len());
                    self.state = State::Marker;
                    true
                }
                Scan::Partial(safe) => {
                    out.content(&rest[..safe]);
                    self.buf.advance(safe);
                    false
                }
            },
            State::Marker | State::Between => {
                let kept = rest.trim_start().len();
                let skipped = self.buf.take(rest.len() - kept);
                if self.state == State::Between {
                    // Whitespace after a call is not content.
                    if self.buf.is_empty() {
                        return false;
                    }
                    self.state = State::Text;
                    return true;
                }
                self.head.push_str(&skipped);
                if self.buf.is_empty() {
                    return false;
                }
                if self.buf.rest().starts_with('[') {
                    self.start_json(State::List);
                } else {
                    self.state = State::Name;
                }
                true
            }
            State::Name => self.name(out),
            State::List | State::Args => match self.scan.feed(&rest[self.scanned..]) {
                Step::More => {
                    self.scanned = rest.len();
                    false
                }
                Step::Done(end) => {
                    let raw = self.buf.take(self.scanned + end);
                    if self.state == State::List {
                        self.list(&raw, out);
                    } else {
                        let call = (is_valid(&raw))
                            .then(|| arguments_text(&raw))
                            .flatten()
                            .map(|arguments| Call {
                                name: std::mem::take(&mut self.name),
                                arguments,
                            });
                        let called = out.call_or_content(call, &format!("{}{raw}", self.head));
                        self.state = if called { State::Between } else { State::Text };
                    }
                    self.head.clear();
                    true
                }
                Step::NotContainer => self.fail(out),
            },
        }
    }

    /// Reads the name up to `[ARGS]`; text that cannot be a name ends the call attempt.
    fn name(&mut self, out: &mut Emitter) -> bool {
        let rest = self.buf.rest();
        let (name_end, found) = match marker::scan(rest, ARGS) {
            Scan::Found(at) => (at, true),
            Scan::Partial(safe) => (safe, false),
        };
        // Some versions write `name[CALL_ID]id[ARGS]`: the id is checked, then not kept (the
        // API gives calls its own ids).
        let written = &rest[..name_end];
        let (name, id) = match written.split_once(CALL_ID) {
            Some((name, id)) => (name, id),
            None => (
                &written[..written.len() - marker::partial_suffix(written, CALL_ID)],
                "",
            ),
        };
        let plausible = name.len() <= MAX_NAME
            && id.len() <= MAX_NAME
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
            && id.chars().all(|c| c.is_ascii_alphanumeric());
        if !plausible || (found && name.is_empty()) {
            return self.fail(out);
        }
        if !found {
            return false;
        }
        self.name = name.to_owned();
        let taken = self.buf.take(name_end + ARGS.len());
        self.head.push_str(&taken);
        self.start_json(State::Args);
        true
    }

    /// A list whose every element is a well-formed, offered call; else it is content.
    fn list(&mut self, raw: &str, out: &mut Emitter) {
        let whole = format!("{}{raw}", self.head);
        let called = out.calls_or_content(parse_calls(raw), &whole);
        self.state = if called { State::Between } else { State::Text };
    }

    /// Not a call after all: what was taken for one is content.
    fn fail(&mut self, out: &mut Emitter) -> bool {
        out.content(&std::mem::take(&mut self.head));
        self.state = State::Text;
        true
    }

    fn start_json(&mut self, state: State) {
        self.scan = JsonScan::default();
        self.scanned = 0;
        self.state = state;
    }
}
