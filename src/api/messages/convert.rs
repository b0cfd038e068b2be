//! Anthropic's conversation and tools as chat's: `system` becomes a system message, a
//! `tool_use` block an assistant's tool call, a `tool_result` block a `tool` message. Tools
//! then go through chat's own checks ([`tool_set`]); nothing about them is decided here.

use crate::api::error::{ApiError, ApiResult};
use crate::api::request::{
    tool_set, CalledFunction, Content, ContentPart, FunctionDef, Message, MessageToolCall,
    NamedFunction, Role, ToolChoiceField, ToolDef, ToolSet,
};

use super::request::{
    Block, InputContent, InputMessage, InputRole, System, Tool, ToolChoiceParam, ToolResultContent,
};

/// What a 400 for an unreadable block says.
const BLOCK_TYPES: &str = "Only `text`, `tool_use` and `tool_result` blocks (and `thinking` blocks of earlier replies) are supported: this server reads no images or documents.";

/// The system prompt and the messages, as chat's messages.
pub fn messages(system: Option<&System>, input: &[InputMessage]) -> ApiResult<Vec<Message>> {
    if input.is_empty() {
        return Err(ApiError::invalid_value(
            "messages",
            "`messages` must hold at least one message.",
        ));
    }
    if input.last().is_some_and(|m| m.role == InputRole::Assistant) {
        return Err(ApiError::invalid_value(
            "messages",
            "The last message must be a `user` message: this server does not continue a partial assistant reply (prefill).",
        ));
    }
    let mut out = Vec::with_capacity(input.len() + 1);
    match system {
        None => {}
        Some(System::Text(text)) => out.push(Message::text(Role::System, text.clone())),
        Some(System::Blocks(blocks)) => {
            if let Some(at) = blocks.iter().position(|b| b.kind != "text") {
                return Err(ApiError::unsupported(
                    format!("system[{at}].type"),
                    "`system` blocks must be `text` blocks.",
                ));
            }
            if let Some(at) = blocks.iter().position(|b| b.text.is_none()) {
                return Err(ApiError::missing(&format!("system[{at}].text")));
            }
            out.push(Message::new(
                Role::System,
                Some(Content::Parts(text_parts(blocks))),
            ));
        }
    }
    for (index, turn) in input.iter().enumerate() {
        match &turn.content {
            InputContent::Text(text) => out.push(Message::text(role_of(turn.role), text.clone())),
            InputContent::Blocks(blocks) if blocks.is_empty() => {
                return Err(ApiError::invalid_value(
                    format!("messages[{index}].content"),
                    "`content` must hold at least one block.",
                ))
            }
            InputContent::Blocks(blocks) => match turn.role {
                InputRole::User => user_turn(index, blocks, &mut out)?,
                InputRole::Assistant => out.push(assistant_turn(index, blocks)?),
            },
        }
    }
    Ok(out)
}

/// A user turn's text in one user message; each `tool_result` in a `tool` message of its own,
/// in the order sent.
fn user_turn(index: usize, blocks: &[Block], out: &mut Vec<Message>) -> ApiResult<()> {
    let mut parts = Vec::new();
    for (at, block) in blocks.iter().enumerate() {
        let param = |field: &str| format!("messages[{index}].content[{at}].{field}");
        match block.kind.as_str() {
            "text" => parts.push(text_part(block, &param("text"))?),
            "tool_result" => {
                if !parts.is_empty() {
                    out.push(Message::new(
                        Role::User,
                        Some(Content::Parts(parts.split_off(0))),
                    ));
                }
                let id = block
                    .tool_use_id
                    .clone()
                    .ok_or_else(|| ApiError::missing(&param("tool_use_id")))?;
                let mut text = match &block.content {
                    None => String::new(),
                    Some(ToolResultContent::Text(text)) => text.clone(),
                    Some(ToolResultContent::Blocks(inner)) => {
                        if let Some(k) = inner.iter().position(|b| b.kind != "text") {
                            return Err(ApiError::unsupported(
                                param(&format!("content[{k}].type")),
                                "A `tool_result` holds text blocks only: this server reads no images or documents.",
                            ));
                        }
                        inner.iter().filter_map(|b| b.text.as_deref()).collect()
                    }
                };
                // Chat's tool messages have no error flag: the model reads it in the text.
                if block.is_error == Some(true) {
                    text.insert_str(0, "Error: ");
                }
                out.push(Message {
                    tool_call_id: Some(id),
                    ..Message::text(Role::Tool, text)
                });
            }
            "tool_use" | "thinking" | "redacted_thinking" => {
                return Err(ApiError::invalid_value(
                    param("type"),
                    format!("`{}` blocks belong in assistant messages.", block.kind),
                ))
            }
            _ => return Err(ApiError::unsupported(param("type"), BLOCK_TYPES)),
        }
    }
    if !parts.is_empty() {
        out.push(Message::new(Role::User, Some(Content::Parts(parts))));
    }
    Ok(())
}

/// An assistant turn: its text, and its `tool_use` blocks as tool calls. Thinking of earlier
/// replies is dropped, as Anthropic drops it from earlier turns.
fn assistant_turn(index: usize, blocks: &[Block]) -> ApiResult<Message> {
    let mut parts = Vec::new();
    let mut calls = Vec::new();
    for (at, block) in blocks.iter().enumerate() {
        let param = |field: &str| format!("messages[{index}].content[{at}].{field}");
        match block.kind.as_str() {
            "text" => parts.push(text_part(block, &param("text"))?),
            "tool_use" => {
                let id = block
                    .id
                    .clone()
                    .ok_or_else(|| ApiError::missing(&param("id")))?;
                let name = block
                    .name
                    .clone()
                    .ok_or_else(|| ApiError::missing(&param("name")))?;
                let input = block
                    .input
                    .as_ref()
                    .ok_or_else(|| ApiError::missing(&param("input")))?;
                if !input.is_object() {
                    return Err(ApiError::invalid_value(
                        param("input"),
                        "A `tool_use` block's `input` must be a JSON object.",
                    ));
                }
                calls.push(MessageToolCall {
                    id,
                    kind: Some("function".to_owned()),
                    function: CalledFunction {
                        name,
                        arguments: input.to_string(),
                    },
                });
            }
            "thinking" | "redacted_thinking" => {}
            "tool_result" => {
                return Err(ApiError::invalid_value(
                    param("type"),
                    "`tool_result` blocks belong in user messages.",
                ))
            }
            _ => return Err(ApiError::unsupported(param("type"), BLOCK_TYPES)),
        }
    }
    Ok(Message {
        tool_calls: (!calls.is_empty()).then_some(calls),
        ..Message::new(Role::Assistant, Some(Content::Parts(parts)))
    })
}

/// Anthropic's tools and `tool_choice` as chat's, checked by chat's [`tool_set`]. Its errors
/// name chat's fields; the Anthropic error layer names them as Anthropic does.
pub fn tools(
    tools: Option<&[Tool]>,
    choice: Option<&ToolChoiceParam>,
) -> ApiResult<Option<ToolSet>> {
    let defs = tools
        .unwrap_or_default()
        .iter()
        .enumerate()
        .map(|(index, tool)| {
            if tool.kind.as_deref().is_some_and(|kind| kind != "custom") {
                return Err(ApiError::unsupported(
                    format!("tools[{index}]"),
                    "Anthropic's server tools (web search, code execution, bash, ...) are not supported: define client tools with `name` and `input_schema`.",
                ));
            }
            let param = |field: &str| format!("tools[{index}].{field}");
            let name = tool
                .name
                .clone()
                .ok_or_else(|| ApiError::missing(&param("name")))?;
            let schema = tool
                .input_schema
                .clone()
                .ok_or_else(|| ApiError::missing(&param("input_schema")))?;
            Ok(ToolDef {
                kind: "function".to_owned(),
                function: Some(FunctionDef {
                    name,
                    description: tool.description.clone(),
                    parameters: Some(schema),
                    strict: None,
                }),
            })
        })
        .collect::<ApiResult<Vec<_>>>()?;
    let field = match choice {
        None => None,
        Some(choice) => Some(match choice.kind.as_str() {
            "auto" => ToolChoiceField::Mode("auto".to_owned()),
            "any" => ToolChoiceField::Mode("required".to_owned()),
            "none" => ToolChoiceField::Mode("none".to_owned()),
            "tool" => ToolChoiceField::Named {
                kind: "function".to_owned(),
                function: NamedFunction {
                    name: choice
                        .name
                        .clone()
                        .ok_or_else(|| ApiError::missing("tool_choice.name"))?,
                },
            },
            _ => {
                return Err(ApiError::invalid_value(
                    "tool_choice.type",
                    "`tool_choice.type` is `auto`, `any`, `tool` or `none`.",
                ))
            }
        }),
    };
    let parallel = choice
        .and_then(|c| c.disable_parallel_tool_use)
        .filter(|disable| *disable)
        .map(|_| false);
    tool_set(Some(&defs), field.as_ref(), parallel)
}

fn role_of(role: InputRole) -> Role {
    match role {
        InputRole::User => Role::User,
        InputRole::Assistant => Role::Assistant,
    }
}

fn text_part(block: &Block, param: &str) -> ApiResult<ContentPart> {
    let text = block.text.clone().ok_or_else(|| ApiError::missing(param))?;
    Ok(ContentPart {
        kind: "text".to_owned(),
        text: Some(text),
    })
}

/// Text blocks as chat's text parts, which chat joins as written.
fn text_parts(blocks: &[ContentPart]) -> Vec<ContentPart> {
    blocks
        .iter()
        .map(|b| ContentPart {
            kind: "text".to_owned(),
            text: b.text.clone(),
        })
        .collect()
}
