//! llama.cpp's `llama-bench` tg128: the engine alone generating 128 tokens for one sequence,
//! with no server around it. Run in the same session as the servers, it is the ceiling a
//! single stream can approach.

use std::path::Path;
use std::process::Command;

use anyhow::Context;
use serde_json::Value;

/// Tokens per second of `llama-bench -p 0 -n 128` (mean of `repetitions` runs).
#[derive(Debug, Clone)]
pub struct Tg128 {
    pub tokens_per_second: f64,
    pub stddev: f64,
    pub command: String,
}

pub fn run(binary: &Path, model: &Path, threads: u32, repetitions: u32) -> anyhow::Result<Tg128> {
    let args = [
        "-m".to_owned(),
        model.display().to_string(),
        "-t".to_owned(),
        threads.to_string(),
        "-p".to_owned(),
        "0".to_owned(),
        "-n".to_owned(),
        "128".to_owned(),
        "-r".to_owned(),
        repetitions.to_string(),
        "-o".to_owned(),
        "json".to_owned(),
    ];
    let (command, stdout) = run_tool(binary, &args)?;
    let (tokens_per_second, stddev) =
        parse(&stdout).with_context(|| format!("reading the JSON output of {command}"))?;
    Ok(Tg128 {
        tokens_per_second,
        stddev,
        command,
    })
}

/// Runs one of llama.cpp's tools to its end: its command line (for the report) and what it
/// printed on stdout. A failure says the last line it printed on stderr.
pub fn run_tool(binary: &Path, args: &[String]) -> anyhow::Result<(String, Vec<u8>)> {
    let command = format!("{} {}", binary.display(), args.join(" "));
    let output = Command::new(binary)
        .args(args)
        .output()
        .with_context(|| format!("running {}", binary.display()))?;
    anyhow::ensure!(
        output.status.success(),
        "{command} failed ({}): {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
            .lines()
            .last()
            .unwrap_or("")
    );
    Ok((command, output.stdout))
}

/// (avg_ts, stddev_ts) of the generation test in llama-bench's JSON.
fn parse(json: &[u8]) -> anyhow::Result<(f64, f64)> {
    let tests: Vec<Value> = serde_json::from_slice(json)?;
    let test = tests
        .iter()
        .find(|t| t["n_gen"].as_u64() == Some(128) && t["n_prompt"].as_u64() == Some(0))
        .context("no tg128 test in the output")?;
    let average = test["avg_ts"].as_f64().context("no avg_ts")?;
    Ok((average, test["stddev_ts"].as_f64().unwrap_or(0.0)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_generation_test_is_found() {
        let json = br#"[{"n_prompt": 512, "n_gen": 0, "avg_ts": 900.0},
                        {"n_prompt": 0, "n_gen": 128, "avg_ts": 111.1, "stddev_ts": 1.0}]"#;
        assert_eq!(parse(json).ok(), Some((111.1, 1.0)));
        assert!(parse(b"[]").is_err());
    }
}
