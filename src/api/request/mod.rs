//! The request bodies of `/v1/chat/completions`, `/v1/completions` and `/v1/embeddings`, and
//! their validation into engine settings. Each check names the field it rejects.
//!
//! A body is read twice: once as the fields both endpoints share ([`GenerationBody`]), once as
//! its endpoint's own ([`ChatFields`], [`CompletionFields`]). Each endpoint's type also lists the
//! other's fields, so one sent to the wrong endpoint is named in an error, never ignored.

mod chat;
mod completion;
mod embedding;
mod fields;
mod tools;

pub use chat::{
    conversation, CalledFunction, ChatFields, Content, ContentPart, Message, MessageToolCall,
    ReasoningFormat, Role,
};
pub use completion::{CompletionFields, Prompt};
pub use embedding::{EmbeddingFields, EncodingFormat, InputItem};
pub use fields::{Documented, Field, IgnoredParams, Support, IGNORED_PARAMS_HEADER};
pub use tools::{
    tool_set, FunctionDef, NamedFunction, ToolChoice, ToolChoiceField, ToolDef, ToolSet,
};

use std::collections::HashMap;

use llama_cpp_2::token::LlamaToken;
use serde::Deserialize;
use serde_json::Value;

use super::error::{ApiError, ApiResult};
use crate::engine::{SamplingParams, MAX_TOP_LOGPROBS};

/// Most stop sequences per request.
const MAX_STOPS: usize = 16;

/// `Default` lets another API shape (Anthropic's Messages) fill in the fields it has and check
/// them here, with the same ranges and messages.
#[derive(Debug, Default, Deserialize)]
pub struct GenerationBody {
    pub model: Option<String>,
    pub max_tokens: Option<u32>,
    pub max_completion_tokens: Option<u32>,
    pub temperature: Option<f32>,
    pub top_p: Option<f32>,
    pub top_k: Option<i32>,
    pub min_p: Option<f32>,
    pub seed: Option<i64>,
    pub stop: Option<Stop>,
    pub presence_penalty: Option<f32>,
    pub frequency_penalty: Option<f32>,
    pub repeat_penalty: Option<f32>,
    pub logit_bias: Option<HashMap<String, f32>>,
    pub stream: Option<bool>,
    pub stream_options: Option<StreamOptions>,
    pub n: Option<u32>,
    /// Accepted for compatibility and dropped: the server keeps nothing about requests.
    #[serde(default, rename = "user")]
    pub _user: serde::de::IgnoredAny,
    /// Chat's is a bool, legacy completions' a count: each endpoint reads its own.
    pub logprobs: Option<Value>,
    pub top_logprobs: Option<Value>,
}

#[derive(Debug, Deserialize)]
pub struct StreamOptions {
    pub include_usage: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum Stop {
    One(String),
    Many(Vec<String>),
}

/// Validated settings of one request, before the model is known.
#[derive(Debug)]
pub struct Settings {
    pub sampling: SamplingParams,
    pub max_tokens: Option<u32>,
    pub stop: Vec<String>,
    pub stream: bool,
    pub include_usage: bool,
    /// Alternatives to report with each token's log-probability; `None`: no logprobs. Set by
    /// the endpoint: chat and legacy completions spell the request differently.
    pub logprobs: Option<u8>,
    /// Choices to generate (`n`); at most the model's slots, checked once it is known.
    pub n: u32,
    logit_bias: Vec<(u32, f32)>,
}

impl Settings {
    /// Adds the logit biases once the vocabulary size is known.
    pub fn sampling_for(&self, n_vocab: i32) -> ApiResult<SamplingParams> {
        let mut sampling = self.sampling.clone();
        for &(token, bias) in &self.logit_bias {
            let token = i32::try_from(token)
                .ok()
                .filter(|t| *t < n_vocab)
                .ok_or_else(|| ApiError::invalid_value("logit_bias", format!("Token ids in `logit_bias` must be below the model's vocabulary size ({n_vocab}).")))?;
            sampling.logit_bias.push((LlamaToken(token), bias));
        }
        Ok(sampling)
    }
}

impl GenerationBody {
    /// Checks every field shared by both endpoints. `logprobs` is left to the endpoint
    /// ([`Self::chat_logprobs`], [`Self::completion_logprobs`]).
    pub fn settings(&self) -> ApiResult<Settings> {
        let defaults = SamplingParams::default();
        let sampling = SamplingParams {
            temperature: in_range("temperature", self.temperature, 0.0, 2.0)?
                .unwrap_or(defaults.temperature),
            top_p: in_range("top_p", self.top_p, 0.0, 1.0)?.unwrap_or(defaults.top_p),
            top_k: match self.top_k {
                Some(k) if k < 0 => {
                    return Err(ApiError::invalid_value(
                        "top_k",
                        "`top_k` must be 0 (off) or more.",
                    ))
                }
                Some(k) => k,
                None => defaults.top_k,
            },
            min_p: in_range("min_p", self.min_p, 0.0, 1.0)?.unwrap_or(defaults.min_p),
            // Any integer is a valid seed; llama.cpp takes 32 bits of it.
            seed: self.seed.map_or_else(random_seed, |seed| seed as u32),
            presence_penalty: in_range("presence_penalty", self.presence_penalty, -2.0, 2.0)?
                .unwrap_or(0.0),
            frequency_penalty: in_range("frequency_penalty", self.frequency_penalty, -2.0, 2.0)?
                .unwrap_or(0.0),
            repeat_penalty: match self.repeat_penalty {
                Some(p) if !(p.is_finite() && p > 0.0 && p <= 10.0) => {
                    return Err(ApiError::invalid_value(
                        "repeat_penalty",
                        "`repeat_penalty` must be above 0 and at most 10 (1 is off).",
                    ))
                }
                Some(p) => p,
                None => 1.0,
            },
            logit_bias: Vec::new(),
        };
        let max_tokens = match (self.max_completion_tokens, self.max_tokens) {
            (Some(0), _) => {
                return Err(ApiError::invalid_value(
                    "max_completion_tokens",
                    "`max_completion_tokens` must be at least 1.",
                ))
            }
            (None, Some(0)) => {
                return Err(ApiError::invalid_value(
                    "max_tokens",
                    "`max_tokens` must be at least 1.",
                ))
            }
            (Some(n), _) | (None, Some(n)) => Some(n),
            (None, None) => None,
        };
        let n = match self.n {
            Some(0) => return Err(ApiError::invalid_value("n", "`n` must be at least 1.")),
            Some(n) => n,
            None => 1,
        };
        let stream = self.stream.unwrap_or(false);
        if self.stream_options.is_some() && !stream {
            return Err(ApiError::invalid_value(
                "stream_options",
                "`stream_options` is only allowed when `stream` is true.",
            ));
        }
        Ok(Settings {
            sampling,
            max_tokens,
            stop: self.stops()?,
            stream,
            include_usage: self
                .stream_options
                .as_ref()
                .and_then(|o| o.include_usage)
                .unwrap_or(false),
            logprobs: None,
            n,
            logit_bias: self.logit_biases()?,
        })
    }

    /// Chat's `logprobs: true` with `top_logprobs` alternatives (0 to 20).
    pub fn chat_logprobs(&self) -> ApiResult<Option<u8>> {
        let wanted = match &self.logprobs {
            None | Some(Value::Null) | Some(Value::Bool(false)) => false,
            Some(Value::Bool(true)) => true,
            Some(_) => {
                return Err(ApiError::invalid_value(
                    "logprobs",
                    "`logprobs` must be true or false.",
                ))
            }
        };
        let top = match &self.top_logprobs {
            None | Some(Value::Null) => None,
            Some(value) => Some(top_count("top_logprobs", value)?),
        };
        match (wanted, top) {
            (false, Some(_)) => Err(ApiError::invalid_value(
                "top_logprobs",
                "`top_logprobs` needs `logprobs: true`.",
            )),
            (false, None) => Ok(None),
            (true, top) => Ok(Some(top.unwrap_or(0))),
        }
    }

    /// Legacy completions' `logprobs`: how many alternatives (0 to 20) to report with each
    /// token's log-probability. `top_logprobs` is chat's field.
    pub fn completion_logprobs(&self) -> ApiResult<Option<u8>> {
        // `0`, the default, asks for nothing.
        if self
            .top_logprobs
            .as_ref()
            .is_some_and(|v| !v.is_null() && v != &Value::from(0))
        {
            return Err(ApiError::invalid_value(
                "top_logprobs",
                "`top_logprobs` belongs to chat; /v1/completions takes `logprobs`: a count of alternatives.",
            ));
        }
        match &self.logprobs {
            None | Some(Value::Null) => Ok(None),
            Some(value) => top_count("logprobs", value).map(Some),
        }
    }

    fn stops(&self) -> ApiResult<Vec<String>> {
        let stops = match &self.stop {
            None => Vec::new(),
            Some(Stop::One(stop)) => vec![stop.clone()],
            Some(Stop::Many(stops)) => stops.clone(),
        };
        if stops.len() > MAX_STOPS {
            return Err(ApiError::invalid_value(
                "stop",
                format!("`stop` may hold at most {MAX_STOPS} sequences."),
            ));
        }
        if stops.iter().any(String::is_empty) {
            return Err(ApiError::invalid_value(
                "stop",
                "`stop` sequences must not be empty.",
            ));
        }
        Ok(stops)
    }

    fn logit_biases(&self) -> ApiResult<Vec<(u32, f32)>> {
        let Some(biases) = &self.logit_bias else {
            return Ok(Vec::new());
        };
        biases
            .iter()
            .map(|(token, &bias)| {
                let token = token.parse::<u32>().map_err(|_| {
                    ApiError::invalid_value(
                        "logit_bias",
                        "`logit_bias` keys must be token ids (non-negative integers).",
                    )
                })?;
                if !(-100.0..=100.0).contains(&bias) {
                    return Err(ApiError::invalid_value(
                        "logit_bias",
                        "`logit_bias` values must be between -100 and 100.",
                    ));
                }
                Ok((token, bias))
            })
            .collect()
    }
}

/// A count of alternatives per token: an integer from 0 to [`MAX_TOP_LOGPROBS`].
fn top_count(name: &str, value: &Value) -> ApiResult<u8> {
    value
        .as_u64()
        .and_then(|n| u8::try_from(n).ok())
        .filter(|&n| n <= MAX_TOP_LOGPROBS)
        .ok_or_else(|| {
            ApiError::invalid_value(
                name,
                format!("`{name}` must be an integer from 0 to {MAX_TOP_LOGPROBS}."),
            )
        })
}

fn in_range(name: &str, value: Option<f32>, min: f32, max: f32) -> ApiResult<Option<f32>> {
    match value {
        Some(v) if !(v.is_finite() && (min..=max).contains(&v)) => Err(ApiError::invalid_value(
            name,
            format!("`{name}` must be between {min} and {max}."),
        )),
        other => Ok(other),
    }
}

fn random_seed() -> u32 {
    // 32 random bits from the OS-seeded UUID generator; no extra dependency needed.
    uuid::Uuid::new_v4().as_u128() as u32
}
