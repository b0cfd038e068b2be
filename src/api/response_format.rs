//! `response_format`: `text`, `json_object` (any JSON object) or `json_schema`, enforced by
//! the engine's constrained decoding. A schema the engine cannot enforce is refused with a
//! 400 naming the keyword; it never falls back to free text.

use std::sync::Arc;

use serde::Deserialize;
use serde_json::Value;

use super::error::{ApiError, ApiResult};
use super::schemas;
use crate::engine::{Grammar, GrammarError, GrammarSpec, MAX_SPEC_BYTES};
use crate::models::LoadedModel;

pub const SCHEMA_PARAM: &str = "response_format.json_schema.schema";

#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ResponseFormat {
    Text,
    JsonObject,
    JsonSchema { json_schema: JsonSchemaFormat },
}

/// OpenAI's `json_schema` object. The schema is always enforced whole; `strict: true` also
/// closes objects that do not say whether they take unlisted properties, as OpenAI's strict
/// mode requires of them (see `schemas`). `name` and `description` change nothing.
#[derive(Debug, Deserialize)]
pub struct JsonSchemaFormat {
    #[serde(rename = "name")]
    pub _name: String,
    #[serde(default, rename = "description")]
    pub _description: Option<String>,
    pub schema: Option<Value>,
    #[serde(default)]
    pub strict: Option<bool>,
}

impl ResponseFormat {
    /// The grammar this format asks for; `None` for free text.
    pub fn spec(&self) -> Option<GrammarSpec> {
        match self {
            ResponseFormat::Text => None,
            ResponseFormat::JsonObject => Some(GrammarSpec::JsonObject),
            // OpenAI takes a missing schema as any JSON value; an empty schema says that.
            ResponseFormat::JsonSchema { json_schema } => {
                let mut schema = json_schema
                    .schema
                    .clone()
                    .unwrap_or_else(|| Value::Object(serde_json::Map::new()));
                schemas::prepare(&mut schema, json_schema.strict == Some(true));
                Some(GrammarSpec::JsonSchema(schema))
            }
        }
    }
}

/// Compiles a grammar for `model`, off the async runtime (a schema may take milliseconds, a
/// hostile one up to the compiler's bounds). A refusal names `param`: the schema's path, or
/// `tools` for the grammar of calls built from the functions' `parameters`.
pub async fn compile(
    model: &Arc<LoadedModel>,
    spec: GrammarSpec,
    param: &str,
) -> ApiResult<Grammar> {
    let model = Arc::clone(model);
    tokio::task::spawn_blocking(move || model.engine.compile(&spec))
        .await
        .map_err(ApiError::internal)?
        .map_err(|error| refusal(error, param))
}

/// The 400 for a grammar the engine refused: it names the field and at most a standard
/// keyword, never a value from the schema.
fn refusal(error: GrammarError, param: &str) -> ApiError {
    let message = match &error {
        GrammarError::Unsupported { keyword } if keyword == "unknown" => {
            "The schema uses a keyword the server cannot enforce.".to_owned()
        }
        GrammarError::Unsupported { keyword } => format!(
            "The schema keyword `{keyword}` cannot be enforced by this server; remove it or rewrite the schema without it."
        ),
        GrammarError::TooLarge => format!(
            "The schema is larger than this server compiles ({} bytes).",
            MAX_SPEC_BYTES
        ),
        GrammarError::TooComplex => {
            "The schema is too complex to compile within this server's limits.".to_owned()
        }
        GrammarError::Invalid => "The schema is not valid or cannot be satisfied.".to_owned(),
    };
    match error {
        GrammarError::Unsupported { .. } => ApiError::unsupported(param, message),
        _ => ApiError::invalid_value(param, message),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn format(json: Value) -> ResponseFormat {
        serde_json::from_value(json).expect("a response format")
    }

    #[test]
    fn each_type_maps_to_its_grammar() {
        assert!(format(serde_json::json!({ "type": "text" }))
            .spec()
            .is_none());
        assert!(matches!(
            format(serde_json::json!({ "type": "json_object" })).spec(),
            Some(GrammarSpec::JsonObject)
        ));
        let schema = serde_json::json!({ "type": "object" });
        let spec = format(serde_json::json!({
            "type": "json_schema",
            "json_schema": { "name": "x", "schema": schema, "strict": true },
        }))
        .spec();
        assert!(matches!(spec, Some(GrammarSpec::JsonSchema(s)) if s == schema));
    }

    #[test]
    fn strict_closes_objects_and_its_absence_does_not() {
        let spec = |strict: Value| {
            let spec = format(serde_json::json!({
                "type": "json_schema",
                "json_schema": {
                    "name": "x",
                    "schema": { "type": "object", "properties": { "a": {} } },
                    "strict": strict,
                },
            }))
            .spec();
            match spec {
                Some(GrammarSpec::JsonSchema(schema)) => schema,
                _ => panic!("a schema"),
            }
        };
        assert_eq!(spec(Value::Bool(true))["additionalProperties"], false);
        assert!(spec(Value::Bool(false)).get("additionalProperties").is_none());
        assert!(spec(Value::Null).get("additionalProperties").is_none());
    }

    #[test]
    fn refusals_name_the_schema_and_the_keyword_only() {
        let error = refusal(
            GrammarError::Unsupported {
                keyword: "contains".into(),
            },
            SCHEMA_PARAM,
        );
        let body = serde_json::to_value(error.body()).expect("json");
        assert_eq!(body["error"]["param"], SCHEMA_PARAM);
        let message = body["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains("`contains`"), "{message}");
    }
}
