//! The per-response parser: reasoning first, then the tool-call format on the answer.

use super::emit::{Emitter, Extract};
use super::fence::Unfence;
use super::reasoning::{Piece, ThinkSplitter};
use super::{generic, hermes, llama3, mistral};
use super::{Delta, ReasoningMode, ToolFormat, Validator};

/// No tools offered: the answer is content.
struct Plain;

impl Extract for Plain {
    fn push(&mut self, text: &str, out: &mut Emitter) {
        out.content(text);
    }
    fn finish(&mut self, _out: &mut Emitter) {}
}

/// Splits one response's generated text into [`Delta`]s.
pub struct StreamParser {
    thinking: Option<ThinkSplitter>,
    mode: ReasoningMode,
    /// Whitespace right after `<think>` or `</think>` is dropped when thinking is separated.
    trim_next: bool,
    extract: Box<dyn Extract>,
    out: Emitter,
    /// What it was made with, for [`StreamParser::fresh`].
    format: Option<ToolFormat>,
    offered: Vec<String>,
    validator: Validator,
    unfenced: bool,
}

impl StreamParser {
    /// `format` None: no tools were offered. `offered`: the function names the client may
    /// receive calls to; `validator` checks a call's arguments.
    pub fn new(
        format: Option<ToolFormat>,
        reasoning: ReasoningMode,
        offered: Vec<String>,
        validator: Validator,
    ) -> Self {
        let extract: Box<dyn Extract> = match format {
            None => Box::new(Plain),
            Some(ToolFormat::Hermes) => Box::new(hermes::Hermes::default()),
            Some(ToolFormat::Llama3Json) => Box::new(llama3::Llama3::default()),
            Some(ToolFormat::Mistral) => Box::new(mistral::Mistral::default()),
            Some(ToolFormat::Generic) => Box::new(generic::Generic::default()),
        };
        let thinking = match reasoning {
            ReasoningMode::Off => None,
            ReasoningMode::Separate { starts_inside }
            | ReasoningMode::Inline { starts_inside }
            | ReasoningMode::Hidden { starts_inside } => Some(ThinkSplitter::new(starts_inside)),
        };
        Self {
            thinking,
            mode: reasoning,
            trim_next: false,
            extract,
            out: Emitter::new(offered.clone(), std::sync::Arc::clone(&validator)),
            format,
            offered,
            validator,
            unfenced: false,
        }
    }

    /// For an answer constrained to JSON that the model may wrap in a Markdown code fence
    /// (no tools): the fence is taken off the content.
    pub fn unfenced(mut self) -> Self {
        if self.format.is_none() {
            self.extract = Box::new(Unfence::default());
            self.unfenced = true;
        }
        self
    }

    /// A parser for another reply to the same request (another of its `n` choices).
    pub fn fresh(&self) -> Self {
        let parser = Self::new(
            self.format,
            self.mode,
            self.offered.clone(),
            std::sync::Arc::clone(&self.validator),
        );
        if self.unfenced {
            parser.unfenced()
        } else {
            parser
        }
    }

    /// Feeds text as generated, split anywhere (between characters).
    pub fn push(&mut self, text: &str) -> Vec<Delta> {
        match self.thinking.as_mut() {
            None => self.extract.push(text, &mut self.out),
            Some(splitter) => {
                for piece in splitter.push(text) {
                    self.piece(piece);
                }
            }
        }
        self.out.take()
    }

    /// Ends the response: held text is flushed and an unfinished call becomes content.
    pub fn finish(mut self) -> Vec<Delta> {
        if let Some(splitter) = self.thinking.as_mut() {
            for piece in splitter.finish() {
                self.piece(piece);
            }
        }
        self.extract.finish(&mut self.out);
        self.out.take()
    }

    fn piece(&mut self, piece: Piece) {
        let inline = matches!(self.mode, ReasoningMode::Inline { .. });
        match piece {
            Piece::Open | Piece::Close if inline => self.out.content(if piece == Piece::Open {
                "<think>"
            } else {
                "</think>"
            }),
            Piece::Open | Piece::Close => self.trim_next = true,
            Piece::Thinking(text) => {
                let text = self.trimmed(&text);
                match self.mode {
                    ReasoningMode::Separate { .. } => self.out.reasoning(text),
                    ReasoningMode::Inline { .. } => self.out.content(text),
                    ReasoningMode::Hidden { .. } | ReasoningMode::Off => {}
                }
            }
            Piece::Answer(text) => {
                let text = self.trimmed(&text).to_owned();
                self.extract.push(&text, &mut self.out);
            }
        }
    }

    /// Drops leading whitespace after a tag until some text arrives.
    fn trimmed<'t>(&mut self, text: &'t str) -> &'t str {
        if !self.trim_next {
            return text;
        }
        let rest = text.trim_start();
        self.trim_next = rest.is_empty();
        rest
    }
}
