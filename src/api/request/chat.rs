//! The fields only `/v1/chat/completions` reads: the conversation, tools, the response format
//! and how reasoning comes back.

use serde::de::IgnoredAny;
use serde::Deserialize;
use serde_json::Value;

use super::fields::{Documented, Field, Support::*};
use super::tools::{tool_set, ToolChoiceField, ToolDef, ToolSet};
use crate::api::error::{ApiError, ApiResult};
use crate::api::response_format::ResponseFormat;
use crate::chat_template::{TemplateFunction, TemplateMessage, TemplateToolCall};

#[derive(Debug, Deserialize)]
pub struct ChatFields {
    pub messages: Option<Vec<Message>>,
    pub tools: Option<Vec<ToolDef>>,
    pub tool_choice: Option<ToolChoiceField>,
    pub parallel_tool_calls: Option<bool>,
    pub response_format: Option<ResponseFormat>,
    pub reasoning_format: Option<ReasoningFormat>,
    // The legacy names of tools: named in an error, never half-supported.
    functions: Option<IgnoredAny>,
    function_call: Option<IgnoredAny>,
    // `/v1/completions`' own fields.
    prompt: Option<IgnoredAny>,
    echo: Option<IgnoredAny>,
    suffix: Option<IgnoredAny>,
    best_of: Option<IgnoredAny>,
}

/// Every top-level field OpenAI documents for chat, then llama.cpp's that sotto reads, in
/// `docs/compatibility.md`'s order. The shared ones are read by `GenerationBody`.
impl Documented for ChatFields {
    const FIELDS: &'static [Field] = &[
        ("messages", Supported),
        ("model", Supported),
        ("audio", Ignored),
        ("frequency_penalty", Supported),
        ("function_call", Refused),
        ("functions", Refused),
        ("logit_bias", Supported),
        ("logprobs", Supported),
        ("max_completion_tokens", Supported),
        ("max_tokens", Supported),
        ("metadata", Ignored),
        ("modalities", Ignored),
        ("moderation", Ignored),
        ("n", Supported),
        ("parallel_tool_calls", Supported),
        ("prediction", Ignored),
        ("presence_penalty", Supported),
        ("prompt_cache_key", Ignored),
        ("prompt_cache_options", Ignored),
        ("prompt_cache_retention", Ignored),
        ("reasoning_effort", Ignored),
        ("response_format", Supported),
        ("safety_identifier", Ignored),
        ("seed", Supported),
        ("service_tier", Ignored),
        ("stop", Supported),
        ("store", Ignored),
        ("stream", Supported),
        ("stream_options", Supported),
        ("temperature", Supported),
        ("tool_choice", Supported),
        ("tools", Supported),
        ("top_logprobs", Supported),
        ("top_p", Supported),
        ("user", Ignored),
        ("verbosity", Ignored),
        ("web_search_options", Ignored),
        // llama.cpp's server's.
        ("top_k", Supported),
        ("min_p", Supported),
        ("repeat_penalty", Supported),
        ("reasoning_format", Supported),
    ];
}

/// What happens to a reasoning model's thinking (llama.cpp's server names the field so).
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum ReasoningFormat {
    /// Apart from the answer, in `reasoning_content`.
    #[default]
    Auto,
    /// The same as `auto` (llama.cpp's name for it).
    Deepseek,
    /// Left inline in `content`, as the model wrote it.
    None,
    /// Dropped from the reply.
    Hidden,
}

#[derive(Debug, Deserialize)]
pub struct Message {
    pub role: Role,
    pub content: Option<Content>,
    pub tool_calls: Option<Vec<MessageToolCall>>,
    pub tool_call_id: Option<String>,
    pub name: Option<String>,
}

impl Message {
    /// A message with no calls, as the Responses and Messages translations build them.
    pub fn new(role: Role, content: Option<Content>) -> Self {
        Self {
            role,
            content,
            tool_calls: None,
            tool_call_id: None,
            name: None,
        }
    }

    pub fn text(role: Role, text: String) -> Self {
        Self::new(role, Some(Content::Text(text)))
    }
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    System,
    /// OpenAI's newer name for the system role.
    Developer,
    User,
    Assistant,
    Tool,
    /// The legacy role of function results: refused by name.
    Function,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum Content {
    Text(String),
    Parts(Vec<ContentPart>),
}

#[derive(Debug, Deserialize)]
pub struct ContentPart {
    #[serde(rename = "type")]
    pub kind: String,
    pub text: Option<String>,
}

/// A call an earlier assistant message made, replayed by the client.
#[derive(Debug, Deserialize)]
pub struct MessageToolCall {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub function: CalledFunction,
}

#[derive(Debug, Deserialize)]
pub struct CalledFunction {
    pub name: String,
    /// JSON text, as OpenAI sends it.
    pub arguments: String,
}

impl ChatFields {
    /// Refuses what chat cannot take: no messages, another endpoint's fields and the legacy
    /// function fields. Before the model is looked up: a bad request is a 400 even while the
    /// model loads.
    pub fn check(&self) -> ApiResult<()> {
        match &self.messages {
            None => return Err(ApiError::missing("messages")),
            Some(messages) if messages.is_empty() => {
                return Err(ApiError::invalid_value(
                    "messages",
                    "`messages` must hold at least one message.",
                ))
            }
            Some(_) => {}
        }
        let completions_only = [
            ("prompt", self.prompt.is_some()),
            ("echo", self.echo.is_some()),
            ("suffix", self.suffix.is_some()),
            ("best_of", self.best_of.is_some()),
        ];
        if let Some((field, _)) = completions_only.iter().find(|(_, set)| *set) {
            return Err(ApiError::invalid_value(
                *field,
                format!("`{field}` belongs to /v1/completions; chat takes `messages`."),
            ));
        }
        for (field, set) in [
            ("functions", self.functions.is_some()),
            ("function_call", self.function_call.is_some()),
        ] {
            if set {
                return Err(ApiError::unsupported(
                    field,
                    format!("The legacy `{field}` field is not supported; send `tools` and `tool_choice`."),
                ));
            }
        }
        Ok(())
    }

    pub fn tools(&self) -> ApiResult<Option<ToolSet>> {
        tool_set(
            self.tools.as_deref(),
            self.tool_choice.as_ref(),
            self.parallel_tool_calls,
        )
    }
}

/// The conversation for the template, checked. Tool calls and results go in the template's own
/// fields (`native`), or, for a template that knows no tools, as the JSON the server's generic
/// tool format uses, in `assistant` and `user` turns.
pub fn conversation(messages: &[Message], native: bool) -> ApiResult<Vec<TemplateMessage>> {
    messages
        .iter()
        .enumerate()
        .map(|(index, message)| template_message(index, message, native))
        .collect()
}

fn template_message(index: usize, message: &Message, native: bool) -> ApiResult<TemplateMessage> {
    let param = |field: &str| format!("messages[{index}].{field}");
    let content = match &message.content {
        None if matches!(message.role, Role::Assistant) => String::new(),
        None => return Err(ApiError::missing(&param("content"))),
        Some(Content::Text(text)) => text.clone(),
        Some(Content::Parts(parts)) => text_of_parts(index, parts)?,
    };
    let role = match message.role {
        Role::System | Role::Developer => "system",
        Role::User => "user",
        Role::Assistant => "assistant",
        Role::Tool => "tool",
        Role::Function => {
            return Err(ApiError::unsupported(
                param("role"),
                "The legacy `function` role is not supported; send results as `tool` messages.",
            ))
        }
    };
    if message.tool_calls.is_some() && message.role != Role::Assistant {
        return Err(ApiError::invalid_value(
            param("tool_calls"),
            "Only assistant messages carry `tool_calls`.",
        ));
    }
    let calls = calls_of(index, message.tool_calls.as_deref().unwrap_or_default())?;
    if message.role == Role::Tool {
        let id = message
            .tool_call_id
            .clone()
            .ok_or_else(|| ApiError::missing(&param("tool_call_id")))?;
        if !native {
            let response =
                serde_json::json!({ "tool_response": { "tool_call_id": id, "content": content } });
            return Ok(TemplateMessage::text("user", response.to_string()));
        }
        return Ok(TemplateMessage {
            tool_call_id: Some(id),
            name: message.name.clone(),
            ..TemplateMessage::text(role, content)
        });
    }
    if calls.is_empty() {
        return Ok(TemplateMessage::text(role, content));
    }
    if !native {
        let envelope = serde_json::json!({
            "tool_calls": calls.iter().map(|call| serde_json::json!({
                "name": call.function.name,
                "arguments": call.function.arguments,
            })).collect::<Vec<_>>()
        });
        let text = if content.is_empty() {
            envelope.to_string()
        } else {
            format!("{content}\n{envelope}")
        };
        return Ok(TemplateMessage::text(role, text));
    }
    Ok(TemplateMessage {
        tool_calls: Some(calls),
        ..TemplateMessage::text(role, content)
    })
}

fn calls_of(index: usize, calls: &[MessageToolCall]) -> ApiResult<Vec<TemplateToolCall>> {
    calls
        .iter()
        .enumerate()
        .map(|(call_index, call)| {
            let param = |field: &str| format!("messages[{index}].tool_calls[{call_index}].{field}");
            if call.kind.as_deref().is_some_and(|kind| kind != "function") {
                return Err(ApiError::unsupported(
                    param("type"),
                    "Only `function` tool calls are supported.",
                ));
            }
            let arguments: Value =
                serde_json::from_str(&call.function.arguments).map_err(|_| {
                    ApiError::invalid_value(
                        param("function.arguments"),
                        "`arguments` must be a JSON object, sent as a string.",
                    )
                })?;
            if !arguments.is_object() {
                return Err(ApiError::invalid_value(
                    param("function.arguments"),
                    "`arguments` must be a JSON object, sent as a string.",
                ));
            }
            Ok(TemplateToolCall {
                id: call.id.clone(),
                kind: "function",
                function: TemplateFunction {
                    name: call.function.name.clone(),
                    arguments,
                },
            })
        })
        .collect()
}

fn text_of_parts(index: usize, parts: &[ContentPart]) -> ApiResult<String> {
    let mut text = String::new();
    for (part_index, part) in parts.iter().enumerate() {
        let param = format!("messages[{index}].content[{part_index}]");
        if part.kind != "text" {
            return Err(ApiError::unsupported(
                format!("{param}.type"),
                "Only text content parts are supported.",
            ));
        }
        let part_text = part
            .text
            .as_deref()
            .ok_or_else(|| ApiError::missing(&format!("{param}.text")))?;
        // Parts are joined as written: the server inserts nothing between them.
        text.push_str(part_text);
    }
    Ok(text)
}
