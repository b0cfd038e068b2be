//! Finding a marker such as `<tool_call>` in streamed text, holding back only what could still
//! become one, and the buffer the format parsers keep their unhandled text in.

/// Where `marker` stands in `text`.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Scan {
    /// The marker starts at this byte.
    Found(usize),
    /// No marker; the text from this byte on could be the start of one and must wait.
    Partial(usize),
}

pub(super) fn scan(text: &str, marker: &str) -> Scan {
    if let Some(at) = text.find(marker) {
        return Scan::Found(at);
    }
    Scan::Partial(text.len() - partial_suffix(text, marker))
}

/// Length of the longest suffix of `text` that is a proper prefix of `marker`.
pub(super) fn partial_suffix(text: &str, marker: &str) -> usize {
    let longest = marker.len().saturating_sub(1).min(text.len());
    (1..=longest)
        .rev()
        .find(|&len| {
            let start = text.len() - len;
            text.is_char_boundary(start)
                && marker.is_char_boundary(len)
                && text[start..] == marker[..len]
        })
        .unwrap_or(0)
}

/// Finds `marker` in `text[from..]`, where `from` is where the previous search could not have
/// started a match: each byte is searched about once however the text is split.
pub(super) fn find_from(text: &str, from: usize, marker: &str) -> Option<usize> {
    let mut start = from.min(text.len());
    while !text.is_char_boundary(start) {
        start -= 1;
    }
    text[start..].find(marker).map(|at| start + at)
}

/// Where the next [`find_from`] on `text` plus more may start.
pub(super) fn resume_at(text: &str, marker: &str) -> usize {
    text.len().saturating_sub(marker.len().saturating_sub(1))
}

/// Text a format parser has received but not handled yet, consumed from the front in O(1):
/// draining a `String` from the front at every call would make many calls in one push
/// quadratic.
#[derive(Debug, Default)]
pub(super) struct Pending {
    text: String,
    /// Bytes of `text` already handled.
    pos: usize,
}

impl Pending {
    pub(super) fn push(&mut self, more: &str) {
        // Dropping the handled front only once it is at least half the buffer keeps the cost
        // of these moves linear in the text's length.
        if self.pos > 0 && self.pos * 2 >= self.text.len() {
            self.text.drain(..self.pos);
            self.pos = 0;
        }
        self.text.push_str(more);
    }

    pub(super) fn rest(&self) -> &str {
        &self.text[self.pos..]
    }

    pub(super) fn is_empty(&self) -> bool {
        self.pos == self.text.len()
    }

    /// Marks `len` bytes of [`Pending::rest`] handled.
    pub(super) fn advance(&mut self, len: usize) {
        self.pos = (self.pos + len).min(self.text.len());
    }

    /// The first `len` bytes of [`Pending::rest`], marked handled.
    pub(super) fn take(&mut self, len: usize) -> String {
        let taken = self.rest()[..len].to_owned();
        self.advance(len);
        taken
    }

    pub(super) fn take_all(&mut self) -> String {
        let len = self.rest().len();
        self.take(len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holds_back_only_a_possible_marker_start() {
        assert_eq!(scan("hello <tool_", "<tool_call>"), Scan::Partial(6));
        assert_eq!(scan("hello <tool_call>", "<tool_call>"), Scan::Found(6));
        assert_eq!(scan("a < b", "<tool_call>"), Scan::Partial(5));
        assert_eq!(scan("é<", "<tool_call>"), Scan::Partial(2));
        assert_eq!(scan("", "<tool_call>"), Scan::Partial(0));
    }

    #[test]
    fn resumed_search_finds_a_marker_split_across_pushes() {
        let mut text = String::from("xx</tool");
        let from = resume_at(&text, "</tool_call>");
        assert_eq!(find_from(&text, from, "</tool_call>"), None);
        text.push_str("_call>");
        assert_eq!(find_from(&text, from, "</tool_call>"), Some(2));
    }
}
