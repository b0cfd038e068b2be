//! TEMPORARY STUB of the engine's constraint interface (/work/notes/issue13-plan.md);
//! replaced by the real module on merge.
#![allow(dead_code)]

pub enum GrammarSpec {
    JsonObject,
    JsonSchema(serde_json::Value),
    Lark(String),
}

#[derive(Clone)]
pub struct Grammar;

#[derive(Debug, thiserror::Error)]
pub enum GrammarError {
    #[error("unsupported keyword {keyword}")]
    Unsupported { keyword: String },
    #[error("too large")]
    TooLarge,
    #[error("too complex")]
    TooComplex,
    #[error("invalid")]
    Invalid,
}

pub struct Constraint {
    pub grammar: Grammar,
    pub trigger: Option<String>,
}

impl std::fmt::Debug for Constraint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Constraint")
    }
}

impl super::Engine {
    pub fn compile(&self, _spec: &GrammarSpec) -> Result<Grammar, GrammarError> {
        Err(GrammarError::Invalid)
    }
}
