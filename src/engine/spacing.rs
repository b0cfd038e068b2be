//! A bound on whitespace in constrained output. JSON grammars let whitespace in between
//! tokens, and the model needs it: trained on pretty-printed JSON, it ends documents far
//! sooner when it may lay them out its way (43 of 80 sample schemas finished within 256
//! tokens, against 32 with fixed `", "` and `": "`). Unbounded, a small model at temperature 1
//! spends its budget on newlines and tabs. llguidance's whitespace is a lexer skip, which may
//! repeat, so the bound is kept here, per sequence, as llama.cpp's JSON grammars draw it: a
//! run of whitespace is one space, or one or two line breaks and then at most 20 spaces or
//! tabs (`" " | "\n"{1,2} [ \t]{0,20}`). It holds wherever the run stands, in a string too: a
//! string cannot hold two spaces in a row.

use std::sync::Arc;

use toktrie::TokTrie;

/// Line breaks one run may hold.
const MAX_NEWLINES: u8 = 2;
/// Spaces and tabs after the line breaks.
const MAX_INDENT: u8 = 20;
/// The longest run allowed; a token starting with a longer one never is.
const MAX_RUN: usize = (MAX_NEWLINES + MAX_INDENT) as usize;

/// Where the output stands in its current run of whitespace.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum Gap {
    /// The output ends with something else than whitespace.
    #[default]
    None,
    /// One space: nothing more may follow.
    Space,
    Newlines(u8),
    Indent(u8),
    /// Past the bound (only when the grammar allowed nothing else): no more whitespace.
    Full,
}

impl Gap {
    /// The gap after `byte`, `None` if it breaks the bound.
    fn then(self, byte: u8) -> Option<Gap> {
        if !is_space(byte) {
            return Some(Gap::None);
        }
        match (self, byte) {
            (Gap::None, b' ') => Some(Gap::Space),
            (Gap::None, b'\n') => Some(Gap::Newlines(1)),
            (Gap::Newlines(n), b'\n') if n < MAX_NEWLINES => Some(Gap::Newlines(n + 1)),
            (Gap::Newlines(_), b' ' | b'\t') => Some(Gap::Indent(1)),
            (Gap::Indent(n), b' ' | b'\t') if n < MAX_INDENT => Some(Gap::Indent(n + 1)),
            _ => None,
        }
    }

    fn after(self, bytes: &[u8]) -> Option<Gap> {
        bytes.iter().try_fold(self, |gap, &byte| gap.then(byte))
    }
}

/// JSON's whitespace. `\r` is never allowed in a gap, as in llama.cpp's grammars.
fn is_space(byte: u8) -> bool {
    matches!(byte, b' ' | b'\t' | b'\n' | b'\r')
}

/// A token's whitespace: what it starts with (checked against the output's gap), and whether
/// the runs inside it keep the bound.
#[derive(Clone, Copy)]
struct Shape {
    leading: [u8; MAX_RUN],
    leading_len: u8,
    /// The token never fits: its leading run is too long, or a run inside it breaks the bound.
    never: bool,
}

impl Shape {
    fn of(bytes: &[u8]) -> Shape {
        let run = bytes.iter().take_while(|&&byte| is_space(byte)).count();
        let mut shape = Shape {
            leading: [0; MAX_RUN],
            leading_len: 0,
            never: run > MAX_RUN,
        };
        if !shape.never {
            shape.leading[..run].copy_from_slice(&bytes[..run]);
            shape.leading_len = u8::try_from(run).unwrap_or(u8::MAX);
            // From the first other byte on, the token's runs start from no gap.
            shape.never = Gap::None.after(&bytes[run..]).is_none();
        }
        shape
    }

    fn leading(&self) -> &[u8] {
        &self.leading[..usize::from(self.leading_len)]
    }
}

/// The whitespace shape of each token of a vocabulary. Built once per model, with its grammar
/// compiler.
pub(super) struct Shapes(Vec<Shape>);

impl Shapes {
    pub(super) fn of(trie: &TokTrie) -> Self {
        let size = u32::try_from(trie.vocab_size()).unwrap_or(u32::MAX);
        Shapes(
            (0..size)
                .map(|token| Shape::of(trie.token(token)))
                .collect(),
        )
    }
}

/// One sequence's whitespace so far.
pub(super) struct Spacing {
    shapes: Arc<Shapes>,
    gap: Gap,
}

impl Spacing {
    pub(super) fn new(shapes: Arc<Shapes>) -> Self {
        Spacing {
            shapes,
            gap: Gap::None,
        }
    }

    /// Whether `token` keeps the output within the bound. A token outside the table (none
    /// should be) is the grammar's alone to judge.
    pub(super) fn allows(&self, token: usize) -> bool {
        self.shapes.0.get(token).is_none_or(|shape| {
            !shape.never && (shape.leading_len == 0 || self.gap.after(shape.leading()).is_some())
        })
    }

    /// Follows the output's next bytes.
    pub(super) fn follow(&mut self, piece: &[u8]) {
        for &byte in piece {
            self.gap = self.gap.then(byte).unwrap_or(Gap::Full);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spacing(tokens: &[&str]) -> Spacing {
        let shapes = tokens.iter().map(|text| Shape::of(text.as_bytes()));
        Spacing::new(Arc::new(Shapes(shapes.collect())))
    }

    #[test]
    fn a_gap_is_one_space_or_up_to_two_line_breaks_then_twenty_blanks() {
        let tokens = [
            "\n",
            " ",
            "\t",
            "\n\n",
            "x",
            "\n  \"a\"",
            "  ",
            "\n\n\n",
            "a  b",
        ];
        let mut spacing = spacing(&tokens);
        let allowed = |spacing: &Spacing| -> Vec<&str> {
            (0..tokens.len())
                .filter(|&token| spacing.allows(token))
                .map(|token| tokens[token])
                .collect()
        };
        assert_eq!(
            allowed(&spacing),
            ["\n", " ", "\n\n", "x", "\n  \"a\""],
            "at no gap"
        );
        spacing.follow(b"{ ");
        assert_eq!(allowed(&spacing), ["x"], "after one space");
        spacing.follow(b"\"k\":\n");
        assert_eq!(allowed(&spacing), ["\n", " ", "\t", "x", "\n  \"a\"", "  "]);
        spacing.follow(b"\n");
        assert_eq!(allowed(&spacing), [" ", "\t", "x", "  "]);
        spacing.follow(" ".repeat(19).as_bytes());
        assert_eq!(allowed(&spacing), [" ", "\t", "x"], "the 20th blank");
        spacing.follow(b" ");
        assert_eq!(allowed(&spacing), ["x"]);
        spacing.follow(b"1,");
        assert_eq!(allowed(&spacing), ["\n", " ", "\n\n", "x", "\n  \"a\""]);
    }

    #[test]
    fn past_the_bound_only_other_text_may_follow() {
        let mut spacing = spacing(&["x", " ", &" ".repeat(40)]);
        assert!(!spacing.allows(2), "a run longer than any gap");
        // A run the grammar alone allowed (see `Guide::pick`).
        spacing.follow(b"   ");
        assert!(spacing.allows(0) && !spacing.allows(1));
        assert!(
            spacing.allows(99),
            "a token outside the table is the grammar's to judge"
        );
        spacing.follow(b"x ");
        assert!(!spacing.allows(1) && spacing.allows(0));
    }
}
