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
    AssistantMessage, ChatChoice, ChatLogprobs, ChunkChoice, Completion, Delta, FunctionCall,
    FunctionDelta, TextChoice, TextLogprobs, ToolCall, ToolCallDelta, Usage, CHAT_COMPLETION,
    CHAT_COMPLETION_CHUNK, TEXT_COMPLETION,
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
    fn completion<C>(
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
                    yield ChatOutput::Failed(ApiError::generation_failed("the engine stopped"));
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
    Err(ApiError::generation_failed("the engine stopped"))
}

pub async fn collect(
    meta: Meta,
    shape: Shape,
    mut events: UnboundedReceiver<Event>,
) -> ApiResult<Response> {
    let parser = match shape {
        Shape::Chat(parser) => parser,
        Shape::Text => {
            let mut text = String::new();
            let mut logprobs = Vec::new();
            while let Some(event) = events.recv().await {
                match event {
                    Event::Text(piece) => text.push_str(&piece),
                    Event::Logprob(logprob) => logprobs.push(logprob),
                    Event::Done(finish) => {
                        let choice = TextChoice {
                            index: 0,
                            text,
                            logprobs: meta.logprobs.then(|| TextLogprobs::of(logprobs, 0)),
                            finish_reason: Some(finish_reason(finish.reason, false)),
                        };
                        let usage = Some(Some(Usage::from(&finish)));
                        let body = meta.completion(TEXT_COMPLETION, vec![choice], usage);
                        return Ok(axum::Json(body).into_response());
                    }
                    Event::Failed(reason) => return Err(ApiError::generation_failed(&reason)),
                }
            }
            return Err(ApiError::generation_failed("the engine stopped"));
        }
    };
    let (reply, finish, logprobs) = chat_reply(parser, events).await?;
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
    let choice = ChatChoice {
        index: 0,
        message: AssistantMessage {
            role: "assistant",
            content: (!(made_calls && reply.content.is_empty())).then_some(reply.content),
            reasoning_content: (!reply.reasoning.is_empty()).then_some(reply.reasoning),
            tool_calls: calls,
        },
        logprobs: meta.logprobs.then(|| ChatLogprobs::of(logprobs)),
        finish_reason: finish_reason(finish.reason, made_calls),
    };
    let usage = Some(Some(Usage::from(&finish)));
    Ok(axum::Json(meta.completion(CHAT_COMPLETION, vec![choice], usage)).into_response())
}

/// Chunks of a streamed chat reply: call ids are made here, when a call starts.
struct ChatChunks {
    /// Calls started so far.
    calls: usize,
}

impl ChatChunks {
    fn delta(&mut self, delta: tool_calls::Delta) -> Delta {
        match delta {
            tool_calls::Delta::Content(text) => Delta {
                content: Some(text),
                ..Delta::default()
            },
            tool_calls::Delta::Reasoning(text) => Delta {
                reasoning_content: Some(text),
                ..Delta::default()
            },
            tool_calls::Delta::CallStart { index, name } => {
                let id = call_id();
                self.calls += 1;
                Delta {
                    tool_calls: Some(vec![ToolCallDelta {
                        index,
                        id: Some(id),
                        kind: Some("function"),
                        function: FunctionDelta {
                            name: Some(name),
                            arguments: Some(String::new()),
                        },
                    }]),
                    ..Delta::default()
                }
            }
            tool_calls::Delta::CallArguments { index, fragment } => Delta {
                tool_calls: Some(vec![ToolCallDelta {
                    index,
                    id: None,
                    kind: None,
                    function: FunctionDelta {
                        name: None,
                        arguments: Some(fragment),
                    },
                }]),
                ..Delta::default()
            },
        }
    }
}

pub fn stream(
    meta: Meta,
    shape: Shape,
    mut events: UnboundedReceiver<Event>,
    include_usage: bool,
) -> Response {
    // Chunks carry `usage: null` when the client asked for usage, as OpenAI's do.
    let usage_slot = include_usage.then_some(None);
    let chat_chunk = move |meta: &Meta,
                           delta: Delta,
                           logprobs: &mut Vec<TokenLogprob>,
                           finish: Option<&'static str>| {
        let choice = ChunkChoice {
            index: 0,
            delta,
            // Tokens' logprobs ride on the next chunk after them.
            logprobs: (!logprobs.is_empty()).then(|| ChatLogprobs::of(std::mem::take(logprobs))),
            finish_reason: finish,
        };
        data(&meta.completion(CHAT_COMPLETION_CHUNK, vec![choice], usage_slot))
    };
    let text_chunk = move |meta: &Meta,
                           text: String,
                           logprobs: &mut Vec<TokenLogprob>,
                           offset: &mut usize,
                           finish: Option<&'static str>| {
        let logprobs = (!logprobs.is_empty()).then(|| {
            let lists = TextLogprobs::of(std::mem::take(logprobs), *offset);
            *offset += lists.chars();
            lists
        });
        let choice = TextChoice {
            index: 0,
            text,
            logprobs,
            finish_reason: finish,
        };
        data(&meta.completion(TEXT_COMPLETION, vec![choice], usage_slot))
    };
    let body = async_stream::stream! {
        let mut logprobs = Vec::new();
        let Shape::Chat(parser) = shape else {
            let mut offset = 0;
            let finish: Finish = loop {
                match events.recv().await {
                    Some(Event::Text(piece)) => {
                        yield text_chunk(&meta, piece, &mut logprobs, &mut offset, None);
                    }
                    Some(Event::Logprob(logprob)) => logprobs.push(logprob),
                    Some(Event::Done(finish)) => break finish,
                    Some(Event::Failed(reason)) => {
                        yield data(&ApiError::generation_failed(&reason).body());
                        return;
                    }
                    None => {
                        yield data(&ApiError::generation_failed("the engine stopped").body());
                        return;
                    }
                }
            };
            let reason = Some(finish_reason(finish.reason, false));
            yield text_chunk(&meta, String::new(), &mut logprobs, &mut offset, reason);
            if include_usage {
                let usage = Some(Some(Usage::from(&finish)));
                yield data(&meta.completion::<TextChoice>(TEXT_COMPLETION, Vec::new(), usage));
            }
            yield Ok(SseEvent::default().data("[DONE]"));
            return;
        };
        let mut chunks = ChatChunks { calls: 0 };
        let opening = Delta { role: Some("assistant"), content: Some(String::new()), ..Delta::default() };
        yield chat_chunk(&meta, opening, &mut logprobs, None);
        let outputs = chat_outputs(parser, events);
        futures::pin_mut!(outputs);
        while let Some(output) = outputs.next().await {
            match output {
                ChatOutput::Delta(delta) => {
                    yield chat_chunk(&meta, chunks.delta(delta), &mut logprobs, None);
                }
                ChatOutput::Logprob(logprob) => logprobs.push(logprob),
                ChatOutput::Failed(error) => {
                    yield data(&error.body());
                    return;
                }
                ChatOutput::Done(finish) => {
                    let reason = finish_reason(finish.reason, chunks.calls > 0);
                    yield chat_chunk(&meta, Delta::default(), &mut logprobs, Some(reason));
                    if include_usage {
                        let usage = Some(Some(Usage::from(&finish)));
                        yield data(&meta.completion::<ChunkChoice>(CHAT_COMPLETION_CHUNK, Vec::new(), usage));
                    }
                    yield Ok(SseEvent::default().data("[DONE]"));
                }
            }
        }
    };
    sse_response(body)
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
