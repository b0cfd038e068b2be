//! What the server asks of a model whose template knows no tools: the tool list in a system
//! message, and a JSON Schema of the reply envelope the engine enforces (as llama.cpp's generic
//! handler). The schema is built from typed structs so its property order is `name` before
//! `arguments` wherever the JSON map keeps insertion order (llguidance's does).

use serde::Serialize;
use serde_json::Value;

/// How the envelope may be answered.
#[derive(Debug, Clone, PartialEq)]
pub enum GenericMode {
    /// `tool_choice` `required` or a named function: only calls.
    Required { parallel: bool },
    /// `tool_choice` `auto`: calls or a reply; `response` is the reply's schema when a
    /// `response_format` applies, else the reply is a string.
    Auto {
        parallel: bool,
        response: Option<Value>,
    },
}

#[derive(Serialize)]
struct Object<P> {
    #[serde(rename = "type")]
    kind: &'static str,
    properties: P,
    required: &'static [&'static str],
    #[serde(rename = "additionalProperties")]
    additional_properties: bool,
}

fn object<P>(properties: P, required: &'static [&'static str]) -> Object<P> {
    Object {
        kind: "object",
        properties,
        required,
        additional_properties: false,
    }
}

#[derive(Serialize)]
struct AnyOf<T> {
    #[serde(rename = "anyOf")]
    any_of: Vec<T>,
}

#[derive(Serialize)]
struct Typed {
    #[serde(rename = "type")]
    kind: &'static str,
}

#[derive(Serialize)]
struct ConstString<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    #[serde(rename = "const")]
    value: &'a str,
}

#[derive(Serialize)]
#[serde(untagged)]
enum SchemaRef<'a> {
    Given(&'a Value),
    Plain(Typed),
}

#[derive(Serialize)]
struct CallProperties<'a> {
    name: ConstString<'a>,
    arguments: SchemaRef<'a>,
}

#[derive(Serialize)]
struct CallList<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    items: AnyOf<Object<CallProperties<'a>>>,
    #[serde(rename = "minItems")]
    min_items: usize,
    #[serde(rename = "maxItems", skip_serializing_if = "Option::is_none")]
    max_items: Option<usize>,
}

#[derive(Serialize)]
struct CallsEnvelope<'a> {
    tool_calls: CallList<'a>,
}

#[derive(Serialize)]
struct ResponseEnvelope<'a> {
    response: SchemaRef<'a>,
}

#[derive(Serialize)]
#[serde(untagged)]
enum Either<'a> {
    Calls(Object<CallsEnvelope<'a>>),
    Response(Object<ResponseEnvelope<'a>>),
}

/// The envelope's JSON Schema for `tools` (name, `parameters` schema; null means none).
/// Each call names one offered function (a `const`) with that function's arguments.
pub fn generic_schema(tools: &[(String, Value)], mode: &GenericMode) -> Value {
    let parallel = match mode {
        GenericMode::Required { parallel } | GenericMode::Auto { parallel, .. } => *parallel,
    };
    let items = tools
        .iter()
        .map(|(name, parameters)| {
            let arguments = match parameters {
                Value::Null => SchemaRef::Plain(Typed { kind: "object" }),
                given => SchemaRef::Given(given),
            };
            let name = ConstString {
                kind: "string",
                value: name,
            };
            object(CallProperties { name, arguments }, &["name", "arguments"])
        })
        .collect();
    let calls = object(
        CallsEnvelope {
            tool_calls: CallList {
                kind: "array",
                items: AnyOf { any_of: items },
                min_items: 1,
                // One call per offered function at most: small models asked for calls in
                // parallel otherwise repeat the same call until `max_tokens` cuts the list.
                max_items: Some(if parallel { tools.len().max(1) } else { 1 }),
            },
        },
        &["tool_calls"],
    );
    // Serialising these types into a Value cannot fail: every key is a string.
    match mode {
        GenericMode::Required { .. } => serde_json::to_value(calls).unwrap_or_default(),
        GenericMode::Auto { response, .. } => {
            let response = match response {
                Some(schema) => SchemaRef::Given(schema),
                None => SchemaRef::Plain(Typed { kind: "string" }),
            };
            let reply = object(ResponseEnvelope { response }, &["response"]);
            let any_of = vec![Either::Calls(calls), Either::Response(reply)];
            serde_json::to_value(AnyOf { any_of }).unwrap_or_default()
        }
    }
}

/// The system message that tells the model about the tools and the envelope, in the words of
/// llama.cpp's generic handler. `tools_json` is the request's tool list as JSON.
pub fn generic_system_prompt(tools_json: &str) -> String {
    format!(
        "You can call any of the following tools to satisfy the user's requests:\n{tools_json}\n\n\
         Respond in JSON format, either with `tool_calls` (a request to call tools) or with \
         `response` (a reply to the user's request). A tool call is \
         {{\"tool_calls\": [{{\"name\": \"tool name\", \"arguments\": {{...}}}}]}}; a reply is \
         {{\"response\": \"...\"}}."
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tools() -> Vec<(String, Value)> {
        let weather = serde_json::json!({
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"]
        });
        vec![
            ("get_weather".to_owned(), weather),
            ("now".to_owned(), Value::Null),
        ]
    }

    #[test]
    fn required_lists_only_calls_one_unless_parallel() {
        let schema = generic_schema(&tools(), &GenericMode::Required { parallel: false });
        let list = &schema["properties"]["tool_calls"];
        assert_eq!(schema["required"], serde_json::json!(["tool_calls"]));
        assert_eq!(schema["additionalProperties"], false);
        assert_eq!(
            (list["minItems"].as_u64(), list["maxItems"].as_u64()),
            (Some(1), Some(1))
        );
        let items = &list["items"]["anyOf"];
        assert_eq!(items[0]["properties"]["name"]["const"], "get_weather");
        assert_eq!(items[0]["properties"]["arguments"], tools()[0].1);
        assert_eq!(items[1]["properties"]["arguments"]["type"], "object");
        assert_eq!(
            items[1]["required"],
            serde_json::json!(["name", "arguments"])
        );

        let parallel = generic_schema(&tools(), &GenericMode::Required { parallel: true });
        assert_eq!(parallel["properties"]["tool_calls"]["maxItems"], 2);
    }

    #[test]
    fn auto_offers_calls_or_a_response() {
        let mode = GenericMode::Auto {
            parallel: true,
            response: None,
        };
        let schema = generic_schema(&tools(), &mode);
        let options = &schema["anyOf"];
        assert!(options[0]["properties"]["tool_calls"].is_object());
        assert_eq!(options[1]["properties"]["response"]["type"], "string");
        assert_eq!(options[1]["required"], serde_json::json!(["response"]));

        let reply =
            serde_json::json!({"type": "object", "properties": {"ok": {"type": "boolean"}}});
        let mode = GenericMode::Auto {
            parallel: false,
            response: Some(reply.clone()),
        };
        assert_eq!(
            generic_schema(&tools(), &mode)["anyOf"][1]["properties"]["response"],
            reply
        );
    }

    #[test]
    fn system_prompt_lists_the_tools_and_the_envelope() {
        let prompt = generic_system_prompt(r#"[{"type":"function"}]"#);
        assert!(prompt.contains(r#"[{"type":"function"}]"#));
        assert!(prompt.contains("`tool_calls`") && prompt.contains("`response`"));
    }
}
