//! Turns the engine's events into the response: one JSON object, or a server-sent event stream.
//! A chat reply's text goes through the tool-call and reasoning parser first, so calls and
//! thinking arrive in their own fields, never in `content`.

use std::convert::Infallible;
use std::time::Duration;

use axum::http::{header, HeaderValue};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures::{Stream, StreamExt};
use tokio::sync::mpsc::UnboundedReceiver;

use super::error::{ApiError, ApiResult};
use super::response::{
    AssistantMessage, ChatChoice, ChatLogprobs, Completion, FunctionCall, PromptTokensDetails,
    TextChoice, TextLogprobs, ToolCall, Usage, CHAT_COMPLETION, TEXT_COMPLETION,
};
use crate::engine::{Event, Finish, FinishReason, TokenLogprob};
use crate::tool_calls::{self, StreamParser};

/// The identity of one response, repeated in every chunk.
pub struct Meta {
    pub id: String,
    pub created: u64,
    pub model: String,
    /// The request asked for logprobs: replies carry a list, empty if no token was made.
    pub logprobs: bool,
}

/// How the generated text becomes a reply.
pub enum Shape {
    /// `/v1/completions`: the text as generated.
    Text,
    /// `/v1/chat/completions`: through the parser.
    Chat(StreamParser),
}

impl Meta {
    pub fn completion<C>(
        &self,
        object: &'static str,
        choices: Vec<C>,
        usage: Option<Option<Usage>>,
    ) -> Completion<C> {
        Completion {
            id: self.id.clone(),
            object,
            created: self.created,
            model: self.model.clone(),
            choices,
            usage,
        }
    }
}

pub fn call_id() -> String {
    format!("call_{}", uuid::Uuid::new_v4().simple())
}

/// `finish_reason` as OpenAI names it: a reply that made calls ended to have them run.
pub fn finish_reason(reason: FinishReason, made_calls: bool) -> &'static str {
    match reason {
        FinishReason::Stop if made_calls => "tool_calls",
        FinishReason::Stop => "stop",
        FinishReason::Length => "length",
    }
}

/// One step of a chat reply, split by its parser: what every API shape renders in its own
/// events (chat's chunks here; the Responses and Messages endpoints their own).
pub enum ChatOutput {
    Delta(tool_calls::Delta),
    /// A token's log-probability (only when asked for), before the text it adds.
    Logprob(TokenLogprob),
    Done(Finish),
    /// The engine failed; nothing follows.
    Failed(ApiError),
}

/// The engine's events of a chat reply, through its parser. Ends with `Done` or `Failed`.
pub fn chat_outputs(
    mut parser: StreamParser,
    mut events: UnboundedReceiver<Event>,
) -> impl Stream<Item = ChatOutput> + Send {
    async_stream::stream! {
        let finish = loop {
            match events.recv().await {
                Some(Event::Text(piece)) => {
                    for delta in parser.push(&piece) {
                        yield ChatOutput::Delta(delta);
                    }
                }
                Some(Event::Logprob(logprob)) => yield ChatOutput::Logprob(logprob),
                Some(Event::Done(finish)) => break finish,
                Some(Event::Failed(reason)) => {
                    yield ChatOutput::Failed(ApiError::generation_failed(&reason));
                    return;
                }
                None => {
                    yield ChatOutput::Failed(ApiError::engine_stopped());
                    return;
                }
            }
        };
        for delta in parser.finish() {
            yield ChatOutput::Delta(delta);
        }
        yield ChatOutput::Done(finish);
    }
}

/// A whole chat reply: its content, reasoning and calls, how it ended, and each token's
/// log-probability when the request asked for them.
pub async fn chat_reply(
    parser: StreamParser,
    events: UnboundedReceiver<Event>,
) -> ApiResult<(tool_calls::Parsed, Finish, Vec<TokenLogprob>)> {
    let outputs = chat_outputs(parser, events);
    futures::pin_mut!(outputs);
    let mut deltas = Vec::new();
    let mut logprobs = Vec::new();
    while let Some(output) = outputs.next().await {
        match output {
            ChatOutput::Delta(delta) => deltas.push(delta),
            ChatOutput::Logprob(logprob) => logprobs.push(logprob),
            ChatOutput::Done(finish) => return Ok((tool_calls::collect(deltas), finish, logprobs)),
            ChatOutput::Failed(error) => return Err(error),
        }
    }
    Err(ApiError::engine_stopped())
}

/// A whole text completion of one choice: its text, logprobs and how it ended.
async fn text_reply(
    mut events: UnboundedReceiver<Event>,
) -> ApiResult<(String, Vec<TokenLogprob>, Finish)> {
    let mut text = String::new();
    let mut logprobs = Vec::new();
    while let Some(event) = events.recv().await {
        match event {
            Event::Text(piece) => text.push_str(&piece),
            Event::Logprob(logprob) => logprobs.push(logprob),
            Event::Done(finish) => return Ok((text, logprobs, finish)),
            Event::Failed(reason) => return Err(ApiError::generation_failed(&reason)),
        }
    }
    Err(ApiError::engine_stopped())
}

/// The usage of a request's choices: its prompt counted once, every choice's completion.
pub fn usage_of(finishes: &[Finish]) -> Usage {
    let (prompt_tokens, cached_tokens) = finishes
        .first()
        .map_or((0, 0), |first| (first.prompt_tokens, first.cached_tokens));
    let completion_tokens = finishes.iter().map(|f| f.completion_tokens).sum();
    Usage {
        prompt_tokens,
        completion_tokens,
        total_tokens: prompt_tokens + completion_tokens,
        prompt_tokens_details: PromptTokensDetails { cached_tokens },
    }
}

/// The whole reply: one choice per receiver, in order (`n`).
pub async fn collect(
    meta: Meta,
    shape: Shape,
    choices: Vec<UnboundedReceiver<Event>>,
) -> ApiResult<Response> {
    let parser = match shape {
        Shape::Chat(parser) => parser,
        Shape::Text => {
            let replies =
                futures::future::try_join_all(choices.into_iter().map(text_reply)).await?;
            let finishes: Vec<Finish> = replies.iter().map(|(_, _, finish)| *finish).collect();
            let choices = replies
                .into_iter()
                .zip(0..)
                .map(|((text, logprobs, finish), index)| TextChoice {
                    index,
                    text,
                    logprobs: meta.logprobs.then(|| TextLogprobs::of(logprobs, 0)),
                    finish_reason: Some(finish_reason(finish.reason, false)),
                })
                .collect();
            let usage = Some(Some(usage_of(&finishes)));
            let body = meta.completion(TEXT_COMPLETION, choices, usage);
            return Ok(axum::Json(body).into_response());
        }
    };
    let parsers = parsers(parser, choices.len());
    let replies = futures::future::try_join_all(
        parsers
            .into_iter()
            .zip(choices)
            .map(|(parser, events)| chat_reply(parser, events)),
    )
    .await?;
    let finishes: Vec<Finish> = replies.iter().map(|(_, finish, _)| *finish).collect();
    let choices = replies
        .into_iter()
        .zip(0..)
        .map(|((reply, finish, logprobs), index)| {
            let made_calls = !reply.calls.is_empty();
            let calls = reply
                .calls
                .into_iter()
                .map(|call| ToolCall {
                    id: call_id(),
                    kind: "function",
                    function: FunctionCall {
                        name: call.name,
                        arguments: call.arguments,
                    },
                })
                .collect();
            ChatChoice {
                index,
                message: AssistantMessage {
                    role: "assistant",
                    content: (!(made_calls && reply.content.is_empty())).then_some(reply.content),
                    reasoning_content: (!reply.reasoning.is_empty()).then_some(reply.reasoning),
                    tool_calls: calls,
                },
                logprobs: meta.logprobs.then(|| ChatLogprobs::of(logprobs)),
                finish_reason: finish_reason(finish.reason, made_calls),
            }
        })
        .collect();
    let usage = Some(Some(usage_of(&finishes)));
    Ok(axum::Json(meta.completion(CHAT_COMPLETION, choices, usage)).into_response())
}

/// A parser per choice: the request's, then fresh copies of it.
pub fn parsers(first: StreamParser, n: usize) -> Vec<StreamParser> {
    let mut parsers: Vec<StreamParser> = (1..n).map(|_| first.fresh()).collect();
    parsers.insert(0, first);
    parsers
}

pub fn sse_response(
    body: impl Stream<Item = Result<SseEvent, Infallible>> + Send + 'static,
) -> Response {
    let mut response = Sse::new(body)
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
        .into_response();
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    // Tell reverse proxies such as nginx to pass each token on at once.
    headers.insert("x-accel-buffering", HeaderValue::from_static("no"));
    response
}

pub fn data(value: &impl serde::Serialize) -> Result<SseEvent, Infallible> {
    let json = serde_json::to_string(value).unwrap_or_default();
    Ok(SseEvent::default().data(json))
}
