//! A reader of the key/value metadata at the head of a GGUF file: magic `GGUF`, a version, the
//! tensor and key/value counts, then typed key/values. Only the few keys a listing shows are
//! kept; the rest (the vocabulary arrays among them) are skipped by seeking.
//!
//! Every length comes from the file, so none is trusted: a length is checked against what is
//! left of the file before anything is read or skipped, only kept strings are allocated, and
//! those are capped. A hostile or truncated file is an error, never a huge allocation or a
//! long loop.

use std::io::{BufReader, Read, Seek};
use std::path::Path;

use super::Metadata;

/// GGUF keys are at most 65535 bytes (the format's own limit).
const MAX_KEY_BYTES: u64 = 65_535;
/// Real chat templates are a few to a few tens of KiB.
const MAX_TEMPLATE_BYTES: u64 = 1 << 20;
const MAX_NAME_BYTES: u64 = 4096;
/// Real files have a few dozen keys; this bounds the work a hostile count can ask for.
const MAX_KEYS: u64 = 1 << 16;
/// Arrays of arrays are allowed by the format but unused in practice.
const MAX_ARRAY_DEPTH: u32 = 3;

#[derive(Debug, thiserror::Error)]
pub enum GgufError {
    #[error("not a GGUF file (no `GGUF` magic)")]
    NotGguf,
    #[error("GGUF version {0} is not supported (only 2 and 3)")]
    Version(u32),
    #[error("the file ends inside its GGUF header")]
    Truncated,
    #[error("malformed GGUF header: {0}")]
    Malformed(&'static str),
    #[error("reading the GGUF header: {0}")]
    Io(#[from] std::io::Error),
}

/// Reads the metadata of the GGUF file at `path`.
pub fn read_file(path: &Path) -> Result<Metadata, GgufError> {
    let file = std::fs::File::open(path)?;
    let len = file.metadata()?.len();
    read(BufReader::new(file), len)
}

/// Reads the metadata from `reader`, which holds `len` bytes from the file's start.
pub fn read<R: Read + Seek>(reader: R, len: u64) -> Result<Metadata, GgufError> {
    let mut cursor = Cursor {
        inner: reader,
        left: len,
    };
    if &cursor.array::<4>()? != b"GGUF" {
        return Err(GgufError::NotGguf);
    }
    let version = cursor.u32()?;
    if !(2..=3).contains(&version) {
        return Err(GgufError::Version(version));
    }
    let _tensors = cursor.u64()?;
    let keys = cursor.u64()?;
    if keys > MAX_KEYS {
        return Err(GgufError::Malformed("too many keys"));
    }
    let mut metadata = Metadata::default();
    // `{arch}.context_length` may come before `general.architecture`: keep the candidates.
    let mut contexts: Vec<(String, u64)> = Vec::new();
    for _ in 0..keys {
        let key = cursor
            .string(MAX_KEY_BYTES)?
            .ok_or(GgufError::Malformed("a key is too long"))?;
        let kind = cursor.u32()?;
        match key.as_str() {
            "general.architecture" => metadata.architecture = cursor.text(kind, MAX_NAME_BYTES)?,
            "general.name" => metadata.name = cursor.text(kind, MAX_NAME_BYTES)?,
            "general.file_type" => metadata.file_type = cursor.integer(kind)?,
            "split.count" => metadata.split_count = cursor.integer(kind)?,
            "tokenizer.chat_template" => {
                metadata.chat_template = cursor.text(kind, MAX_TEMPLATE_BYTES)?;
            }
            _ if key.ends_with(".context_length") && contexts.len() < 16 => {
                if let Some(value) = cursor.integer(kind)? {
                    contexts.push((key, value));
                }
            }
            _ => cursor.skip_value(kind, 0)?,
        }
    }
    metadata.context_length = metadata.architecture.as_ref().and_then(|arch| {
        let wanted = format!("{arch}.context_length");
        contexts
            .iter()
            .find(|(key, _)| *key == wanted)
            .map(|(_, value)| *value)
    });
    Ok(metadata)
}

struct Cursor<R> {
    inner: R,
    /// Bytes of the file after the current position.
    left: u64,
}

impl<R: Read + Seek> Cursor<R> {
    fn array<const N: usize>(&mut self) -> Result<[u8; N], GgufError> {
        if self.left < N as u64 {
            return Err(GgufError::Truncated);
        }
        let mut bytes = [0u8; N];
        self.inner.read_exact(&mut bytes).map_err(truncated)?;
        self.left -= N as u64;
        Ok(bytes)
    }

    fn u32(&mut self) -> Result<u32, GgufError> {
        self.array().map(u32::from_le_bytes)
    }

    fn u64(&mut self) -> Result<u64, GgufError> {
        self.array().map(u64::from_le_bytes)
    }

    fn skip(&mut self, bytes: u64) -> Result<(), GgufError> {
        if bytes > self.left {
            return Err(GgufError::Truncated);
        }
        let offset = i64::try_from(bytes).map_err(|_| GgufError::Truncated)?;
        self.inner.seek_relative(offset)?;
        self.left -= bytes;
        Ok(())
    }

    /// A length-prefixed string: `None` (skipped) when longer than `cap`.
    fn string(&mut self, cap: u64) -> Result<Option<String>, GgufError> {
        let len = self.u64()?;
        if len > self.left {
            return Err(GgufError::Truncated);
        }
        if len > cap {
            self.skip(len)?;
            return Ok(None);
        }
        // `len` is at most `cap`, so this allocation is bounded.
        let mut bytes = vec![0u8; len as usize];
        self.inner.read_exact(&mut bytes).map_err(truncated)?;
        self.left -= len;
        String::from_utf8(bytes)
            .map(Some)
            .map_err(|_| GgufError::Malformed("a string is not UTF-8"))
    }

    /// A string value, or `None` when the value has another type or is longer than `cap`.
    fn text(&mut self, kind: u32, cap: u64) -> Result<Option<String>, GgufError> {
        if kind == STRING {
            self.string(cap)
        } else {
            self.skip_value(kind, 0).map(|()| None)
        }
    }

    /// An unsigned or non-negative integer value that fits `T`, else `None`.
    fn integer<T: TryFrom<u64>>(&mut self, kind: u32) -> Result<Option<T>, GgufError> {
        let value = match kind {
            0 => u64::from(self.array::<1>()?[0]),
            2 => u64::from(u16::from_le_bytes(self.array()?)),
            4 => u64::from(self.u32()?),
            10 => self.u64()?,
            1 => u64::try_from(i8::from_le_bytes(self.array()?)).unwrap_or(u64::MAX),
            3 => u64::try_from(i16::from_le_bytes(self.array()?)).unwrap_or(u64::MAX),
            5 => u64::try_from(i32::from_le_bytes(self.array()?)).unwrap_or(u64::MAX),
            11 => u64::try_from(i64::from_le_bytes(self.array()?)).unwrap_or(u64::MAX),
            _ => {
                self.skip_value(kind, 0)?;
                return Ok(None);
            }
        };
        Ok(T::try_from(value).ok())
    }

    fn skip_value(&mut self, kind: u32, depth: u32) -> Result<(), GgufError> {
        if let Some(size) = fixed_size(kind) {
            return self.skip(size);
        }
        match kind {
            STRING => {
                let len = self.u64()?;
                self.skip(len)
            }
            ARRAY => {
                if depth >= MAX_ARRAY_DEPTH {
                    return Err(GgufError::Malformed("arrays nested too deep"));
                }
                let element = self.u32()?;
                let count = self.u64()?;
                if let Some(size) = fixed_size(element) {
                    let bytes = size.checked_mul(count).ok_or(GgufError::Truncated)?;
                    return self.skip(bytes);
                }
                // Strings and arrays take at least 8 bytes each: a count the file cannot hold
                // ends at its end, after at most `left / 8` steps.
                for _ in 0..count {
                    self.skip_value(element, depth + 1)?;
                }
                Ok(())
            }
            _ => Err(GgufError::Malformed("unknown value type")),
        }
    }
}

const STRING: u32 = 8;
const ARRAY: u32 = 9;

/// The size of a value of a fixed-size GGUF type.
fn fixed_size(kind: u32) -> Option<u64> {
    match kind {
        0 | 1 | 7 => Some(1),
        2 | 3 => Some(2),
        4..=6 => Some(4),
        10..=12 => Some(8),
        _ => None,
    }
}

fn truncated(error: std::io::Error) -> GgufError {
    if error.kind() == std::io::ErrorKind::UnexpectedEof {
        GgufError::Truncated
    } else {
        GgufError::Io(error)
    }
}
