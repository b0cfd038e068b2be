//! Friendly model ids (`--alias chat=Qwen2.5-1.5B-Instruct-Q4_K_M`): a request may name a
//! model by an alias, which stands for one file's id. Replies name the model that answered
//! (the file's id), as OpenAI's name the snapshot behind `gpt-4o`.

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// `NAME=ID`: requests for `NAME` go to the model whose id is `ID`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Alias {
    pub name: String,
    pub model: String,
}

/// Why an alias cannot be used. Says which part is wrong, never its text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AliasError {
    #[error("must be NAME=MODEL_ID")]
    Shape,
    #[error("its {0} must be 1 to 128 characters without `/`, `\\`, `=`, spaces or a leading `.`")]
    Id(&'static str),
}

impl FromStr for Alias {
    type Err = AliasError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let (name, model) = text.split_once('=').ok_or(AliasError::Shape)?;
        let (name, model) = (name.trim(), model.trim());
        if !is_plain_id(name) {
            return Err(AliasError::Id("name"));
        }
        if !is_plain_id(model) {
            return Err(AliasError::Id("model id"));
        }
        Ok(Self {
            name: name.to_owned(),
            model: model.to_owned(),
        })
    }
}

/// An id that is a name and never a path: a request's id is compared with these, and a
/// model's id is a file name in the models folder.
fn is_plain_id(id: &str) -> bool {
    (1..=128).contains(&id.chars().count())
        && !id.starts_with('.')
        && !id
            .chars()
            .any(|c| matches!(c, '/' | '\\' | '=') || c.is_whitespace() || c.is_control())
}

impl fmt::Display for Alias {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}={}", self.name, self.model)
    }
}

impl Serialize for Alias {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Alias {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// What is wrong with a list of aliases as a whole, for the configuration's check.
pub fn conflict(aliases: &[Alias]) -> Option<&'static str> {
    let mut names = std::collections::HashSet::new();
    if !aliases
        .iter()
        .all(|alias| names.insert(alias.name.as_str()))
    {
        return Some("names the same alias twice");
    }
    if aliases
        .iter()
        .any(|alias| names.contains(alias.model.as_str()))
    {
        return Some("maps an alias to another alias: name a model's id");
    }
    None
}

/// Alias names to model ids.
#[derive(Debug, Clone, Default)]
pub struct Aliases(HashMap<String, String>);

impl Aliases {
    pub fn new(aliases: &[Alias]) -> Self {
        Self(
            aliases
                .iter()
                .map(|alias| (alias.name.clone(), alias.model.clone()))
                .collect(),
        )
    }

    /// The model id `id` stands for: an alias's model, or `id` itself. An alias hides a file
    /// of its own name, as the operator chose it.
    pub fn resolve<'a>(&'a self, id: &'a str) -> &'a str {
        self.0.get(id).map_or(id, String::as_str)
    }

    /// Every alias as (name, model id), sorted by name.
    pub fn sorted(&self) -> Vec<(&str, &str)> {
        let mut pairs: Vec<(&str, &str)> = self
            .0
            .iter()
            .map(|(name, model)| (name.as_str(), model.as_str()))
            .collect();
        pairs.sort_unstable();
        pairs
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alias(text: &str) -> Alias {
        text.parse().expect("an alias")
    }

    #[test]
    fn an_alias_is_two_plain_ids_and_never_a_path() {
        assert_eq!(
            alias(" chat = Qwen2.5-1.5B-Instruct-Q4_K_M "),
            Alias {
                name: "chat".into(),
                model: "Qwen2.5-1.5B-Instruct-Q4_K_M".into()
            }
        );
        assert_eq!(alias("a=b").to_string(), "a=b");
        assert_eq!("chat".parse::<Alias>(), Err(AliasError::Shape));
        for bad_name in ["=m", "../x=m", ".hidden=m", "a b=m", "a\\b=m"] {
            assert_eq!(
                bad_name.parse::<Alias>(),
                Err(AliasError::Id("name")),
                "{bad_name}"
            );
        }
        for bad_model in ["a=", "a=../../etc/passwd", "a=/abs", "a=b=c", "a=.x"] {
            assert_eq!(
                bad_model.parse::<Alias>(),
                Err(AliasError::Id("model id")),
                "{bad_model}"
            );
        }
        let long = format!("{}=m", "n".repeat(129));
        assert_eq!(long.parse::<Alias>(), Err(AliasError::Id("name")));
    }

    #[test]
    fn aliases_resolve_once_and_conflicts_are_found() {
        let list = [alias("chat=big"), alias("small=tiny")];
        assert_eq!(conflict(&list), None);
        let aliases = Aliases::new(&list);
        assert_eq!(aliases.resolve("chat"), "big");
        assert_eq!(aliases.resolve("big"), "big");
        assert_eq!(aliases.resolve("other"), "other");
        assert_eq!(aliases.sorted(), [("chat", "big"), ("small", "tiny")]);
        assert!(conflict(&[alias("a=x"), alias("a=y")]).is_some());
        assert!(conflict(&[alias("a=b"), alias("b=c")]).is_some());
    }
}
