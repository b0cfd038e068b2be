//! A streamed reply in Anthropic's events: `message_start`, `ping`, then for each content block
//! `content_block_start`, its `content_block_delta`s and `content_block_stop`, then
//! `message_delta` (how it ended, the usage) and `message_stop`. A failure mid-stream is a
//! final `error` event.

use std::convert::Infallible;

use axum::response::sse::Event as SseEvent;
use axum::response::Response;
use futures::StreamExt;
use serde::Serialize;
use tokio::sync::mpsc::UnboundedReceiver;

use super::error::ErrorDetail;
use super::response::{tool_use_id, ContentBlock, MessageBody, Reply, Usage};
use crate::api::reply::{chat_outputs, sse_response, ChatOutput};
use crate::engine::{Event, Finish};
use crate::tool_calls::{Delta, StreamParser};

#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum StreamEvent {
    MessageStart {
        message: MessageBody,
    },
    Ping,
    ContentBlockStart {
        index: usize,
        content_block: ContentBlock,
    },
    ContentBlockDelta {
        index: usize,
        delta: BlockDelta,
    },
    ContentBlockStop {
        index: usize,
    },
    MessageDelta {
        delta: MessageDelta,
        usage: Usage,
    },
    MessageStop,
    Error {
        error: ErrorDetail,
    },
}

/// A block's delta; the `type`s are Anthropic's (`text_delta`, ...).
#[derive(Debug, Serialize)]
#[serde(tag = "type")]
pub enum BlockDelta {
    #[serde(rename = "text_delta")]
    Text { text: String },
    #[serde(rename = "input_json_delta")]
    InputJson { partial_json: String },
    #[serde(rename = "thinking_delta")]
    Thinking { thinking: String },
}

#[derive(Debug, Serialize)]
pub struct MessageDelta {
    pub stop_reason: &'static str,
    pub stop_sequence: Option<String>,
}

impl StreamEvent {
    /// The SSE event's name: its `type`, as Anthropic sends both.
    fn name(&self) -> &'static str {
        match self {
            StreamEvent::MessageStart { .. } => "message_start",
            StreamEvent::Ping => "ping",
            StreamEvent::ContentBlockStart { .. } => "content_block_start",
            StreamEvent::ContentBlockDelta { .. } => "content_block_delta",
            StreamEvent::ContentBlockStop { .. } => "content_block_stop",
            StreamEvent::MessageDelta { .. } => "message_delta",
            StreamEvent::MessageStop => "message_stop",
            StreamEvent::Error { .. } => "error",
        }
    }

    fn sse(&self) -> Result<SseEvent, Infallible> {
        let json = serde_json::to_string(self).unwrap_or_default();
        Ok(SseEvent::default().event(self.name()).data(json))
    }
}

/// Which kind of block is open, so a delta of another kind closes it first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Open {
    Text,
    Thinking,
    /// The parser's call `index`.
    Call(usize),
}

/// The content blocks of a streamed reply, numbered as they open.
#[derive(Default)]
struct Blocks {
    /// Blocks opened so far; the open one, if any, is the last.
    opened: usize,
    open: Option<Open>,
    calls: usize,
}

impl Blocks {
    fn delta(&mut self, delta: Delta, thinking: bool) -> Vec<StreamEvent> {
        let mut events = Vec::new();
        let (wanted, start, delta) = match delta {
            Delta::Content(text) if !text.is_empty() => (
                Open::Text,
                ContentBlock::Text {
                    text: String::new(),
                },
                BlockDelta::Text { text },
            ),
            Delta::Reasoning(text) if thinking && !text.is_empty() => (
                Open::Thinking,
                ContentBlock::Thinking {
                    thinking: String::new(),
                    signature: String::new(),
                },
                BlockDelta::Thinking { thinking: text },
            ),
            Delta::CallStart { index, name } => {
                self.calls += 1;
                self.close(&mut events);
                self.start(&mut events, Open::Call(index), tool_use(name));
                return events;
            }
            Delta::CallArguments { index, fragment } => (
                Open::Call(index),
                tool_use(String::new()),
                BlockDelta::InputJson {
                    partial_json: fragment,
                },
            ),
            Delta::Content(_) | Delta::Reasoning(_) => return events,
        };
        if self.open != Some(wanted) {
            self.close(&mut events);
            self.start(&mut events, wanted, start);
        }
        events.push(StreamEvent::ContentBlockDelta {
            index: self.opened - 1,
            delta,
        });
        events
    }

    fn start(&mut self, events: &mut Vec<StreamEvent>, kind: Open, block: ContentBlock) {
        events.push(StreamEvent::ContentBlockStart {
            index: self.opened,
            content_block: block,
        });
        self.opened += 1;
        self.open = Some(kind);
    }

    fn close(&mut self, events: &mut Vec<StreamEvent>) {
        if self.open.take().is_some() {
            events.push(StreamEvent::ContentBlockStop {
                index: self.opened - 1,
            });
        }
    }

    /// The last block's stop, then how the reply ended. A reply with no block at all still
    /// gets its empty text block, as the whole reply does.
    fn finish(&mut self, reply: &Reply, finish: &Finish) -> Vec<StreamEvent> {
        let mut events = Vec::new();
        if self.opened == 0 {
            let empty = ContentBlock::Text {
                text: String::new(),
            };
            self.start(&mut events, Open::Text, empty);
        }
        self.close(&mut events);
        let (stop_reason, stop_sequence) = reply.stop(finish, self.calls > 0);
        events.push(StreamEvent::MessageDelta {
            delta: MessageDelta {
                stop_reason,
                stop_sequence,
            },
            usage: Usage::of(finish),
        });
        events.push(StreamEvent::MessageStop);
        events
    }
}

/// A call's block as it opens: its input arrives in `input_json_delta`s.
fn tool_use(name: String) -> ContentBlock {
    ContentBlock::ToolUse {
        id: tool_use_id(),
        name,
        input: serde_json::Value::Object(serde_json::Map::new()),
    }
}

/// The reply as Anthropic's event stream. `input_tokens` is the prompt's length, known before
/// the first token; the last events carry the final usage.
pub fn stream(
    reply: Reply,
    parser: StreamParser,
    events: UnboundedReceiver<Event>,
    input_tokens: u32,
) -> Response {
    let body = async_stream::stream! {
        let usage = Usage { input_tokens, ..Usage::default() };
        yield StreamEvent::MessageStart { message: reply.message(Vec::new(), usage) }.sse();
        yield StreamEvent::Ping.sse();
        let mut blocks = Blocks::default();
        let outputs = chat_outputs(parser, events);
        futures::pin_mut!(outputs);
        while let Some(output) = outputs.next().await {
            let events = match output {
                ChatOutput::Delta(delta) => blocks.delta(delta, reply.thinking),
                ChatOutput::Done(finish) => blocks.finish(&reply, &finish),
                // Anthropic's API has no logprobs; a Messages request never asks for them.
                ChatOutput::Logprob(_) => Vec::new(),
                ChatOutput::Failed(error) => vec![StreamEvent::Error { error: ErrorDetail::from(&error) }],
            };
            for event in events {
                yield event.sse();
            }
        }
    };
    sse_response(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(events: &[StreamEvent]) -> Vec<&'static str> {
        events.iter().map(StreamEvent::name).collect()
    }

    #[test]
    fn blocks_open_and_close_in_order_and_calls_get_their_own() {
        let mut blocks = Blocks::default();
        let mut all = blocks.delta(Delta::Content("Hi".into()), false);
        all.extend(blocks.delta(Delta::Reasoning("hidden".into()), false));
        all.extend(blocks.delta(Delta::Content(" there".into()), false));
        all.extend(blocks.delta(
            Delta::CallStart {
                index: 0,
                name: "f".into(),
            },
            false,
        ));
        all.extend(blocks.delta(
            Delta::CallArguments {
                index: 0,
                fragment: "{}".into(),
            },
            false,
        ));
        assert_eq!(
            names(&all),
            [
                "content_block_start",
                "content_block_delta",
                "content_block_delta",
                "content_block_stop",
                "content_block_start",
                "content_block_delta",
            ]
        );
        let json = serde_json::to_value(&all[5]).expect("json");
        assert_eq!(json["index"], 1);
        assert_eq!(json["delta"]["type"], "input_json_delta");
        assert_eq!(blocks.calls, 1);
    }
}
