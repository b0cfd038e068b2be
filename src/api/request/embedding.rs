//! The body of `POST /v1/embeddings`: what to embed, and how to encode the vectors. Checks
//! that need no model are here; those that need one (token ids, lengths, `dimensions`) are in
//! the handler.

use serde::de::IgnoredAny;
use serde::Deserialize;

use super::fields::{Documented, Field, Support::*};
use crate::api::error::{ApiError, ApiResult};

/// Most inputs per request, as OpenAI's API allows.
pub const MAX_INPUTS: usize = 2048;

#[derive(Debug, Deserialize)]
pub struct EmbeddingFields {
    pub input: Option<EmbeddingInput>,
    pub model: Option<String>,
    pub encoding_format: Option<EncodingFormat>,
    pub dimensions: Option<u64>,
    /// Accepted for compatibility and dropped: the server keeps nothing about requests.
    #[serde(default, rename = "user")]
    _user: IgnoredAny,
}

/// Every top-level field OpenAI documents for embeddings, in `docs/compatibility.md`'s order.
impl Documented for EmbeddingFields {
    const FIELDS: &'static [Field] = &[
        ("input", Supported),
        ("model", Supported),
        ("dimensions", Refused),
        ("encoding_format", Supported),
        ("user", Ignored),
    ];
}

/// OpenAI's four forms of `input`. Token ids are read as `i64` so that a negative one is told
/// apart from a wrong type.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum EmbeddingInput {
    Text(String),
    Texts(Vec<String>),
    Tokens(Vec<i64>),
    TokenLists(Vec<Vec<i64>>),
}

/// One input, by reference.
#[derive(Debug, Clone, Copy)]
pub enum InputItem<'a> {
    Text(&'a str),
    Tokens(&'a [i64]),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EncodingFormat {
    #[default]
    Float,
    /// Little-endian `f32`s, base64-encoded, as OpenAI sends them.
    Base64,
}

impl EmbeddingFields {
    /// The inputs, one item each, with the name of the field each came from (`input` for a
    /// lone one, `input[i]` in an array). Refuses no input, too many, and empty ones.
    pub fn inputs(&self) -> ApiResult<Vec<(String, InputItem<'_>)>> {
        let input = self
            .input
            .as_ref()
            .ok_or_else(|| ApiError::missing("input"))?;
        let items: Vec<InputItem<'_>> = match input {
            EmbeddingInput::Text(text) => vec![InputItem::Text(text)],
            EmbeddingInput::Tokens(ids) => vec![InputItem::Tokens(ids)],
            EmbeddingInput::Texts(texts) => texts.iter().map(|t| InputItem::Text(t)).collect(),
            EmbeddingInput::TokenLists(lists) => {
                lists.iter().map(|ids| InputItem::Tokens(ids)).collect()
            }
        };
        if items.is_empty() {
            return Err(ApiError::invalid_value(
                "input",
                "`input` must hold at least one input.",
            ));
        }
        if items.len() > MAX_INPUTS {
            return Err(ApiError::invalid_value(
                "input",
                format!("`input` may hold at most {MAX_INPUTS} inputs; send the rest in another request."),
            ));
        }
        let lone = matches!(input, EmbeddingInput::Text(_) | EmbeddingInput::Tokens(_));
        let named = items.into_iter().enumerate().map(|(index, item)| {
            let name = if lone {
                "input".to_owned()
            } else {
                format!("input[{index}]")
            };
            (name, item)
        });
        named
            .map(|(name, item)| {
                let empty = match item {
                    InputItem::Text(text) => text.is_empty(),
                    InputItem::Tokens(ids) => ids.is_empty(),
                };
                if empty {
                    return Err(ApiError::invalid_value(
                        &name,
                        format!("`{name}` is empty; every input needs at least one token."),
                    ));
                }
                Ok((name, item))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::json::parse;

    fn error(body: &str) -> serde_json::Value {
        let fields: EmbeddingFields = match parse(body.as_bytes()) {
            Ok(fields) => fields,
            Err(error) => return serde_json::to_value(error.body()).expect("json"),
        };
        let error = fields.inputs().expect_err("refused");
        serde_json::to_value(error.body()).expect("json")
    }

    #[test]
    fn every_form_of_input_is_read_and_named() {
        for (body, names) in [
            (r#"{"input": "a"}"#, vec!["input"]),
            (r#"{"input": [1, 2]}"#, vec!["input"]),
            (r#"{"input": ["a", "b"]}"#, vec!["input[0]", "input[1]"]),
            (r#"{"input": [[1], [2, 3]]}"#, vec!["input[0]", "input[1]"]),
        ] {
            let fields: EmbeddingFields = parse(body.as_bytes()).expect("parsed");
            let inputs = fields.inputs().expect("valid");
            let got: Vec<&str> = inputs.iter().map(|(name, _)| name.as_str()).collect();
            assert_eq!(got, names, "{body}");
        }
    }

    #[test]
    fn empty_missing_and_wrongly_typed_inputs_are_refused_by_name() {
        assert_eq!(error(r#"{"input": []}"#)["error"]["param"], "input");
        assert_eq!(error(r#"{"input": ""}"#)["error"]["param"], "input");
        assert_eq!(
            error(r#"{"input": ["a", ""]}"#)["error"]["param"],
            "input[1]"
        );
        assert_eq!(
            error(r#"{"input": [[1], []]}"#)["error"]["param"],
            "input[1]"
        );
        assert_eq!(error(r#"{"model": "m"}"#)["error"]["param"], "input");
        let mixed = error(r#"{"input": ["SECRET", 1]}"#);
        assert_eq!(mixed["error"]["param"], "input");
        assert!(!mixed.to_string().contains("SECRET"));
        let format = error(r#"{"input": "a", "encoding_format": "SECRET"}"#);
        assert_eq!(format["error"]["param"], "encoding_format");
        assert!(!format.to_string().contains("SECRET"));
    }

    #[test]
    fn more_inputs_than_openai_allows_are_refused() {
        let body = serde_json::json!({ "input": vec!["a"; MAX_INPUTS + 1] }).to_string();
        let error = error(&body);
        assert_eq!(error["error"]["param"], "input");
        let body = serde_json::json!({ "input": vec!["a"; MAX_INPUTS] }).to_string();
        let fields: EmbeddingFields = parse(body.as_bytes()).expect("parsed");
        assert_eq!(fields.inputs().expect("valid").len(), MAX_INPUTS);
    }
}
