//! Splitting `<think>...</think>` off the start of a reply.
//!
//! Thinking is recognised only at the start (after whitespace) or, when the prompt opened it,
//! from the first byte (a model that opens it again anyway has that `<think>` dropped): a
//! `<think>` later in an answer is the answer's text. Everything after
//! `</think>` is the answer, where tool calls are looked for.

use super::marker::{self, Scan};

const OPEN: &str = "<think>";
const CLOSE: &str = "</think>";

#[derive(Debug, PartialEq, Eq)]
pub(super) enum Piece {
    /// `<think>` was read (or the prompt opened it).
    Open,
    Thinking(String),
    /// `</think>` was read.
    Close,
    Answer(String),
}

#[derive(Debug, PartialEq, Eq)]
enum Phase {
    /// Nothing but whitespace yet: it may still become `<think>`.
    Start,
    Thinking,
    Answer,
}

#[derive(Debug)]
pub(super) struct ThinkSplitter {
    phase: Phase,
    held: String,
    /// Leading whitespace bytes of `held` already seen at the start, so a long run of it is
    /// not scanned again at every push.
    blank: usize,
    /// The prompt opened thinking: the reply starts inside it.
    starts_inside: bool,
    opened_by_prompt: bool,
}

impl ThinkSplitter {
    pub(super) fn new(starts_inside: bool) -> Self {
        Self {
            phase: Phase::Start,
            held: String::new(),
            blank: 0,
            starts_inside,
            opened_by_prompt: starts_inside,
        }
    }

    pub(super) fn push(&mut self, text: &str) -> Vec<Piece> {
        let mut pieces = Vec::new();
        if std::mem::take(&mut self.opened_by_prompt) {
            pieces.push(Piece::Open);
        }
        if self.phase == Phase::Answer {
            if !text.is_empty() {
                pieces.push(Piece::Answer(text.to_owned()));
            }
            return pieces;
        }
        self.held.push_str(text);
        if self.phase == Phase::Start {
            let trimmed = self.held[self.blank..].trim_start();
            self.blank = self.held.len() - trimmed.len();
            if let Some(rest) = trimmed.strip_prefix(OPEN) {
                if !self.starts_inside {
                    pieces.push(Piece::Open);
                }
                self.held = rest.to_owned();
                self.phase = Phase::Thinking;
            } else if OPEN.starts_with(trimmed) {
                return pieces;
            } else if self.starts_inside {
                self.phase = Phase::Thinking;
            } else {
                self.phase = Phase::Answer;
                pieces.push(Piece::Answer(std::mem::take(&mut self.held)));
                return pieces;
            }
        }
        match marker::scan(&self.held, CLOSE) {
            Scan::Found(at) => {
                let answer = self.held.split_off(at + CLOSE.len());
                self.held.truncate(at);
                push_text(&mut pieces, Piece::Thinking(std::mem::take(&mut self.held)));
                pieces.push(Piece::Close);
                self.phase = Phase::Answer;
                push_text(&mut pieces, Piece::Answer(answer));
            }
            Scan::Partial(safe) => {
                let rest = self.held.split_off(safe);
                push_text(
                    &mut pieces,
                    Piece::Thinking(std::mem::replace(&mut self.held, rest)),
                );
            }
        }
        pieces
    }

    /// Flushes held text: a reply cut off while thinking keeps its partial thinking.
    pub(super) fn finish(&mut self) -> Vec<Piece> {
        let mut pieces = self.push("");
        let held = std::mem::take(&mut self.held);
        match self.phase {
            Phase::Start if self.starts_inside => push_text(&mut pieces, Piece::Thinking(held)),
            Phase::Thinking => push_text(&mut pieces, Piece::Thinking(held)),
            Phase::Start | Phase::Answer => push_text(&mut pieces, Piece::Answer(held)),
        }
        pieces
    }
}

fn push_text(pieces: &mut Vec<Piece>, piece: Piece) {
    match &piece {
        Piece::Thinking(text) | Piece::Answer(text) if text.is_empty() => {}
        _ => pieces.push(piece),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(starts_inside: bool, parts: &[&str]) -> Vec<Piece> {
        let mut splitter = ThinkSplitter::new(starts_inside);
        let mut pieces: Vec<Piece> = parts.iter().flat_map(|part| splitter.push(part)).collect();
        pieces.extend(splitter.finish());
        pieces
    }

    #[test]
    fn thinking_then_answer_across_split_tags() {
        let pieces = split(false, &["  <thi", "nk>hm</th", "ink>ok"]);
        assert_eq!(
            pieces,
            [
                Piece::Open,
                Piece::Thinking("hm".into()),
                Piece::Close,
                Piece::Answer("ok".into())
            ]
        );
    }

    #[test]
    fn prompt_opened_thinking_and_a_late_tag_is_answer_text() {
        let pieces = split(true, &["a</think>b <think>c"]);
        assert_eq!(pieces[0], Piece::Open);
        assert_eq!(pieces.last(), Some(&Piece::Answer("b <think>c".into())));
        let again = split(true, &[" <thi", "nk>a</think>b"]);
        let expected = [
            Piece::Open,
            Piece::Thinking("a".into()),
            Piece::Close,
            Piece::Answer("b".into()),
        ];
        assert_eq!(again, expected);
        let plain = split(false, &["x <think>"]);
        assert_eq!(plain, [Piece::Answer("x <think>".into())]);
    }
}
