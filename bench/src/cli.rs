//! Command line of `sotto-bench`.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context};
use clap::Parser;

const ABOUT: &str = "Load benchmark for OpenAI-compatible chat servers (sotto, llama-server, ...)";

const LONG_ABOUT: &str = "\
Load benchmark for OpenAI-compatible chat servers.

At each concurrency level, N client tasks send streaming chat requests back to back
(POST {base}/v1/chat/completions, stream: true, stream_options.include_usage: true) for
--duration, cycling through a fixed set of prompts. Per level and server it reports total
completion tokens/s, per-stream decode tokens/s, time to first token (p50/p95), errors and
the server's peak resident memory (VmHWM, only for servers it started).

Servers: --sotto and --llama-server start those binaries on the same model file with the
same threads, slots and context per slot; --url measures a server that is already running.
Several servers are measured level by level in turn (level 1 on each, then level 4 on each,
...), so that their ratio is taken side by side on a noisy machine. The first two servers
give the ratio column.

Then three scenarios on each server in turn: a --turns-turn conversation (does the last
turn's time to first token stay close to the first's?), a --long-prompt-token prompt
arriving while --long-prompt-streams streams generate (how long do they stall?), and
structured output on --structured's JSON Schemas (coverage per dataset; tokens/s of
constrained streams alone and mixed with free ones). With
--llama-bench, llama.cpp's tg128 runs just before and just after the 1-client level, as the
single-stream ceiling; with --llama-batched-bench, llama.cpp's batched decoding runs at every
level's sequence count, as the engine's limit at that load.

Writes OUT/latest.md (table, machine, date, command line) and OUT/latest.png (total tokens/s
against concurrency).

Example (SmolLM2: tokens 0 and 2 end a reply; banning them makes every reply max_tokens long):
  sotto-bench --sotto target/release/sotto --llama-server ~/llama.cpp/build/bin/llama-server \\
    --model models/SmolLM2-135M-Instruct.Q4_1.gguf --threads 2 --parallel 8 --ctx-size 2048 \\
    --duration 15 --ban-tokens 0,2";

#[derive(Debug, Parser)]
#[command(name = "sotto-bench", version, about = ABOUT, long_about = LONG_ABOUT)]
pub struct Args {
    /// Start this sotto binary (`sotto serve`) and measure it.
    #[arg(long, value_name = "PATH")]
    pub sotto: Option<PathBuf>,

    /// Start this llama.cpp `llama-server` binary and measure it.
    #[arg(long, value_name = "PATH")]
    pub llama_server: Option<PathBuf>,

    /// One more argument for the started sotto (repeatable): `--sotto-arg=--cache-mb=0`.
    #[arg(long, value_name = "ARG", allow_hyphen_values = true)]
    pub sotto_arg: Vec<String>,

    /// One more argument for the started llama-server (repeatable):
    /// `--llama-server-arg=--no-cache-prompt`.
    #[arg(long, value_name = "ARG", allow_hyphen_values = true)]
    pub llama_server_arg: Vec<String>,

    /// Measure an already running server at this base URL (repeatable); `NAME=URL` names it.
    #[arg(long, value_name = "[NAME=]URL")]
    pub url: Vec<String>,

    /// GGUF model file the started servers load; its name without `.gguf` is the `model` of
    /// every request.
    #[arg(long, default_value = "models/SmolLM2-135M-Instruct.Q4_1.gguf")]
    pub model: PathBuf,

    /// The `model` field of requests, when it is not the model file's name.
    #[arg(long, value_name = "ID")]
    pub request_model: Option<String>,

    /// API key sent as `Authorization: Bearer` to --url servers (started sotto runs with
    /// `--auth off`).
    #[arg(long, env = "SOTTO_BENCH_API_KEY", hide_env_values = true)]
    pub api_key: Option<String>,

    /// CPU threads of the started servers [default: the number of available cores].
    #[arg(long)]
    pub threads: Option<u32>,

    /// Slots (sequences decoded together) of the started servers; also of --url servers for the
    /// engine's-limit table, which sets each level beside llama-batched-bench with its clients,
    /// at most this many, decoding at once (past the slots a server's other requests wait).
    #[arg(long, default_value_t = 8)]
    pub parallel: u32,

    /// Context per slot in tokens of the started servers (llama-server gets -c parallel*this).
    #[arg(long, default_value_t = 2048)]
    pub ctx_size: u32,

    /// Concurrency levels: client tasks sending requests back to back.
    #[arg(long, value_delimiter = ',', default_value = "1,2,3,4,6,8,12,16")]
    pub levels: Vec<u32>,

    /// Seconds of load at each level and server (requests still running then are finished
    /// but their tokens after the deadline are not counted).
    #[arg(long, default_value_t = 20.0)]
    pub duration: f64,

    /// `max_tokens` of each request.
    #[arg(long, default_value_t = 128)]
    pub max_tokens: u32,

    /// `temperature` of each request (0 is greedy).
    #[arg(long, default_value_t = 0.0)]
    pub temperature: f64,

    /// `seed` of each request.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,

    /// Token ids given a -100 `logit_bias`, so replies cannot end early (SmolLM2: 0,2).
    #[arg(long, value_delimiter = ',', value_name = "IDS")]
    pub ban_tokens: Vec<u32>,

    /// Folder for latest.md and latest.png.
    #[arg(long, default_value = "bench/results")]
    pub out: PathBuf,

    /// TrueType font for the chart's text (Debian: fonts-dejavu-core).
    #[arg(
        long,
        default_value = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
    )]
    pub font: PathBuf,

    /// Also run llama.cpp's `llama-bench` (tg128: one sequence, 128 tokens, no server) on the
    /// model with the same threads, just before and just after the single-client level (the
    /// mean is the ceiling for one stream).
    #[arg(long, value_name = "PATH")]
    pub llama_bench: Option<PathBuf>,

    /// Also run llama.cpp's `llama-batched-bench` on the model with the same threads, once
    /// before the levels, at each level's number of sequences (64 prompt tokens, max_tokens
    /// generated): the engine's generation rate at that load, beside the servers' totals.
    #[arg(long, value_name = "PATH")]
    pub llama_batched_bench: Option<PathBuf>,

    /// Turns of the conversation scenario: one client sends each reply back with a follow-up
    /// question, and the report compares the last turn's time to first token with the
    /// first's (0 skips the scenario).
    #[arg(long, default_value_t = 10)]
    pub turns: usize,

    /// Conversations per server in the conversation scenario (medians are reported).
    #[arg(long, default_value_t = 3)]
    pub conversations: usize,

    /// Pause in the conversation scenario before each turn but the first, in ms: a person
    /// reads the reply and types the next question. A server may use it (sotto decodes the
    /// chat template's turn boundary then); 0 sends turns back to back.
    #[arg(long, default_value_t = 1000)]
    pub think_ms: u64,

    /// Prompt tokens of the long-prompt scenario: while --long-prompt-streams streams are
    /// generating, one request with a prompt this long arrives; the report gives the streams'
    /// longest gap between tokens while it is prefilled (0 skips the scenario).
    #[arg(long, default_value_t = 2000)]
    pub long_prompt: usize,

    /// Streams already generating when the long prompt arrives.
    #[arg(long, default_value_t = 4)]
    pub long_prompt_streams: usize,

    /// `max_tokens` of the streams running in the long-prompt scenario: enough to outlast the
    /// prefill (they are stopped once the long prompt has its first token), within the
    /// server's context per slot.
    #[arg(long, default_value_t = 1024)]
    pub long_prompt_stream_tokens: u32,

    /// Repetitions of the long-prompt scenario per server (a new prompt each time).
    #[arg(long, default_value_t = 3)]
    pub long_prompt_runs: usize,

    /// Folder of JSON Schemas for the structured-output scenario, one subfolder of `.json`
    /// files per dataset (JSONSchemaBench's sample). Each schema goes once to every server as
    /// `response_format` (coverage per dataset: valid, truncated, refused, invalid, error);
    /// then streams constrained by the schemas every server took are timed alone, beside free
    /// streams alone, and mixed with them.
    #[arg(
        long,
        value_name = "DIR",
        default_value = "../shared/jsonschemabench-sample"
    )]
    pub structured: PathBuf,

    /// At most this many schemas per dataset, the first in file name order (0 skips the
    /// structured-output scenario; 100 covers every dataset of the sample).
    #[arg(long, default_value_t = 100)]
    pub structured_schemas: usize,

    /// `max_tokens` of each coverage request. A reply cut by it (`length`) is counted as
    /// truncated: neither covered nor failed, since a prefix proves nothing either way.
    #[arg(long, default_value_t = 256)]
    pub structured_max_tokens: u32,

    /// Seconds a coverage request may take before it counts as an error (some servers
    /// generate a token a second under some grammars).
    #[arg(long, default_value_t = 60)]
    pub structured_timeout: u64,

    /// Coverage requests in flight at once.
    #[arg(long, default_value_t = 4)]
    pub structured_clients: usize,

    /// Streams of each speed phase: that many constrained, that many free, then half and half.
    #[arg(long, default_value_t = 4)]
    pub structured_streams: usize,

    /// `max_tokens` of the speed phases' requests.
    #[arg(long, default_value_t = 256)]
    pub structured_stream_tokens: u32,

    /// Seconds of each speed phase on each server (requests are hung up at its end).
    #[arg(long, default_value_t = 15.0)]
    pub structured_duration: f64,

    /// Skip the concurrency levels (and the chart): run the scenarios only.
    #[arg(long)]
    pub no_levels: bool,

    /// A line for the report's notes (repeatable), e.g. llama-bench figures of the same run.
    #[arg(long, value_name = "TEXT")]
    pub note: Vec<String>,

    /// Seconds a request may take before it counts as an error (this bounds how long a level
    /// waits for its last requests after --duration).
    #[arg(long, default_value_t = 300)]
    pub request_timeout: u64,

    /// Seconds to wait for a started server to load its model.
    #[arg(long, default_value_t = 120)]
    pub startup_timeout: u64,
}

impl Args {
    /// Rejects combinations clap cannot express.
    pub fn validate(&self) -> anyhow::Result<()> {
        if self.sotto.is_none() && self.llama_server.is_none() && self.url.is_empty() {
            bail!("nothing to measure: give --sotto, --llama-server or --url");
        }
        if self.levels.is_empty() || self.levels.contains(&0) {
            bail!("--levels must be positive numbers of clients");
        }
        if !(self.duration.is_finite() && self.duration > 0.0) {
            bail!("--duration must be a positive number of seconds");
        }
        if self.turns > 0 && self.conversations == 0 {
            bail!("--conversations must be at least 1 (or --turns 0 to skip the scenario)");
        }
        if self.long_prompt > 0 && (self.long_prompt_streams == 0 || self.long_prompt_runs == 0) {
            bail!("--long-prompt-streams and --long-prompt-runs must be at least 1");
        }
        if self.structured_schemas > 0 {
            if !self.structured.is_dir() {
                bail!(
                    "schema folder {} not found (--structured DIR, or --structured-schemas 0 \
                     to skip the scenario)",
                    self.structured.display()
                );
            }
            if self.structured_streams < 2 || self.structured_clients == 0 {
                // One stream cannot be split into constrained and free ones for the mix.
                bail!("--structured-streams must be at least 2, --structured-clients at least 1");
            }
            if !(self.structured_duration.is_finite() && self.structured_duration > 0.0) {
                bail!("--structured-duration must be a positive number of seconds");
            }
        }
        if self.max_tokens < 2 {
            bail!("--max-tokens must be at least 2 to measure decoding speed");
        }
        let starts = self.sotto.is_some() || self.llama_server.is_some();
        if starts && !self.model.is_file() {
            bail!("model file {} not found", self.model.display());
        }
        Ok(())
    }

    pub fn duration(&self) -> Duration {
        Duration::from_secs_f64(self.duration)
    }

    /// The `model` field sent with every request.
    pub fn request_model(&self) -> anyhow::Result<String> {
        if let Some(id) = &self.request_model {
            return Ok(id.clone());
        }
        let stem = self
            .model
            .file_stem()
            .and_then(|s| s.to_str())
            .with_context(|| format!("no model id in {}", self.model.display()))?;
        Ok(stem.to_owned())
    }

    pub fn threads(&self) -> u32 {
        self.threads.unwrap_or_else(|| {
            std::thread::available_parallelism().map_or(1, |n| u32::try_from(n.get()).unwrap_or(1))
        })
    }
}

/// Splits a `--url` value into a display name and a base URL without a trailing slash.
pub fn named_url(value: &str) -> (String, String) {
    let (name, url) = match value.split_once('=') {
        Some((name, url)) if !name.contains('/') => (name.to_owned(), url),
        _ => (value.to_owned(), value),
    };
    (name, url.trim_end_matches('/').to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_may_carry_a_name() {
        assert_eq!(
            named_url("ours=http://127.0.0.1:8080/"),
            ("ours".to_owned(), "http://127.0.0.1:8080".to_owned())
        );
        assert_eq!(
            named_url("http://127.0.0.1:8080"),
            (
                "http://127.0.0.1:8080".to_owned(),
                "http://127.0.0.1:8080".to_owned()
            )
        );
    }
}
