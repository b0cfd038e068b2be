//! `sotto config`: the effective configuration as TOML lines, each with where its value came
//! from, and secrets redacted.

use std::fmt::Write;

use super::layers::{Loaded, Origin};

/// Words that make a key's value a secret. `token` also matches counts of tokens, which
/// [`NOT_SECRET`] lists: a new key is redacted unless someone says it is not a secret.
const SECRET_WORDS: &[&str] = &["key", "token", "secret", "password", "passwd", "credential"];
const NOT_SECRET: &[&str] = &["max_tokens_default"];
const REDACTED: &str = "\"<redacted>\"";

/// Whether the value of `key` is never printed.
pub fn is_secret(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    !NOT_SECRET.contains(&key.as_str()) && SECRET_WORDS.iter().any(|word| key.contains(word))
}

impl Loaded {
    /// The configuration as `key = value  # origin` lines, in `--help` order.
    pub fn render(&self) -> String {
        // toml leaves out what is not set (`threads` without a value).
        let values = toml::Value::try_from(&self.config)
            .ok()
            .and_then(|value| value.as_table().cloned())
            .unwrap_or_default();
        render(self.keys().map(|(key, origin)| {
            let value = values.get(key).cloned();
            (key, value, origin)
        }))
    }
}

/// The lines for `rows` of (key, value if set, origin).
fn render<'a>(rows: impl Iterator<Item = (&'a str, Option<toml::Value>, Origin)>) -> String {
    let mut out = String::from(
        "# The configuration `sotto serve` would use, each value with where it came from.\n\
         # Flags win over SOTTO_* variables, which win over the config file.\n",
    );
    for (key, value, origin) in rows {
        // Writing to a String cannot fail.
        let _ = match value {
            None => writeln!(out, "# {key} is not set  # {origin}"),
            Some(_) if is_secret(key) => writeln!(out, "{key} = {REDACTED}  # {origin}"),
            Some(value) => writeln!(out, "{key} = {value}  # {origin}"),
        };
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    #[test]
    fn secret_looking_keys_are_redacted_and_token_counts_are_not() {
        for key in [
            "api_key",
            "hf_token",
            "admin_password",
            "session_secret",
            "APIKEY",
        ] {
            assert!(is_secret(key), "{key}");
        }
        for key in ["max_tokens_default", "port", "models_dir", "ctx_size"] {
            assert!(!is_secret(key), "{key}");
        }
        let file = Origin::File(PathBuf::from("/etc/sotto.toml"));
        let shown = render(
            [
                ("port", Some(toml::Value::Integer(9000)), file.clone()),
                (
                    "api_key",
                    Some(toml::Value::from("sk-canary")),
                    file.clone(),
                ),
                ("threads", None, Origin::Default),
                (
                    "auth",
                    Some(toml::Value::from("off")),
                    Origin::Env("SOTTO_AUTH".into()),
                ),
            ]
            .into_iter(),
        );
        assert!(
            shown.contains("\nport = 9000  # file /etc/sotto.toml\n"),
            "{shown}"
        );
        assert!(shown.contains("\napi_key = \"<redacted>\"  # file /etc/sotto.toml\n"));
        assert!(!shown.contains("sk-canary"), "{shown}");
        assert!(
            shown.contains("\n# threads is not set  # default\n"),
            "{shown}"
        );
        assert!(
            shown.contains("\nauth = \"off\"  # env SOTTO_AUTH\n"),
            "{shown}"
        );
    }
}
