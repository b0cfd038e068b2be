//! The response bodies of the Messages routes, as Anthropic shapes them.

use serde::Serialize;
use serde_json::Value;

use crate::api::error::{ApiError, ApiResult};
use crate::engine::{Finish, FinishReason};
use crate::tool_calls::Parsed;

/// A whole reply (`"type": "message"`); `message_start` carries one with no content yet.
#[derive(Debug, Serialize)]
pub struct MessageBody {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub role: &'static str,
    pub model: String,
    pub content: Vec<ContentBlock>,
    pub stop_reason: Option<&'static str>,
    pub stop_sequence: Option<String>,
    pub usage: Usage,
}

#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ContentBlock {
    Text {
        text: String,
    },
    ToolUse {
        id: String,
        name: String,
        input: Value,
    },
    /// A reasoning model's thinking, when the client asked for it. sotto signs nothing: the
    /// signature is empty, and thinking sent back is dropped anyway.
    Thinking {
        thinking: String,
        signature: String,
    },
}

/// Anthropic counts cached prompt tokens apart: `input_tokens` are the ones prefilled, so
/// `input_tokens + cache_read_input_tokens` is the whole prompt (what `count_tokens` says).
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Usage {
    pub input_tokens: u32,
    pub output_tokens: u32,
    pub cache_read_input_tokens: u32,
    /// Always 0: the prompt cache is filled as a side effect, at no extra cost.
    pub cache_creation_input_tokens: u32,
}

impl Usage {
    pub fn of(finish: &Finish) -> Self {
        let cached = finish.cached_tokens.min(finish.prompt_tokens);
        Self {
            input_tokens: finish.prompt_tokens - cached,
            output_tokens: finish.completion_tokens,
            cache_read_input_tokens: cached,
            cache_creation_input_tokens: 0,
        }
    }
}

/// `POST /v1/messages/count_tokens`' answer.
#[derive(Debug, Serialize)]
pub struct TokenCount {
    pub input_tokens: usize,
}

/// What every reply to one request shares.
pub struct Reply {
    pub id: String,
    pub model: String,
    /// The request's `stop_sequences`, to name the one that ended the reply.
    pub stops: Vec<String>,
    /// Thinking comes back as `thinking` blocks (else it was dropped by the parser).
    pub thinking: bool,
}

impl Reply {
    /// `stop_reason` and `stop_sequence` of a reply that ended so, with or without calls.
    pub fn stop(&self, finish: &Finish, made_calls: bool) -> (&'static str, Option<String>) {
        match finish.reason {
            FinishReason::Length => ("max_tokens", None),
            FinishReason::Stop if made_calls => ("tool_use", None),
            FinishReason::Stop => match finish.stop_sequence.and_then(|i| self.stops.get(i)) {
                Some(stop) => ("stop_sequence", Some(stop.clone())),
                None => ("end_turn", None),
            },
        }
    }

    pub fn message(&self, content: Vec<ContentBlock>, usage: Usage) -> MessageBody {
        MessageBody {
            id: self.id.clone(),
            kind: "message",
            role: "assistant",
            model: self.model.clone(),
            content,
            stop_reason: None,
            stop_sequence: None,
            usage,
        }
    }

    /// The whole reply: thinking (when asked for), text, then the calls.
    pub fn whole(&self, parsed: Parsed, finish: &Finish) -> ApiResult<MessageBody> {
        let made_calls = !parsed.calls.is_empty();
        let mut content = Vec::new();
        if self.thinking && !parsed.reasoning.is_empty() {
            content.push(ContentBlock::Thinking {
                thinking: parsed.reasoning,
                signature: String::new(),
            });
        }
        // A reply with nothing else still has its (empty) text block, which clients read.
        if !parsed.content.is_empty() || !made_calls {
            content.push(ContentBlock::Text {
                text: parsed.content,
            });
        }
        for call in parsed.calls {
            // The parser only lets through arguments its function's schema accepts.
            let input = serde_json::from_str(&call.arguments).map_err(ApiError::internal)?;
            content.push(ContentBlock::ToolUse {
                id: tool_use_id(),
                name: call.name,
                input,
            });
        }
        let (reason, sequence) = self.stop(finish, made_calls);
        Ok(MessageBody {
            stop_reason: Some(reason),
            stop_sequence: sequence,
            ..self.message(content, Usage::of(finish))
        })
    }
}

pub fn message_id() -> String {
    format!("msg_{}", uuid::Uuid::new_v4().simple())
}

pub fn tool_use_id() -> String {
    format!("toolu_{}", uuid::Uuid::new_v4().simple())
}
