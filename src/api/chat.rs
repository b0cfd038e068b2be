//! `POST /v1/chat/completions`: the conversation through the model's template, with tools,
//! structured output and reasoning (see [`tool_use`](super::tool_use)).

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::State;
use axum::response::Response;
use llama_cpp_2::token::LlamaToken;

use super::auth::Caller;
use super::error::{ApiError, ApiResult};
use super::generate::{self, Kind, Submission};
use super::json::ApiJsonPair;
use super::reply::Shape;
use super::request::{
    conversation, ChatFields, GenerationBody, Message, ReasoningFormat, Settings, ToolChoice,
    ToolSet,
};
use super::response_format::{self, ResponseFormat};
use super::tool_use::{self, ToolGrammar};
use crate::chat_template::{ChatPrompt, Placement, TemplateError, TemplateMessage};
use crate::engine::{Constraint, GrammarSpec};
use crate::models::LoadedModel;
use crate::state::AppState;
use crate::tool_calls::{ReasoningMode, StreamParser, ToolFormat, Validator};

/// What marks a reasoning model's thinking, in its template and its output.
const THINK_OPEN: &str = "<think>";
const THINK_CLOSE: &str = "</think>";

pub async fn post(
    State(state): State<AppState>,
    Caller(owner): Caller,
    ApiJsonPair(body, fields, ignored): ApiJsonPair<GenerationBody, ChatFields>,
) -> ApiResult<Response> {
    let mut settings = body.settings()?;
    settings.logprobs = body.chat_logprobs()?;
    fields.check()?;
    let job = ChatJob {
        model: body.model,
        settings,
        tools: fields.tools()?,
        response: fields
            .response_format
            .as_ref()
            .and_then(ResponseFormat::spec)
            .map(|spec| (spec, response_format::SCHEMA_PARAM)),
        reasoning_format: fields.reasoning_format.unwrap_or_default(),
        messages: fields.messages.unwrap_or_default(),
    };
    let (model, submission) = plan(&state, job).await?;
    let response = generate::respond(model, submission, state.max_tokens_default, owner).await?;
    Ok(ignored.apply(response))
}

/// A conversation to continue, in chat's terms, whichever API it arrived by: the Responses and
/// Messages endpoints translate their requests into one, so every API shape shares one path
/// through templates, tools, grammars and the parser.
pub struct ChatJob {
    pub model: Option<String>,
    pub settings: Settings,
    /// Checked by the caller to hold at least one message.
    pub messages: Vec<Message>,
    pub tools: Option<ToolSet>,
    /// The grammar the answer must follow, and the request field that holds its schema (named
    /// when the schema cannot be enforced).
    pub response: Option<(GrammarSpec, &'static str)>,
    pub reasoning_format: ReasoningFormat,
}

/// The model and what to submit to it for `job`. The submission's shape is
/// [`Shape::Chat`]: its parser splits content, reasoning and calls apart.
pub async fn plan(state: &AppState, job: ChatJob) -> ApiResult<(Arc<LoadedModel>, Submission)> {
    let ChatJob {
        model,
        settings,
        messages,
        tools,
        response,
        reasoning_format,
    } = job;
    let model = state.model(model.as_deref())?;
    let format = ToolFormat::detect(model.template.source());
    let native = format != ToolFormat::Generic;
    let mut messages = conversation(&messages, native)?;
    let calling = tools.as_ref().filter(|t| t.choice != ToolChoice::None);
    let tool_grammar = match calling {
        Some(tools) => tool_use::grammar(tools, format, response.as_ref().map(|(spec, _)| spec))?,
        None => None,
    };
    let template_tools = match &tools {
        Some(tools) if native => {
            let listed = tools.template_tools();
            refuse_control_tokens(&model, &listed, &messages)?;
            Some(listed)
        }
        Some(tools) if calling.is_some() => {
            add_system_text(&mut messages, &tool_use::generic_instructions(tools));
            None
        }
        _ => None,
    };
    // Compiling the tools' schemas takes time in proportion to them: off the async runtime.
    let validator = match calling.cloned() {
        Some(tools) => Some(
            tokio::task::spawn_blocking(move || validator_for(&tools))
                .await
                .map_err(ApiError::internal)??,
        ),
        None => None,
    };
    let prompt = render(&model, messages, template_tools).await?;

    let reasoning = reasoning_mode(&model, reasoning_format, &prompt.text);
    // Structured output and calls constrain the answer, after any thinking.
    let after_thinking = matches!(
        reasoning,
        ReasoningMode::Separate {
            starts_inside: true
        } | ReasoningMode::Inline {
            starts_inside: true
        } | ReasoningMode::Hidden {
            starts_inside: true
        }
    )
    .then(|| THINK_CLOSE.to_owned());
    // An answer constrained to JSON alone may come in a code fence, which the parser drops.
    let (constraint, unfence) = match (tool_grammar, response) {
        (Some(ToolGrammar { spec, trigger }), _) => {
            (Some((spec, trigger.or(after_thinking), "tools")), false)
        }
        (None, Some((spec, param))) if calling.is_none() => {
            (Some((spec.fence_allowed(), after_thinking, param)), true)
        }
        (None, _) => (None, false),
    };
    let constraint = match constraint {
        Some((spec, trigger, param)) => Some(Constraint {
            grammar: response_format::compile(&model, spec, param).await?,
            trigger,
        }),
        None => None,
    };
    let parser = StreamParser::new(
        calling.map(|_| format),
        reasoning,
        calling
            .map(|tools| tools.callable().map(|f| f.name.clone()).collect())
            .unwrap_or_default(),
        validator.unwrap_or_else(|| Arc::new(|_: &str, _: &str| false)),
    );
    let parser = if unfence { parser.unfenced() } else { parser };
    let submission = Submission {
        kind: Kind::Chat,
        prompt: prompt.tokens,
        prompt_param: "messages",
        settings,
        constraint,
        shape: Shape::Chat(parser),
    };
    Ok((model, submission))
}

/// A template that shows thinking gets it split off (or kept, or dropped, as asked).
fn reasoning_mode(model: &LoadedModel, format: ReasoningFormat, prompt: &str) -> ReasoningMode {
    if !model.template.source().contains(THINK_OPEN) {
        return ReasoningMode::Off;
    }
    let starts_inside = prompt.trim_end().ends_with(THINK_OPEN);
    match format {
        ReasoningFormat::Auto | ReasoningFormat::Deepseek => {
            ReasoningMode::Separate { starts_inside }
        }
        ReasoningFormat::None => ReasoningMode::Inline { starts_inside },
        ReasoningFormat::Hidden => ReasoningMode::Hidden { starts_inside },
    }
}

/// The instructions go first in the system message, or in a system message of their own.
fn add_system_text(messages: &mut Vec<TemplateMessage>, text: &str) {
    match messages.first_mut() {
        Some(first) if first.role == "system" => {
            first.content = format!("{text}\n\n{}", first.content);
        }
        _ => messages.insert(0, TemplateMessage::text("system", text)),
    }
}

/// Tool definitions and replayed calls go to a native template as its own text, where control
/// tokens would be read from them: one spelt there is refused, never obeyed.
fn refuse_control_tokens(
    model: &LoadedModel,
    tools: &[serde_json::Value],
    messages: &[TemplateMessage],
) -> ApiResult<()> {
    let engine = &model.engine;
    if engine.spells_special_token(&serde_json::Value::from(tools.to_vec()).to_string()) {
        return Err(ApiError::invalid_value(
            "tools",
            "Tool definitions must not spell the model's control tokens.",
        ));
    }
    for (index, message) in messages.iter().enumerate() {
        let calls = message.tool_calls.as_deref().unwrap_or_default();
        let spelt = calls.iter().any(|call| {
            engine.spells_special_token(&call.function.name)
                || engine.spells_special_token(&call.function.arguments.to_string())
                || engine.spells_special_token(&call.id)
        }) || message
            .tool_call_id
            .as_deref()
            .is_some_and(|id| engine.spells_special_token(id));
        if spelt {
            return Err(ApiError::invalid_value(
                format!("messages[{index}].tool_calls"),
                "Tool calls must not spell the model's control tokens.",
            ));
        }
    }
    Ok(())
}

/// Checks a call's arguments against its function's `parameters` before it becomes a call.
fn validator_for(tools: &ToolSet) -> ApiResult<Validator> {
    let mut schemas = HashMap::new();
    for (index, function) in tools.functions.iter().enumerate() {
        let validator = jsonschema::validator_for(&function.parameters()).map_err(|_| {
            ApiError::invalid_value(
                format!("tools[{index}].function.parameters"),
                "`parameters` is not a valid JSON Schema.",
            )
        })?;
        schemas.insert(function.name.clone(), validator);
    }
    Ok(Arc::new(move |name: &str, arguments: &str| {
        let Some(validator) = schemas.get(name) else {
            return false;
        };
        serde_json::from_str::<serde_json::Value>(arguments)
            .is_ok_and(|arguments| validator.is_valid(&arguments))
    }))
}

/// The rendered prompt and its tokens.
struct Rendered {
    text: String,
    tokens: Vec<LlamaToken>,
}

/// The conversation as the model's template lays it out, tokenized with its content as text.
/// Off the async runtime: both take time in proportion to the conversation.
async fn render(
    model: &Arc<LoadedModel>,
    messages: Vec<TemplateMessage>,
    tools: Option<Vec<serde_json::Value>>,
) -> ApiResult<Rendered> {
    let rendering = Arc::clone(model);
    let rendered = tokio::task::spawn_blocking(move || {
        let model = rendering;
        let prompt: ChatPrompt = model.template.render_prompt(&messages, tools.as_deref())?;
        if prompt.placement == Placement::Verbatim {
            tracing::debug!(
                model = %model.id,
                "the chat template changes message content; content is used as sent"
            );
        }
        // The template writes any BOS token itself.
        let tokens = model.engine.tokenize(&prompt.text, &prompt.content, false);
        Ok(Rendered {
            text: prompt.text,
            tokens,
        })
    })
    .await
    .map_err(ApiError::internal)?;
    rendered.map_err(|error| match error {
        TemplateError::Rejected(_) => ApiError::invalid_value("messages", error.to_string()),
        TemplateError::Render | TemplateError::Unplaceable => {
            ApiError::internal(anyhow::Error::new(error).context(format!("model {}", model.id)))
        }
    })
}
