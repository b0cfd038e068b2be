//! Command line, environment and config file.
//!
//! Every `serve` flag can also be set through a `SOTTO_*` environment variable and a key of
//! the TOML config file (the flag's name with `_`), so the same binary is configured the same
//! way on a laptop, in Docker and in tests. clap parses the command line and writes the help;
//! [`layers`] merges defaults, file, environment and flags (in that order, the last wins).

mod choices;
mod command_line;
mod layers;
mod show;
mod text;
mod validate;

use std::collections::BTreeSet;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, FromArgMatches, Parser, Subcommand};
use serde::{Deserialize, Serialize};

use crate::models::Alias;
pub use choices::{Auth, CacheType, FlashAttention, Signup};
use command_line::{command_line_only, settings, Setting};
pub use command_line::{parse, parse_from};
pub use layers::{ConfigError, Loaded, Origin};

#[derive(Debug, Parser)]
#[command(
    name = "sotto",
    version,
    about = "A private chat assistant server with an OpenAI-compatible API"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

// One value per process, parsed once at start-up: its size does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the chat UI and the OpenAI-compatible API.
    Serve(ServeArgs),
    /// Print the configuration `serve` would run with (the same flags), each value with where
    /// it came from: a flag, a `SOTTO_*` variable, the config file or the default.
    Config(ServeArgs),
    /// Manage user accounts (works while the server runs).
    Users {
        #[command(flatten)]
        data: DataArgs,
        #[command(subcommand)]
        action: UsersAction,
    },
    /// Manage API keys (works while the server runs).
    Keys {
        #[command(flatten)]
        data: DataArgs,
        #[command(subcommand)]
        action: KeysAction,
    },
    /// Download, list and remove models in the models directory.
    Models {
        #[command(flatten)]
        config: ConfigFile,
        #[command(subcommand)]
        action: crate::pull::ModelsAction,
    },
    /// Exit 0 when a server on this machine answers its health check (for Docker's HEALTHCHECK).
    Healthcheck {
        #[command(flatten)]
        config: ConfigFile,
        /// Port of the server to check [default: `serve`'s `port`, from `SOTTO_PORT` or the
        /// config file, else 8080].
        #[arg(long)]
        port: Option<u16>,
    },
}

/// `--config` for the commands beside `serve`: they act on its files and port, so they read
/// `data_dir`, `models_dir`, `host` and `port` from the same layers (defaults < file <
/// `SOTTO_*`), and their own flags win over those.
#[derive(Debug, Clone, Args)]
pub struct ConfigFile {
    /// The config file `serve` reads [default: `sotto.toml` in the working directory, when
    /// there is one].
    #[arg(
        long = "config",
        env = "SOTTO_CONFIG",
        value_name = "PATH",
        global = true
    )]
    pub path: Option<PathBuf>,
}

impl ConfigFile {
    /// `serve`'s configuration without its flags: what these commands default to.
    pub fn load(&self) -> Result<ServeConfig, ConfigError> {
        let from_env = std::env::var_os("SOTTO_CONFIG").map(PathBuf::from);
        let args = ServeArgs {
            config_file: self.path.clone(),
            flags: ServeConfig::defaults(),
            given: BTreeSet::new(),
            config_on_command_line: self.path.is_some() && self.path != from_env,
        };
        args.load().map(|loaded| loaded.config)
    }
}

#[derive(Debug, Clone, Args)]
pub struct DataArgs {
    #[command(flatten)]
    pub config: ConfigFile,
    /// Directory for the server's own data (the accounts database) [default: `serve`'s
    /// `data_dir`, from `SOTTO_DATA_DIR` or the config file, else `data`].
    #[arg(long, global = true)]
    pub data_dir: Option<PathBuf>,
}

impl DataArgs {
    /// The flag's directory, else the server's.
    pub fn data_dir(&self) -> Result<PathBuf, ConfigError> {
        match &self.data_dir {
            Some(dir) => Ok(dir.clone()),
            None => Ok(self.config.load()?.data_dir),
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum UsersAction {
    /// Create a user; the password is read from stdin when it is not a terminal.
    Add { email: String },
    /// List users (email and creation date).
    List,
    /// Delete a user with their sessions and keys.
    Delete { email: String },
    /// Set a user's password (ends their sessions); read from stdin when it is not a terminal.
    Passwd {
        email: String,
        /// Revoke every API key of the user too.
        #[arg(long)]
        revoke_keys: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum KeysAction {
    /// Create an API key for a user and print it (it is shown only once).
    Create {
        email: String,
        #[arg(long, default_value = "cli")]
        name: String,
    },
    /// List a user's keys (id, name, prefix, creation date).
    List { email: String },
    /// Revoke a key by its id.
    Revoke { id: i64 },
}

/// `serve`'s and `config`'s arguments: the config file and the settings.
#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// A TOML file of settings, one key per flag (its name with `_`: `ctx_size = 2048`);
    /// flags and `SOTTO_*` variables win over it [default: `sotto.toml` in the working
    /// directory, when there is one].
    #[arg(long = "config", env = "SOTTO_CONFIG", value_name = "PATH")]
    pub config_file: Option<PathBuf>,

    #[command(flatten)]
    pub flags: ServeConfig,

    /// The settings given on the command line, by key (filled in by [`parse`]).
    #[arg(skip)]
    given: BTreeSet<String>,

    /// Whether `--config` was (rather than `SOTTO_CONFIG`), for the message when it is missing.
    #[arg(skip)]
    config_on_command_line: bool,
}

/// Every `serve` setting. Each field is a flag, a `SOTTO_*` variable and a config file key
/// (the flag's long name with `_`); ranges are checked for all three in `validate.rs`.
#[derive(Debug, Clone, Args, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServeConfig {
    /// Address to listen on.
    #[arg(long, env = "SOTTO_HOST", default_value = "127.0.0.1")]
    pub host: IpAddr,

    /// Port to listen on.
    #[arg(long, env = "SOTTO_PORT", default_value_t = 8080)]
    pub port: u16,

    /// Directory holding the `.gguf` model files; each file is a model whose id is its name
    /// without `.gguf`.
    #[arg(long, env = "SOTTO_MODELS_DIR", default_value = "models")]
    #[serde(deserialize_with = "text::one")]
    pub models_dir: PathBuf,

    /// Model id (or alias) to load at start-up (repeatable); the first is the default for
    /// requests that name none. Without it the first model in the directory by id is. Other
    /// models load on their first request.
    #[arg(long = "model", env = "SOTTO_MODEL", value_delimiter = ',')]
    #[serde(rename = "model", deserialize_with = "text::list")]
    pub models: Vec<String>,

    /// A friendly id for a model, `NAME=MODEL_ID` (repeatable): requests may name the model
    /// `NAME`, and `/v1/models` lists it with `alias_of`. Replies name the model's own id. In
    /// the config file also a table: `[alias]` then `chat = "MODEL_ID"`.
    #[arg(long = "alias", env = "SOTTO_ALIAS", value_delimiter = ',')]
    #[serde(rename = "alias", deserialize_with = "text::list_or_table")]
    pub aliases: Vec<Alias>,

    /// A Jinja chat template to use instead of the one in a model's GGUF (to fix a broken one,
    /// or to give a model tool or reasoning support): `ID=PATH` for one model, `PATH` for every
    /// model (repeatable). A file `ID.jinja` in the models directory does the same for its
    /// model; `ID=PATH` wins over it, and it wins over a bare `PATH`.
    #[arg(
        long = "chat-template-file",
        env = "SOTTO_CHAT_TEMPLATE_FILE",
        value_delimiter = ','
    )]
    #[serde(rename = "chat_template_file", deserialize_with = "text::list")]
    pub chat_template_files: Vec<String>,

    /// Number of sequences decoded together (slots) per model.
    #[arg(long, env = "SOTTO_PARALLEL", default_value_t = 4)]
    pub parallel: u32,

    /// Context size in tokens for each slot (prompt plus completion).
    #[arg(long, env = "SOTTO_CTX_SIZE", default_value_t = 4096)]
    pub ctx_size: u32,

    /// CPU threads for the engine [default: the number of available cores].
    #[arg(long, env = "SOTTO_THREADS")]
    pub threads: Option<u32>,

    /// Requests that may wait for a free slot per model; beyond this the API answers 429.
    #[arg(long, env = "SOTTO_QUEUE", default_value_t = 64)]
    pub queue: u32,

    /// Requests one caller (one API key or browser session; with `--auth off`, every API
    /// client together) may have running or waiting per model; beyond this that caller gets
    /// 429 while others are still served [default: half of `--parallel` plus `--queue`, and
    /// at least `--parallel`]. Half: one busy caller still keeps every slot busy with a deep
    /// queue behind them, and at least as many places stay open for everyone else; never
    /// below `--parallel`, so a caller alone can use every slot.
    #[arg(long, env = "SOTTO_MAX_REQUESTS_PER_CALLER")]
    pub max_requests_per_caller: Option<u32>,

    /// Completion tokens a reply gets when its request sets neither `max_tokens` nor
    /// `max_completion_tokens`, so that such a request cannot hold its slot until the context
    /// is full; never more than the context has room for. Those replies carry the header
    /// `x-sotto-max-tokens-default` and, when cut, end with `finish_reason: "length"`. 2048:
    /// longer than almost any chat reply, and half the default context. 0: the rest of the
    /// context.
    #[arg(long, env = "SOTTO_MAX_TOKENS_DEFAULT", default_value_t = 2048)]
    pub max_tokens_default: u32,

    /// KV memory (MiB) finished conversations may keep so their next turn re-uses its prefix:
    /// in their slot (part of its context, no extra RAM) and, once another request takes the
    /// slot, in RAM, least recently used dropped first. 0 disables it.
    #[arg(long, env = "SOTTO_CACHE_MB", default_value_t = 1024)]
    pub cache_mb: usize,

    /// A cached conversation unused for this many seconds is dropped.
    #[arg(long, env = "SOTTO_CACHE_IDLE_SECS", default_value_t = 600)]
    pub cache_idle_secs: u64,

    /// llama.cpp's flash attention. `auto` lets llama.cpp decide (it turns it on wherever the
    /// backend supports it).
    #[arg(long, env = "SOTTO_FLASH_ATTN", value_enum, default_value_t = FlashAttention::Auto)]
    pub flash_attn: FlashAttention,

    /// The KV cache's key type: `f16`, `q8_0` (half the memory) or `q4_0` (a quarter), so a
    /// machine holds more slots or longer contexts.
    #[arg(long, env = "SOTTO_CACHE_TYPE_K", value_enum, default_value_t = CacheType::F16)]
    pub cache_type_k: CacheType,

    /// The KV cache's value type, as `--cache-type-k`. A quantized one needs flash attention
    /// (`--flash-attn auto` or `on`).
    #[arg(long, env = "SOTTO_CACHE_TYPE_V", value_enum, default_value_t = CacheType::F16)]
    pub cache_type_v: CacheType,

    /// Largest accepted request body, in bytes.
    #[arg(long, env = "SOTTO_MAX_BODY", default_value_t = 4 * 1024 * 1024)]
    pub max_body: usize,

    /// Directory for the server's own data (the accounts database).
    #[arg(long, env = "SOTTO_DATA_DIR", default_value = "data")]
    #[serde(deserialize_with = "text::one")]
    pub data_dir: PathBuf,

    /// Whether anyone may sign up, or only `sotto users add` creates accounts.
    #[arg(long, env = "SOTTO_SIGNUP", value_enum, default_value_t = Signup::Open)]
    pub signup: Signup,

    /// Whether `/v1` requires an API key (`Authorization: Bearer sk-sotto-...`).
    #[arg(long, env = "SOTTO_AUTH", value_enum, default_value_t = Auth::On)]
    pub auth: Auth,

    /// A browser session unused for this many hours ends.
    #[arg(long, env = "SOTTO_SESSION_IDLE_HOURS", default_value_t = 7 * 24)]
    pub session_idle_hours: u64,

    /// A browser session ends this many hours after login, used or not.
    #[arg(long, env = "SOTTO_SESSION_MAX_HOURS", default_value_t = 30 * 24)]
    pub session_max_hours: u64,

    /// Failed logins allowed per email and per client within the window.
    #[arg(long, env = "SOTTO_LOGIN_MAX_FAILURES", default_value_t = 10)]
    pub login_max_failures: usize,

    /// The login throttling window, in seconds.
    #[arg(long, env = "SOTTO_LOGIN_WINDOW_SECS", default_value_t = 15 * 60)]
    pub login_window_secs: u64,

    /// Host names this server answers to, besides IP addresses and `localhost` (against DNS
    /// rebinding): the names in its URL, such as `sotto.lan` or `chat.example.org`. A leading
    /// dot allows subdomains too; `*` allows any name.
    #[arg(long, env = "SOTTO_ALLOWED_HOSTS", value_delimiter = ',')]
    #[serde(deserialize_with = "text::list")]
    pub allowed_hosts: Vec<String>,

    /// Addresses of reverse proxies whose `X-Forwarded-For` (the client's address, for login
    /// throttling) and `X-Forwarded-Proto` (whether the client used HTTPS) are believed.
    #[arg(long, env = "SOTTO_TRUSTED_PROXIES", value_delimiter = ',')]
    #[serde(deserialize_with = "text::list")]
    pub trusted_proxies: Vec<IpAddr>,

    /// Open connections at most; further clients wait until one closes.
    #[arg(long, env = "SOTTO_MAX_CONNECTIONS", default_value_t = 512)]
    pub max_connections: u32,

    /// Seconds a client has to send a request's headers, and to start its next request on an
    /// open connection before it is closed.
    #[arg(long, env = "SOTTO_HEADER_TIMEOUT_SECS", default_value_t = 10)]
    pub header_timeout_secs: u64,

    /// Seconds a client has to send a request's body.
    #[arg(long, env = "SOTTO_BODY_TIMEOUT_SECS", default_value_t = 60)]
    pub body_timeout_secs: u64,

    /// Seconds open requests get to finish once SIGTERM or Ctrl-C stops the server; streams
    /// still running then end with an error event.
    #[arg(long, env = "SOTTO_DRAIN_SECS", default_value_t = 30)]
    pub drain_secs: u64,

    /// Serve `GET /metrics` (Prometheus) on this address only, such as `127.0.0.1:9100` or a
    /// private network's address, and not on the main port. Whoever reaches this address may
    /// read the metrics. Without it `/metrics` is on the main port, for callers on this
    /// machine and those with an API key.
    #[arg(long, env = "SOTTO_METRICS_ADDR")]
    pub metrics_addr: Option<SocketAddr>,

    /// Models loaded at once [default: as many as `--model` names, at least 1]. Loading
    /// another first unloads the least recently used one that serves no request; when every
    /// loaded model is busy, the request gets a 503 `models_busy` with `Retry-After`.
    #[arg(long, env = "SOTTO_MAX_LOADED_MODELS")]
    pub max_loaded_models: Option<u32>,

    /// Memory (MiB) loaded models may hold together, weights and KV cache: loading another
    /// unloads the least recently used idle ones until it fits (a model's file size stands
    /// for it until it has loaded). 0: no budget.
    #[arg(long, env = "SOTTO_MEMORY_BUDGET_MB", default_value_t = 0)]
    pub memory_budget_mb: u64,

    /// A model no request has used for this many seconds is unloaded (it loads again on its
    /// next request). 0: never.
    #[arg(long, env = "SOTTO_MODEL_IDLE_SECS", default_value_t = 0)]
    pub model_idle_secs: u64,

    /// Layers of each model to offload to the GPU [default: all, when sotto is built with a
    /// GPU backend (`--features cuda`, `vulkan` or `metal`); none otherwise]. 0 keeps a GPU
    /// build on the CPU.
    #[arg(long, env = "SOTTO_GPU_LAYERS")]
    pub gpu_layers: Option<u32>,
}

impl ServeConfig {
    /// The engine thread count: the flag, or every core the process may use.
    pub fn engine_threads(&self) -> u32 {
        self.threads.unwrap_or_else(|| {
            std::thread::available_parallelism()
                .map(|n| u32::try_from(n.get()).unwrap_or(1))
                .unwrap_or(1)
        })
    }

    /// How many models, and how much memory, may stay loaded.
    pub(crate) fn residency(&self) -> crate::models::Residency {
        crate::models::Residency {
            max_loaded: self
                .max_loaded_models
                .map_or(self.models.len().max(1), |max| max as usize),
            memory_budget: (self.memory_budget_mb > 0)
                .then_some(self.memory_budget_mb.saturating_mul(1 << 20)),
            idle: (self.model_idle_secs > 0).then(|| Duration::from_secs(self.model_idle_secs)),
        }
    }

    /// The per-caller limit: the flag, or its default for these `--parallel` and `--queue`.
    pub fn requests_per_caller(&self) -> u32 {
        self.max_requests_per_caller.unwrap_or_else(|| {
            let half = self.parallel.saturating_add(self.queue).div_ceil(2);
            half.max(self.parallel)
        })
    }

    /// A configuration with the defaults, for tests and embedding: the documented defaults
    /// only, whatever `SOTTO_*` variables the process happens to have.
    pub fn with_models_dir(models_dir: impl Into<PathBuf>) -> Self {
        let mut config = Self::defaults();
        config.models_dir = models_dir.into();
        config
    }

    /// The flags' declared defaults.
    fn defaults() -> Self {
        let matches = command_line_only().get_matches_from(["sotto", "serve"]);
        let cli = Cli::from_arg_matches(&matches).expect("the defaults parse");
        let Command::Serve(args) = cli.command else {
            unreachable!("parsed the serve subcommand")
        };
        args.flags
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_per_caller_limit_defaults_to_half_the_places_but_every_slot() {
        let limit = |args: &[&str]| {
            let cli = parse_from(["sotto", "serve"].iter().chain(args));
            let Command::Serve(serve) = cli.command else {
                unreachable!("parsed the serve subcommand")
            };
            serve.flags.requests_per_caller()
        };
        assert_eq!(limit(&[]), 34);
        assert_eq!(limit(&["--parallel", "2"]), 33);
        assert_eq!(limit(&["--parallel", "4", "--queue", "0"]), 4);
        assert_eq!(limit(&["--queue", "4294967295"]), 1 << 31);
        assert_eq!(limit(&["--max-requests-per-caller", "5"]), 5);
    }

    #[test]
    fn every_serve_flag_is_a_file_key_and_a_variable_of_the_same_name() {
        let fields = figment::value::Value::serialize(ServeConfig::with_models_dir("m"))
            .ok()
            .and_then(figment::value::Value::into_dict)
            .expect("a table");
        let fields: BTreeSet<&str> = fields.keys().map(String::as_str).collect();
        let settings = settings();
        let keys: BTreeSet<&str> = settings.iter().map(|s| s.key.as_str()).collect();
        assert_eq!(keys, fields, "a field's serde name is not its flag's");
        for setting in &settings {
            assert_eq!(setting.env, format!("SOTTO_{}", setting.key.to_uppercase()));
            assert_eq!(setting.flag, format!("--{}", setting.key.replace('_', "-")));
        }
        let Command::Config(args) =
            parse_from(["sotto", "config", "--model", "a", "--port", "1"]).command
        else {
            unreachable!("parsed the config subcommand")
        };
        assert_eq!(args.given, BTreeSet::from(["model".into(), "port".into()]));
    }

    #[test]
    fn the_embedding_defaults_ignore_the_environment() {
        // Variables no other unit test depends on (they run in parallel in this process).
        std::env::set_var("SOTTO_CTX_SIZE", "128");
        std::env::set_var("SOTTO_AUTH", "off");
        let config = ServeConfig::with_models_dir("m");
        std::env::remove_var("SOTTO_CTX_SIZE");
        std::env::remove_var("SOTTO_AUTH");
        assert_eq!(config.ctx_size, 4096);
        assert_eq!(config.auth, Auth::On);
        assert_eq!(config.models_dir, PathBuf::from("m"));
    }
}
