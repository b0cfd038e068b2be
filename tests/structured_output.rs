//! `response_format` against the real server and the default model: replies that end with
//! `stop` always parse and validate against their schema; what the engine cannot enforce is a
//! 400 naming the keyword; real-world schemas are enforced or refused, never ignored; hostile
//! schemas neither stall other streams nor the server; each sequence follows its own grammar.

use crate::common;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use common::{sse_events, stream_pieces, MODEL};
use futures::StreamExt;
use serde_json::{json, Value};

fn schema_format(schema: &Value) -> Value {
    json!({ "type": "json_schema", "json_schema": { "name": "reply", "schema": schema, "strict": true } })
}

fn structured(prompt: &str, format: Value, max_tokens: u32, stream: bool) -> Value {
    json!({
        "model": MODEL,
        "messages": [{ "role": "user", "content": prompt }],
        "temperature": 1,
        "max_tokens": max_tokens,
        "response_format": format,
        "stream": stream,
    })
}

/// A reply's text and finish reason, streamed or not.
async fn reply(app: &common::TestApp, body: Value) -> (String, String) {
    if body["stream"] == true {
        let payloads = app.stream("/v1/chat/completions", body).await;
        let finish = payloads
            .iter()
            .filter_map(|p| serde_json::from_str::<Value>(p).ok())
            .find_map(|c| c["choices"][0]["finish_reason"].as_str().map(str::to_owned))
            .unwrap_or_default();
        (stream_pieces(&payloads).concat(), finish)
    } else {
        let completion = app.chat(body).await;
        let finish = completion["choices"][0]["finish_reason"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        (common::message_text(&completion), finish)
    }
}

fn person_schema() -> Value {
    json!({
        "type": "object",
        "properties": {
            "name": { "type": "string", "maxLength": 24 },
            "age": { "type": "integer", "minimum": 0, "maximum": 120 },
            "role": { "type": "string", "enum": ["admin", "user", "guest"] },
            "address": {
                "type": "object",
                "properties": {
                    "city": { "type": "string", "maxLength": 24 },
                    "zip": { "type": "integer", "minimum": 10000, "maximum": 99999 }
                },
                "required": ["city", "zip"],
                "additionalProperties": false
            },
            "tags": { "type": "array", "items": { "type": "string", "maxLength": 12 }, "maxItems": 3 }
        },
        "required": ["name", "age", "role", "address", "tags"],
        "additionalProperties": false
    })
}

fn validates(schema: &Value, text: &str) -> Result<(), String> {
    let value: Value = serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
    let validator = jsonschema::validator_for(schema).map_err(|e| format!("validator: {e}"))?;
    match validator.validate(&value) {
        Ok(()) => Ok(()),
        Err(error) => Err(format!("invalid: {error}")),
    }
}

/// Sends the bodies at once; every reply that ended with `stop` goes to `check`. Returns how
/// many did.
async fn stopped_replies(
    app: &common::TestApp,
    bodies: impl Iterator<Item = Value>,
    check: impl Fn(&str),
) -> usize {
    let runs = bodies.map(|body| reply(app, body));
    let mut stopped = 0;
    for (text, finish) in futures::future::join_all(runs).await {
        if finish == "stop" {
            stopped += 1;
            check(&text);
        }
    }
    stopped
}

fn assert_validates(schema: &Value, text: &str) {
    if let Err(error) = validates(schema, text) {
        panic!("a reply that ended with stop does not validate: {error}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_nested_schema_is_obeyed_at_temperature_1_streamed_and_not() {
    let app = common::shared_app().await;
    let schema = person_schema();
    let bodies = (0..20).map(|i| {
        structured(
            "Describe a person as JSON.",
            schema_format(&schema),
            300,
            i % 2 == 1,
        )
    });
    let stopped = stopped_replies(app, bodies, |text| assert_validates(&schema, text)).await;
    println!("{stopped} of 20 runs ended with stop, all valid");
    assert!(stopped >= 18, "only {stopped} of 20 runs ended with stop");
}

#[tokio::test(flavor = "multi_thread")]
async fn json_object_always_parses_as_an_object() {
    let app = common::shared_app().await;
    let bodies = (0..8).map(|i| {
        structured(
            "Give me a JSON object about cats.",
            json!({ "type": "json_object" }),
            200,
            i % 2 == 0,
        )
    });
    let stopped = stopped_replies(app, bodies, |text| {
        let value: Value = serde_json::from_str(text).expect("a JSON reply");
        assert!(value.is_object(), "not an object");
    })
    .await;
    assert!(stopped > 0, "no run ended with stop");
}

/// The generated tokens, as `logprobs` lists them: the raw text, fence included.
fn logprob_tokens(choice: &Value) -> String {
    choice["logprobs"]["content"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|entry| entry["token"].as_str())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_json_answer_written_in_a_code_fence_reaches_the_client_without_it() {
    let app = common::shared_app().await;
    let schema = json!({
        "type": "object",
        "properties": { "name": { "type": "string" }, "age": { "type": "integer" } },
        "required": ["name", "age"],
        "additionalProperties": false
    });
    for stream in [false, true] {
        let mut body = structured(
            "Describe a person as JSON.",
            schema_format(&schema),
            100,
            stream,
        );
        // Greedy: the default model opens a ```json fence for this prompt.
        body["temperature"] = json!(0);
        body["logprobs"] = json!(true);
        let (raw, content) = if stream {
            let payloads = app.stream("/v1/chat/completions", body).await;
            let choices: Vec<Value> = payloads
                .iter()
                .filter_map(|p| serde_json::from_str::<Value>(p).ok())
                .filter_map(|chunk| chunk["choices"].get(0).cloned())
                .collect();
            let raw: String = choices.iter().map(logprob_tokens).collect();
            (raw, stream_pieces(&payloads).concat())
        } else {
            let completion = app.chat(body).await;
            assert_eq!(completion["choices"][0]["finish_reason"], "stop");
            (
                logprob_tokens(&completion["choices"][0]),
                common::message_text(&completion),
            )
        };
        let fenced = raw
            .strip_prefix("```json\n")
            .and_then(|inner| inner.strip_suffix("\n```"));
        assert_eq!(
            fenced,
            Some(content.as_str()),
            "stream {stream}: generated {raw:?}"
        );
        assert_validates(&schema, &content);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unenforceable_schema_is_refused_naming_its_keyword_not_its_content() {
    let app = common::shared_app().await;
    let canary = "canary-8d1f0c";
    let schema = json!({
        "type": "array",
        "description": canary,
        "contains": { "const": canary },
    });
    let body = structured("List things.", schema_format(&schema), 20, false);
    let response = app.post("/v1/chat/completions", body).await;
    assert_eq!(response.status(), 400);
    let text = response.text().await.unwrap_or_default();
    assert!(!text.contains(canary), "the refusal echoes the schema");
    let error: Value = serde_json::from_str(&text).expect("json");
    assert_eq!(
        error["error"]["param"],
        "response_format.json_schema.schema"
    );
    let message = error["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("`contains`"), "{message}");
    // The legacy endpoint shares the code.
    let legacy = json!({
        "model": MODEL, "prompt": "List:", "max_tokens": 5,
        "response_format": schema_format(&schema),
    });
    let response = app.post("/v1/completions", legacy).await;
    assert_eq!(response.status(), 400);
}

/// Keywords the compiler does not know, enforced through an exact rewrite: a `oneOf` whose
/// branches cannot both match, property and schema dependencies, and a `format` JSON Schema
/// does not define (an annotation). Replies validate against the schema as sent; a `oneOf`
/// whose branches overlap is still refused.
#[tokio::test(flavor = "multi_thread")]
async fn exclusive_one_of_dependencies_and_annotation_formats_are_enforced_overlapping_one_of_refused(
) {
    let app = common::shared_app().await;
    let schema = json!({
        "type": "object",
        "properties": {
            "pet": { "oneOf": [
                { "type": "object", "required": ["kind", "lives"],
                  "properties": { "kind": { "const": "cat" }, "lives": { "type": "integer", "minimum": 1, "maximum": 9 } } },
                { "type": "object", "required": ["kind", "good"],
                  "properties": { "kind": { "const": "dog" }, "good": { "type": "boolean" } } },
                { "type": "string", "maxLength": 12 }
            ] },
            "street": { "type": "string", "maxLength": 20 },
            "city": { "type": "string", "maxLength": 20 },
            "zip": { "type": "integer", "format": "int32", "minimum": 10000, "maximum": 99999 }
        },
        "required": ["pet"],
        "dependencies": {
            "street": ["city"],
            "city": { "required": ["zip"], "properties": { "zip": { "maximum": 19999 } } }
        }
    });
    let bodies = (0..8).map(|i| {
        structured(
            "Describe a pet and where it lives, as JSON.",
            schema_format(&schema),
            200,
            i % 2 == 0,
        )
    });
    let stopped = stopped_replies(app, bodies, |text| assert_validates(&schema, text)).await;
    assert!(stopped >= 6, "only {stopped} of 8 runs ended with stop");

    let overlapping =
        json!({ "oneOf": [{ "type": "string" }, { "type": "string", "maxLength": 3 }] });
    let body = structured("Say something.", schema_format(&overlapping), 20, false);
    let response = app.post("/v1/chat/completions", body).await;
    assert_eq!(response.status(), 400);
    let error: Value = response.json().await.expect("json");
    let message = error["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("`oneOf`"), "{message}");
}

#[tokio::test(flavor = "multi_thread")]
async fn eight_concurrent_streams_each_follow_their_own_schema() {
    let app = common::shared_app().await;
    let schemas: Vec<Value> = (0..8)
        .map(|i| {
            let key = format!("field_{i}");
            json!({
                "type": "object",
                "properties": {
                    key.clone(): { "type": "integer", "minimum": i * 100, "maximum": i * 100 + 9 },
                    "kind": { "const": format!("kind-{i}") }
                },
                "required": [key, "kind"],
                "additionalProperties": false
            })
        })
        .collect();
    let runs = schemas.iter().map(|schema| {
        // Enough for the longest document the whitespace bound allows (five gaps of at most
        // 22 blanks around ~15 tokens): every stream ends, and is checked.
        let body = structured("Answer in JSON.", schema_format(schema), 160, true);
        async move { reply(app, body).await }
    });
    let results = futures::future::join_all(runs).await;
    for (i, (text, finish)) in results.iter().enumerate() {
        assert_eq!(finish, "stop", "stream {i} did not finish");
        if let Err(error) = validates(&schemas[i], text) {
            panic!("stream {i} does not follow its own schema: {error}");
        }
    }
}

#[derive(Default, Debug)]
struct Tally {
    valid: u32,
    refused: u32,
    truncated: u32,
    invalid: u32,
}

/// The sample's datasets and how many schemas each holds, Github's first.
const SAMPLE_DATASETS: [(&str, usize); 8] = [
    ("Github_easy", 60),
    ("Github_medium", 60),
    ("Github_trivial", 20),
    ("Glaiveai2K", 80),
    ("JsonSchemaStore", 10),
    ("Kubernetes", 30),
    ("Snowplow", 30),
    ("WashingtonPost", 10),
];

/// The JSONSchemaBench sample: every schema is enforced (the reply validates, or is cut by
/// `max_tokens`) or refused with a 400; none is accepted and then broken. Split in two tests
/// of about 150 schemas, each on its own server: each engine decodes on one thread, so the two
/// halves run on both cores instead of one (this test was the suite's longest).
#[tokio::test(flavor = "multi_thread")]
async fn real_world_github_schemas_are_enforced_or_refused() {
    real_world_schemas(&SAMPLE_DATASETS[..3]).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn real_world_schemas_of_the_other_datasets_are_enforced_or_refused() {
    real_world_schemas(&SAMPLE_DATASETS[3..]).await;
}

/// Sends every schema of `datasets` (each with the number of schemas it must hold) and counts
/// the outcomes per dataset; fails on any reply that ends but does not validate.
async fn real_world_schemas(datasets: &[(&str, usize)]) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/jsonschemabench-sample");
    // Every dataset of the sample is in one of the two halves.
    for entry in std::fs::read_dir(&root).expect("the schema sample") {
        let path = entry.expect("entry").path();
        let name = path.file_name().unwrap_or_default().to_string_lossy();
        assert!(
            !path.is_dir() || SAMPLE_DATASETS.iter().any(|&(known, _)| known == name),
            "dataset {name} is in neither half"
        );
    }
    let mut cases = Vec::new();
    for &(name, count) in datasets {
        let files = std::fs::read_dir(root.join(name)).expect("a dataset of the schema sample");
        let before = cases.len();
        for file in files {
            let text = std::fs::read_to_string(file.expect("file").path()).expect("schema");
            let schema: Value = serde_json::from_str(&text).expect("a JSON schema");
            cases.push((name, schema));
        }
        assert_eq!(cases.len() - before, count, "schemas in {name}");
    }
    let server = common::spawn_app(|_| {}).await;
    let app = &server;
    let started = Instant::now();
    let outcomes = futures::stream::iter(cases.into_iter().map(|(dataset, schema)| async move {
        let body = json!({
            "model": MODEL,
            "messages": [{ "role": "user", "content": "Produce an example JSON document." }],
            "temperature": 0,
            "max_tokens": 40,
            "response_format": schema_format(&schema),
        });
        let response = app.post("/v1/chat/completions", body).await;
        let status = response.status().as_u16();
        let completion: Value = response.json().await.unwrap_or_default();
        (dataset, schema, status, completion)
    }))
    // As many as the slots: a queued request would wait on the others within its timeout.
    .buffer_unordered(4)
    .collect::<Vec<_>>()
    .await;
    let mut table: BTreeMap<&str, Tally> = BTreeMap::new();
    let mut failures = Vec::new();
    for (dataset, schema, status, completion) in outcomes {
        let tally = table.entry(dataset).or_default();
        match status {
            400 => tally.refused += 1,
            200 if completion["choices"][0]["finish_reason"] == "length" => tally.truncated += 1,
            200 => match validates(&schema, &common::message_text(&completion)) {
                Ok(()) => tally.valid += 1,
                Err(error) => {
                    tally.invalid += 1;
                    failures.push(format!("{dataset}: {error}"));
                }
            },
            other => {
                tally.invalid += 1;
                failures.push(format!("{dataset}: status {other}"));
            }
        }
    }
    println!("dataset            valid refused truncated invalid");
    for (dataset, t) in &table {
        println!(
            "{dataset:<18} {:>5} {:>7} {:>9} {:>7}",
            t.valid, t.refused, t.truncated, t.invalid
        );
    }
    println!("in {:.1} s", started.elapsed().as_secs_f64());
    assert!(failures.is_empty(), "{failures:#?}");
}

/// Nested `depth` levels of objects.
fn deep_schema(depth: usize) -> Value {
    let mut schema = json!({ "type": "integer" });
    for _ in 0..depth {
        schema = json!({ "type": "object", "properties": { "a": schema }, "required": ["a"] });
    }
    schema
}

#[tokio::test(flavor = "multi_thread")]
async fn hostile_schemas_are_bounded_and_never_stall_other_streams() {
    let app = common::spawn_app(|config| config.max_body = 8 << 20).await;
    let big_enum: Vec<String> = (0..100_000).map(|i| format!("value-{i}")).collect();
    let hostile = [
        ("recursion 1000 deep", deep_schema(1000)),
        (
            "enum of 100000",
            json!({ "type": "string", "enum": big_enum }),
        ),
        (
            "backtracking pattern",
            json!({ "type": "string", "pattern": "^(a+)+(b|a?){30}(a*)*[a-z]{0,50}$" }),
        ),
        (
            "$ref cycle",
            json!({
                "$defs": { "a": { "$ref": "#/$defs/b" }, "b": { "$ref": "#/$defs/a" } },
                "$ref": "#/$defs/a"
            }),
        ),
        (
            "4 MB schema",
            json!({ "type": "object", "description": "x".repeat(4 << 20) }),
        ),
    ];
    // A witness stream decoding while the hostile schemas compile.
    let witness = app
        .post("/v1/chat/completions", common::endless_stream(400))
        .await;
    assert_eq!(witness.status(), 200);
    // Tokens seen and the longest gap between two, shared with the watcher.
    let seen = std::sync::Arc::new(std::sync::Mutex::new((0_u32, Duration::ZERO)));
    let watched = std::sync::Arc::clone(&seen);
    let watching = tokio::spawn(async move {
        let mut events = sse_events(witness);
        let mut last = Instant::now();
        while let Some(Ok(event)) = events.next().await {
            if event.data == "[DONE]" {
                break;
            }
            let mut seen = watched.lock().unwrap_or_else(|e| e.into_inner());
            seen.0 += 1;
            seen.1 = seen.1.max(last.elapsed());
            last = Instant::now();
        }
    });
    for (name, schema) in &hostile {
        let started = Instant::now();
        let body = structured("Answer in JSON.", schema_format(schema), 30, false);
        let body = serde_json::to_vec(&body).expect("body");
        let response = app.post_raw("/v1/chat/completions", body).await;
        let status = response.status().as_u16();
        let text = response.text().await.unwrap_or_default();
        println!("{name}: {status} in {} ms", started.elapsed().as_millis());
        assert!(status == 400 || status == 200, "{name}: {status} {text}");
        if status == 200 {
            let completion: Value = serde_json::from_str(&text).expect("json");
            if completion["choices"][0]["finish_reason"] == "stop" {
                let reply = common::message_text(&completion);
                assert!(validates(schema, &reply).is_ok(), "{name}: invalid reply");
            }
        }
    }
    // The witness has served its purpose once every hostile schema is answered.
    watching.abort();
    let (tokens, longest) = *seen.lock().unwrap_or_else(|e| e.into_inner());
    println!(
        "witness stream: {tokens} tokens, longest gap {} ms",
        longest.as_millis()
    );
    assert!(tokens > 0, "the witness stream got no tokens");
}
