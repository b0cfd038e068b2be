//! The generic envelope, for templates without tool support: the server constrains the whole
//! reply to `{"tool_calls": [{"name": .., "arguments": ..}, ..]}` or `{"response": ..}`.
//! A `response` string streams out as content while it is decoded; a `response` object (when a
//! `response_format` schema applies) streams out as its JSON text. A reply that is not the
//! envelope (no grammar, or a broken one) is content as written.

use super::emit::{Emitter, Extract};
use super::json::{parse_calls, JsonScan, Step};
use super::json_string::{Decoded, StringDecoder};

/// Keys are `response` or `tool_calls`: anything longer is not the envelope.
const MAX_KEY: usize = 16;

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum State {
    #[default]
    Start,
    Open,
    Key,
    Colon,
    Value,
    ResponseString,
    ResponseJson,
    Calls,
    /// After the value: only whitespace and `}`.
    Close,
    End,
    /// Not the envelope: everything is content.
    Text,
}

#[derive(Debug, Default)]
pub(super) struct Generic {
    state: State,
    /// Envelope text read but not emitted: content again if the envelope breaks.
    raw: String,
    key: String,
    decoder: StringDecoder,
    scan: JsonScan,
}

impl Extract for Generic {
    fn push(&mut self, text: &str, out: &mut Emitter) {
        let mut rest = text;
        while let Some(c) = rest.chars().next() {
            rest = match self.state {
                State::Text => {
                    out.content(rest);
                    return;
                }
                State::Calls | State::ResponseJson => self.value(rest, out),
                State::ResponseString => self.string(rest, out),
                _ => {
                    let consumed = self.envelope(c, out);
                    &rest[if consumed { c.len_utf8() } else { 0 }..]
                }
            };
        }
    }

    fn finish(&mut self, out: &mut Emitter) {
        // A cut-off envelope or call list is text; a cut-off response keeps what was emitted
        // (its envelope is not kept).
        out.content(&std::mem::take(&mut self.raw));
    }
}

impl Generic {
    /// One character of the envelope around the value. False: it was not consumed.
    fn envelope(&mut self, c: char, out: &mut Emitter) -> bool {
        let space = c.is_ascii_whitespace();
        let next = match (self.state, c) {
            (State::Start | State::Open | State::Colon | State::Value, _) if space => self.state,
            (State::Start, '{') => State::Open,
            (State::Open, '"') => State::Key,
            (State::Key, '"') => State::Colon,
            (State::Key, c)
                if self.key.len() < MAX_KEY && (c.is_ascii_alphanumeric() || c == '_') =>
            {
                self.key.push(c);
                State::Key
            }
            (State::Colon, ':') => State::Value,
            (State::Value, '"') if self.key == "response" => {
                self.raw.clear();
                self.state = State::ResponseString;
                return true;
            }
            (State::Value, '{' | '[') if self.key == "response" => {
                self.raw.clear();
                return self.begin_value(State::ResponseJson);
            }
            (State::Value, '[') if self.key == "tool_calls" => {
                return self.begin_value(State::Calls);
            }
            (State::Close | State::End, _) if space => return true,
            (State::Close, '}') => {
                self.state = State::End;
                return true;
            }
            _ => {
                out.content(&std::mem::take(&mut self.raw));
                self.state = State::Text;
                return false;
            }
        };
        self.raw.push(c);
        self.state = next;
        true
    }

    /// Starts scanning a value at this character, which is not consumed here.
    fn begin_value(&mut self, state: State) -> bool {
        self.scan = JsonScan::default();
        self.state = state;
        false
    }

    /// Feeds a JSON value under way; returns the text after it.
    fn value<'t>(&mut self, text: &'t str, out: &mut Emitter) -> &'t str {
        let step = self.scan.feed(text);
        let end = match step {
            Step::Done(end) => end,
            Step::More | Step::NotContainer => text.len(),
        };
        let (taken, rest) = text.split_at(end);
        if self.state == State::ResponseJson {
            out.content(taken);
        } else {
            self.raw.push_str(taken);
        }
        if let Step::Done(_) = step {
            // After a refused list, the envelope's end is text too.
            let answered = self.state == State::ResponseJson || self.calls(out);
            self.state = if answered { State::Close } else { State::Text };
        }
        rest
    }

    /// The list is complete: calls if every element is a well-formed, offered call, else the
    /// envelope so far is content.
    fn calls(&mut self, out: &mut Emitter) -> bool {
        let raw = std::mem::take(&mut self.raw);
        let list = raw.find('[').map_or("", |start| &raw[start..]);
        out.calls_or_content(parse_calls(list), &raw)
    }

    /// Decodes a `response` string under way; returns the text after its closing quote.
    fn string<'t>(&mut self, text: &'t str, out: &mut Emitter) -> &'t str {
        let mut decoded = String::new();
        for (at, c) in text.char_indices() {
            match self.decoder.feed(c, &mut decoded) {
                Decoded::More => {}
                Decoded::End => {
                    out.content(&decoded);
                    self.state = State::Close;
                    return &text[at + c.len_utf8()..];
                }
                Decoded::Invalid => {
                    out.content(&decoded);
                    self.state = State::Text;
                    return &text[at..];
                }
            }
        }
        out.content(&decoded);
        ""
    }
}
