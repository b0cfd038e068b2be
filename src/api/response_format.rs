//! TEMPORARY STUB (replaced by the engine helper's module on merge).

use std::sync::Arc;

use serde_json::Value;

use super::error::{ApiError, ApiResult};
use crate::engine::{Grammar, GrammarSpec};
use crate::models::LoadedModel;

/// The grammar `response_format` asks for; `None` for free text.
pub fn spec(format: Option<&Value>) -> ApiResult<Option<GrammarSpec>> {
    match format.and_then(|f| f.get("type")).and_then(Value::as_str) {
        None | Some("text") => Ok(None),
        Some("json_object") => Ok(Some(GrammarSpec::JsonObject)),
        Some("json_schema") => Ok(Some(GrammarSpec::JsonSchema(
            format
                .and_then(|f| f.pointer("/json_schema/schema"))
                .cloned()
                .unwrap_or(Value::Bool(true)),
        ))),
        Some(_) => Err(ApiError::invalid_value("response_format.type", "bad type")),
    }
}

/// Compiles off the async runtime; errors name `param`.
pub async fn compile(
    model: &Arc<LoadedModel>,
    spec: GrammarSpec,
    param: &str,
) -> ApiResult<Grammar> {
    let model = Arc::clone(model);
    tokio::task::spawn_blocking(move || model.engine.compile(&spec))
        .await
        .map_err(ApiError::internal)?
        .map_err(|error| ApiError::invalid_value(param, error.to_string()))
}
