//! The settings that are one of a few choices, as flags, variables and file values spell them.

use clap::ValueEnum;
use llama_cpp_2::context::params::KvCacheType;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Signup {
    /// Anyone can create an account on the sign-up page.
    Open,
    /// Only `sotto users add` creates accounts.
    Closed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Auth {
    /// `/v1` requires an API key.
    On,
    /// No API key needed: for a single-user machine.
    Off,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FlashAttention {
    Auto,
    On,
    Off,
}

/// A KV cache element type, as llama.cpp's server names them (`--cache-type-k q8_0`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize, Deserialize)]
pub enum CacheType {
    /// 16-bit floats: llama.cpp's default, exact.
    #[value(name = "f16")]
    #[serde(rename = "f16")]
    F16,
    /// 8-bit blocks: about half the memory of f16, nearly the same output.
    #[value(name = "q8_0")]
    #[serde(rename = "q8_0")]
    Q8_0,
    /// 4-bit blocks: about a quarter of the memory of f16, at some cost in quality.
    #[value(name = "q4_0")]
    #[serde(rename = "q4_0")]
    Q4_0,
}

impl CacheType {
    pub fn llama(self) -> KvCacheType {
        match self {
            Self::F16 => KvCacheType::F16,
            Self::Q8_0 => KvCacheType::Q8_0,
            Self::Q4_0 => KvCacheType::Q4_0,
        }
    }
}

impl FlashAttention {
    /// On or off, or `None` for llama.cpp's own choice.
    pub fn enabled(self) -> Option<bool> {
        match self {
            Self::Auto => None,
            Self::On => Some(true),
            Self::Off => Some(false),
        }
    }
}
