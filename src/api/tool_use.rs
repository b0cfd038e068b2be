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
use super::schemas;
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
    let functions = Functions::new(tools);
    // A named function is called once. In parallel, a reply holds at most one call per offered
    // function: small models asked for a list otherwise repeat one call until `max_tokens`.
    let parallel = tools.parallel && !matches!(tools.choice, ToolChoice::Named(_));
    let more = if parallel {
        functions.list.len().saturating_sub(1)
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
                spec: GrammarSpec::JsonSchema({
                    let mut schema = generic_schema(&functions.list, &mode);
                    functions.add_definitions(&mut schema);
                    schema
                }),
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
                // The trigger opened the first call; in parallel, more blocks may follow it.
                let first = "\"\\n\" call \"\\n</tool_call>\"";
                let start = if more == 0 {
                    first.to_owned()
                } else {
                    format!("{first} (\"\\n\" block){{0,{more}}}")
                };
                lark(format!("start: {start}\n{block}"), Some("<tool_call>"))
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
fn call_schema(functions: &Functions, arguments_key: &str) -> Value {
    let mut schema = json!({ "anyOf": call_options(functions, arguments_key) });
    functions.add_definitions(&mut schema);
    schema
}

fn call_options(functions: &Functions, arguments_key: &str) -> Vec<Value> {
    functions
        .list
        .iter()
        .map(|(name, parameters)| {
            json!({
                "type": "object",
                "properties": { "name": { "const": name }, arguments_key: parameters },
                "required": ["name", arguments_key],
                "additionalProperties": false,
            })
        })
        .collect()
}

fn call_list(functions: &Functions, parallel: bool) -> Value {
    let most = if parallel {
        functions.list.len().max(1)
    } else {
        1
    };
    let mut list = json!({
        "type": "array",
        "items": { "anyOf": call_options(functions, "arguments") },
        "minItems": 1,
        "maxItems": most,
    });
    functions.add_definitions(&mut list);
    list
}

/// The callable functions' argument schemas as a grammar takes them. Each one's definitions
/// (`$defs`, `definitions`) move to the root of the grammar's schema under the function's
/// name, with its `$ref`s rewritten to match: embedded under a call, `#/$defs/...` would
/// otherwise point at nothing. Objects that do not say whether they take properties beyond
/// the listed ones take none, as OpenAI's strict mode has it: small models otherwise invent
/// properties until `max_tokens` runs out.
struct Functions {
    list: Vec<(String, Value)>,
    definitions: serde_json::Map<String, Value>,
}

impl Functions {
    fn new(tools: &ToolSet) -> Self {
        let mut definitions = serde_json::Map::new();
        let list = tools
            .callable()
            .map(|function| {
                let mut parameters = function.parameters();
                schemas::prepare(&mut parameters, true);
                let mut local = serde_json::Map::new();
                if let Some(object) = parameters.as_object_mut() {
                    for key in ["$defs", "definitions"] {
                        if let Some(Value::Object(defs)) = object.remove(key) {
                            local.extend(defs);
                        }
                    }
                }
                let name = &function.name;
                let mut rewrote = rewrite_refs(&mut parameters, name);
                if local.is_empty() && !rewrote {
                    return (name.clone(), parameters);
                }
                for (def_name, mut def) in local {
                    rewrote |= rewrite_refs(&mut def, name);
                    definitions.insert(format!("{name}__{def_name}"), def);
                }
                definitions.insert(name.clone(), parameters);
                (name.clone(), json!({ "$ref": format!("#/$defs/{name}") }))
            })
            .collect();
        Self { list, definitions }
    }

    fn add_definitions(&self, schema: &mut Value) {
        if !self.definitions.is_empty() {
            schema["$defs"] = Value::Object(self.definitions.clone());
        }
    }
}

/// Points a function's local `$ref`s at its definitions' new place; whether any changed.
fn rewrite_refs(schema: &mut Value, function: &str) -> bool {
    let mut changed = false;
    match schema {
        Value::Object(object) => {
            if let Some(Value::String(reference)) = object.get_mut("$ref") {
                let rest = reference
                    .strip_prefix("#/$defs/")
                    .or_else(|| reference.strip_prefix("#/definitions/"));
                let new = match rest {
                    Some(rest) => Some(format!("#/$defs/{function}__{rest}")),
                    None if reference == "#" => Some(format!("#/$defs/{function}")),
                    None => None,
                };
                if let Some(new) = new {
                    *reference = new;
                    changed = true;
                }
            }
            for value in object.values_mut() {
                changed |= rewrite_refs(value, function);
            }
        }
        Value::Array(items) => {
            for item in items {
                changed |= rewrite_refs(item, function);
            }
        }
        _ => {}
    }
    changed
}

fn response_schema(spec: &GrammarSpec) -> Value {
    match spec {
        GrammarSpec::JsonSchema(schema) | GrammarSpec::JsonMayBeFenced(schema) => schema.clone(),
        GrammarSpec::JsonObject | GrammarSpec::Lark(_) => json!({ "type": "object" }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::request::{FunctionDef, ToolChoice};

    fn tools(parameters: Value) -> ToolSet {
        ToolSet {
            functions: vec![FunctionDef {
                name: "make".into(),
                description: None,
                parameters: Some(parameters),
                strict: None,
            }],
            choice: ToolChoice::Required,
            parallel: false,
        }
    }

    #[test]
    fn definitions_move_to_the_root_and_their_refs_follow() {
        let functions = Functions::new(&tools(json!({
            "type": "object",
            "properties": { "item": { "$ref": "#/$defs/Item" }, "again": { "$ref": "#" } },
            "$defs": { "Item": { "type": "object", "properties": { "n": { "type": "integer" } } } }
        })));
        assert_eq!(functions.list[0].1, json!({ "$ref": "#/$defs/make" }));
        let root = &functions.definitions["make"];
        assert_eq!(root["properties"]["item"]["$ref"], "#/$defs/make__Item");
        assert_eq!(root["properties"]["again"]["$ref"], "#/$defs/make");
        assert!(root.get("$defs").is_none());
        assert_eq!(
            functions.definitions["make__Item"]["additionalProperties"],
            false
        );
    }
}
