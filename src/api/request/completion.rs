//! The fields only `/v1/completions` reads: the prompt, and the legacy options it refuses.

use serde::de::IgnoredAny;
use serde::Deserialize;
use serde_json::Value;

use super::fields::{Documented, Field, Support::*};
use crate::api::error::{ApiError, ApiResult};
use crate::api::response_format::ResponseFormat;

#[derive(Debug, Deserialize)]
pub struct CompletionFields {
    pub prompt: Option<Prompt>,
    pub response_format: Option<ResponseFormat>,
    echo: Option<bool>,
    suffix: Option<Value>,
    best_of: Option<u32>,
    // Chat's own fields.
    messages: Option<IgnoredAny>,
    tools: Option<IgnoredAny>,
    tool_choice: Option<IgnoredAny>,
    parallel_tool_calls: Option<IgnoredAny>,
    functions: Option<IgnoredAny>,
    function_call: Option<IgnoredAny>,
    reasoning_format: Option<IgnoredAny>,
}

/// Every top-level field OpenAI documents for legacy completions, then the others sotto reads
/// (chat's names and llama.cpp's), in `docs/compatibility.md`'s order. The shared ones are
/// read by `GenerationBody`.
impl Documented for CompletionFields {
    const FIELDS: &'static [Field] = &[
        ("model", Supported),
        ("prompt", Supported),
        ("best_of", Refused),
        ("echo", Refused),
        ("frequency_penalty", Supported),
        ("logit_bias", Supported),
        ("logprobs", Supported),
        ("max_tokens", Supported),
        ("n", Supported),
        ("presence_penalty", Supported),
        ("seed", Supported),
        ("stop", Supported),
        ("stream", Supported),
        ("stream_options", Supported),
        ("suffix", Refused),
        ("temperature", Supported),
        ("top_p", Supported),
        ("user", Ignored),
        // Not OpenAI's for this endpoint.
        ("max_completion_tokens", Supported),
        ("response_format", Supported),
        ("top_logprobs", Refused),
        ("top_k", Supported),
        ("min_p", Supported),
        ("repeat_penalty", Supported),
    ];
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum Prompt {
    Text(String),
    Texts(Vec<String>),
    Tokens(Vec<u32>),
}

impl CompletionFields {
    /// Refuses chat's fields and the legacy options this server does not implement.
    pub fn check(&self) -> ApiResult<()> {
        let chat_only = [
            ("messages", self.messages.is_some()),
            ("tools", self.tools.is_some()),
            ("tool_choice", self.tool_choice.is_some()),
            ("parallel_tool_calls", self.parallel_tool_calls.is_some()),
            ("functions", self.functions.is_some()),
            ("function_call", self.function_call.is_some()),
            ("reasoning_format", self.reasoning_format.is_some()),
        ];
        if let Some((field, _)) = chat_only.iter().find(|(_, set)| *set) {
            return Err(ApiError::invalid_value(
                *field,
                format!("`{field}` belongs to /v1/chat/completions; this endpoint takes `prompt`."),
            ));
        }
        if self.echo == Some(true) {
            return Err(ApiError::unsupported("echo", "`echo` is not supported."));
        }
        if self.suffix.as_ref().is_some_and(|s| !s.is_null()) {
            return Err(ApiError::unsupported(
                "suffix",
                "`suffix` is not supported.",
            ));
        }
        if self.best_of.is_some_and(|n| n != 1) {
            return Err(ApiError::unsupported(
                "best_of",
                "Only `best_of: 1` is supported.",
            ));
        }
        Ok(())
    }

    pub fn prompt(&self) -> ApiResult<&Prompt> {
        self.prompt
            .as_ref()
            .ok_or_else(|| ApiError::missing("prompt"))
    }
}
