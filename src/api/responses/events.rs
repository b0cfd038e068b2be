//! The parser's deltas as Responses output items and OpenAI's typed stream events. One
//! [`Items`] builds both: a streamed reply sends its events, a whole one keeps only the items,
//! so the two always split a reply the same way.

use serde::Serialize;

use super::output::{OutputItem, Part, Response, Status};
use crate::api::reply::call_id;
use crate::tool_calls::Delta;

/// Every event of a streamed response, named by its `type`.
#[derive(Debug, Serialize)]
#[serde(tag = "type")]
pub enum StreamEvent {
    #[serde(rename = "response.created")]
    Created { response: Response },
    #[serde(rename = "response.in_progress")]
    InProgress { response: Response },
    #[serde(rename = "response.completed")]
    Completed { response: Response },
    #[serde(rename = "response.incomplete")]
    Incomplete { response: Response },
    #[serde(rename = "response.failed")]
    Failed { response: Response },
    #[serde(rename = "response.output_item.added")]
    ItemAdded {
        output_index: usize,
        item: OutputItem,
    },
    #[serde(rename = "response.output_item.done")]
    ItemDone {
        output_index: usize,
        item: OutputItem,
    },
    #[serde(rename = "response.content_part.added")]
    PartAdded {
        item_id: String,
        output_index: usize,
        content_index: usize,
        part: Part,
    },
    #[serde(rename = "response.content_part.done")]
    PartDone {
        item_id: String,
        output_index: usize,
        content_index: usize,
        part: Part,
    },
    #[serde(rename = "response.output_text.delta")]
    TextDelta {
        item_id: String,
        output_index: usize,
        content_index: usize,
        delta: String,
        logprobs: [u8; 0],
    },
    #[serde(rename = "response.output_text.done")]
    TextDone {
        item_id: String,
        output_index: usize,
        content_index: usize,
        text: String,
        logprobs: [u8; 0],
    },
    #[serde(rename = "response.reasoning_text.delta")]
    ReasoningDelta {
        item_id: String,
        output_index: usize,
        content_index: usize,
        delta: String,
    },
    #[serde(rename = "response.reasoning_text.done")]
    ReasoningDone {
        item_id: String,
        output_index: usize,
        content_index: usize,
        text: String,
    },
    #[serde(rename = "response.function_call_arguments.delta")]
    ArgumentsDelta {
        item_id: String,
        output_index: usize,
        delta: String,
    },
    #[serde(rename = "response.function_call_arguments.done")]
    ArgumentsDone {
        item_id: String,
        output_index: usize,
        name: String,
        arguments: String,
    },
}

impl StreamEvent {
    /// The SSE `event:` name: the same as `type` (a unit test holds them together).
    pub fn name(&self) -> &'static str {
        match self {
            StreamEvent::Created { .. } => "response.created",
            StreamEvent::InProgress { .. } => "response.in_progress",
            StreamEvent::Completed { .. } => "response.completed",
            StreamEvent::Incomplete { .. } => "response.incomplete",
            StreamEvent::Failed { .. } => "response.failed",
            StreamEvent::ItemAdded { .. } => "response.output_item.added",
            StreamEvent::ItemDone { .. } => "response.output_item.done",
            StreamEvent::PartAdded { .. } => "response.content_part.added",
            StreamEvent::PartDone { .. } => "response.content_part.done",
            StreamEvent::TextDelta { .. } => "response.output_text.delta",
            StreamEvent::TextDone { .. } => "response.output_text.done",
            StreamEvent::ReasoningDelta { .. } => "response.reasoning_text.delta",
            StreamEvent::ReasoningDone { .. } => "response.reasoning_text.done",
            StreamEvent::ArgumentsDelta { .. } => "response.function_call_arguments.delta",
            StreamEvent::ArgumentsDone { .. } => "response.function_call_arguments.done",
        }
    }
}

/// An event with its place in the stream.
#[derive(Serialize)]
pub struct Sequenced<'a> {
    #[serde(flatten)]
    pub event: &'a StreamEvent,
    pub sequence_number: u64,
}

/// The output items so far; the last one is open while `open` is set.
#[derive(Default)]
pub struct Items {
    items: Vec<OutputItem>,
    open: bool,
}

fn new_id(prefix: &str) -> String {
    format!("{prefix}_{}", uuid::Uuid::new_v4().simple())
}

impl Items {
    /// Adds one delta, opening or closing items as its kind changes.
    pub fn push(&mut self, delta: Delta, events: &mut Vec<StreamEvent>) {
        match delta {
            Delta::Content(text) => {
                if !matches!(self.current(), Some(OutputItem::Message { .. })) {
                    self.close(Status::Completed, events);
                    self.open_item(
                        OutputItem::Message {
                            id: new_id("msg"),
                            status: Status::InProgress,
                            role: "assistant",
                            content: vec![Part::output_text(String::new())],
                        },
                        events,
                    );
                }
                self.append(text, events);
            }
            Delta::Reasoning(text) => {
                if !matches!(self.current(), Some(OutputItem::Reasoning { .. })) {
                    self.close(Status::Completed, events);
                    self.open_item(
                        OutputItem::Reasoning {
                            id: new_id("rs"),
                            summary: [],
                            content: vec![Part::ReasoningText {
                                text: String::new(),
                            }],
                            status: Status::InProgress,
                        },
                        events,
                    );
                }
                self.append(text, events);
            }
            Delta::CallStart { name, .. } => {
                self.close(Status::Completed, events);
                self.open_item(
                    OutputItem::FunctionCall {
                        id: new_id("fc"),
                        call_id: call_id(),
                        name,
                        arguments: String::new(),
                        status: Status::InProgress,
                    },
                    events,
                );
            }
            Delta::CallArguments { fragment, .. } => self.append(fragment, events),
        }
    }

    /// Closes the open item with `status`; a reply with no output at all gets an empty
    /// message, so that it always says something.
    pub fn finish(&mut self, status: Status, events: &mut Vec<StreamEvent>) {
        if self.items.is_empty() {
            self.push(Delta::Content(String::new()), events);
        }
        self.close(status, events);
    }

    pub fn into_output(self) -> Vec<OutputItem> {
        self.items
    }

    fn current(&self) -> Option<&OutputItem> {
        self.items.last().filter(|_| self.open)
    }

    fn open_item(&mut self, item: OutputItem, events: &mut Vec<StreamEvent>) {
        let output_index = self.items.len();
        events.push(StreamEvent::ItemAdded {
            output_index,
            item: item.clone(),
        });
        let part = match &item {
            OutputItem::Message { content, .. } | OutputItem::Reasoning { content, .. } => {
                content.first().cloned()
            }
            OutputItem::FunctionCall { .. } => None,
        };
        if let Some(part) = part {
            events.push(StreamEvent::PartAdded {
                item_id: item.id().to_owned(),
                output_index,
                content_index: 0,
                part,
            });
        }
        self.items.push(item);
        self.open = true;
    }

    /// Text for the open item: a message's or reasoning's text, or a call's arguments.
    fn append(&mut self, delta: String, events: &mut Vec<StreamEvent>) {
        let output_index = self.items.len().saturating_sub(1);
        let Some(item) = self.items.last_mut().filter(|_| self.open) else {
            return;
        };
        let item_id = item.id().to_owned();
        let (text, event) = match item {
            OutputItem::Message { content, .. } => (
                content.first_mut().map(Part::text_mut),
                StreamEvent::TextDelta {
                    item_id,
                    output_index,
                    content_index: 0,
                    delta: delta.clone(),
                    logprobs: [],
                },
            ),
            OutputItem::Reasoning { content, .. } => (
                content.first_mut().map(Part::text_mut),
                StreamEvent::ReasoningDelta {
                    item_id,
                    output_index,
                    content_index: 0,
                    delta: delta.clone(),
                },
            ),
            OutputItem::FunctionCall { arguments, .. } => (
                Some(arguments),
                StreamEvent::ArgumentsDelta {
                    item_id,
                    output_index,
                    delta: delta.clone(),
                },
            ),
        };
        if let Some(text) = text {
            text.push_str(&delta);
            if !delta.is_empty() {
                events.push(event);
            }
        }
    }

    fn close(&mut self, status: Status, events: &mut Vec<StreamEvent>) {
        if !self.open {
            return;
        }
        self.open = false;
        let output_index = self.items.len().saturating_sub(1);
        let Some(item) = self.items.last_mut() else {
            return;
        };
        item.set_status(status);
        let item_id = item.id().to_owned();
        match &*item {
            OutputItem::Message { content, .. } | OutputItem::Reasoning { content, .. } => {
                if let Some(part) = content.first().cloned() {
                    let text = match &part {
                        Part::OutputText { text, .. } | Part::ReasoningText { text } => {
                            text.clone()
                        }
                    };
                    events.push(match part {
                        Part::OutputText { .. } => StreamEvent::TextDone {
                            item_id: item_id.clone(),
                            output_index,
                            content_index: 0,
                            text,
                            logprobs: [],
                        },
                        Part::ReasoningText { .. } => StreamEvent::ReasoningDone {
                            item_id: item_id.clone(),
                            output_index,
                            content_index: 0,
                            text,
                        },
                    });
                    events.push(StreamEvent::PartDone {
                        item_id,
                        output_index,
                        content_index: 0,
                        part,
                    });
                }
            }
            OutputItem::FunctionCall {
                name, arguments, ..
            } => events.push(StreamEvent::ArgumentsDone {
                item_id,
                output_index,
                name: name.clone(),
                arguments: arguments.clone(),
            }),
        }
        events.push(StreamEvent::ItemDone {
            output_index,
            item: item.clone(),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(deltas: Vec<Delta>, status: Status) -> (Vec<StreamEvent>, Vec<OutputItem>) {
        let mut items = Items::default();
        let mut events = Vec::new();
        for delta in deltas {
            items.push(delta, &mut events);
        }
        items.finish(status, &mut events);
        (events, items.into_output())
    }

    #[test]
    fn each_event_is_named_as_its_type() {
        let (events, _) = run(
            vec![
                Delta::Reasoning("hm".into()),
                Delta::Content("a".into()),
                Delta::CallStart {
                    index: 0,
                    name: "f".into(),
                },
                Delta::CallArguments {
                    index: 0,
                    fragment: "{}".into(),
                },
            ],
            Status::Completed,
        );
        assert_eq!(events.len(), 16);
        for event in &events {
            let json = serde_json::to_value(Sequenced {
                event,
                sequence_number: 3,
            })
            .expect("json");
            assert_eq!(json["type"], event.name(), "{json}");
            assert_eq!(json["sequence_number"], 3);
        }
    }

    #[test]
    fn deltas_become_items_in_order_and_the_last_takes_the_status() {
        let (events, items) = run(
            vec![
                Delta::Content("Hel".into()),
                Delta::Content("lo".into()),
                Delta::CallStart {
                    index: 0,
                    name: "f".into(),
                },
                Delta::CallArguments {
                    index: 0,
                    fragment: "{\"a\":1}".into(),
                },
                Delta::Content("after".into()),
            ],
            Status::Incomplete,
        );
        let json = serde_json::to_value(&items).expect("json");
        assert_eq!(json[0]["type"], "message");
        assert_eq!(json[0]["content"][0]["text"], "Hello");
        assert_eq!(json[0]["status"], "completed");
        assert_eq!(json[1]["type"], "function_call");
        assert_eq!(json[1]["arguments"], "{\"a\":1}");
        assert_eq!(json[2]["status"], "incomplete");
        let names: Vec<&str> = events.iter().map(StreamEvent::name).collect();
        assert_eq!(
            names
                .iter()
                .filter(|n| n.ends_with(".output_item.added"))
                .count(),
            3
        );
        assert_eq!(
            names
                .iter()
                .filter(|n| n.ends_with(".output_item.done"))
                .count(),
            3
        );
    }

    #[test]
    fn a_reply_with_nothing_is_one_empty_message() {
        let (events, items) = run(Vec::new(), Status::Completed);
        let json = serde_json::to_value(&items).expect("json");
        assert_eq!(json.as_array().map(Vec::len), Some(1));
        assert_eq!(json[0]["content"][0]["text"], "");
        // No empty delta is sent.
        assert!(events
            .iter()
            .all(|e| e.name() != "response.output_text.delta"));
    }
}
