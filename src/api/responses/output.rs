//! The Response object in OpenAI's shape, as the official SDKs' models read it: the output
//! items, usage, and the echo of the request's settings. `store` is always `false`.

use serde::Serialize;

use super::request::{FunctionTool, TextFormat, ToolChoiceParam};
use crate::api::error::ApiError;
use crate::engine::Finish;

/// An array that is always empty (`annotations`, `logprobs`, `summary`): sotto makes none.
pub type Empty = [u8; 0];

#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    InProgress,
    Completed,
    Incomplete,
    Failed,
}

#[derive(Debug, Clone, Serialize)]
pub struct Response {
    pub id: String,
    pub object: &'static str,
    pub created_at: u64,
    pub status: Status,
    pub background: bool,
    pub error: Option<ResponseError>,
    pub incomplete_details: Option<IncompleteDetails>,
    pub instructions: Option<String>,
    pub max_output_tokens: Option<u32>,
    pub metadata: Metadata,
    pub model: String,
    pub output: Vec<OutputItem>,
    pub parallel_tool_calls: bool,
    pub previous_response_id: Option<String>,
    pub reasoning: Reasoning,
    pub store: bool,
    pub temperature: f32,
    pub text: Text,
    pub tool_choice: ToolChoiceParam,
    pub tools: Vec<FunctionTool>,
    pub top_p: f32,
    pub truncation: &'static str,
    pub usage: Option<Usage>,
    pub user: Option<String>,
}

/// `metadata` is accepted and ignored: the echo is always an empty object.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Metadata {}

#[derive(Debug, Clone, Serialize)]
pub struct ResponseError {
    pub code: String,
    pub message: String,
}

impl From<&ApiError> for ResponseError {
    fn from(error: &ApiError) -> Self {
        let body = error.body();
        Self {
            code: body.error.code.unwrap_or("server_error").to_owned(),
            message: body.error.message.to_owned(),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct IncompleteDetails {
    pub reason: &'static str,
}

/// `reasoning` is accepted and ignored; the echo says no effort was set.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Reasoning {
    pub effort: Option<&'static str>,
    pub summary: Option<&'static str>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Text {
    pub format: TextFormat,
}

#[derive(Debug, Clone, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum OutputItem {
    Message {
        id: String,
        status: Status,
        role: &'static str,
        content: Vec<OutputText>,
    },
    FunctionCall {
        id: String,
        call_id: String,
        name: String,
        arguments: String,
        status: Status,
    },
    Reasoning {
        id: String,
        summary: Empty,
        content: Vec<ReasoningText>,
        status: Status,
    },
}

impl OutputItem {
    pub fn id(&self) -> &str {
        match self {
            OutputItem::Message { id, .. }
            | OutputItem::FunctionCall { id, .. }
            | OutputItem::Reasoning { id, .. } => id,
        }
    }

    pub fn set_status(&mut self, to: Status) {
        match self {
            OutputItem::Message { status, .. }
            | OutputItem::FunctionCall { status, .. }
            | OutputItem::Reasoning { status, .. } => *status = to,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Part {
    OutputText {
        text: String,
        annotations: Empty,
        logprobs: Empty,
    },
    ReasoningText {
        text: String,
    },
}

/// A message's text: the one content part sotto writes.
pub type OutputText = Part;
/// A reasoning item's text.
pub type ReasoningText = Part;

impl Part {
    pub fn output_text(text: String) -> Self {
        Part::OutputText {
            text,
            annotations: [],
            logprobs: [],
        }
    }

    pub fn text_mut(&mut self) -> &mut String {
        match self {
            Part::OutputText { text, .. } | Part::ReasoningText { text } => text,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Usage {
    pub input_tokens: u32,
    pub input_tokens_details: InputDetails,
    pub output_tokens: u32,
    pub output_tokens_details: OutputDetails,
    pub total_tokens: u32,
}

#[derive(Debug, Clone, Serialize)]
pub struct InputDetails {
    pub cached_tokens: u32,
    /// Prompt caching here needs no writes to pay for.
    pub cache_write_tokens: u32,
}

#[derive(Debug, Clone, Serialize)]
pub struct OutputDetails {
    /// Not counted apart: thinking is in `output_tokens`.
    pub reasoning_tokens: u32,
}

impl From<&Finish> for Usage {
    fn from(finish: &Finish) -> Self {
        Self {
            input_tokens: finish.prompt_tokens,
            input_tokens_details: InputDetails {
                cached_tokens: finish.cached_tokens,
                cache_write_tokens: 0,
            },
            output_tokens: finish.completion_tokens,
            output_tokens_details: OutputDetails {
                reasoning_tokens: 0,
            },
            total_tokens: finish.prompt_tokens + finish.completion_tokens,
        }
    }
}
