//! The response bodies of both completion endpoints, whole and streamed, as OpenAI shapes them.

use serde::Serialize;

use crate::engine::{Alternative, Finish, TokenLogprob};

pub const CHAT_COMPLETION: &str = "chat.completion";
pub const CHAT_COMPLETION_CHUNK: &str = "chat.completion.chunk";
pub const TEXT_COMPLETION: &str = "text_completion";

/// A whole reply (`chat.completion` or `text_completion`), or one chunk of a streamed one
/// (`chat.completion.chunk`; a streamed text completion's chunks are `text_completion` too).
#[derive(Debug, Serialize)]
pub struct Completion<C> {
    pub id: String,
    pub object: &'static str,
    pub created: u64,
    pub model: String,
    pub choices: Vec<C>,
    /// Whole replies always carry it. Chunks carry `null` when the client asked for usage
    /// (`stream_options.include_usage`), and the usage in a last chunk with no choices.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub usage: Option<Option<Usage>>,
}

#[derive(Debug, Serialize)]
pub struct ChatChoice {
    pub index: u32,
    pub message: AssistantMessage,
    pub logprobs: Option<ChatLogprobs>,
    pub finish_reason: &'static str,
}

#[derive(Debug, Serialize)]
pub struct AssistantMessage {
    pub role: &'static str,
    /// `null` when the reply is only tool calls, as OpenAI sends it.
    pub content: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reasoning_content: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<ToolCall>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ToolCall {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub function: FunctionCall,
}

#[derive(Debug, Clone, Serialize)]
pub struct FunctionCall {
    pub name: String,
    /// The arguments as JSON text, as OpenAI sends them.
    pub arguments: String,
}

#[derive(Debug, Serialize)]
pub struct ChunkChoice {
    pub index: u32,
    pub delta: Delta,
    pub logprobs: Option<ChatLogprobs>,
    pub finish_reason: Option<&'static str>,
}

/// What one chunk adds to the reply; absent fields add nothing.
#[derive(Debug, Default, Serialize)]
pub struct Delta {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reasoning_content: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tool_calls: Option<Vec<ToolCallDelta>>,
}

/// A piece of a streamed tool call: `id`, `type` and the name come first, then `arguments`
/// fragments under the same `index`.
#[derive(Debug, Serialize)]
pub struct ToolCallDelta {
    pub index: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<&'static str>,
    pub function: FunctionDelta,
}

#[derive(Debug, Serialize)]
pub struct FunctionDelta {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub arguments: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct TextChoice {
    pub index: u32,
    pub text: String,
    pub logprobs: Option<TextLogprobs>,
    pub finish_reason: Option<&'static str>,
}

#[derive(Debug, Clone, Copy, Serialize)]
pub struct Usage {
    pub prompt_tokens: u32,
    pub completion_tokens: u32,
    pub total_tokens: u32,
    pub prompt_tokens_details: PromptTokensDetails,
}

#[derive(Debug, Clone, Copy, Serialize)]
pub struct PromptTokensDetails {
    pub cached_tokens: u32,
}

impl From<&Finish> for Usage {
    fn from(finish: &Finish) -> Self {
        Self {
            prompt_tokens: finish.prompt_tokens,
            completion_tokens: finish.completion_tokens,
            total_tokens: finish.prompt_tokens + finish.completion_tokens,
            prompt_tokens_details: PromptTokensDetails {
                cached_tokens: finish.cached_tokens,
            },
        }
    }
}

/// Chat's `logprobs`: one entry per generated token (of the content and of any tool calls'
/// text: the model writes both).
#[derive(Debug, Serialize)]
pub struct ChatLogprobs {
    pub content: Vec<TokenEntry>,
    /// Always `null`: sotto never refuses in a separate channel.
    pub refusal: Option<()>,
}

#[derive(Debug, Serialize)]
pub struct TokenEntry {
    pub token: String,
    pub logprob: f32,
    pub bytes: Vec<u8>,
    pub top_logprobs: Vec<TopEntry>,
}

#[derive(Debug, Serialize)]
pub struct TopEntry {
    pub token: String,
    pub logprob: f32,
    pub bytes: Vec<u8>,
}

impl ChatLogprobs {
    pub fn of(tokens: Vec<TokenLogprob>) -> Self {
        let entry = |alternative: &Alternative| TopEntry {
            token: String::from_utf8_lossy(&alternative.bytes).into_owned(),
            logprob: alternative.logprob,
            bytes: alternative.bytes.clone(),
        };
        let content = tokens
            .into_iter()
            .map(|token| {
                let TopEntry {
                    token: text,
                    logprob,
                    bytes,
                } = entry(&token.token);
                TokenEntry {
                    token: text,
                    logprob,
                    bytes,
                    top_logprobs: token.top.iter().map(entry).collect(),
                }
            })
            .collect();
        Self {
            content,
            refusal: None,
        }
    }
}

/// Legacy completions' `logprobs`: parallel lists, one item per token.
#[derive(Debug, Serialize)]
pub struct TextLogprobs {
    pub tokens: Vec<String>,
    pub token_logprobs: Vec<f32>,
    /// Each token's alternatives, text to logprob, most likely first.
    pub top_logprobs: Vec<TopMap>,
    /// Where each token starts in the completion's text, in characters.
    pub text_offset: Vec<usize>,
}

impl TextLogprobs {
    /// `offset`: where the first token starts (the characters streamed before it).
    pub fn of(tokens: Vec<TokenLogprob>, mut offset: usize) -> Self {
        let mut lists = Self {
            tokens: Vec::with_capacity(tokens.len()),
            token_logprobs: Vec::with_capacity(tokens.len()),
            top_logprobs: Vec::with_capacity(tokens.len()),
            text_offset: Vec::with_capacity(tokens.len()),
        };
        for token in tokens {
            let text = String::from_utf8_lossy(&token.token.bytes).into_owned();
            lists.text_offset.push(offset);
            offset += text.chars().count();
            lists.tokens.push(text);
            lists.token_logprobs.push(token.token.logprob);
            lists.top_logprobs.push(TopMap(
                token
                    .top
                    .iter()
                    .map(|alternative| {
                        (
                            String::from_utf8_lossy(&alternative.bytes).into_owned(),
                            alternative.logprob,
                        )
                    })
                    .collect(),
            ));
        }
        lists
    }

    /// Characters the listed tokens cover.
    pub fn chars(&self) -> usize {
        self.tokens.iter().map(|t| t.chars().count()).sum()
    }
}

/// A JSON object from token text to logprob, in the order given (most likely first). Two
/// tokens with the same text keep the first, as a JSON object can hold a key only once.
#[derive(Debug)]
pub struct TopMap(Vec<(String, f32)>);

impl Serialize for TopMap {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut seen = std::collections::HashSet::new();
        let mut map = serializer.serialize_map(None)?;
        for (token, logprob) in &self.0 {
            if seen.insert(token.as_str()) {
                map.serialize_entry(token, logprob)?;
            }
        }
        map.end()
    }
}
