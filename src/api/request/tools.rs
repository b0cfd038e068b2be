//! `tools`, `tool_choice` and `parallel_tool_calls` of a chat request, checked into a
//! [`ToolSet`]. Only function tools exist; each check names the field it rejects.

use std::collections::HashSet;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::api::error::{ApiError, ApiResult};

/// Longest function name OpenAI accepts; names are `[A-Za-z0-9_-]`.
const MAX_NAME: usize = 64;

#[derive(Debug, Deserialize)]
pub struct ToolDef {
    #[serde(rename = "type")]
    pub kind: String,
    pub function: Option<FunctionDef>,
}

/// One function the model may call, as the client described it. It goes to the model's
/// template as sent (OpenAI's shape), so descriptions reach the model unchanged.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct FunctionDef {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parameters: Option<Value>,
    /// Always enforced here: calls the engine constrains follow their schema.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub strict: Option<bool>,
}

impl FunctionDef {
    /// The arguments' JSON Schema; a function without one takes an empty object.
    pub fn parameters(&self) -> Value {
        self.parameters.clone().unwrap_or_else(
            || serde_json::json!({ "type": "object", "properties": {}, "additionalProperties": false }),
        )
    }
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum ToolChoiceField {
    Mode(String),
    Named {
        #[serde(rename = "type")]
        kind: String,
        function: NamedFunction,
    },
}

#[derive(Debug, Deserialize)]
pub struct NamedFunction {
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ToolChoice {
    /// The model answers in text; the tools are still shown to it.
    None,
    /// The model chooses between text and calls.
    Auto,
    /// At least one call, to any offered function.
    Required,
    /// Exactly this function is called.
    Named(String),
}

/// The checked tools of one request.
#[derive(Debug, Clone)]
pub struct ToolSet {
    pub functions: Vec<FunctionDef>,
    pub choice: ToolChoice,
    /// More than one call in a reply is allowed (OpenAI's default).
    pub parallel: bool,
}

impl ToolSet {
    /// The functions a call may name: all of them, or the one `tool_choice` names.
    pub fn callable(&self) -> impl Iterator<Item = &FunctionDef> {
        self.functions.iter().filter(|f| match &self.choice {
            ToolChoice::Named(name) => &f.name == name,
            _ => true,
        })
    }

    /// The tool list in OpenAI's shape, for the template's `tools` variable.
    pub fn template_tools(&self) -> Vec<Value> {
        self.functions
            .iter()
            .map(|function| serde_json::json!({ "type": "function", "function": function }))
            .collect()
    }
}

/// The request's tools; `None` when it has none. `tool_choice` and `parallel_tool_calls`
/// without `tools` are errors, as OpenAI makes them.
pub fn tool_set(
    tools: Option<&[ToolDef]>,
    choice: Option<&ToolChoiceField>,
    parallel: Option<bool>,
) -> ApiResult<Option<ToolSet>> {
    let tools = tools.unwrap_or_default();
    if tools.is_empty() {
        if choice.is_some_and(|c| !matches!(c, ToolChoiceField::Mode(m) if m == "none")) {
            return Err(ApiError::invalid_value(
                "tool_choice",
                "`tool_choice` is only allowed when `tools` lists at least one function.",
            ));
        }
        if parallel.is_some() {
            return Err(ApiError::invalid_value(
                "parallel_tool_calls",
                "`parallel_tool_calls` is only allowed when `tools` lists at least one function.",
            ));
        }
        return Ok(None);
    }
    let mut names = HashSet::new();
    let mut functions = Vec::with_capacity(tools.len());
    for (index, tool) in tools.iter().enumerate() {
        if tool.kind != "function" {
            return Err(ApiError::unsupported(
                format!("tools[{index}].type"),
                "Only `function` tools are supported.",
            ));
        }
        let function = tool
            .function
            .as_ref()
            .ok_or_else(|| ApiError::missing(&format!("tools[{index}].function")))?;
        let param = |field: &str| format!("tools[{index}].function.{field}");
        if !valid_name(&function.name) {
            return Err(ApiError::invalid_value(
                param("name"),
                format!("Function names are 1 to {MAX_NAME} letters, digits, `_` or `-`."),
            ));
        }
        if !names.insert(function.name.as_str()) {
            return Err(ApiError::invalid_value(
                param("name"),
                "Each function in `tools` needs its own name.",
            ));
        }
        if function.parameters.as_ref().is_some_and(|p| !p.is_object()) {
            return Err(ApiError::invalid_value(
                param("parameters"),
                "`parameters` must be a JSON Schema object.",
            ));
        }
        functions.push(function.clone());
    }
    let choice = match choice {
        None => ToolChoice::Auto,
        Some(ToolChoiceField::Mode(mode)) => match mode.as_str() {
            "none" => ToolChoice::None,
            "auto" => ToolChoice::Auto,
            "required" => ToolChoice::Required,
            _ => {
                return Err(ApiError::invalid_value(
                    "tool_choice",
                    "`tool_choice` is `none`, `auto`, `required` or {\"type\": \"function\", \"function\": {\"name\": ...}}.",
                ))
            }
        },
        Some(ToolChoiceField::Named { kind, function }) => {
            if kind != "function" {
                return Err(ApiError::unsupported(
                    "tool_choice.type",
                    "Only `function` tools are supported.",
                ));
            }
            if !names.contains(function.name.as_str()) {
                return Err(ApiError::invalid_value(
                    "tool_choice.function.name",
                    "`tool_choice` names a function that is not in `tools`.",
                ));
            }
            ToolChoice::Named(function.name.clone())
        }
    };
    Ok(Some(ToolSet {
        functions,
        choice,
        parallel: parallel.unwrap_or(true),
    }))
}

fn valid_name(name: &str) -> bool {
    (1..=MAX_NAME).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tools(json: Value) -> Vec<ToolDef> {
        serde_json::from_value(json).expect("tools")
    }

    fn choice(json: Value) -> ToolChoiceField {
        serde_json::from_value(json).expect("tool_choice")
    }

    fn param_of(result: ApiResult<Option<ToolSet>>) -> String {
        let error = result.expect_err("refused");
        error.body().error.param.unwrap_or_default().to_owned()
    }

    #[test]
    fn choices_are_read_and_checked_against_the_tools() {
        let list = tools(serde_json::json!([
            { "type": "function", "function": { "name": "get_weather" } },
            { "type": "function", "function": { "name": "search", "parameters": { "type": "object" } } }
        ]));
        let set = tool_set(Some(&list), None, None)
            .expect("ok")
            .expect("some");
        assert_eq!(set.choice, ToolChoice::Auto);
        assert!(set.parallel);
        let named =
            choice(serde_json::json!({ "type": "function", "function": { "name": "search" } }));
        let set = tool_set(Some(&list), Some(&named), Some(false))
            .expect("ok")
            .expect("some");
        assert_eq!(
            set.callable().map(|f| f.name.as_str()).collect::<Vec<_>>(),
            ["search"]
        );
        let unknown =
            choice(serde_json::json!({ "type": "function", "function": { "name": "nope" } }));
        assert_eq!(
            param_of(tool_set(Some(&list), Some(&unknown), None)),
            "tool_choice.function.name"
        );
        assert_eq!(
            param_of(tool_set(
                Some(&list),
                Some(&choice("sometimes".into())),
                None
            )),
            "tool_choice"
        );
    }

    #[test]
    fn fields_without_tools_and_bad_tools_are_named() {
        assert_eq!(
            param_of(tool_set(None, Some(&choice("auto".into())), None)),
            "tool_choice"
        );
        assert_eq!(
            param_of(tool_set(None, None, Some(true))),
            "parallel_tool_calls"
        );
        assert!(tool_set(None, Some(&choice("none".into())), None)
            .expect("ok")
            .is_none());
        let bad =
            tools(serde_json::json!([{ "type": "function", "function": { "name": "has space" } }]));
        assert_eq!(
            param_of(tool_set(Some(&bad), None, None)),
            "tools[0].function.name"
        );
        let twice = tools(serde_json::json!([
            { "type": "function", "function": { "name": "a" } },
            { "type": "function", "function": { "name": "a" } }
        ]));
        assert_eq!(
            param_of(tool_set(Some(&twice), None, None)),
            "tools[1].function.name"
        );
        let other = tools(serde_json::json!([{ "type": "code_interpreter" }]));
        assert_eq!(
            param_of(tool_set(Some(&other), None, None)),
            "tools[0].type"
        );
        let schema = tools(
            serde_json::json!([{ "type": "function", "function": { "name": "a", "parameters": [] } }]),
        );
        assert_eq!(
            param_of(tool_set(Some(&schema), None, None)),
            "tools[0].function.parameters"
        );
    }
}
