//! Turning token bytes into text that is safe to emit: whole UTF-8 characters only, and never
//! any part of a stop sequence.

/// Incremental UTF-8 decoder for one sequence.
///
/// A token's bytes may end in the middle of a multi-byte character; those bytes wait here for
/// the next token instead of being emitted as U+FFFD.
#[derive(Debug, Default)]
pub struct Utf8Decoder {
    pending: Vec<u8>,
}

impl Utf8Decoder {
    /// Appends `bytes` and returns every character they complete.
    pub fn push(&mut self, bytes: &[u8]) -> String {
        self.pending.extend_from_slice(bytes);
        let mut out = String::new();
        loop {
            match std::str::from_utf8(&self.pending) {
                Ok(text) => {
                    out.push_str(text);
                    self.pending.clear();
                    return out;
                }
                Err(error) => {
                    let valid = error.valid_up_to();
                    out.push_str(&String::from_utf8_lossy(&self.pending[..valid]));
                    match error.error_len() {
                        // An incomplete character at the end: keep it for the next token.
                        None => {
                            self.pending.drain(..valid);
                            return out;
                        }
                        // Bytes that can never become valid UTF-8 are really invalid.
                        Some(bad) => {
                            out.push(char::REPLACEMENT_CHARACTER);
                            self.pending.drain(..valid + bad);
                        }
                    }
                }
            }
        }
    }

    /// Ends the sequence. Bytes of a character the model never finished (the token budget ran
    /// out mid-character) are dropped: they are not text, and U+FFFD would misstate them.
    pub fn finish(&mut self) {
        self.pending.clear();
    }
}

/// Holds back generated text that could still turn into a stop sequence.
#[derive(Debug, Default)]
pub struct StopMatcher {
    stops: Vec<String>,
    held: String,
    /// The index in `stops` of the sequence found, once one is.
    matched: Option<usize>,
}

/// What the matcher lets through after new text arrives.
#[derive(Debug, PartialEq, Eq)]
pub enum StopScan {
    /// Text that can be emitted now; generation goes on.
    Continue(String),
    /// A stop sequence was found: emit this text (everything before the stop) and finish.
    Stopped(String),
}

impl StopMatcher {
    /// Empty sequences never match; the others keep their index in `stops`.
    pub fn new(stops: Vec<String>) -> Self {
        Self {
            stops,
            held: String::new(),
            matched: None,
        }
    }

    /// The index of the stop sequence that was found, once [`StopScan::Stopped`] said so.
    pub fn matched(&self) -> Option<usize> {
        self.matched
    }

    pub fn push(&mut self, text: &str) -> StopScan {
        if self.stops.iter().all(String::is_empty) {
            return StopScan::Continue(text.to_owned());
        }
        self.held.push_str(text);
        // The earliest in the text wins; of two found at one place, the first listed.
        let first_stop = self
            .stops
            .iter()
            .enumerate()
            .filter(|(_, stop)| !stop.is_empty())
            .filter_map(|(index, stop)| self.held.find(stop.as_str()).map(|at| (at, index)))
            .min();
        if let Some((at, index)) = first_stop {
            self.matched = Some(index);
            self.held.truncate(at);
            return StopScan::Stopped(std::mem::take(&mut self.held));
        }
        let keep = self.longest_partial_stop();
        let emit_to = self.held.len() - keep;
        let rest = self.held.split_off(emit_to);
        StopScan::Continue(std::mem::replace(&mut self.held, rest))
    }

    /// Text held back when the sequence ends for another reason: it was not a stop after all.
    pub fn finish(&mut self) -> String {
        std::mem::take(&mut self.held)
    }

    /// Length of the longest suffix of the held text that begins some stop sequence.
    fn longest_partial_stop(&self) -> usize {
        let held = self.held.as_str();
        let longest = self.stops.iter().map(String::len).max().unwrap_or(0);
        (1..longest.min(held.len() + 1))
            .rev()
            .find(|&len| {
                let start = held.len() - len;
                held.is_char_boundary(start)
                    && self
                        .stops
                        .iter()
                        .any(|stop| stop.starts_with(&held[start..]))
            })
            .unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multibyte_characters_split_across_tokens_are_joined() {
        let mut decoder = Utf8Decoder::default();
        let bytes = "日本🙂".as_bytes();
        let mut out = String::new();
        for byte in bytes {
            out.push_str(&decoder.push(std::slice::from_ref(byte)));
        }
        assert_eq!(out, "日本🙂");
    }

    #[test]
    fn invalid_bytes_become_replacement_characters() {
        let mut decoder = Utf8Decoder::default();
        assert_eq!(decoder.push(b"a\xffb"), "a\u{fffd}b");
        assert_eq!(decoder.push(b"\xe6\x97"), "");
        decoder.finish();
        assert_eq!(decoder.push(b"c"), "c");
    }

    #[test]
    fn stop_split_across_pushes_is_never_emitted() {
        let mut matcher = StopMatcher::new(vec!["END".into()]);
        assert_eq!(matcher.push("hello E"), StopScan::Continue("hello ".into()));
        assert_eq!(matcher.push("N"), StopScan::Continue(String::new()));
        assert_eq!(matcher.push("D and more"), StopScan::Stopped("".into()));
    }

    #[test]
    fn false_partial_match_is_released() {
        let mut matcher = StopMatcher::new(vec!["END".into()]);
        assert_eq!(matcher.push("an E"), StopScan::Continue("an ".into()));
        assert_eq!(matcher.push("xit"), StopScan::Continue("Exit".into()));
        assert_eq!(matcher.push("E"), StopScan::Continue("".into()));
        assert_eq!(matcher.finish(), "E");
    }

    #[test]
    fn earliest_of_several_stops_wins() {
        let mut matcher = StopMatcher::new(vec!["".into(), "c".into(), "ab".into()]);
        assert_eq!(matcher.matched(), None);
        assert_eq!(matcher.push("xabc"), StopScan::Stopped("x".into()));
        assert_eq!(matcher.matched(), Some(2));
    }

    #[test]
    fn multibyte_stop_sequences_respect_char_boundaries() {
        let mut matcher = StopMatcher::new(vec!["日本".into()]);
        assert_eq!(matcher.push("a日"), StopScan::Continue("a".into()));
        assert_eq!(matcher.push("本b"), StopScan::Stopped("".into()));
    }
}
