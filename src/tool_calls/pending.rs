//! Text a format parser has received but not handled yet, consumed from the front in O(1):
//! draining a `String` from the front at every call would make many calls in one push
//! quadratic.

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
