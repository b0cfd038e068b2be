//! A structured answer's optional Markdown code fence, taken off its content.
//!
//! Instruct models are trained to write JSON inside a ```` ```json ```` fence, and small ones
//! write better JSON when they may (llama.cpp's server lets them, and so does sotto's grammar
//! for `response_format`: see `GrammarSpec::JsonMayBeFenced`). Clients asked for JSON, so the
//! fence never reaches them: its tokens are counted in `usage`, its text is dropped here.

use super::emit::{Emitter, Extract};
use super::marker::partial_suffix;

/// The openings the grammar allows, and its closing.
const OPENINGS: [&str; 2] = ["```json\n", "```\n"];
const CLOSING: &str = "\n```";

#[derive(Debug)]
enum State {
    /// The answer's first characters, until they are a fence's opening or cannot be one.
    Opening(String),
    /// Inside a fence: the text is content until its closing.
    Fenced { held: String },
    /// No fence, or after its closing: everything is content.
    Plain,
}

/// Content with a leading code fence (and its closing) removed; content unchanged otherwise.
#[derive(Debug)]
pub(super) struct Unfence {
    state: State,
}

impl Default for Unfence {
    fn default() -> Self {
        Self {
            state: State::Opening(String::new()),
        }
    }
}

impl Extract for Unfence {
    fn push(&mut self, text: &str, out: &mut Emitter) {
        match &mut self.state {
            State::Plain => out.content(text),
            State::Opening(held) => {
                held.push_str(text);
                if let Some(opening) = OPENINGS.iter().find(|o| held.starts_with(*o)) {
                    let rest = held.split_off(opening.len());
                    self.state = State::Fenced {
                        held: String::new(),
                    };
                    self.push(&rest, out);
                } else if !OPENINGS.iter().any(|o| o.starts_with(held.as_str())) {
                    out.content(held);
                    self.state = State::Plain;
                }
            }
            State::Fenced { held } => {
                held.push_str(text);
                if let Some(at) = held.find(CLOSING) {
                    out.content(&held[..at]);
                    // The grammar ends the answer with the closing; anything after it would
                    // still be the model's text, so it is kept.
                    let after = held.split_off(at + CLOSING.len());
                    self.state = State::Plain;
                    out.content(&after);
                } else {
                    let keep = partial_suffix(held, CLOSING);
                    let tail = held.split_off(held.len() - keep);
                    out.content(held);
                    *held = tail;
                }
            }
        }
    }

    fn finish(&mut self, out: &mut Emitter) {
        match std::mem::replace(&mut self.state, State::Plain) {
            // A reply cut short inside a possible opening or closing: the text is all there is.
            State::Opening(held) | State::Fenced { held } => out.content(&held),
            State::Plain => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tool_calls::Delta;

    fn unfence(pieces: &[&str]) -> String {
        let mut out = Emitter::new(Vec::new(), std::sync::Arc::new(|_: &str, _: &str| false));
        let mut unfence = Unfence::default();
        for piece in pieces {
            unfence.push(piece, &mut out);
        }
        unfence.finish(&mut out);
        out.take()
            .into_iter()
            .map(|delta| match delta {
                Delta::Content(text) => text,
                other => panic!("only content expected, got {other:?}"),
            })
            .collect()
    }

    /// Every way of splitting `text` in two gives `expected`.
    fn check_every_split(text: &str, expected: &str) {
        assert_eq!(unfence(&[text]), expected, "whole");
        for at in (0..=text.len()).filter(|&at| text.is_char_boundary(at)) {
            assert_eq!(
                unfence(&[&text[..at], &text[at..]]),
                expected,
                "split at {at}"
            );
        }
    }

    #[test]
    fn a_fenced_answer_loses_its_fence_however_it_is_split() {
        check_every_split("```json\n{\"a\": 1}\n```", "{\"a\": 1}");
        check_every_split("```\n[1,\n 2]\n```", "[1,\n 2]");
    }

    #[test]
    fn an_unfenced_answer_is_unchanged() {
        check_every_split("{\"a\": \"```\"}", "{\"a\": \"```\"}");
        check_every_split("\"`\"", "\"`\"");
    }

    #[test]
    fn a_cut_answer_keeps_what_it_has() {
        assert_eq!(unfence(&["``"]), "``");
        assert_eq!(unfence(&["```json\n{\"a\": 1}\n`"]), "{\"a\": 1}\n`");
        assert_eq!(unfence(&["```json\n{\"a\""]), "{\"a\"");
    }
}
