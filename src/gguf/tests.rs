//! The header reader on well-formed, truncated and hostile headers built here byte by byte.

use std::io::Cursor;

use super::header::{read, GgufError};
use super::Metadata;

/// A GGUF header writer for the tests.
struct Header(Vec<u8>);

impl Header {
    fn new(version: u32, keys: u64) -> Self {
        let mut bytes = b"GGUF".to_vec();
        bytes.extend(version.to_le_bytes());
        bytes.extend(0u64.to_le_bytes());
        bytes.extend(keys.to_le_bytes());
        Self(bytes)
    }

    fn key(mut self, key: &str, kind: u32) -> Self {
        self.0.extend((key.len() as u64).to_le_bytes());
        self.0.extend(key.as_bytes());
        self.0.extend(kind.to_le_bytes());
        self
    }

    fn string(mut self, key: &str, value: &str) -> Self {
        self = self.key(key, 8);
        self.0.extend((value.len() as u64).to_le_bytes());
        self.0.extend(value.as_bytes());
        self
    }

    fn u32(mut self, key: &str, value: u32) -> Self {
        self = self.key(key, 4);
        self.0.extend(value.to_le_bytes());
        self
    }

    fn raw(mut self, bytes: &[u8]) -> Self {
        self.0.extend(bytes);
        self
    }

    fn read(&self) -> Result<Metadata, GgufError> {
        read(Cursor::new(&self.0), self.0.len() as u64)
    }
}

/// A header like a real model's: the vocabulary arrays before the template, the context
/// length before the architecture.
fn model_header() -> Header {
    let mut header = Header::new(3, 7)
        .u32("llama.context_length", 8192)
        .string("general.architecture", "llama")
        .string("general.name", "Tiny")
        .u32("general.file_type", 15)
        .key("tokenizer.ggml.tokens", 9)
        .raw(&8u32.to_le_bytes())
        .raw(&3u64.to_le_bytes());
    for token in ["<s>", "a", "b"] {
        header = header
            .raw(&(token.len() as u64).to_le_bytes())
            .raw(token.as_bytes());
    }
    header
        .key("tokenizer.ggml.scores", 9)
        .raw(&6u32.to_le_bytes())
        .raw(&3u64.to_le_bytes())
        .raw(&[0u8; 12])
        .string("tokenizer.chat_template", "{{ '<|im_start|>' }}")
}

#[test]
fn reads_the_keys_a_listing_needs() {
    let metadata = model_header().read().expect("a valid header");
    assert_eq!(metadata.architecture.as_deref(), Some("llama"));
    assert_eq!(metadata.name.as_deref(), Some("Tiny"));
    assert_eq!(metadata.quantisation(), Some("Q4_K_M"));
    assert_eq!(metadata.context_length, Some(8192));
    assert_eq!(
        metadata.chat_template.as_deref(),
        Some("{{ '<|im_start|>' }}")
    );
    assert_eq!(metadata.split_count, None);
}

#[test]
fn every_truncation_is_an_error_not_a_panic() {
    let whole = model_header().0;
    for len in 0..whole.len() {
        let result = read(Cursor::new(&whole[..len]), len as u64);
        assert!(result.is_err(), "a header cut at {len} bytes was accepted");
    }
}

#[test]
fn refuses_other_files_and_versions() {
    assert!(matches!(
        read(Cursor::new(b"PK\x03\x04rest of a zip"), 17),
        Err(GgufError::NotGguf)
    ));
    assert!(matches!(
        Header::new(1, 0).read(),
        Err(GgufError::Version(1))
    ));
    // A big-endian file reads as a huge version.
    assert!(matches!(
        Header::new(3u32.swap_bytes(), 0).read(),
        Err(GgufError::Version(_))
    ));
}

#[test]
fn hostile_lengths_do_not_allocate_or_loop() {
    // A string that claims 2^64-1 bytes: refused before any allocation.
    let huge_string = Header::new(3, 1)
        .key("general.name", 8)
        .raw(&u64::MAX.to_le_bytes());
    assert!(matches!(huge_string.read(), Err(GgufError::Truncated)));
    // A key that claims to be longer than the file.
    let huge_key = Header::new(3, 1).raw(&(1u64 << 40).to_le_bytes());
    assert!(matches!(huge_key.read(), Err(GgufError::Truncated)));
    // An array of 2^62 u64 values (the byte count overflows) and one of 2^63 strings.
    let huge_array = Header::new(3, 1)
        .key("x", 9)
        .raw(&10u32.to_le_bytes())
        .raw(&(1u64 << 62).to_le_bytes());
    assert!(matches!(huge_array.read(), Err(GgufError::Truncated)));
    let many_strings = Header::new(3, 1)
        .key("x", 9)
        .raw(&8u32.to_le_bytes())
        .raw(&(1u64 << 63).to_le_bytes())
        .raw(&0u64.to_le_bytes());
    assert!(matches!(many_strings.read(), Err(GgufError::Truncated)));
    // 2^64-1 keys.
    assert!(matches!(
        Header::new(3, u64::MAX).read(),
        Err(GgufError::Malformed(_))
    ));
    // Arrays nested without end, and a type that does not exist.
    let mut nested = Header::new(3, 1).key("x", 9);
    for _ in 0..8 {
        nested = nested.raw(&9u32.to_le_bytes()).raw(&1u64.to_le_bytes());
    }
    assert!(matches!(nested.read(), Err(GgufError::Malformed(_))));
    let unknown = Header::new(3, 1).key("x", 99).raw(&[0; 16]);
    assert!(matches!(unknown.read(), Err(GgufError::Malformed(_))));
}

#[test]
fn a_template_past_the_cap_is_skipped_not_kept() {
    let template = "x".repeat((1 << 20) + 1);
    let metadata = Header::new(3, 2)
        .string("tokenizer.chat_template", &template)
        .u32("general.file_type", 3)
        .read()
        .expect("a valid header");
    assert_eq!(metadata.chat_template, None);
    // The reader went on past it.
    assert_eq!(metadata.quantisation(), Some("Q4_1"));
}

#[test]
fn a_key_of_the_wrong_type_is_skipped() {
    let metadata = Header::new(3, 2)
        .u32("general.architecture", 7)
        .string("general.file_type", "Q4_K_M")
        .read()
        .expect("a valid header");
    assert_eq!(metadata, Metadata::default());
}
