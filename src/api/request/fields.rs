//! What an endpoint does with each top-level request field: the lists beside the request types
//! (`ChatFields`, `CompletionFields`, `EmbeddingFields`: their `FIELDS`) are the one source of
//! `docs/compatibility.md` (a test below compares the two) and of the `x-sotto-ignored-params`
//! response header, which names the accepted fields that changed nothing.

use std::fmt;

use axum::http::{HeaderName, HeaderValue};
use axum::response::Response;
use serde::de::{Deserializer, IgnoredAny, MapAccess, Visitor};

/// Names the fields of a request that were accepted and changed nothing.
pub const IGNORED_PARAMS_HEADER: HeaderName = HeaderName::from_static("x-sotto-ignored-params");

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Support {
    /// Read and honoured.
    Supported,
    /// Accepted and changes nothing; named in `x-sotto-ignored-params` when sent.
    Ignored,
    /// A 400 naming the field when it asks for something this server does not do (its
    /// default, such as `n: 1` or `logprobs: false`, is accepted).
    Refused,
}

#[cfg(test)]
impl Support {
    /// The word `docs/compatibility.md` uses.
    pub fn word(self) -> &'static str {
        match self {
            Support::Supported => "supported",
            Support::Ignored => "ignored",
            Support::Refused => "refused",
        }
    }
}

/// A top-level field's name and what the endpoint does with it.
pub type Field = (&'static str, Support);

/// A request type that lists its endpoint's fields.
pub trait Documented {
    const FIELDS: &'static [Field];
}

/// The `Ignored` fields a request sent (a `null` counts as not sent), in the list's order.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct IgnoredParams(Vec<&'static str>);

impl IgnoredParams {
    /// Reads the top-level keys of a body already parsed as its endpoint's types; values are
    /// skipped unread. A body that is not an object names nothing (it was refused before).
    pub fn find(body: &[u8], fields: &'static [Field]) -> Self {
        let mut deserializer = serde_json::Deserializer::from_slice(body);
        deserializer
            .deserialize_map(KeysVisitor(fields))
            .unwrap_or_default()
    }

    /// Adds the header to a response, when any field was ignored. The names come from the
    /// fixed lists, never from the request, so the header cannot carry what a client sent.
    pub fn apply(&self, mut response: Response) -> Response {
        if self.0.is_empty() {
            return response;
        }
        if let Ok(value) = HeaderValue::from_str(&self.0.join(", ")) {
            response.headers_mut().insert(IGNORED_PARAMS_HEADER, value);
        }
        response
    }
}

struct KeysVisitor(&'static [Field]);

impl<'de> Visitor<'de> for KeysVisitor {
    type Value = IgnoredParams;

    fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
        formatter.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut sent = vec![false; self.0.len()];
        while let Some(key) = map.next_key::<String>()? {
            let value: Option<IgnoredAny> = map.next_value()?;
            let ignored = self
                .0
                .iter()
                .position(|(name, support)| *name == key && *support == Support::Ignored);
            if let (Some(index), Some(_)) = (ignored, value) {
                sent[index] = true;
            }
        }
        Ok(IgnoredParams(
            self.0
                .iter()
                .zip(sent)
                .filter_map(|((name, _), sent)| sent.then_some(*name))
                .collect(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::messages::{CountTokensRequest, MessagesRequest};
    use crate::api::request::{ChatFields, CompletionFields, EmbeddingFields, GenerationBody};
    use crate::api::responses::ResponsesBody;

    const DOC: &str = include_str!("../../../docs/compatibility.md");

    /// The rows of the table under `## {endpoint}`: each field's name and status word.
    fn documented(endpoint: &str) -> Vec<(String, String)> {
        let heading = format!("\n## {endpoint}\n");
        let start = DOC
            .find(&heading)
            .unwrap_or_else(|| panic!("docs/compatibility.md has no `## {endpoint}` section"));
        let rest = &DOC[start + heading.len()..];
        let section = rest.split("\n## ").next().unwrap_or(rest);
        section
            .lines()
            .filter_map(|line| line.strip_prefix("| `"))
            .map(|row| {
                let (name, rest) = row.split_once('`').expect("a field name in backticks");
                let status = rest.split('|').nth(1).expect("a status cell").trim();
                (name.to_owned(), status.to_owned())
            })
            .collect()
    }

    fn listed(fields: &[Field]) -> Vec<(String, String)> {
        fields
            .iter()
            .map(|(name, support)| ((*name).to_owned(), support.word().to_owned()))
            .collect()
    }

    #[test]
    fn the_document_matches_the_lists() {
        for (endpoint, fields) in [
            ("POST /v1/chat/completions", ChatFields::FIELDS),
            ("POST /v1/completions", CompletionFields::FIELDS),
            ("POST /v1/embeddings", EmbeddingFields::FIELDS),
            ("POST /v1/messages", MessagesRequest::FIELDS),
            ("POST /v1/messages/count_tokens", CountTokensRequest::FIELDS),
            ("POST /v1/responses", ResponsesBody::FIELDS),
        ] {
            assert_eq!(
                documented(endpoint),
                listed(fields),
                "docs/compatibility.md's table for {endpoint} differs from the request type's FIELDS"
            );
        }
    }

    /// The field names a derived `Deserialize` struct reads, as serde passes them to
    /// `deserialize_struct`.
    fn struct_fields<'de, T: serde::Deserialize<'de>>() -> &'static [&'static str] {
        struct Names(&'static [&'static str]);
        struct Capture<'a>(&'a mut Names);
        impl<'de> Deserializer<'de> for Capture<'_> {
            type Error = serde::de::value::Error;
            fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Self::Error> {
                Err(serde::de::Error::custom("not a struct"))
            }
            fn deserialize_struct<V: Visitor<'de>>(
                self,
                _: &'static str,
                fields: &'static [&'static str],
                _: V,
            ) -> Result<V::Value, Self::Error> {
                self.0 .0 = fields;
                Err(serde::de::Error::custom("captured"))
            }
            serde::forward_to_deserialize_any! {
                bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes
                byte_buf option unit unit_struct newtype_struct seq tuple tuple_struct map enum
                identifier ignored_any
            }
        }
        let mut names = Names(&[]);
        let _ = T::deserialize(Capture(&mut names));
        names.0
    }

    /// Every field the request types read is listed for its endpoint, or is the other
    /// endpoint's (refused by name); every listed field the server acts on is read.
    #[test]
    fn the_lists_match_the_request_types() {
        let shared = struct_fields::<GenerationBody>();
        for (endpoint, own, fields, other) in [
            (
                "chat",
                struct_fields::<ChatFields>(),
                ChatFields::FIELDS,
                CompletionFields::FIELDS,
            ),
            (
                "completions",
                struct_fields::<CompletionFields>(),
                CompletionFields::FIELDS,
                ChatFields::FIELDS,
            ),
        ] {
            assert!(shared.len() > 10 && !own.is_empty(), "{shared:?} {own:?}");
            let read: Vec<&str> = shared.iter().chain(own).copied().collect();
            for name in &read {
                let listed = fields.iter().any(|(field, _)| field == name);
                let elsewhere = other.iter().any(|(field, _)| field == name);
                assert!(
                    listed || elsewhere,
                    "{endpoint}: `{name}` is read but not listed"
                );
            }
            for (name, support) in fields {
                assert!(
                    *support == Support::Ignored || read.contains(name),
                    "{endpoint}: `{name}` is listed as {} but never read",
                    support.word()
                );
            }
        }
    }

    /// A request read as one type (Anthropic's Messages, OpenAI's Responses, embeddings): every field it
    /// reads is listed, and every listed field it acts on is read.
    fn check_single_type(endpoint: &str, read: &[&str], listed: &[Field]) {
        assert!(read.len() > 3, "{endpoint}: {read:?}");
        for name in read {
            assert!(
                listed.iter().any(|(field, _)| field == name),
                "{endpoint}: `{name}` is read but not listed"
            );
        }
        for (name, support) in listed {
            assert!(
                *support == Support::Ignored || read.contains(name),
                "{endpoint}: `{name}` is listed as {} but never read",
                support.word()
            );
        }
    }

    #[test]
    fn the_single_type_lists_match_their_request_types() {
        // count_tokens reads the same body as a message.
        let messages: Vec<Field> = MessagesRequest::FIELDS
            .iter()
            .chain(CountTokensRequest::FIELDS)
            .copied()
            .collect();
        check_single_type("messages", struct_fields::<MessagesRequest>(), &messages);
        check_single_type(
            "responses",
            struct_fields::<ResponsesBody>(),
            ResponsesBody::FIELDS,
        );
        check_single_type(
            "embeddings",
            struct_fields::<EmbeddingFields>(),
            EmbeddingFields::FIELDS,
        );
    }

    #[test]
    fn only_ignored_fields_that_were_sent_are_named() {
        const FIELDS: &[Field] = &[
            ("store", Support::Ignored),
            ("n", Support::Refused),
            ("user", Support::Ignored),
            ("metadata", Support::Ignored),
        ];
        let find = |body: &str| IgnoredParams::find(body.as_bytes(), FIELDS).0;
        assert_eq!(
            find(r#"{"user": "x", "n": 2, "metadata": null, "store": {"a": [1]}, "other": 1}"#),
            ["store", "user"]
        );
        assert!(find(r#"{"n": 1}"#).is_empty());
        assert!(find("[1]").is_empty());
        let response = IgnoredParams::find(br#"{"user": 1, "store": true}"#, FIELDS)
            .apply(Response::default());
        assert_eq!(response.headers()[IGNORED_PARAMS_HEADER], "store, user");
        let untouched = IgnoredParams::default().apply(Response::default());
        assert!(untouched.headers().get(IGNORED_PARAMS_HEADER).is_none());
    }
}
