//! Tool calls and reasoning in generated text: which format a chat template's model writes its
//! calls in, and a streaming parser that splits a reply into content, reasoning and calls.
//!
//! Pure text processing, no engine: the API feeds [`StreamParser`] the text as it is generated
//! and turns its [`Delta`]s into OpenAI's `content`, `reasoning_content` and `tool_calls`.
//! A call the client did not offer, one whose arguments its validator refuses, a truncated one
//! or one that is not JSON is returned as content: never as a call the client did not ask for.

mod emit;
mod fence;
mod format;
mod generic;
pub mod generic_schema;
mod hermes;
mod json;
mod json_string;
mod llama3;
mod marker;
mod mistral;
mod reasoning;
mod stream;
#[cfg(test)]
mod tests;

pub use format::ToolFormat;
pub use stream::StreamParser;

/// Decides whether a call's arguments (compact JSON text) are acceptable for the named
/// function, typically by validating them against the function's `parameters` schema.
pub type Validator = std::sync::Arc<dyn Fn(&str, &str) -> bool + Send + Sync>;

/// One piece of parsed output, in generation order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delta {
    Content(String),
    Reasoning(String),
    /// A complete, offered and validated call begins. `index` counts emitted calls only.
    CallStart {
        index: usize,
        name: String,
    },
    /// Part of the arguments of call `index` (compact JSON text; today the whole of it).
    CallArguments {
        index: usize,
        fragment: String,
    },
}

/// What to do with `<think>...</think>`. `starts_inside`: the prompt already opened `<think>`
/// (reasoning templates end the generation prompt with it), so the reply begins in thinking.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReasoningMode {
    /// The template does not reason: `<think>` is ordinary text.
    Off,
    /// Thinking is returned apart, as [`Delta::Reasoning`].
    Separate { starts_inside: bool },
    /// Thinking stays in the content, tags included.
    Inline { starts_inside: bool },
    /// Thinking is dropped.
    Hidden { starts_inside: bool },
}

/// A parsed call of a whole reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolCall {
    pub name: String,
    /// Compact JSON text of the arguments object.
    pub arguments: String,
}

/// A whole reply split apart by [`parse_complete`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Parsed {
    pub content: String,
    pub reasoning: String,
    pub calls: Vec<ToolCall>,
}

/// Parses a whole reply with the same code as streaming, so both always agree (the tests'
/// way in; the API folds the streamed deltas with [`collect`]).
#[cfg(test)]
pub fn parse_complete(
    format: Option<ToolFormat>,
    reasoning: ReasoningMode,
    offered: Vec<String>,
    validator: Validator,
    text: &str,
) -> Parsed {
    let mut parser = StreamParser::new(format, reasoning, offered, validator);
    let mut deltas = parser.push(text);
    deltas.extend(parser.finish());
    collect(deltas)
}

/// Folds deltas into a whole reply.
pub(crate) fn collect(deltas: Vec<Delta>) -> Parsed {
    let mut parsed = Parsed::default();
    for delta in deltas {
        match delta {
            Delta::Content(text) => parsed.content.push_str(&text),
            Delta::Reasoning(text) => parsed.reasoning.push_str(&text),
            Delta::CallStart { name, .. } => parsed.calls.push(ToolCall {
                name,
                arguments: String::new(),
            }),
            Delta::CallArguments { index, fragment } => {
                if let Some(call) = parsed.calls.get_mut(index) {
                    call.arguments.push_str(&fragment);
                }
            }
        }
    }
    parsed
}
