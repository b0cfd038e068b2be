//! Split GGUF models: `PREFIX-00001-of-00003.gguf`, `PREFIX-00002-of-00003.gguf`, ... as
//! llama.cpp's `gguf-split` names them (`%s-%05d-of-%05d.gguf`). llama.cpp loads the whole
//! model from its first part and finds the others by that pattern, so only the first part is
//! a model; the other parts keep exactly these names beside it.

/// A part of a split model, parsed from its file name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part<'a> {
    pub prefix: &'a str,
    /// 1-based.
    pub index: u32,
    pub count: u32,
}

/// The part a file name is, if it follows the split pattern.
pub fn parse(file_name: &str) -> Option<Part<'_>> {
    let stem = file_name.strip_suffix(".gguf")?;
    // `-NNNNN-of-MMMMM` is 15 bytes of ASCII: slicing there is on a character boundary.
    let at = stem.len().checked_sub(15)?;
    let (prefix, tail) = (stem.get(..at)?, stem.get(at..)?);
    let tail = tail.as_bytes();
    if tail[0] != b'-' || &tail[6..10] != b"-of-" || prefix.is_empty() {
        return None;
    }
    let number = |digits: &[u8]| -> Option<u32> {
        digits
            .iter()
            .all(u8::is_ascii_digit)
            .then(|| std::str::from_utf8(digits).ok()?.parse().ok())?
    };
    let index = number(&tail[1..6])?;
    let count = number(&tail[10..15])?;
    (1..=count).contains(&index).then_some(Part {
        prefix,
        index,
        count,
    })
}

/// The file name of part `index` of `count`.
pub fn part_name(prefix: &str, index: u32, count: u32) -> String {
    format!("{prefix}-{index:05}-of-{count:05}.gguf")
}

/// Whether the file is a split model's second or later part (not a model of its own).
pub fn is_later_part(file_name: &str) -> bool {
    parse(file_name).is_some_and(|part| part.index > 1)
}

/// Every part's file name of the split model whose first part is `file_name`, in order; just
/// `file_name` when it is not a split model's first part.
pub fn all_parts(file_name: &str) -> Vec<String> {
    match parse(file_name) {
        Some(part) if part.index == 1 => (1..=part.count)
            .map(|index| part_name(part.prefix, index, part.count))
            .collect(),
        _ => vec![file_name.to_owned()],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_split_pattern_only() {
        assert_eq!(
            parse("Qwen2.5-7B-Q4_K_M-00002-of-00003.gguf"),
            Some(Part {
                prefix: "Qwen2.5-7B-Q4_K_M",
                index: 2,
                count: 3
            })
        );
        for name in [
            "model.gguf",
            "-00001-of-00002.gguf",
            "m-00000-of-00002.gguf",
            "m-00003-of-00002.gguf",
            "m-0001-of-00002.gguf",
            "m-00001-of-00002.bin",
            "m-0000a-of-00002.gguf",
            "m_00001-of-00002.gguf",
            "é-00001-of-0000é.gguf",
        ] {
            assert_eq!(parse(name), None, "{name}");
        }
    }

    #[test]
    fn expands_a_first_part_into_every_part() {
        assert_eq!(
            all_parts("m-00001-of-00003.gguf"),
            [
                "m-00001-of-00003.gguf",
                "m-00002-of-00003.gguf",
                "m-00003-of-00003.gguf"
            ]
        );
        assert_eq!(all_parts("m.gguf"), ["m.gguf"]);
        // A later part alone is not expanded: only a first part names a model.
        assert_eq!(
            all_parts("m-00002-of-00003.gguf"),
            ["m-00002-of-00003.gguf"]
        );
        assert!(is_later_part("m-00002-of-00003.gguf"));
        assert!(!is_later_part("m-00001-of-00003.gguf"));
        assert!(!is_later_part("m.gguf"));
    }
}
