//! Grammars for constrained decoding: a JSON Schema, "any JSON object" or a Lark grammar,
//! compiled by llguidance against the model's vocabulary into a [`Grammar`] that each
//! constrained sequence clones (see `guide.rs` for how a sequence follows one).
//!
//! Compiling is bounded: the spec's size is capped before llguidance sees it, and llguidance's
//! own limits (schema nodes, grammar symbols, lexer fuel) refuse whatever would take long or
//! much memory. It runs on its own thread with a large stack, so a deeply nested schema cannot
//! overflow the caller's.

use std::sync::{Arc, OnceLock};

use llama_cpp_2::model::LlamaModel;
use llama_cpp_2::sampling::LlamaSampler;
use llguidance::api::{ParserLimits, TopLevelGrammar};
use llguidance::{Matcher, ParserFactory};
use serde_json::{Map, Value};

use super::spacing::Shapes;
use super::Engine;

/// Largest grammar accepted, as serialized JSON (schemas) or text (Lark). Real schemas are far
/// smaller (the JSONSchemaBench sample's largest is 50 kB); past this, compiling alone would
/// hold a core for long.
pub const MAX_SPEC_BYTES: usize = 1 << 20;

/// The stack compiling gets: llguidance recurses once per schema level (~2.5 kB each).
const COMPILE_STACK: usize = 64 << 20;

/// What a request asks its reply to follow.
#[derive(Debug, Clone)]
pub enum GrammarSpec {
    /// Any JSON object (`response_format: {"type": "json_object"}`).
    JsonObject,
    JsonSchema(Value),
    /// A JSON answer (this schema) that the model may also write inside a Markdown code fence,
    /// as instruct models are trained to; the API takes the fence off the content. Built by
    /// [`GrammarSpec::fence_allowed`].
    JsonMayBeFenced(Value),
    /// llguidance's Lark dialect; it may embed JSON schemas with `%json { ... }`. For tool-call
    /// grammars (forced calls, lazy `<tool_call>` envelopes).
    #[allow(dead_code)]
    Lark(String),
}

impl GrammarSpec {
    /// The same JSON, which may come inside a ```` ```json ```` fence (or a bare ```` ``` ````
    /// one). Forcing the first token to open the JSON puts a small model off its training: it
    /// then writes longer, worse documents (measured on JSONSchemaBench, see
    /// `bench/results/structured-output.md`). Lark and fenced grammars are unchanged.
    pub fn fence_allowed(self) -> Self {
        match self {
            GrammarSpec::JsonObject => GrammarSpec::JsonMayBeFenced(object_schema()),
            GrammarSpec::JsonSchema(schema) => GrammarSpec::JsonMayBeFenced(schema),
            other => other,
        }
    }
}

fn object_schema() -> Value {
    serde_json::json!({ "type": "object" })
}

/// A checked grammar, ready for sequences to follow. Cheap to clone.
#[derive(Clone)]
pub struct Grammar {
    /// A matcher at the grammar's start; each sequence deep-clones it.
    start: Arc<Matcher>,
    /// The vocabulary's whitespace, for the bound on it (`spacing.rs`).
    shapes: Arc<Shapes>,
}

impl std::fmt::Debug for Grammar {
    // Never the grammar itself: it may hold a client's schema.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Grammar { .. }")
    }
}

impl Grammar {
    /// A fresh matcher for one sequence.
    pub(super) fn matcher(&self) -> Matcher {
        self.start.deep_clone()
    }

    pub(super) fn shapes(&self) -> Arc<Shapes> {
        Arc::clone(&self.shapes)
    }
}

/// Why a grammar was refused. Display never quotes the grammar's content: only JSON Schema
/// keywords, which are the standard's vocabulary, never the client's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GrammarError {
    /// The schema uses a keyword the engine cannot enforce.
    #[error("the schema keyword `{keyword}` cannot be enforced")]
    Unsupported { keyword: String },
    #[error("the grammar is larger than {} bytes", MAX_SPEC_BYTES)]
    TooLarge,
    #[error("the grammar is too complex to compile within the server's limits")]
    TooComplex,
    #[error("the grammar is not valid or cannot be satisfied")]
    Invalid,
}

/// A grammar for one generation, and when it starts to apply.
#[derive(Debug, Clone)]
pub struct Constraint {
    pub grammar: Grammar,
    /// `None`: from the first generated token. `Some(t)`: free text until the generated text
    /// contains `t`; the grammar then constrains what follows `t`.
    pub trigger: Option<String>,
}

/// The compiler of one model, built on first use: the token trie walks the whole vocabulary
/// (hundreds of milliseconds), so servers that never constrain a reply never pay for it.
pub(super) type Compiler = OnceLock<Result<Vocabulary, String>>;

/// What compiling needs of one model's vocabulary.
pub(super) struct Vocabulary {
    factory: ParserFactory,
    shapes: Arc<Shapes>,
}

impl Engine {
    /// Compiles `spec` for this model. Blocking (milliseconds for real schemas, bounded for
    /// hostile ones): call it from `spawn_blocking`, never on the async runtime.
    pub fn compile(&self, spec: &GrammarSpec) -> Result<Grammar, GrammarError> {
        let grammar = top_level(spec)?;
        // A fence's first tokens are always allowed, so a fenced grammar's first mask proves
        // nothing about the document inside it: the bare document is checked too.
        let bare = match spec {
            GrammarSpec::JsonMayBeFenced(schema) => {
                Some(top_level(&GrammarSpec::JsonSchema(schema.clone()))?)
            }
            _ => None,
        };
        let model = Arc::clone(&self.inner.model);
        let compiler = Arc::clone(&self.inner.compiler);
        std::thread::Builder::new()
            .name("sotto-grammar".into())
            .stack_size(COMPILE_STACK)
            .spawn(move || {
                let vocabulary = vocabulary(&compiler, &model)?;
                if let Some(bare) = bare {
                    checked(vocabulary, bare)?;
                }
                Ok(Grammar {
                    start: Arc::new(checked(vocabulary, grammar)?),
                    shapes: Arc::clone(&vocabulary.shapes),
                })
            })
            .map_err(|_| GrammarError::TooComplex)?
            .join()
            .map_err(|_| GrammarError::Invalid)?
    }
}

/// A matcher at the start of `grammar`, if it compiles and can produce a first mask. Some
/// grammars compile yet cannot (a `$ref` cycle that never reaches a value): found here, they
/// are refused instead of failing mid-generation.
fn checked(vocabulary: &Vocabulary, grammar: TopLevelGrammar) -> Result<Matcher, GrammarError> {
    let matcher = Matcher::new(vocabulary.factory.create_parser(grammar));
    let mut first = matcher.deep_clone();
    if let Err(error) = first.compute_mask() {
        return Err(classify(&error.to_string()));
    }
    match matcher.get_error() {
        // The message may quote the schema: only its classification leaves this function.
        Some(message) => Err(classify(&message)),
        None => Ok(matcher),
    }
}

fn vocabulary<'a>(
    compiler: &'a Compiler,
    model: &LlamaModel,
) -> Result<&'a Vocabulary, GrammarError> {
    compiler
        .get_or_init(|| {
            let tok_env = LlamaSampler::llguidance_tok_env(model);
            let mut factory = ParserFactory::new_simple(&tok_env).map_err(|e| e.to_string())?;
            // llguidance writes warnings to stderr, quoting grammars: nothing of a client's
            // may reach a log.
            factory.quiet();
            *factory.limits_mut() = limits();
            let shapes = Arc::new(Shapes::of(tok_env.tok_trie()));
            Ok(Vocabulary { factory, shapes })
        })
        .as_ref()
        .map_err(|error| {
            tracing::error!(%error, "building the grammar compiler failed");
            GrammarError::Invalid
        })
}

/// llguidance's defaults, except that errors never carry the grammar or the tokens so far
/// (they could reach a log), and a mask may cost less: the engine computes masks between
/// decode steps, so one mask's worst case is every sequence's delay.
fn limits() -> ParserLimits {
    ParserLimits {
        verbose_errors: false,
        // ~14k per ms: at most a few milliseconds per token, then the sequence fails.
        step_lexer_fuel: 50_000,
        ..ParserLimits::default()
    }
}

/// The llguidance grammar for `spec`, with the server's JSON options forced.
fn top_level(spec: &GrammarSpec) -> Result<TopLevelGrammar, GrammarError> {
    match spec {
        GrammarSpec::JsonObject => Ok(TopLevelGrammar::from_json_schema(with_options(
            object_schema(),
        )?)),
        GrammarSpec::JsonSchema(schema) => Ok(TopLevelGrammar::from_json_schema(with_options(
            capped(schema)?.clone(),
        )?)),
        GrammarSpec::JsonMayBeFenced(schema) => {
            let json = with_options(capped(schema)?.clone())?;
            Ok(TopLevelGrammar::from_lark(format!(
                "start: json | \"```json\\n\" json \"\\n```\" | \"```\\n\" json \"\\n```\"\n\
                 json: %json {json}\n"
            )))
        }
        GrammarSpec::Lark(text) if text.len() > MAX_SPEC_BYTES => Err(GrammarError::TooLarge),
        GrammarSpec::Lark(text) => Ok(TopLevelGrammar::from_lark(text.clone())),
    }
}

/// Sets llguidance's JSON options (`x-guidance`), replacing any the client sent: a client's
/// `lenient` would turn unenforceable keywords into warnings, and a 200 whose reply does not
/// validate. Whitespace is free between tokens, as in llama.cpp's grammars; the engine bounds
/// its runs (see `spacing.rs`).
fn with_options(schema: Value) -> Result<Value, GrammarError> {
    let mut object = match schema {
        Value::Object(object) => object,
        Value::Bool(true) => Map::new(),
        _ => return Err(GrammarError::Invalid),
    };
    object.insert(
        "x-guidance".into(),
        serde_json::json!({
            "whitespace_flexible": true,
            "item_separator": ",",
            "key_separator": ":",
            "lenient": false,
            "coerce_one_of": false,
        }),
    );
    Ok(Value::Object(object))
}

/// The schema, unless it is too large to compile. Counted without building the text:
/// `io::sink` stops nothing, a counter does.
fn capped(schema: &Value) -> Result<&Value, GrammarError> {
    if serialized_len(schema) > MAX_SPEC_BYTES {
        Err(GrammarError::TooLarge)
    } else {
        Ok(schema)
    }
}

fn serialized_len(value: &Value) -> usize {
    struct Counter(usize);
    impl std::io::Write for Counter {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0 += buf.len();
            if self.0 > MAX_SPEC_BYTES {
                // Stop serializing: the answer is known.
                return Err(std::io::ErrorKind::Other.into());
            }
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut counter = Counter(0);
    let _ = serde_json::to_writer(&mut counter, value);
    counter.0
}

/// Turns llguidance's error text into an error that names at most a standard keyword.
fn classify(message: &str) -> GrammarError {
    if let Some(list) = message.split("Unimplemented keys: ").nth(1) {
        let keyword = list
            .split(['[', ']', ',', '"', ' '])
            .find(|word| KEYWORDS.contains(word))
            .unwrap_or("unknown");
        return GrammarError::Unsupported {
            keyword: keyword.to_owned(),
        };
    }
    if message.contains("oneOf constraints are not supported") {
        return unsupported("oneOf");
    }
    if message.contains("Unknown format") {
        return unsupported("format");
    }
    const LIMITS: [&str; 6] = [
        "too large",
        "too big",
        "fuel",
        "exceeded",
        "limit",
        "too many",
    ];
    if LIMITS.iter().any(|limit| message.contains(limit)) {
        return GrammarError::TooComplex;
    }
    GrammarError::Invalid
}

fn unsupported(keyword: &str) -> GrammarError {
    GrammarError::Unsupported {
        keyword: keyword.to_owned(),
    }
}

/// JSON Schema's keywords (drafts 4 to 2020-12): the only words of llguidance's errors that
/// may reach a client.
const KEYWORDS: [&str; 44] = [
    "$dynamicRef",
    "$dynamicAnchor",
    "$recursiveRef",
    "$recursiveAnchor",
    "$vocabulary",
    "$ref",
    "allOf",
    "anyOf",
    "oneOf",
    "not",
    "if",
    "then",
    "else",
    "dependentSchemas",
    "dependentRequired",
    "dependencies",
    "prefixItems",
    "items",
    "additionalItems",
    "contains",
    "minContains",
    "maxContains",
    "uniqueItems",
    "properties",
    "patternProperties",
    "additionalProperties",
    "propertyNames",
    "unevaluatedItems",
    "unevaluatedProperties",
    "type",
    "enum",
    "const",
    "multipleOf",
    "maximum",
    "exclusiveMaximum",
    "minimum",
    "exclusiveMinimum",
    "maxLength",
    "minLength",
    "pattern",
    "format",
    "required",
    "minProperties",
    "maxProperties",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unimplemented_keys_name_the_first_standard_keyword() {
        let error = classify(r#"Unimplemented keys: ["contains", "uniqueItems"]"#);
        assert_eq!(error, unsupported("contains"));
        let error = classify(r#"Unimplemented keys: ["secret-value"]"#);
        assert_eq!(error, unsupported("unknown"));
    }

    #[test]
    fn limits_and_other_errors_are_classified() {
        assert_eq!(classify("schema too large"), GrammarError::TooComplex);
        assert_eq!(
            classify("fuel exhausted when checking relevance of lexemes (1000)"),
            GrammarError::TooComplex
        );
        assert_eq!(classify("Unknown format: sekrit"), unsupported("format"));
        assert_eq!(classify("Unsatisfiable schema: x"), GrammarError::Invalid);
    }

    #[test]
    fn client_options_are_replaced_and_sizes_capped() {
        let schema = serde_json::json!({ "x-guidance": { "lenient": true } });
        let forced = with_options(schema).expect("an object");
        assert_eq!(forced["x-guidance"]["lenient"], false);
        assert_eq!(with_options(Value::Bool(false)), Err(GrammarError::Invalid));
        let big = Value::String("a".repeat(MAX_SPEC_BYTES + 1));
        assert!(serialized_len(&big) > MAX_SPEC_BYTES);
        let spec = GrammarSpec::JsonSchema(serde_json::json!({ "enum": [big] }));
        assert!(matches!(top_level(&spec), Err(GrammarError::TooLarge)));
    }
}
