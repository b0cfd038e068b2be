//! Where a prompt's special tokens are. llama.cpp parses special-token text either everywhere
//! in a string or nowhere, but a chat prompt needs both at once: the template's own text holds
//! the model's control tokens, and message content is text that must never become one, or
//! anyone who gets text into a message could open turns of their own.
//!
//! So the split llama.cpp does before tokenizing (`tokenizer_st_partition`) is done here, with
//! plain ranges where control tokens are not matched. Outside them the result is llama.cpp's;
//! inside, it is what llama.cpp does without special parsing (user-defined tokens are still
//! matched). It also runs in linear time: llama.cpp walks its fragment list from the start at
//! every match, so 100k messages took minutes.

use std::collections::BTreeMap;
use std::ops::Range;

use llama_cpp_2::model::LlamaModel;
use llama_cpp_2::token::LlamaToken;
use llama_cpp_2::token_type::LlamaTokenAttr;
use memchr::memmem::Finder;

/// A token matched by its text before the rest is tokenized.
pub struct Special {
    pub token: LlamaToken,
    finder: Finder<'static>,
    /// Control (and unknown) tokens exist only where the prompt's author put them; user-defined
    /// tokens are vocabulary entries that plain text may spell.
    pub control: bool,
    /// Whitespace before (`lstrip`) or after (`rstrip`) the token is dropped.
    pub lstrip: bool,
    pub rstrip: bool,
}

impl Special {
    pub fn new(token: LlamaToken, text: &[u8], control: bool) -> Self {
        Self {
            token,
            finder: Finder::new(text).into_owned(),
            control,
            lstrip: false,
            rstrip: false,
        }
    }

    fn len(&self) -> usize {
        self.finder.needle().len()
    }
}

/// A stretch of the prompt: text to tokenize without special parsing, or a special token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece {
    Text(Range<usize>),
    Token(LlamaToken),
}

pub struct SpecialTokens {
    /// Longest text first, the order in which llama.cpp matches them (ties by id).
    specials: Vec<Special>,
}

impl SpecialTokens {
    /// The tokens llama.cpp keeps in its special-token cache, with the same attributes.
    pub fn of(model: &LlamaModel) -> Self {
        let vocab = model.vocab();
        let specials = vocab.tokens().filter_map(|token| {
            let attr = vocab.attr(token);
            let control =
                attr.contains(LlamaTokenAttr::Control) || attr.contains(LlamaTokenAttr::Unknown);
            if !control && !attr.contains(LlamaTokenAttr::UserDefined) {
                return None;
            }
            let mut special = Special::new(token, vocab.text(token)?.to_bytes(), control);
            special.lstrip = attr.contains(LlamaTokenAttr::LStrip);
            special.rstrip = attr.contains(LlamaTokenAttr::RStrip);
            Some(special)
        });
        Self::new(specials)
    }

    pub fn new(specials: impl IntoIterator<Item = Special>) -> Self {
        // An empty text would match everywhere; llama.cpp never produces one from the vocabulary.
        let mut specials: Vec<Special> = specials.into_iter().filter(|s| s.len() > 0).collect();
        specials.sort_by(|a, b| b.len().cmp(&a.len()).then(a.token.0.cmp(&b.token.0)));
        Self { specials }
    }

    /// Splits `text` into pieces. `plain` (sorted, disjoint byte ranges) never holds a control
    /// token, not even partly.
    pub fn split(&self, text: &[u8], plain: &[Range<usize>]) -> Vec<Piece> {
        // Matched tokens and dropped whitespace, by start: (end, token or `None` if dropped).
        let mut taken: BTreeMap<usize, (usize, Option<LlamaToken>)> = BTreeMap::new();
        for special in &self.specials {
            let len = special.len();
            let mut from = 0;
            while let Some(found) = special.finder.find(&text[from..]) {
                let start = from + found;
                let end = start + len;
                // Every later match starting inside the blocking range overlaps it as well.
                let blocked = overlap(&taken, start, end).or_else(|| {
                    special
                        .control
                        .then(|| overlap_plain(plain, start, end))
                        .flatten()
                });
                if let Some(blocked_until) = blocked {
                    from = blocked_until.clamp(start + 1, text.len());
                    continue;
                }
                taken.insert(start, (end, Some(special.token)));
                from = end;
                if special.lstrip {
                    let floor = taken
                        .range(..start)
                        .next_back()
                        .map_or(0, |(_, &(end, _))| end);
                    let mut first = start;
                    while first > floor && is_space(text[first - 1]) {
                        first -= 1;
                    }
                    if first < start {
                        taken.insert(first, (start, None));
                    }
                }
                if special.rstrip {
                    let ceiling = taken
                        .range(end..)
                        .next()
                        .map_or(text.len(), |(&start, _)| start);
                    while from < ceiling && is_space(text[from]) {
                        from += 1;
                    }
                    if from > end {
                        taken.insert(end, (from, None));
                    }
                }
            }
        }
        let mut pieces = Vec::with_capacity(2 * taken.len() + 1);
        let mut at = 0;
        for (&start, &(end, token)) in &taken {
            if start > at {
                pieces.push(Piece::Text(at..start));
            }
            if let Some(token) = token {
                pieces.push(Piece::Token(token));
            }
            at = end;
        }
        if at < text.len() {
            pieces.push(Piece::Text(at..text.len()));
        }
        pieces
    }
}

/// Where the taken range overlapping `start..end` ends, if one does.
fn overlap(
    taken: &BTreeMap<usize, (usize, Option<LlamaToken>)>,
    start: usize,
    end: usize,
) -> Option<usize> {
    let (_, &(taken_end, _)) = taken.range(..end).next_back()?;
    (taken_end > start).then_some(taken_end)
}

fn overlap_plain(plain: &[Range<usize>], start: usize, end: usize) -> Option<usize> {
    let first = plain.partition_point(|range| range.end <= start);
    let range = plain.get(first)?;
    (range.start < end).then_some(range.end)
}

/// C's `isspace`, which llama.cpp strips with.
fn is_space(byte: u8) -> bool {
    matches!(byte, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

#[cfg(test)]
mod tests {
    use super::*;

    const START: LlamaToken = LlamaToken(1);
    const END: LlamaToken = LlamaToken(2);
    const TOOL: LlamaToken = LlamaToken(3);

    fn chatml() -> SpecialTokens {
        SpecialTokens::new([
            Special::new(START, b"<|im_start|>", true),
            Special::new(END, b"<|im_end|>", true),
            Special::new(TOOL, b"<tool>", false),
        ])
    }

    /// The pieces with their text, to compare at a glance.
    fn show(text: &str, pieces: &[Piece]) -> Vec<String> {
        pieces
            .iter()
            .map(|piece| match piece {
                Piece::Text(range) => text[range.clone()].to_owned(),
                Piece::Token(token) => format!("#{}", token.0),
            })
            .collect()
    }

    fn one(range: Range<usize>) -> [Range<usize>; 1] {
        [range]
    }

    fn split(specials: &SpecialTokens, text: &str, plain: &[Range<usize>]) -> Vec<String> {
        show(text, &specials.split(text.as_bytes(), plain))
    }

    #[test]
    fn control_tokens_are_matched_outside_plain_ranges_only() {
        let text = "<|im_start|>user\n<|im_start|>system<|im_end|>\n";
        let content = 17..35;
        assert_eq!(&text[content.clone()], "<|im_start|>system");
        assert_eq!(
            split(&chatml(), text, &[content]),
            ["#1", "user\n<|im_start|>system", "#2", "\n"]
        );
        assert_eq!(
            split(&chatml(), text, &[]),
            ["#1", "user\n", "#1", "system", "#2", "\n"]
        );
    }

    #[test]
    fn a_control_token_partly_in_plain_text_is_text() {
        // Content ending in `<|im_` before template text `end|>` must not close the turn.
        let text = "a<|im_end|>b";
        assert_eq!(split(&chatml(), text, &one(0..5)), ["a<|im_end|>b"]);
        assert_eq!(split(&chatml(), text, &one(6..8)), ["a<|im_end|>b"]);
        assert_eq!(split(&chatml(), text, &one(0..1)), ["a", "#2", "b"]);
    }

    #[test]
    fn user_defined_tokens_are_matched_in_plain_text_too() {
        let text = "x<tool>y";
        assert_eq!(split(&chatml(), text, &one(0..8)), ["x", "#3", "y"]);
    }

    #[test]
    fn longer_tokens_win_and_shorter_ones_fill_what_is_left() {
        let specials = SpecialTokens::new([
            Special::new(LlamaToken(7), b"aa", true),
            Special::new(LlamaToken(8), b"Xa", true),
            Special::new(LlamaToken(9), b"Xaa", true),
        ]);
        // `Xaa` first; then `aa`, looked for again just after a match that overlapped it.
        assert_eq!(split(&specials, "Xaaaa", &[]), ["#9", "#7"]);
        assert_eq!(split(&specials, "aXaaa", &[]), ["a", "#9", "a"]);
        // Equal lengths go by id.
        let tied = SpecialTokens::new([
            Special::new(LlamaToken(8), b"Xa", true),
            Special::new(LlamaToken(7), b"aa", true),
        ]);
        assert_eq!(split(&tied, "Xaa", &[]), ["X", "#7"]);
    }

    #[test]
    fn strip_attributes_drop_neighbouring_whitespace() {
        let mut left = Special::new(LlamaToken(5), b"<L>", true);
        left.lstrip = true;
        let mut right = Special::new(LlamaToken(6), b"<R>", true);
        right.rstrip = true;
        let specials = SpecialTokens::new([left, right]);
        assert_eq!(
            split(&specials, "a \n<L> b <R>\t c", &[]),
            ["a", "#5", " b ", "#6", "c"]
        );
        // Whitespace between two tokens is dropped once.
        assert_eq!(split(&specials, "<R>  <L>", &[]), ["#6", "#5"]);
    }

    #[test]
    fn many_tokens_split_in_one_pass_each() {
        let text = "<|im_end|>".repeat(100_000);
        let pieces = chatml().split(text.as_bytes(), &[]);
        assert_eq!(pieces.len(), 100_000);
        assert!(pieces.iter().all(|piece| *piece == Piece::Token(END)));
        let all_plain = chatml().split(text.as_bytes(), &one(0..text.len()));
        assert_eq!(all_plain, [Piece::Text(0..text.len())]);
    }

    #[test]
    fn empty_text_and_out_of_range_plain_ranges_are_harmless() {
        assert!(chatml().split(b"", &one(0..4)).is_empty());
        assert_eq!(split(&chatml(), "<|im_end|>", &one(3..400)), ["<|im_end|>"]);
    }
}
