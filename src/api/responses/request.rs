//! The request body of `POST /v1/responses`, its field list for `docs/compatibility.md`, and
//! the refusals of what a server that stores nothing cannot do. Sampling and budget checks are
//! chat's ([`GenerationBody::settings`]); their errors are renamed in [`super::names`].

use serde::de::IgnoredAny;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::input::InputField;
use crate::api::error::{ApiError, ApiResult};
use crate::api::request::{Documented, Field, GenerationBody, Settings, Support::*};

#[derive(Debug, Deserialize)]
pub struct ResponsesBody {
    pub model: Option<String>,
    pub input: Option<InputField>,
    pub instructions: Option<String>,
    pub max_output_tokens: Option<u32>,
    pub temperature: Option<f32>,
    pub top_p: Option<f32>,
    pub stream: Option<bool>,
    pub tools: Option<Vec<FunctionTool>>,
    pub tool_choice: Option<ToolChoiceParam>,
    pub parallel_tool_calls: Option<bool>,
    pub text: Option<TextParam>,
    // Refused when they ask for what is not there: a default value (`false`, `[]`,
    // `"disabled"`, 0) is accepted.
    previous_response_id: Option<Value>,
    background: Option<Value>,
    conversation: Option<Value>,
    prompt: Option<Value>,
    include: Option<Vec<IgnoredAny>>,
    truncation: Option<Value>,
    top_logprobs: Option<Value>,
}

/// Every top-level field OpenAI documents for `POST /v1/responses`, in `docs/compatibility.md`'s
/// order.
impl Documented for ResponsesBody {
    const FIELDS: &'static [Field] = &[
        ("input", Supported),
        ("model", Supported),
        ("access_programs", Ignored),
        ("background", Refused),
        ("background_options", Ignored),
        ("context_management", Ignored),
        ("conversation", Refused),
        ("image", Ignored),
        ("include", Refused),
        ("instructions", Supported),
        ("max_output_tokens", Supported),
        ("max_tool_calls", Ignored),
        ("metadata", Ignored),
        ("moderation", Ignored),
        ("parallel_tool_calls", Supported),
        ("previous_response_id", Refused),
        ("prompt", Refused),
        ("prompt_cache_key", Ignored),
        ("prompt_cache_options", Ignored),
        ("prompt_cache_retention", Ignored),
        ("reasoning", Ignored),
        ("safety_identifier", Ignored),
        ("service_tier", Ignored),
        ("store", Ignored),
        ("stream", Supported),
        ("stream_options", Ignored),
        ("temperature", Supported),
        ("text", Supported),
        ("tool_choice", Supported),
        ("tools", Supported),
        ("top_logprobs", Refused),
        ("top_p", Supported),
        ("truncation", Refused),
        ("user", Ignored),
    ];
}

/// A Responses tool: flat, unlike chat's `{"type": "function", "function": {...}}`.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct FunctionTool {
    #[serde(rename = "type")]
    pub kind: String,
    pub name: Option<String>,
    pub description: Option<String>,
    pub parameters: Option<Value>,
    pub strict: Option<bool>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(untagged)]
pub enum ToolChoiceParam {
    Mode(String),
    Named {
        #[serde(rename = "type")]
        kind: String,
        name: Option<String>,
    },
}

#[derive(Debug, Deserialize)]
pub struct TextParam {
    pub format: Option<TextFormat>,
    /// GPT-5's answer length: nothing to say to a model that reads no such setting.
    #[serde(default, rename = "verbosity")]
    pub _verbosity: IgnoredAny,
}

/// `text.format`: flat, unlike chat's `response_format.json_schema`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum TextFormat {
    Text,
    JsonObject,
    JsonSchema {
        name: String,
        description: Option<String>,
        schema: Option<Value>,
        strict: Option<bool>,
    },
}

impl ResponsesBody {
    /// Refuses what only a server that stores responses, or runs OpenAI's own tools, can do.
    /// Before the model is looked up: a bad request is a 400 even while the model loads.
    pub fn check(&self) -> ApiResult<()> {
        let set = |value: &Option<Value>, default: Value| {
            value
                .as_ref()
                .is_some_and(|v| !v.is_null() && *v != default)
        };
        if set(&self.previous_response_id, Value::Null) {
            return Err(ApiError::unsupported(
                "previous_response_id",
                "This server stores no responses, so `previous_response_id` refers to nothing. Send the whole conversation in `input`: the earlier input items, then the output items you received.",
            ));
        }
        if set(&self.conversation, Value::Null) {
            return Err(ApiError::unsupported(
                "conversation",
                "This server stores no conversations. Send the whole conversation in `input`.",
            ));
        }
        if set(&self.background, Value::Bool(false)) {
            return Err(ApiError::unsupported(
                "background",
                "Background responses would have to be stored; this server stores none. Send `stream: true` to read a long answer as it is made.",
            ));
        }
        if set(&self.prompt, Value::Null) {
            return Err(ApiError::unsupported(
                "prompt",
                "Stored prompt templates are not supported; send the text in `instructions` and `input`.",
            ));
        }
        if self.include.as_ref().is_some_and(|items| !items.is_empty()) {
            return Err(ApiError::unsupported(
                "include",
                "This server produces none of the extra outputs `include` asks for (encrypted reasoning, logprobs, tool results); send `include: []` or leave it out.",
            ));
        }
        if set(&self.top_logprobs, Value::from(0)) {
            return Err(ApiError::unsupported(
                "top_logprobs",
                "Logprobs are not made on /v1/responses yet; /v1/chat/completions has them (`logprobs`, `top_logprobs`).",
            ));
        }
        if set(&self.truncation, Value::from("disabled")) {
            return Err(ApiError::unsupported(
                "truncation",
                "Only `truncation: \"disabled\"` is supported: this server never drops part of a conversation; a request that does not fit is refused.",
            ));
        }
        match &self.input {
            None => Err(ApiError::missing("input")),
            Some(input) => input.check(),
        }
    }

    /// Sampling and budget, checked by chat's own code under chat's names (renamed by the
    /// caller).
    pub fn settings(&self) -> ApiResult<Settings> {
        GenerationBody {
            model: None,
            max_tokens: self.max_output_tokens,
            max_completion_tokens: None,
            temperature: self.temperature,
            top_p: self.top_p,
            top_k: None,
            min_p: None,
            seed: None,
            stop: None,
            presence_penalty: None,
            frequency_penalty: None,
            repeat_penalty: None,
            logit_bias: None,
            stream: self.stream,
            stream_options: None,
            n: None,
            _user: IgnoredAny,
            // Refused by `check` unless 0, which asks for nothing.
            logprobs: None,
            top_logprobs: None,
        }
        .settings()
    }
}
