//! Coverage: every schema of the sample sent once to a server as `response_format`, and what
//! came back, counted per dataset.

use std::collections::BTreeMap;
use std::time::Duration;

use futures::StreamExt;
use serde::Serialize;
use serde_json::Value;

use super::corpus::Schema;
use crate::load::{self, Plan, Sample, Target};

/// The one instruction sent with every schema: the schema itself is not in the prompt (large
/// ones would not fit the context), so what the reply looks like is the grammar's doing.
pub const PROMPT: &str = "Reply with one example JSON document.";

/// `response_format` of an OpenAI chat request, `json_schema` kind (llama-server reads the
/// same field).
#[derive(Serialize)]
struct ResponseFormat<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    json_schema: JsonSchemaFormat<'a>,
}

#[derive(Serialize)]
struct JsonSchemaFormat<'a> {
    name: &'static str,
    schema: &'a Value,
    strict: bool,
}

/// A streamed chat request constrained by `schema`. No banned tokens: a complete document
/// must be able to end.
pub fn body(plan: &Plan, prompt: &str, schema: &Value, max_tokens: u32) -> anyhow::Result<Value> {
    let mut body = plan.body(prompt, max_tokens);
    let format = ResponseFormat {
        kind: "json_schema",
        json_schema: JsonSchemaFormat {
            name: "s",
            schema,
            strict: true,
        },
    };
    let object = body
        .as_object_mut()
        .ok_or_else(|| anyhow::anyhow!("a request body is an object"))?;
    object.remove("logit_bias");
    object.insert("response_format".into(), serde_json::to_value(format)?);
    Ok(body)
}

/// What one schema got from one server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// `stop`, and the reply parses and validates.
    Valid,
    /// `length`: cut at max_tokens, not checked.
    Truncated,
    /// A 4xx: the server says it cannot enforce the schema.
    Refused,
    /// `stop`, but the reply does not parse or does not validate: a broken promise.
    Invalid,
    /// A 5xx, a broken stream, an unexpected finish or no answer within the timeout.
    Error,
    /// `stop`, but the bench's validator cannot compile the schema.
    Unchecked,
}

/// One schema's result on one server.
#[derive(Debug, Clone)]
pub struct Answer {
    pub outcome: Outcome,
    pub completion_tokens: u64,
    /// Why it was refused or failed, as the server or the client said.
    pub reason: Option<String>,
    /// The reply's text, to compare servers where they differ.
    pub reply: String,
}

/// Counts of one dataset on one server.
#[derive(Debug, Clone, Default)]
pub struct Tally {
    pub schemas: usize,
    pub valid: usize,
    pub truncated: usize,
    pub refused: usize,
    pub invalid: usize,
    pub errors: usize,
    pub unchecked: usize,
}

impl Tally {
    pub fn add(&mut self, outcome: Outcome) {
        self.schemas += 1;
        *match outcome {
            Outcome::Valid => &mut self.valid,
            Outcome::Truncated => &mut self.truncated,
            Outcome::Refused => &mut self.refused,
            Outcome::Invalid => &mut self.invalid,
            Outcome::Error => &mut self.errors,
            Outcome::Unchecked => &mut self.unchecked,
        } += 1;
    }

    /// Share of the schemas under which the server completed a reply that validates (or that
    /// the bench cannot check), in percent. A truncated reply is not counted: its prefix
    /// may or may not have become a valid document, and counting it would reward a server
    /// that ignores what it cannot enforce as long as `max_tokens` hides the result.
    pub fn coverage_percent(&self) -> Option<f64> {
        let covered = self.valid + self.unchecked;
        (self.schemas > 0).then(|| 100.0 * covered as f64 / self.schemas as f64)
    }
}

/// Sends every schema to `target`, `clients` at a time, each with `timeout`; the answers
/// come back in `schemas` order.
pub async fn run(
    client: &reqwest::Client,
    target: &Target,
    plan: &Plan,
    schemas: &[&Schema],
    (max_tokens, clients, timeout): (u32, usize, Duration),
) -> Vec<Answer> {
    let answers = futures::stream::iter(schemas.iter().enumerate())
        .map(|(index, schema)| async move {
            let answer = ask(client, target, plan, schema, max_tokens, timeout).await;
            (index, answer)
        })
        .buffer_unordered(clients.max(1))
        .collect::<Vec<_>>()
        .await;
    let mut ordered: BTreeMap<usize, Answer> = answers.into_iter().collect();
    (0..schemas.len())
        .filter_map(|index| ordered.remove(&index))
        .collect()
}

async fn ask(
    client: &reqwest::Client,
    target: &Target,
    plan: &Plan,
    schema: &Schema,
    max_tokens: u32,
    timeout: Duration,
) -> Answer {
    let body = match body(plan, PROMPT, &schema.schema, max_tokens) {
        Ok(body) => body,
        Err(error) => return failed(Outcome::Error, format!("building the request: {error}")),
    };
    // Dropping the request on timeout hangs up, which cancels it on the server.
    match tokio::time::timeout(timeout, load::request(client, target, &body)).await {
        Ok(sample) => classify(&sample, schema.validator.as_ref()),
        Err(_) => failed(
            Outcome::Error,
            format!("no complete answer within {} s", timeout.as_secs()),
        ),
    }
}

fn failed(outcome: Outcome, reason: String) -> Answer {
    Answer {
        outcome,
        completion_tokens: 0,
        reason: Some(reason),
        reply: String::new(),
    }
}

/// What a finished request says about the schema.
pub fn classify(sample: &Sample, validator: Option<&jsonschema::Validator>) -> Answer {
    let tokens = sample.completion_tokens;
    let answer = |outcome, reason: Option<String>| Answer {
        outcome,
        completion_tokens: tokens,
        reason,
        reply: sample.reply.clone(),
    };
    if let Some(error) = &sample.error {
        let refused = sample.status.is_some_and(|s| (400..500).contains(&s));
        let outcome = if refused {
            Outcome::Refused
        } else {
            Outcome::Error
        };
        return answer(outcome, Some(error.clone()));
    }
    match sample.finish_reason.as_deref() {
        Some("length") => answer(Outcome::Truncated, None),
        Some("stop") => {
            let Ok(reply) = serde_json::from_str::<Value>(sample.reply.trim()) else {
                return answer(Outcome::Invalid, Some("the reply is not JSON".into()));
            };
            match validator {
                None => answer(Outcome::Unchecked, None),
                Some(v) if v.is_valid(&reply) => answer(Outcome::Valid, None),
                Some(_) => answer(Outcome::Invalid, Some("the reply does not validate".into())),
            }
        }
        other => answer(
            Outcome::Error,
            Some(format!("finish_reason {}", other.unwrap_or("missing"))),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn finished(reason: &str, reply: &str) -> Sample {
        let mut sample = Sample::new();
        sample.finish_reason = Some(reason.into());
        sample.reply = reply.into();
        sample
    }

    #[test]
    fn replies_are_classified_by_finish_status_and_schema() {
        let schema = json!({ "type": "object", "required": ["a"],
                             "properties": { "a": { "type": "integer", "maximum": 3 } } });
        let v = jsonschema::validator_for(&schema).expect("schema");
        let outcome = |sample: &Sample| classify(sample, Some(&v)).outcome;
        assert_eq!(outcome(&finished("stop", " {\"a\": 2}\n")), Outcome::Valid);
        assert_eq!(outcome(&finished("stop", "{\"a\": 7}")), Outcome::Invalid);
        assert_eq!(outcome(&finished("stop", "{\"a\": 2")), Outcome::Invalid);
        assert_eq!(outcome(&finished("length", "{\"a\"")), Outcome::Truncated);
        assert_eq!(outcome(&finished("tool_calls", "")), Outcome::Error);
        let unchecked = classify(&finished("stop", "{}"), None).outcome;
        assert_eq!(unchecked, Outcome::Unchecked);

        let mut refused = Sample::new();
        refused.status = Some(400);
        refused.error = Some("HTTP 400: unsupported keyword".into());
        assert_eq!(outcome(&refused), Outcome::Refused);
        refused.status = Some(500);
        assert_eq!(outcome(&refused), Outcome::Error);
    }

    #[test]
    fn the_body_carries_the_schema_and_no_banned_tokens() {
        let plan = Plan {
            model: "m".into(),
            max_tokens: 16,
            temperature: 0.0,
            seed: 1,
            ban_tokens: vec![0, 2],
        };
        let schema = json!({ "type": "object" });
        let body = body(&plan, PROMPT, &schema, 64).expect("body");
        assert_eq!(body["response_format"]["type"], "json_schema");
        assert_eq!(body["response_format"]["json_schema"]["schema"], schema);
        assert_eq!(body["response_format"]["json_schema"]["strict"], true);
        assert_eq!(body["max_tokens"], 64);
        assert!(body.get("logit_bias").is_none());
    }

    #[test]
    fn coverage_counts_what_was_enforced() {
        let mut tally = Tally::default();
        for outcome in [
            Outcome::Valid,
            Outcome::Truncated,
            Outcome::Refused,
            Outcome::Invalid,
        ] {
            tally.add(outcome);
        }
        assert_eq!(tally.coverage_percent(), Some(25.0));
        assert_eq!(Tally::default().coverage_percent(), None);
    }
}
