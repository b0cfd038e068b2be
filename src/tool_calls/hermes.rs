//! Hermes / Qwen calls: `<tool_call>\n{"name": .., "arguments": ..}\n</tool_call>`, one or more,
//! with content before (and, rarely, after).

use super::emit::{Emitter, Extract};
use super::json::parse_call;
use super::marker::Pending;
use super::marker::{self, Scan};

const OPEN: &str = "<tool_call>";
const CLOSE: &str = "</tool_call>";

#[derive(Debug, Default)]
pub(super) struct Hermes {
    /// In text: only what could still start `<tool_call>`. In a call: its body so far.
    buf: Pending,
    in_call: bool,
    /// Where the search for `</tool_call>` resumes in the body.
    searched: usize,
    /// Whitespace between and after calls is not content.
    after_call: bool,
}

impl Extract for Hermes {
    fn push(&mut self, text: &str, out: &mut Emitter) {
        self.buf.push(text);
        loop {
            let rest = self.buf.rest();
            if self.in_call {
                let Some(at) = marker::find_from(rest, self.searched, CLOSE) else {
                    self.searched = marker::resume_at(rest, CLOSE);
                    return;
                };
                let body = self.buf.take(at);
                self.buf.advance(CLOSE.len());
                let raw = format!("{OPEN}{body}{CLOSE}");
                self.after_call = out.call_or_content(parse_call(body.trim()), &raw);
                self.in_call = false;
                continue;
            }
            if self.after_call {
                let skipped = rest.len() - rest.trim_start().len();
                self.buf.advance(skipped);
                if self.buf.is_empty() {
                    return;
                }
                self.after_call = false;
                continue;
            }
            match marker::scan(rest, OPEN) {
                Scan::Found(at) => {
                    out.content(&rest[..at]);
                    self.buf.advance(at + OPEN.len());
                    self.in_call = true;
                    self.searched = 0;
                }
                Scan::Partial(safe) => {
                    out.content(&rest[..safe]);
                    self.buf.advance(safe);
                    return;
                }
            }
        }
    }

    fn finish(&mut self, out: &mut Emitter) {
        if self.in_call {
            out.content(OPEN);
        }
        out.content(&self.buf.take_all());
    }
}
