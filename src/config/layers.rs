//! The `serve` settings from their four sources, merged by figment: the flags' defaults, then
//! the TOML file, then the `SOTTO_*` variables, then the flags given on the command line. Each
//! value keeps where it came from, for `sotto config` and for errors, which name the key and
//! its source but never the value (a value may be a secret).

use std::collections::BTreeSet;
use std::fmt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use figment::error::{Actual, Kind};
use figment::providers::{Env, Format, Serialized, Toml};
use figment::value::{Dict, Value};
use figment::{Figment, Provider};

use super::validate::out_of_range;
use super::{settings, ServeArgs, ServeConfig, Setting};

/// The file read when neither `--config` nor `SOTTO_CONFIG` names one, if it exists.
const DEFAULT_FILE: &str = "sotto.toml";
const ENV_PREFIX: &str = "SOTTO_";

/// Where a setting's value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    Default,
    File(PathBuf),
    /// The variable's name.
    Env(String),
    /// The flag, `--ctx-size`.
    Flag(String),
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Default => f.write_str("default"),
            Self::File(path) => write!(f, "file {}", path.display()),
            Self::Env(name) => write!(f, "env {name}"),
            Self::Flag(flag) => write!(f, "flag {flag}"),
        }
    }
}

/// Why the configuration cannot be used. Names files and keys, never a value.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("config file {} ({origin}) does not exist", path.display())]
    Missing { path: PathBuf, origin: Origin },
    #[error(
        "config file {} can be changed by other users (mode {mode:03o}): make it writable by \
         its owner only (chmod go-w)",
        path.display()
    )]
    Writable { path: PathBuf, mode: u32 },
    #[error("config file {}: {reason}", path.display())]
    File { path: PathBuf, reason: String },
    #[error("invalid configuration: {}", list(.0))]
    Settings(Vec<Problem>),
}

/// One setting that cannot be used.
#[derive(Debug)]
pub struct Problem {
    pub key: String,
    pub origin: Origin,
    pub what: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "`{}` ({}) {}", self.key, self.origin, self.what)
    }
}

fn list(problems: &[Problem]) -> String {
    let problems: Vec<String> = problems.iter().map(Problem::to_string).collect();
    problems.join("; ")
}

/// The merged configuration, and where each of its values came from.
pub struct Loaded {
    pub config: ServeConfig,
    sources: Sources,
}

/// What [`Loaded::origin`] needs: the merged layers and which keys were flags.
struct Sources {
    figment: Figment,
    settings: Vec<Setting>,
    given: BTreeSet<String>,
    /// The name figment gives the environment layer's values.
    env_layer: String,
}

impl ServeArgs {
    /// The configuration `serve` runs with: defaults, file, environment and flags merged,
    /// each value checked.
    pub fn load(&self) -> Result<Loaded, ConfigError> {
        let settings = settings();
        let keys: Vec<&str> = settings.iter().map(|s| s.key.as_str()).collect();
        // `only`: a variable of another tool that starts with SOTTO_, or SOTTO_CONFIG, is not a
        // setting and must not fail as an unknown key.
        let env = Env::prefixed(ENV_PREFIX).only(&keys);
        let mut figment = Figment::from(Serialized::defaults(ServeConfig::defaults()));
        if let Some(path) = self.file()? {
            figment = figment.merge(Toml::file_exact(path));
        }
        let env_layer = env.metadata().name.into_owned();
        figment = figment.merge(env);
        let flags = Value::serialize(&self.flags)
            .ok()
            .and_then(Value::into_dict)
            .unwrap_or_default();
        let given: Dict = flags
            .into_iter()
            .filter(|(key, _)| self.given.contains(key))
            .collect();
        figment = figment.merge(Serialized::globals(given));
        let sources = Sources {
            figment,
            settings,
            given: self.given.clone(),
            env_layer,
        };
        let config: ServeConfig = sources
            .figment
            .extract()
            .map_err(|error| sources.error(error))?;
        let problems: Vec<Problem> = out_of_range(&config)
            .into_iter()
            .map(|problem| Problem {
                key: problem.key.to_owned(),
                origin: sources.origin(problem.key),
                what: problem.rule,
            })
            .collect();
        if !problems.is_empty() {
            return Err(ConfigError::Settings(problems));
        }
        Ok(Loaded { config, sources })
    }

    /// The config file to read: `--config`, `SOTTO_CONFIG` (either must exist), or
    /// `sotto.toml` in the working directory when there is one.
    fn file(&self) -> Result<Option<PathBuf>, ConfigError> {
        let path = match &self.config_file {
            Some(path) => absolute(path),
            None if Path::new(DEFAULT_FILE).is_file() => absolute(Path::new(DEFAULT_FILE)),
            None => return Ok(None),
        };
        let metadata = match std::fs::metadata(&path) {
            Ok(metadata) => metadata,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                let origin = if self.config_on_command_line {
                    Origin::Flag("--config".to_owned())
                } else {
                    Origin::Env("SOTTO_CONFIG".to_owned())
                };
                return Err(ConfigError::Missing { path, origin });
            }
            Err(error) => {
                let reason = error.to_string();
                return Err(ConfigError::File { path, reason });
            }
        };
        // Whoever can write the file can choose the models and open the API; as ssh does
        // with its keys, only the owner may.
        let mode = metadata.permissions().mode() & 0o777;
        if mode & 0o022 != 0 {
            return Err(ConfigError::Writable { path, mode });
        }
        Ok(Some(path))
    }
}

/// `path` from the root, for messages that say which file; as it is when that fails.
fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_owned())
}

impl Loaded {
    /// Where the value of `key` came from.
    pub fn origin(&self, key: &str) -> Origin {
        self.sources.origin(key)
    }

    /// The settings in `--help` order, as (key, origin).
    pub(super) fn keys(&self) -> impl Iterator<Item = (&str, Origin)> {
        self.sources
            .settings
            .iter()
            .map(|setting| (setting.key.as_str(), self.origin(&setting.key)))
    }
}

impl Sources {
    fn origin(&self, key: &str) -> Origin {
        let setting = self.settings.iter().find(|setting| setting.key == key);
        if self.given.contains(key) {
            if let Some(setting) = setting {
                return Origin::Flag(setting.flag.clone());
            }
        }
        let Some(metadata) = self.figment.find_metadata(key) else {
            return Origin::Default;
        };
        if let Some(path) = metadata.source.as_ref().and_then(|s| s.file_path()) {
            return Origin::File(path.to_owned());
        }
        if metadata.name == self.env_layer {
            let env = setting.map_or_else(
                || format!("{ENV_PREFIX}{}", key.to_ascii_uppercase()),
                |setting| setting.env.clone(),
            );
            return Origin::Env(env);
        }
        Origin::Default
    }

    /// figment's error, with the key and its source but not the value.
    fn error(&self, error: figment::Error) -> ConfigError {
        let mut problems = Vec::new();
        for error in error {
            let key = match &error.kind {
                Kind::UnknownField(field, _) => field.clone(),
                _ => error.path.join("."),
            };
            if key.is_empty() {
                // No key: the file did not parse (the other layers are built by this code).
                let path = error
                    .metadata
                    .as_ref()
                    .and_then(|m| m.source.as_ref())
                    .and_then(|s| s.file_path())
                    .map_or_else(|| PathBuf::from(DEFAULT_FILE), Path::to_owned);
                let reason = syntax_error(&error.kind);
                return ConfigError::File { path, reason };
            }
            let top = key.split('.').next().unwrap_or_default();
            problems.push(Problem {
                origin: self.origin(top),
                what: describe(&error.kind),
                key,
            });
        }
        ConfigError::Settings(problems)
    }
}

/// What is wrong with a value, in words that do not repeat it.
fn describe(kind: &Kind) -> String {
    match kind {
        Kind::UnknownField(..) => {
            "is not a setting: the keys are the names of `sotto serve --help`'s flags, with \
             `_` for `-`"
                .to_owned()
        }
        Kind::InvalidType(actual, expected) => {
            format!("must be {}, not {}", in_words(expected), type_of(actual))
        }
        Kind::InvalidValue(_, expected) | Kind::InvalidLength(_, expected) => {
            format!("must be {}", in_words(expected))
        }
        Kind::UnknownVariant(_, expected) => {
            let expected: Vec<String> = expected.iter().map(|v| format!("`{v}`")).collect();
            format!("must be one of {}", expected.join(", "))
        }
        Kind::ISizeOutOfRange(_) | Kind::USizeOutOfRange(_) => "is out of range".to_owned(),
        // Our own deserializers' messages (`text.rs`): the parse error, without the text.
        Kind::Message(message) => format!("is invalid: {message}"),
        other => format!("is invalid ({})", kind_name(other)),
    }
}

/// serde's name of an integer type as its range.
fn in_words(expected: &str) -> String {
    let max = match expected {
        "u8" => u64::from(u8::MAX),
        "u16" => u64::from(u16::MAX),
        "u32" => u64::from(u32::MAX),
        "u64" | "usize" => u64::MAX,
        _ => return expected.to_owned(),
    };
    format!("a whole number from 0 to {max}")
}

fn type_of(actual: &Actual) -> &'static str {
    match actual {
        Actual::Bool(_) => "a boolean",
        Actual::Unsigned(_) | Actual::Signed(_) => "an integer",
        Actual::Float(_) => "a float",
        Actual::Char(_) | Actual::Str(_) => "a string",
        Actual::Seq => "a list",
        Actual::Map => "a table",
        _ => "that type",
    }
}

fn kind_name(kind: &Kind) -> &'static str {
    match kind {
        Kind::MissingField(_) => "missing",
        Kind::DuplicateField(_) => "given twice",
        _ => "unsupported",
    }
}

/// TOML's parse error without the quoted line, which may hold a secret: its position and what
/// was expected.
fn syntax_error(kind: &Kind) -> String {
    let Kind::Message(message) = kind else {
        return describe(kind);
    };
    let mut lines = message.lines().map(str::trim).filter(|line| {
        !line.is_empty() && !line.starts_with('|') && !line.contains(" | ") && line != &"|"
    });
    let position = lines.next().unwrap_or("not valid TOML");
    let detail: Vec<&str> = lines.collect();
    if detail.is_empty() {
        position.to_owned()
    } else {
        format!("{position}: {}", detail.join(" "))
    }
}
