//! A streamed chat or text completion: OpenAI's chunks, one choice per chunk, the `n` choices
//! interleaved as their tokens arrive, then the usage and `[DONE]`.

use axum::response::sse::Event as SseEvent;
use axum::response::Response;
use futures::stream::{self, BoxStream};
use futures::StreamExt;
use tokio::sync::mpsc::UnboundedReceiver;

use super::error::ApiError;
use super::reply::{
    call_id, chat_outputs, data, finish_reason, sse_response, usage_of, ChatOutput, Meta, Shape,
};
use super::response::{
    ChatLogprobs, ChunkChoice, Delta, FunctionDelta, TextChoice, TextLogprobs, ToolCallDelta,
    CHAT_COMPLETION_CHUNK, TEXT_COMPLETION,
};
use crate::engine::{Event, Finish, TokenLogprob};
use crate::tool_calls;

/// What one choice has produced that its next chunk carries.
#[derive(Default)]
struct Choice {
    /// Tokens' logprobs ride on the next chunk after them.
    logprobs: Vec<TokenLogprob>,
    /// Characters of text streamed so far (legacy `text_offset`).
    offset: usize,
    /// Calls started so far (a reply that made calls ends in `tool_calls`).
    calls: usize,
    finish: Option<Finish>,
}

impl Choice {
    fn chat_logprobs(&mut self) -> Option<ChatLogprobs> {
        (!self.logprobs.is_empty()).then(|| ChatLogprobs::of(std::mem::take(&mut self.logprobs)))
    }

    fn text_logprobs(&mut self) -> Option<TextLogprobs> {
        (!self.logprobs.is_empty()).then(|| {
            let lists = TextLogprobs::of(std::mem::take(&mut self.logprobs), self.offset);
            self.offset += lists.chars();
            lists
        })
    }
}

/// One choice's outputs, tagged with its index. Text completions have no parser: their
/// events are taken as they come.
enum Tagged {
    Chat(u32, ChatOutput),
    Text(u32, Event),
}

pub fn stream(
    meta: Meta,
    shape: Shape,
    receivers: Vec<UnboundedReceiver<Event>>,
    include_usage: bool,
) -> Response {
    let is_chat = matches!(shape, Shape::Chat(_));
    let mut choices: Vec<Choice> = receivers.iter().map(|_| Choice::default()).collect();
    let sources: Vec<BoxStream<'static, Tagged>> = match shape {
        Shape::Chat(parser) => super::reply::parsers(parser, receivers.len())
            .into_iter()
            .zip(receivers)
            .zip(0..)
            .map(|((parser, events), index)| {
                chat_outputs(parser, events)
                    .map(move |output| Tagged::Chat(index, output))
                    .boxed()
            })
            .collect(),
        Shape::Text => receivers
            .into_iter()
            .zip(0..)
            .map(|(events, index)| {
                stream::unfold(events, |mut events| async move {
                    let event = events.recv().await?;
                    Some((event, events))
                })
                .map(move |event| Tagged::Text(index, event))
                .boxed()
            })
            .collect(),
    };
    let count = choices.len();
    // Chunks carry `usage: null` when the client asked for usage, as OpenAI's do.
    let usage_slot = include_usage.then_some(None);
    let chat_chunk = move |meta: &Meta, index: u32, delta: Delta, choice: &mut Choice, end| {
        let chunk = ChunkChoice {
            index,
            delta,
            logprobs: choice.chat_logprobs(),
            finish_reason: end,
        };
        data(&meta.completion(CHAT_COMPLETION_CHUNK, vec![chunk], usage_slot))
    };
    let text_chunk = move |meta: &Meta, index: u32, text: String, choice: &mut Choice, end| {
        let chunk = TextChoice {
            index,
            text,
            logprobs: choice.text_logprobs(),
            finish_reason: end,
        };
        data(&meta.completion(TEXT_COMPLETION, vec![chunk], usage_slot))
    };
    let body = async_stream::stream! {
        if is_chat {
            for (index, choice) in (0..).zip(choices.iter_mut()) {
                let opening = Delta { role: Some("assistant"), content: Some(String::new()), ..Delta::default() };
                yield chat_chunk(&meta, index, opening, choice, None);
            }
        }
        let mut outputs = stream::select_all(sources);
        let mut finished = 0;
        while finished < count {
            let Some(output) = outputs.next().await else {
                yield data(&ApiError::engine_stopped().body());
                return;
            };
            let (index, output) = match output {
                Tagged::Chat(index, output) => (index, output),
                Tagged::Text(index, Event::Text(text)) => {
                    let Some(choice) = choice_at(&mut choices, index) else { continue };
                    yield text_chunk(&meta, index, text, choice, None);
                    continue;
                }
                Tagged::Text(index, Event::Logprob(logprob)) => (index, ChatOutput::Logprob(logprob)),
                Tagged::Text(index, Event::Done(finish)) => (index, ChatOutput::Done(finish)),
                Tagged::Text(_, Event::Failed(reason)) => {
                    (0, ChatOutput::Failed(ApiError::generation_failed(&reason)))
                }
            };
            let Some(choice) = choice_at(&mut choices, index) else { continue };
            match output {
                ChatOutput::Delta(delta) => {
                    let delta = chat_delta(delta, &mut choice.calls);
                    yield chat_chunk(&meta, index, delta, choice, None);
                }
                ChatOutput::Logprob(logprob) => choice.logprobs.push(logprob),
                ChatOutput::Failed(error) => {
                    yield data(&error.body());
                    return;
                }
                ChatOutput::Done(finish) => {
                    finished += 1;
                    choice.finish = Some(finish);
                    if is_chat {
                        let end = finish_reason(finish.reason, choice.calls > 0);
                        yield chat_chunk(&meta, index, Delta::default(), choice, Some(end));
                    } else {
                        let end = finish_reason(finish.reason, false);
                        yield text_chunk(&meta, index, String::new(), choice, Some(end));
                    }
                }
            }
        }
        if include_usage {
            let finishes: Vec<Finish> = choices.iter().filter_map(|c| c.finish).collect();
            let usage = Some(Some(usage_of(&finishes)));
            if is_chat {
                yield data(&meta.completion::<ChunkChoice>(CHAT_COMPLETION_CHUNK, Vec::new(), usage));
            } else {
                yield data(&meta.completion::<TextChoice>(TEXT_COMPLETION, Vec::new(), usage));
            }
        }
        yield Ok(SseEvent::default().data("[DONE]"));
    };
    sse_response(body)
}

fn choice_at(choices: &mut [Choice], index: u32) -> Option<&mut Choice> {
    choices.get_mut(usize::try_from(index).ok()?)
}

/// A parsed piece of a chat reply as a chunk's delta. Call ids are made here, when a call
/// starts; `calls` counts them.
fn chat_delta(delta: tool_calls::Delta, calls: &mut usize) -> Delta {
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
            *calls += 1;
            Delta {
                tool_calls: Some(vec![ToolCallDelta {
                    index,
                    id: Some(call_id()),
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
