//! A Responses request in chat's terms: a [`ChatJob`] for chat's one path, the input items
//! behind each message (to name them in errors), and the Response object's echo of the
//! request. Every check on sampling, tools and schemas is chat's own; only the shapes are
//! translated here.

use super::input::{self, Origins};
use super::output::{Metadata, Reasoning, Response, Status, Text};
use super::request::{FunctionTool, ResponsesBody, TextFormat, ToolChoiceParam};
use crate::api::chat::ChatJob;
use crate::api::error::{ApiError, ApiResult};
use crate::api::generate;
use crate::api::request::{
    tool_set, FunctionDef, NamedFunction, ReasoningFormat, ToolChoiceField, ToolDef, ToolSet,
};
use crate::api::response_format::{JsonSchemaFormat, ResponseFormat};

/// Where `text.format`'s schema is, named when it cannot be enforced.
const SCHEMA_PARAM: &str = "text.format.schema";

/// The job, where its messages came from, and the Response to fill in (`in_progress`, no
/// output yet). Errors name Responses' fields.
pub fn translate(body: &mut ResponsesBody) -> ApiResult<(Response, ChatJob, Origins)> {
    // Before any message exists, only the fixed names apply.
    let fixed = |error: ApiError| error.renamed(|param| rename(&Origins::default(), param));
    body.check()?;
    let settings = body.settings().map_err(fixed)?;
    let tools = tools(body).map_err(fixed)?;
    let format = body
        .text
        .as_ref()
        .and_then(|text| text.format.clone())
        .unwrap_or(TextFormat::Text);
    let items = body
        .input
        .take()
        .map(|input| input.into_items())
        .unwrap_or_default();
    let (messages, origins) = input::messages(body.instructions.clone(), items)?;
    let echo = Response {
        id: format!("resp_{}", uuid::Uuid::new_v4().simple()),
        object: "response",
        created_at: generate::now(),
        status: Status::InProgress,
        background: false,
        error: None,
        incomplete_details: None,
        instructions: body.instructions.take(),
        max_output_tokens: body.max_output_tokens,
        metadata: Metadata::default(),
        model: String::new(),
        output: Vec::new(),
        parallel_tool_calls: tools.as_ref().is_none_or(|tools| tools.parallel),
        previous_response_id: None,
        reasoning: Reasoning::default(),
        store: false,
        temperature: settings.sampling.temperature,
        text: Text {
            format: format.clone(),
        },
        tool_choice: body
            .tool_choice
            .clone()
            .unwrap_or_else(|| ToolChoiceParam::Mode("auto".to_owned())),
        tools: body.tools.take().unwrap_or_default(),
        top_p: settings.sampling.top_p,
        truncation: "disabled",
        usage: None,
        user: None,
    };
    let job = ChatJob {
        model: body.model.take(),
        settings,
        messages,
        tools,
        response: response_format(format)
            .spec()
            .map(|spec| (spec, SCHEMA_PARAM)),
        reasoning_format: ReasoningFormat::Auto,
    };
    Ok((echo, job, origins))
}

/// The flat Responses tools as chat's, checked by chat's [`tool_set`].
fn tools(body: &ResponsesBody) -> ApiResult<Option<ToolSet>> {
    let tools: Option<Vec<ToolDef>> = body.tools.as_ref().map(|tools| {
        tools
            .iter()
            .map(|tool: &FunctionTool| ToolDef {
                kind: tool.kind.clone(),
                function: tool.name.clone().map(|name| FunctionDef {
                    name,
                    description: tool.description.clone(),
                    parameters: tool.parameters.clone(),
                    strict: tool.strict,
                }),
            })
            .collect()
    });
    let choice = match &body.tool_choice {
        None => None,
        Some(ToolChoiceParam::Mode(mode)) => Some(ToolChoiceField::Mode(mode.clone())),
        Some(ToolChoiceParam::Named { kind, name }) => Some(ToolChoiceField::Named {
            kind: kind.clone(),
            function: NamedFunction {
                name: match (kind.as_str(), name) {
                    (_, Some(name)) => name.clone(),
                    ("function", None) => return Err(ApiError::missing("tool_choice.name")),
                    (_, None) => String::new(),
                },
            },
        }),
    };
    tool_set(tools.as_deref(), choice.as_ref(), body.parallel_tool_calls)
}

/// `text.format` as chat's `response_format`, so the schema takes chat's path to a grammar.
fn response_format(format: TextFormat) -> ResponseFormat {
    match format {
        TextFormat::Text => ResponseFormat::Text,
        TextFormat::JsonObject => ResponseFormat::JsonObject,
        TextFormat::JsonSchema {
            name,
            description,
            schema,
            strict,
        } => ResponseFormat::JsonSchema {
            json_schema: JsonSchemaFormat {
                _name: name,
                _description: description,
                schema,
                strict,
            },
        },
    }
}

/// A chat field's name in the Responses request: the conversation's through `origins`, the
/// rest by a fixed table.
pub fn rename(origins: &Origins, param: &str) -> Option<String> {
    if let Some(name) = origins.rename(param) {
        return Some(name);
    }
    match param {
        "max_tokens" | "max_completion_tokens" => return Some("max_output_tokens".to_owned()),
        "tool_choice.function.name" => return Some("tool_choice.name".to_owned()),
        _ => {}
    }
    // `tools[2].function.parameters` is `tools[2].parameters`; a missing `function` is the
    // missing `name`.
    let rest = param.strip_prefix("tools[")?;
    let (index, field) = rest.split_once(']')?;
    let field = match field {
        ".function" => ".name",
        field => field.strip_prefix(".function")?,
    };
    Some(format!("tools[{index}]{field}"))
}
