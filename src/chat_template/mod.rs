//! Renders a model's own chat template (GGUF `tokenizer.chat_template`, Jinja) with minijinja,
//! so any modern GGUF works, not only the fixed templates llama.cpp recognises.
//!
//! The server adds nothing of its own: the messages go in as the client sent them, and come out
//! as text: [`ChatTemplate::render_prompt`] tells which bytes of the prompt are content, so no
//! control token is ever read from them.

mod prompt;

use minijinja::{Environment, ErrorKind, Value};
use serde::Serialize;

use prompt::{Markers, Segment};

pub use prompt::{ChatPrompt, Placement};

/// Used when a GGUF carries no template (llama.cpp's server falls back to ChatML as well).
const CHATML: &str = "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}";

const TEMPLATE_NAME: &str = "chat";

/// One message as the template sees it. Tool fields are left out when absent, as templates
/// test them with `is defined`.
#[derive(Debug, Clone, Serialize)]
pub struct TemplateMessage {
    pub role: String,
    pub content: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tool_calls: Option<Vec<TemplateToolCall>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tool_call_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

impl TemplateMessage {
    pub fn text(role: impl Into<String>, content: impl Into<String>) -> Self {
        Self {
            role: role.into(),
            content: content.into(),
            tool_calls: None,
            tool_call_id: None,
            name: None,
        }
    }
}

/// A call an assistant message made, in OpenAI's shape, with its arguments as a JSON object:
/// templates print them with `tojson`, which would quote a string once more.
#[derive(Debug, Clone, Serialize)]
pub struct TemplateToolCall {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub function: TemplateFunction,
}

#[derive(Debug, Clone, Serialize)]
pub struct TemplateFunction {
    pub name: String,
    pub arguments: serde_json::Value,
}

#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    /// The template itself refused the conversation (`raise_exception`), e.g. roles that do
    /// not alternate. Its text comes from the template, not from the messages.
    #[error("the model's chat template rejected the messages: {0}")]
    Rejected(String),
    #[error("the model's chat template could not be rendered")]
    Render,
    /// The template cuts into message content, so where content lies in its output cannot be
    /// told, and content must never be read as the template's own text.
    #[error("the model's chat template changes message content beyond recognition")]
    Unplaceable,
}

pub struct ChatTemplate {
    env: Environment<'static>,
    source: String,
    bos_token: String,
    eos_token: String,
    markers: Markers,
}

impl ChatTemplate {
    /// `source` is the model's template, or `None` for the ChatML fallback.
    pub fn new(
        source: Option<String>,
        bos_token: String,
        eos_token: String,
    ) -> anyhow::Result<Self> {
        let source = source.unwrap_or_else(|| CHATML.to_owned());
        let mut env = Environment::new();
        env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
        minijinja_contrib::add_to_environment(&mut env);
        env.add_function("raise_exception", raise_exception);
        env.add_function("strftime_now", strftime_now);
        env.add_template_owned(TEMPLATE_NAME, source.clone())
            .map_err(|e| anyhow::anyhow!("the model's chat template does not compile: {e}"))?;
        Ok(Self {
            markers: Markers::avoiding(&[&source, &bos_token, &eos_token]),
            env,
            source,
            bos_token,
            eos_token,
        })
    }

    /// The template text, so anyone can see exactly what the model receives.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// The prompt for `messages`, ending with the assistant's turn opened. `tools` (OpenAI's
    /// tool definitions) go to the template's own `tools` variable, as the model was trained.
    fn render(
        &self,
        messages: &[TemplateMessage],
        tools: Option<&[serde_json::Value]>,
    ) -> Result<String, TemplateError> {
        let template = self
            .env
            .get_template(TEMPLATE_NAME)
            .map_err(|_| TemplateError::Render)?;
        let context = minijinja::context! {
            messages => messages,
            tools => tools,
            add_generation_prompt => true,
            bos_token => self.bos_token,
            eos_token => self.eos_token,
        };
        template
            .render(context)
            .map_err(|error| match error.kind() {
                ErrorKind::InvalidOperation => TemplateError::Rejected(
                    error.detail().unwrap_or("invalid conversation").to_owned(),
                ),
                _ => TemplateError::Render,
            })
    }
}

impl ChatTemplate {
    /// The prompt for `messages` and where their contents are in it (see [`prompt`]).
    pub fn render_prompt(
        &self,
        messages: &[TemplateMessage],
        tools: Option<&[serde_json::Value]>,
    ) -> Result<ChatPrompt, TemplateError> {
        let rendered = self.render(messages, tools)?;
        let marked = self.render(&self.markers.mark(messages), tools)?;
        let segments = self
            .markers
            .segments(&marked, messages.len())
            .ok_or(TemplateError::Unplaceable)?;
        Ok(ChatPrompt::place(messages, rendered, &segments))
    }

    /// The text the template puts between an assistant reply and the next user message
    /// (ChatML: `<|im_end|>\n<|im_start|>user\n`), found by rendering a short conversation
    /// with marked contents; `None` unless the template shows each content once, in order.
    pub fn turn_boundary(&self) -> Option<String> {
        let conversation = [("user", "first"), ("assistant", "reply"), ("user", "next")]
            .map(|(role, content)| TemplateMessage::text(role, content));
        let marked = self.render(&self.markers.mark(&conversation), None).ok()?;
        let segments = self.markers.segments(&marked, conversation.len())?;
        let order: Vec<usize> = segments
            .iter()
            .filter_map(|segment| match segment {
                Segment::Content(index) => Some(*index),
                Segment::Template(_) => None,
            })
            .collect();
        if order != [0, 1, 2] {
            return None;
        }
        let reply = segments.iter().position(|s| *s == Segment::Content(1))?;
        match segments.get(reply + 1)? {
            Segment::Template(text) => Some((*text).to_owned()),
            Segment::Content(_) => Some(String::new()),
        }
    }
}

fn raise_exception(message: String) -> Result<Value, minijinja::Error> {
    Err(minijinja::Error::new(ErrorKind::InvalidOperation, message))
}

/// Templates of some models print today's date; only the date format comes from the template.
fn strftime_now(format: String) -> String {
    let (year, month, day) = crate::clock::date_of(crate::clock::now_secs());
    const MONTHS: [&str; 12] = [
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ];
    let month_name = MONTHS[usize::try_from(month - 1).unwrap_or(0) % 12];
    format
        .replace("%Y", &year.to_string())
        .replace("%m", &format!("{month:02}"))
        .replace("%d", &format!("{day:02}"))
        .replace("%B", month_name)
        .replace("%b", &month_name[..3])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(role: &str, content: &str) -> TemplateMessage {
        TemplateMessage::text(role, content)
    }

    #[test]
    fn renders_chatml_fallback_without_adding_anything() {
        let template = ChatTemplate::new(None, String::new(), String::new()).expect("compiles");
        let prompt = template
            .render(&[message("user", "hi")], None)
            .expect("renders");
        assert_eq!(
            prompt,
            "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n"
        );
    }

    #[test]
    fn finds_the_turn_boundary_between_a_reply_and_the_next_message() {
        let chatml = ChatTemplate::new(None, String::new(), String::new()).expect("compiles");
        assert_eq!(
            chatml.turn_boundary().as_deref(),
            Some("<|im_end|>\n<|im_start|>user\n")
        );
        // A template that drops earlier replies has no boundary to decode ahead.
        let source = "{{ messages[-1]['content'] }}";
        let last_only =
            ChatTemplate::new(Some(source.into()), String::new(), String::new()).expect("compiles");
        assert_eq!(last_only.turn_boundary(), None);
    }

    #[test]
    fn python_string_methods_and_exceptions_work() {
        let source = "{% if messages[0]['role'] == 'assistant' %}{{ raise_exception('Conversation must start with a user') }}{% endif %}{% for m in messages %}{{ m['content'].strip() }}{% endfor %}";
        let template =
            ChatTemplate::new(Some(source.into()), String::new(), String::new()).expect("compiles");
        assert_eq!(
            template
                .render(&[message("user", "  x  ")], None)
                .expect("renders"),
            "x"
        );
        let error = template
            .render(&[message("assistant", "x")], None)
            .expect_err("rejects");
        assert!(matches!(error, TemplateError::Rejected(text) if text.contains("must start")));
    }
}
