//! Decoding a JSON string as it streams in: escapes and `\uXXXX` surrogate pairs may be split
//! across pushes. A lone surrogate becomes U+FFFD rather than an error: the text is content.

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum Escape {
    #[default]
    None,
    Backslash,
    /// `\u` and the hex digits read so far.
    Unicode {
        digits: u8,
        value: u32,
    },
}

#[derive(Debug, Default)]
pub(super) struct StringDecoder {
    escape: Escape,
    /// A high surrogate waiting for its low half.
    high: Option<u32>,
}

/// What a character of the string did.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Decoded {
    More,
    /// The closing quote.
    End,
    /// Not valid inside a JSON string.
    Invalid,
}

impl StringDecoder {
    /// Feeds one character after the opening quote, appending decoded text to `out`.
    pub(super) fn feed(&mut self, c: char, out: &mut String) -> Decoded {
        match self.escape {
            Escape::None => match c {
                '"' => {
                    self.flush_high(out);
                    return Decoded::End;
                }
                '\\' => self.escape = Escape::Backslash,
                c if (c as u32) < 0x20 => return Decoded::Invalid,
                c => self.push(c, out),
            },
            Escape::Backslash => {
                let plain = match c {
                    '"' | '\\' | '/' => c,
                    'b' => '\u{8}',
                    'f' => '\u{c}',
                    'n' => '\n',
                    'r' => '\r',
                    't' => '\t',
                    'u' => {
                        self.escape = Escape::Unicode {
                            digits: 0,
                            value: 0,
                        };
                        return Decoded::More;
                    }
                    _ => return Decoded::Invalid,
                };
                self.escape = Escape::None;
                self.push(plain, out);
            }
            Escape::Unicode { digits, value } => {
                let Some(digit) = c.to_digit(16) else {
                    return Decoded::Invalid;
                };
                let value = value * 16 + digit;
                if digits < 3 {
                    self.escape = Escape::Unicode {
                        digits: digits + 1,
                        value,
                    };
                    return Decoded::More;
                }
                self.escape = Escape::None;
                self.unit(value, out);
            }
        }
        Decoded::More
    }

    /// One UTF-16 code unit from `\uXXXX`.
    fn unit(&mut self, unit: u32, out: &mut String) {
        match unit {
            0xD800..=0xDBFF => {
                self.flush_high(out);
                self.high = Some(unit);
            }
            0xDC00..=0xDFFF => match self.high.take() {
                Some(high) => {
                    let code = 0x10000 + ((high - 0xD800) << 10) + (unit - 0xDC00);
                    out.push(char::from_u32(code).unwrap_or(char::REPLACEMENT_CHARACTER));
                }
                None => out.push(char::REPLACEMENT_CHARACTER),
            },
            _ => self.push(
                char::from_u32(unit).unwrap_or(char::REPLACEMENT_CHARACTER),
                out,
            ),
        }
    }

    fn push(&mut self, c: char, out: &mut String) {
        self.flush_high(out);
        out.push(c);
    }

    fn flush_high(&mut self, out: &mut String) {
        if self.high.take().is_some() {
            out.push(char::REPLACEMENT_CHARACTER);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(body: &str) -> (String, Decoded) {
        let mut decoder = StringDecoder::default();
        let mut out = String::new();
        for c in body.chars() {
            match decoder.feed(c, &mut out) {
                Decoded::More => {}
                end => return (out, end),
            }
        }
        (out, Decoded::More)
    }

    #[test]
    fn agrees_with_serde_json_on_escapes_and_pairs() {
        let body = r#"a\"b\\c\/\n\t\u00e9\ud83d\ude00 \u4e2d"#;
        let expected: String = serde_json::from_str(&format!("\"{body}\"")).expect("valid");
        assert_eq!(decode(&format!("{body}\"")), (expected, Decoded::End));
    }

    #[test]
    fn lone_surrogates_and_bad_escapes() {
        assert_eq!(decode(r#"\ud83dx""#), ("\u{FFFD}x".into(), Decoded::End));
        assert_eq!(decode(r#"\ude00""#), ("\u{FFFD}".into(), Decoded::End));
        assert_eq!(decode(r"\q").1, Decoded::Invalid);
        assert_eq!(decode(r"\u12g4").1, Decoded::Invalid);
        assert_eq!(decode("a\nb").1, Decoded::Invalid);
    }
}
