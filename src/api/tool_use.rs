//! How a request's tools reach the model and constrain its reply, per tool-call format.
//!
//! - A template that knows tools (Hermes/Qwen, Mistral, Llama 3.x) gets them in its `tools`
//!   variable. `required` or a named function constrains the whole reply to that format's
//!   call syntax; `auto` lets the model write freely and constrains a call once the model
//!   opens one (a lazy grammar triggered by the format's opening marker).
//! - A template that knows none (the default SmolLM2's ChatML) gets the tool list in a system
//!   message, and the reply is constrained to the generic JSON envelope: `{"tool_calls": [..]}`
//!   or, under `auto`, `{"response": ..}`, as llama.cpp's server does for such templates.

use serde_json::{json, Value};

use super::error::{ApiError, ApiResult};
use super::request::{ToolChoice, ToolSet};
use crate::engine::GrammarSpec;
use crate::tool_calls::generic_schema::{generic_schema, generic_system_prompt, GenericMode};
use crate::tool_calls::ToolFormat;

/// The grammar a reply with tools follows, and the text that switches it on (`None`: from the
/// first token).
pub struct ToolGrammar {
    pub spec: GrammarSpec,
    pub trigger: Option<String>,
}

/// The system message that describes the tools to a template without tool support.
pub fn generic_instructions(tools: &ToolSet) -> String {
    let list = Value::Array(tools.template_tools()).to_string();
    generic_system_prompt(&list)
}

/// The grammar for a reply with tools; `response` is the schema `response_format` asked for,
/// which only the generic envelope can combine with calls.
pub fn grammar(
    tools: &ToolSet,
    format: ToolFormat,
    response: Option<&GrammarSpec>,
) -> ApiResult<Option<ToolGrammar>> {
    let forced = matches!(tools.choice, ToolChoice::Required | ToolChoice::Named(_));
    if tools.choice == ToolChoice::None {
        return Ok(None);
    }
    if response.is_some() && format != ToolFormat::Generic {
        return Err(ApiError::unsupported(
            "response_format",
            "This model's template writes tool calls in its own format; `response_format` can be combined with `tools` only when `tool_choice` is `none`.",
        ));
    }
    let functions: Vec<(String, Value)> = tools
        .callable()
        .map(|f| (f.name.clone(), f.parameters()))
        .collect();
    // A named function is called once. In parallel, a reply holds at most one call per offered
    // function: small models asked for a list otherwise repeat one call until `max_tokens`.
    let parallel = tools.parallel && !matches!(tools.choice, ToolChoice::Named(_));
    let more = if parallel {
        functions.len().saturating_sub(1)
    } else {
        0
    };
    let calls = |arguments_key: &str| call_schema(&functions, arguments_key);
    let grammar = match format {
        ToolFormat::Generic => {
            let mode = if forced {
                GenericMode::Required { parallel }
            } else {
                GenericMode::Auto {
                    parallel,
                    response: response.map(response_schema),
                }
            };
            ToolGrammar {
                spec: GrammarSpec::JsonSchema(generic_schema(&functions, &mode)),
                trigger: None,
            }
        }
        ToolFormat::Hermes => {
            let block = format!(
                "block: \"<tool_call>\\n\" call \"\\n</tool_call>\"\ncall: %json {}\n",
                calls("arguments")
            );
            if forced {
                lark(
                    format!("start: {}\n{block}", repeated("block", "\"\\n\"", more)),
                    None,
                )
            } else {
                let rest = format!(
                    "start: \"\\n\" call \"\\n</tool_call>\"\ncall: %json {}\n",
                    calls("arguments")
                );
                lark(rest, Some("<tool_call>"))
            }
        }
        ToolFormat::Mistral => {
            let list = call_list(&functions, parallel);
            if forced {
                lark(
                    format!("start: \"[TOOL_CALLS]\" calls\ncalls: %json {list}\n"),
                    None,
                )
            } else {
                lark(
                    format!("start: calls\ncalls: %json {list}\n"),
                    Some("[TOOL_CALLS]"),
                )
            }
        }
        ToolFormat::Llama3Json => {
            if !forced {
                // Its calls open with no marker to trigger on: the reply is parsed afterwards,
                // and only calls that validate become calls.
                return Ok(None);
            }
            let start = repeated("call", "\";\"", more);
            lark(
                format!("start: {start}\ncall: %json {}\n", calls("parameters")),
                None,
            )
        }
    };
    Ok(Some(grammar))
}

/// `rule`, then up to `more` further ones after `separator`, in llguidance's Lark.
fn repeated(rule: &str, separator: &str, more: usize) -> String {
    if more == 0 {
        rule.to_owned()
    } else {
        format!("{rule} ({separator} {rule}){{0,{more}}}")
    }
}

fn lark(source: String, trigger: Option<&str>) -> ToolGrammar {
    ToolGrammar {
        spec: GrammarSpec::Lark(source),
        trigger: trigger.map(str::to_owned),
    }
}

/// One call to any of `functions`: `{"name": <const>, <arguments_key>: <its parameters>}`.
fn call_schema(functions: &[(String, Value)], arguments_key: &str) -> Value {
    let options: Vec<Value> = functions
        .iter()
        .map(|(name, parameters)| {
            json!({
                "type": "object",
                "properties": { "name": { "const": name }, arguments_key: parameters },
                "required": ["name", arguments_key],
                "additionalProperties": false,
            })
        })
        .collect();
    json!({ "anyOf": options })
}

fn call_list(functions: &[(String, Value)], parallel: bool) -> Value {
    let mut list =
        json!({ "type": "array", "items": call_schema(functions, "arguments"), "minItems": 1 });
    if !parallel {
        list["maxItems"] = json!(1);
    }
    list
}

fn response_schema(spec: &GrammarSpec) -> Value {
    match spec {
        GrammarSpec::JsonSchema(schema) => schema.clone(),
        GrammarSpec::JsonObject | GrammarSpec::Lark(_) => json!({ "type": "object" }),
    }
}
