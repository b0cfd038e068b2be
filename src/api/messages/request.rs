//! The body of `POST /v1/messages` and `/v1/messages/count_tokens`, as Anthropic shapes it, and
//! its translation into chat's [`ChatJob`]: from there on both APIs share one path.
//!
//! Blocks are read as plain records and checked here, so that a wrong block names its place
//! (`messages[2].content[1].type`) rather than failing as a whole message.

use serde::de::IgnoredAny;
use serde::Deserialize;
use serde_json::Value;

use super::convert;
use crate::api::chat::ChatJob;
use crate::api::error::{ApiError, ApiResult};
use crate::api::request::{
    ContentPart, Documented, Field, GenerationBody, ReasoningFormat, Stop, Support::*,
};

#[derive(Debug, Deserialize)]
pub struct MessagesRequest {
    pub model: Option<String>,
    pub max_tokens: Option<u32>,
    pub system: Option<System>,
    pub messages: Option<Vec<InputMessage>>,
    pub tools: Option<Vec<Tool>>,
    pub tool_choice: Option<ToolChoiceParam>,
    pub stop_sequences: Option<Vec<String>>,
    pub temperature: Option<f32>,
    pub top_p: Option<f32>,
    pub top_k: Option<i32>,
    pub stream: Option<bool>,
    pub thinking: Option<Thinking>,
    // What sotto cannot do: a 400 naming the field when set.
    container: Option<IgnoredAny>,
    output_config: Option<IgnoredAny>,
}

/// Every top-level field Anthropic's Python SDK sends for Messages, in `docs/compatibility.md`'s
/// order (`temperature`, `top_k` and `top_p` are Anthropic's older documented fields).
impl Documented for MessagesRequest {
    const FIELDS: &'static [Field] = &[
        ("max_tokens", Supported),
        ("messages", Supported),
        ("model", Supported),
        ("cache_control", Ignored),
        ("container", Refused),
        ("diagnostics", Ignored),
        ("inference_geo", Ignored),
        ("metadata", Ignored),
        ("output_config", Refused),
        ("service_tier", Ignored),
        ("speed", Ignored),
        ("stop_sequences", Supported),
        ("stream", Supported),
        ("system", Supported),
        ("temperature", Supported),
        ("thinking", Supported),
        ("tool_choice", Supported),
        ("tools", Supported),
        ("top_k", Supported),
        ("top_p", Supported),
    ];
}

/// `count_tokens` reads the same body; these are the fields Anthropic documents for it.
#[derive(Debug, Deserialize)]
#[serde(transparent)]
pub struct CountTokensRequest(pub MessagesRequest);

impl Documented for CountTokensRequest {
    const FIELDS: &'static [Field] = &[
        ("messages", Supported),
        ("model", Supported),
        ("cache_control", Ignored),
        ("output_config", Refused),
        ("speed", Ignored),
        ("system", Supported),
        ("thinking", Supported),
        ("tool_choice", Supported),
        ("tools", Supported),
    ];
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum System {
    Text(String),
    Blocks(Vec<ContentPart>),
}

#[derive(Debug, Deserialize)]
pub struct InputMessage {
    pub role: InputRole,
    pub content: InputContent,
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum InputRole {
    User,
    Assistant,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum InputContent {
    Text(String),
    Blocks(Vec<Block>),
}

/// One content block, whatever its `type`; [`convert`] checks it has what its type needs.
/// `cache_control`, `citations` and other annotations are not read.
#[derive(Debug, Deserialize)]
pub struct Block {
    #[serde(rename = "type")]
    pub kind: String,
    pub text: Option<String>,
    pub id: Option<String>,
    pub name: Option<String>,
    pub input: Option<Value>,
    pub tool_use_id: Option<String>,
    pub content: Option<ToolResultContent>,
    pub is_error: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum ToolResultContent {
    Text(String),
    Blocks(Vec<ContentPart>),
}

#[derive(Debug, Deserialize)]
pub struct Tool {
    /// Set by Anthropic's server tools (`web_search_20250305`, `bash_20250124`, ...); a client
    /// tool has none, or `custom`.
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub name: Option<String>,
    pub description: Option<String>,
    pub input_schema: Option<Value>,
}

#[derive(Debug, Deserialize)]
pub struct ToolChoiceParam {
    #[serde(rename = "type")]
    pub kind: String,
    pub name: Option<String>,
    pub disable_parallel_tool_use: Option<bool>,
}

#[derive(Debug, Deserialize)]
pub struct Thinking {
    #[serde(rename = "type")]
    pub kind: String,
    // `budget_tokens` is not read: thinking counts against `max_tokens` like the rest.
}

/// A request in chat's terms, with what the reply needs to know of the original.
pub struct Translated {
    pub job: ChatJob,
    /// `stop_sequences`, so that the reply can name the one that ended it.
    pub stops: Vec<String>,
    /// The client asked for thinking: a reasoning model's thinking comes back as `thinking`
    /// blocks. Without it, the thinking is dropped.
    pub thinking: bool,
}

impl MessagesRequest {
    /// Checks the request and translates it. `max_tokens` is required to generate (as
    /// Anthropic requires it), not to count tokens.
    pub fn translate(self, generate: bool) -> ApiResult<Translated> {
        let max_tokens = match self.max_tokens {
            None if generate => return Err(ApiError::missing("max_tokens")),
            other => other,
        };
        for (field, set) in [
            ("container", self.container.is_some()),
            ("output_config", self.output_config.is_some()),
        ] {
            if set {
                return Err(ApiError::unsupported(
                    field,
                    format!("`{field}` is not supported by this server."),
                ));
            }
        }
        // Anthropic's range; chat's own check (0 to 2) runs after it.
        if self.temperature.is_some_and(|t| !(0.0..=1.0).contains(&t)) {
            return Err(ApiError::invalid_value(
                "temperature",
                "`temperature` must be between 0 and 1.",
            ));
        }
        let thinking = match self.thinking.as_ref().map(|t| t.kind.as_str()) {
            None | Some("disabled") => false,
            Some("enabled" | "adaptive") => true,
            Some(_) => {
                return Err(ApiError::invalid_value(
                    "thinking.type",
                    "`thinking.type` is `enabled`, `adaptive` or `disabled`.",
                ))
            }
        };
        let messages = self
            .messages
            .as_deref()
            .ok_or_else(|| ApiError::missing("messages"))?;
        let messages = convert::messages(self.system.as_ref(), messages)?;
        let tools = convert::tools(self.tools.as_deref(), self.tool_choice.as_ref())?;
        let stops = self.stop_sequences.unwrap_or_default();
        let settings = GenerationBody {
            max_tokens,
            temperature: self.temperature,
            top_p: self.top_p,
            top_k: self.top_k,
            stop: Some(Stop::Many(stops.clone())),
            stream: self.stream,
            ..GenerationBody::default()
        }
        .settings()?;
        Ok(Translated {
            job: ChatJob {
                model: self.model,
                settings,
                messages,
                tools,
                response: None,
                reasoning_format: if thinking {
                    ReasoningFormat::Auto
                } else {
                    ReasoningFormat::Hidden
                },
            },
            stops,
            thinking,
        })
    }
}
