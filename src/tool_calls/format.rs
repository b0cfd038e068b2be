//! Which tool-call format a chat template's model writes, read from the template's source.

/// How a model writes its tool calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ToolFormat {
    /// `<tool_call>{"name": .., "arguments": ..}</tool_call>` (Hermes 2 Pro, Qwen 2.5 and 3).
    Hermes,
    /// A bare `{"name": .., "parameters": ..}` reply, maybe after `<|python_tag|>` (Llama 3.x).
    Llama3Json,
    /// `[TOOL_CALLS][{..}, ..]` or `[TOOL_CALLS]name[ARGS]{..}` (Mistral).
    Mistral,
    /// Ours, for templates that know no tools: a JSON envelope the server constrains,
    /// `{"tool_calls": [..]}` or `{"response": ..}`, as llama.cpp's generic handler.
    Generic,
}

impl ToolFormat {
    /// Detects the format from markers only a template trained for it contains. A template that
    /// never mentions tools gets [`ToolFormat::Generic`].
    pub fn detect(template_source: &str) -> ToolFormat {
        if template_source.contains("<tool_call>") {
            ToolFormat::Hermes
        } else if template_source.contains("[TOOL_CALLS]") {
            ToolFormat::Mistral
        } else if template_source.contains("<|python_tag|>") || llama3_json_prompt(template_source)
        {
            ToolFormat::Llama3Json
        } else {
            ToolFormat::Generic
        }
    }
}

/// Llama 3.x templates ask for `{"name": function name, "parameters": dictionary of argument
/// name and its value}` even where they do not use `<|python_tag|>` (3.2, 3.3 without builtins).
fn llama3_json_prompt(source: &str) -> bool {
    source.contains("<|start_header_id|>") && source.contains("\"parameters\"")
}

#[cfg(test)]
mod tests {
    use super::*;

    const QWEN3: &str = r##"{%- if tools %}{{- '<|im_start|>system\n' }}
{{- "# Tools\n\nYou may call one or more functions to assist with the user query.\n\nYou are provided with function signatures within <tools></tools> XML tags:\n<tools>" }}
{%- for tool in tools %}{{- "\n" }}{{- tool | tojson }}{%- endfor %}
{{- "\n</tools>\n\nFor each function call, return a json object with function name and arguments within <tool_call></tool_call> XML tags:\n<tool_call>\n{\"name\": <function-name>, \"arguments\": <args-json-object>}\n</tool_call><|im_end|>\n" }}
{%- endif %}"##;

    const LLAMA31: &str = r##"{%- if builtin_tools is defined or tools is not none %}{{- "Environment: ipython\n" }}{%- endif %}
{%- for message in messages %}{%- if message.role == "assistant" and message.tool_calls %}
{%- if builtin_tools is defined and tool_call.name in builtin_tools %}{{- '<|start_header_id|>assistant<|end_header_id|>\n\n' -}}
{{- "<|python_tag|>" + tool_call.name + ".call(" }}{%- endif %}{%- endif %}{%- endfor %}"##;

    const LLAMA32: &str = r##"{{- '<|start_header_id|>user<|end_header_id|>\n\n' -}}
{{- "Given the following functions, please respond with a JSON for a function call " }}
{{- 'Respond in the format {"name": function name, "parameters": dictionary of argument name and its value}.' }}
{{- "Do not use variables.\n\n" }}"##;

    const MISTRAL: &str = r##"{%- elif message.tool_calls is defined and message.tool_calls is not none %}
{{- "[TOOL_CALLS][" }}{%- for tool_call in message.tool_calls %}{{- tool_call.function|tojson }}{%- endfor %}
{{- "]" + eos_token }}"##;

    const SMOLLM2_CHATML: &str = r##"{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system
You are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>
' }}{% endif %}{{'<|im_start|>' + message['role'] + '
' + message['content'] + '<|im_end|>' + '
'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant
' }}{% endif %}"##;

    #[test]
    fn detects_each_family_from_its_template() {
        assert_eq!(ToolFormat::detect(QWEN3), ToolFormat::Hermes);
        assert_eq!(ToolFormat::detect(LLAMA31), ToolFormat::Llama3Json);
        assert_eq!(ToolFormat::detect(LLAMA32), ToolFormat::Llama3Json);
        assert_eq!(ToolFormat::detect(MISTRAL), ToolFormat::Mistral);
        assert_eq!(ToolFormat::detect(SMOLLM2_CHATML), ToolFormat::Generic);
        assert_eq!(ToolFormat::detect(""), ToolFormat::Generic);
    }
}
