//! `input` and `instructions` as chat messages: messages stay messages, `function_call` items
//! become an assistant turn's tool calls and `function_call_output` items tool results. Each
//! message remembers the items it came from, so chat's errors about `messages[i]` can name the
//! Responses field instead (see [`Origins::rename`]).

use serde::Deserialize;

use crate::api::error::{ApiError, ApiResult};
use crate::api::request::{CalledFunction, Content, ContentPart, Message, MessageToolCall, Role};

/// Most items one `input` may hold. A long agent run is hundreds of items; more than this is
/// a client gone wrong, refused before any of it is rendered.
pub const MAX_INPUT_ITEMS: usize = 4096;

#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum InputField {
    Text(String),
    Items(Vec<InputItem>),
}

/// One item of `input`. Its `type` says which fields it needs; any other field (an output
/// item's `id`, `status`, `annotations`) is read past, so output can be sent back as input.
#[derive(Debug, Deserialize)]
pub struct InputItem {
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub role: Option<ItemRole>,
    pub content: Option<ItemContent>,
    pub call_id: Option<String>,
    pub name: Option<String>,
    pub arguments: Option<String>,
    pub output: Option<ItemContent>,
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum ItemRole {
    User,
    Assistant,
    System,
    Developer,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum ItemContent {
    Text(String),
    Parts(Vec<ItemPart>),
}

#[derive(Debug, Deserialize)]
pub struct ItemPart {
    #[serde(rename = "type")]
    pub kind: String,
    pub text: Option<String>,
}

impl InputField {
    pub fn check(&self) -> ApiResult<()> {
        match self {
            InputField::Text(_) => Ok(()),
            InputField::Items(items) if items.is_empty() => Err(ApiError::invalid_value(
                "input",
                "`input` must hold at least one item.",
            )),
            InputField::Items(items) if items.len() > MAX_INPUT_ITEMS => {
                Err(ApiError::invalid_value(
                    "input",
                    format!("`input` may hold at most {MAX_INPUT_ITEMS} items."),
                ))
            }
            InputField::Items(_) => Ok(()),
        }
    }

    /// The items, a lone string read as one user message.
    pub fn into_items(self) -> Vec<InputItem> {
        match self {
            InputField::Items(items) => items,
            InputField::Text(text) => vec![InputItem {
                kind: None,
                role: Some(ItemRole::User),
                content: Some(ItemContent::Text(text)),
                call_id: None,
                name: None,
                arguments: None,
                output: None,
            }],
        }
    }
}

/// Where a chat message came from.
#[derive(Debug)]
enum Origin {
    Instructions,
    /// The item at this index of `input`, and the `function_call` items whose calls it holds.
    Item {
        index: usize,
        calls: Vec<usize>,
    },
    /// A `function_call_output` item.
    Output(usize),
}

/// The input items behind each chat message, by the message's index.
#[derive(Debug, Default)]
pub struct Origins(Vec<Origin>);

/// The conversation in chat's terms, with where each message came from.
pub fn messages(
    instructions: Option<String>,
    items: Vec<InputItem>,
) -> ApiResult<(Vec<Message>, Origins)> {
    let mut messages = Vec::with_capacity(items.len() + 1);
    let mut origins = Origins::default();
    if let Some(text) = instructions {
        messages.push(Message::new(Role::System, Some(Content::Text(text))));
        origins.0.push(Origin::Instructions);
    }
    for (index, item) in items.into_iter().enumerate() {
        let param = |field: &str| format!("input[{index}].{field}");
        let kind = match (item.kind.as_deref(), item.role) {
            (Some(kind), _) => kind,
            (None, Some(_)) => "message",
            (None, None) => return Err(ApiError::missing(&param("type"))),
        };
        match kind {
            "message" => {
                let role = match item.role.ok_or_else(|| ApiError::missing(&param("role")))? {
                    ItemRole::User => Role::User,
                    ItemRole::Assistant => Role::Assistant,
                    ItemRole::System => Role::System,
                    ItemRole::Developer => Role::Developer,
                };
                let content = item.content.ok_or_else(|| ApiError::missing(&param("content")))?;
                messages.push(Message::new(role, Some(chat_content(content))));
                origins.0.push(Origin::Item {
                    index,
                    calls: Vec::new(),
                });
            }
            "function_call" => {
                let call = MessageToolCall {
                    id: item.call_id.ok_or_else(|| ApiError::missing(&param("call_id")))?,
                    kind: Some("function".to_owned()),
                    function: CalledFunction {
                        name: item.name.ok_or_else(|| ApiError::missing(&param("name")))?,
                        arguments: item
                            .arguments
                            .ok_or_else(|| ApiError::missing(&param("arguments")))?,
                    },
                };
                // Calls made together are one assistant turn, with any text it said first.
                match (messages.last_mut(), origins.0.last_mut()) {
                    (Some(last), Some(Origin::Item { calls, .. }))
                        if last.role == Role::Assistant =>
                    {
                        last.tool_calls.get_or_insert_with(Vec::new).push(call);
                        calls.push(index);
                    }
                    _ => {
                        let mut turn = Message::new(Role::Assistant, None);
                        turn.tool_calls = Some(vec![call]);
                        messages.push(turn);
                        origins.0.push(Origin::Item {
                            index,
                            calls: vec![index],
                        });
                    }
                }
            }
            "function_call_output" => {
                let output = item.output.ok_or_else(|| ApiError::missing(&param("output")))?;
                let mut result = Message::new(Role::Tool, Some(chat_content(output)));
                result.tool_call_id =
                    Some(item.call_id.ok_or_else(|| ApiError::missing(&param("call_id")))?);
                messages.push(result);
                origins.0.push(Origin::Output(index));
            }
            // Earlier thinking, sent back as the Agents SDK does: skipped, as chat's messages
            // carry no past thinking either.
            "reasoning" => {}
            "item_reference" => {
                return Err(ApiError::unsupported(
                    param("type"),
                    "This server stores no items, so `item_reference` refers to nothing; send the item itself.",
                ))
            }
            _ => {
                return Err(ApiError::unsupported(
                    param("type"),
                    "Input items are `message`, `function_call`, `function_call_output` or `reasoning`.",
                ))
            }
        }
    }
    if messages.is_empty() {
        return Err(ApiError::invalid_value(
            "input",
            "`input` must hold at least one message.",
        ));
    }
    Ok((messages, origins))
}

/// Text parts become chat's text parts, checked and joined by chat's code; any other part
/// keeps its type, which chat refuses by name.
fn chat_content(content: ItemContent) -> Content {
    match content {
        ItemContent::Text(text) => Content::Text(text),
        ItemContent::Parts(parts) => Content::Parts(
            parts
                .into_iter()
                .map(|part| ContentPart {
                    kind: match part.kind.as_str() {
                        "input_text" | "output_text" => "text".to_owned(),
                        _ => part.kind,
                    },
                    text: part.text,
                })
                .collect(),
        ),
    }
}

impl Origins {
    /// A chat field's path as the Responses request names it, for errors about the
    /// conversation: `messages[3].content[1].type` becomes `input[2].content[1].type`.
    pub fn rename(&self, param: &str) -> Option<String> {
        if param == "messages" {
            return Some("input".to_owned());
        }
        let rest = param.strip_prefix("messages[")?;
        let (index, field) = rest.split_once(']')?;
        let origin = self.0.get(index.parse::<usize>().ok()?)?;
        Some(match origin {
            Origin::Instructions => "instructions".to_owned(),
            Origin::Output(item) => {
                let field = field.replacen(".content", ".output", 1);
                let field = field.replacen(".tool_call_id", ".call_id", 1);
                format!("input[{item}]{field}")
            }
            Origin::Item { index, calls } => match field.strip_prefix(".tool_calls") {
                None => format!("input[{index}]{field}"),
                Some(call) => {
                    let (number, inner) = call
                        .strip_prefix('[')
                        .and_then(|call| call.split_once(']'))
                        .unwrap_or(("0", ""));
                    let item = number
                        .parse::<usize>()
                        .ok()
                        .and_then(|n| calls.get(n))
                        .unwrap_or(index);
                    let inner = inner.strip_prefix(".function").unwrap_or(inner);
                    format!("input[{item}]{inner}")
                }
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn items(json: serde_json::Value) -> Vec<InputItem> {
        serde_json::from_value(json).expect("items")
    }

    #[test]
    fn calls_join_the_assistant_turn_and_errors_name_their_items() {
        let (messages, origins) = messages(
            Some("Be brief.".into()),
            items(serde_json::json!([
                { "role": "user", "content": "Hi" },
                { "type": "reasoning", "summary": [] },
                { "type": "message", "role": "assistant", "content": [{ "type": "output_text", "text": "Let me look." }] },
                { "type": "function_call", "call_id": "a", "name": "f", "arguments": "{}" },
                { "type": "function_call", "call_id": "b", "name": "g", "arguments": "{}" },
                { "type": "function_call_output", "call_id": "a", "output": "1" },
            ])),
        )
        .expect("messages");
        let roles: Vec<Role> = messages.iter().map(|m| m.role).collect();
        assert_eq!(
            roles,
            [Role::System, Role::User, Role::Assistant, Role::Tool]
        );
        assert_eq!(messages[2].tool_calls.as_ref().map(Vec::len), Some(2));
        let rename = |param: &str| origins.rename(param);
        assert_eq!(rename("messages").as_deref(), Some("input"));
        assert_eq!(
            rename("messages[0].content").as_deref(),
            Some("instructions")
        );
        assert_eq!(
            rename("messages[1].content").as_deref(),
            Some("input[0].content")
        );
        assert_eq!(
            rename("messages[2].content[0].type").as_deref(),
            Some("input[2].content[0].type")
        );
        assert_eq!(
            rename("messages[2].tool_calls[1].function.arguments").as_deref(),
            Some("input[4].arguments")
        );
        assert_eq!(
            rename("messages[2].tool_calls").as_deref(),
            Some("input[3]")
        );
        assert_eq!(
            rename("messages[3].tool_call_id").as_deref(),
            Some("input[5].call_id")
        );
        assert_eq!(
            rename("messages[3].content").as_deref(),
            Some("input[5].output")
        );
        assert_eq!(rename("messages[9].content"), None);
        assert_eq!(rename("temperature"), None);
    }

    #[test]
    fn items_without_what_they_need_are_named() {
        let error = |json: serde_json::Value| {
            let error = messages(None, items(json)).expect_err("refused");
            error.body().error.param.unwrap_or_default().to_owned()
        };
        assert_eq!(
            error(serde_json::json!([{ "content": "x" }])),
            "input[0].type"
        );
        assert_eq!(
            error(serde_json::json!([{ "type": "message", "content": "x" }])),
            "input[0].role"
        );
        assert_eq!(
            error(
                serde_json::json!([{ "type": "function_call", "call_id": "a", "arguments": "{}" }])
            ),
            "input[0].name"
        );
        assert_eq!(error(serde_json::json!([{ "type": "reasoning" }])), "input");
    }
}
