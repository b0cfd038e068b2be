//! llama.cpp's `llama-batched-bench`: the engine alone decoding N sequences at once, with no
//! server around it, at each level's sequence count. Beside the servers' totals it is the
//! engine's limit at that load, so a dip between measured levels shows as a gap to it.

use std::path::Path;

use serde::Deserialize;

/// The engine's generation rate with `sequences` decoding together.
#[derive(Debug, Clone, PartialEq)]
pub struct EngineRate {
    pub sequences: u32,
    /// All sequences' generated tokens over the generation time (its `speed_tg`).
    pub generation_tps: f64,
}

#[derive(Debug, Clone)]
pub struct Batched {
    pub rates: Vec<EngineRate>,
    pub command: String,
    /// The servers' slots: with more clients than slots, a server still decodes only this
    /// many sequences at once, and the rest wait.
    pub slots: u32,
}

/// The sequence counts a server decodes at these levels: each level's clients, at most `slots`.
pub fn sequence_counts(levels: &[u32], slots: u32) -> Vec<u32> {
    let mut counts: Vec<u32> = levels.iter().map(|&clients| clients.min(slots)).collect();
    counts.sort_unstable();
    counts.dedup();
    counts
}

impl Batched {
    /// The engine's rate at a level of `clients`: with as many sequences as a server decodes.
    pub fn at_level(&self, clients: u32) -> Option<f64> {
        self.at(clients.min(self.slots))
    }

    pub fn at(&self, sequences: u32) -> Option<f64> {
        self.rates
            .iter()
            .find(|rate| rate.sequences == sequences)
            .map(|rate| rate.generation_tps)
    }
}

/// What one run is made of: the servers' shape, so the engine does the same work.
pub struct Shape<'a> {
    pub model: &'a Path,
    pub threads: u32,
    pub levels: &'a [u32],
    pub slots: u32,
    pub prompt_tokens: u32,
    pub generated_tokens: u32,
}

/// One JSON line of `--output-format jsonl`.
#[derive(Deserialize)]
struct Line {
    pl: u32,
    speed_tg: f64,
}

pub fn run(binary: &Path, shape: &Shape) -> anyhow::Result<Batched> {
    let counts = sequence_counts(shape.levels, shape.slots);
    let levels: Vec<String> = counts.iter().map(u32::to_string).collect();
    let most = counts.iter().copied().max().unwrap_or(1);
    let context = most * (shape.prompt_tokens + shape.generated_tokens + 16);
    let args = [
        "-m".to_owned(),
        shape.model.display().to_string(),
        "-t".to_owned(),
        shape.threads.to_string(),
        "-c".to_owned(),
        context.to_string(),
        "-b".to_owned(),
        "2048".to_owned(),
        "-ub".to_owned(),
        "512".to_owned(),
        "-npp".to_owned(),
        shape.prompt_tokens.to_string(),
        "-ntg".to_owned(),
        shape.generated_tokens.to_string(),
        "-npl".to_owned(),
        levels.join(","),
        "--output-format".to_owned(),
        "jsonl".to_owned(),
    ];
    let (command, stdout) = crate::llama_bench::run_tool(binary, &args)?;
    let rates = parse(&String::from_utf8_lossy(&stdout));
    anyhow::ensure!(!rates.is_empty(), "{command} printed no results");
    Ok(Batched {
        rates,
        command,
        slots: shape.slots,
    })
}

/// The JSON lines of its output; other lines (it may print a table too) are skipped.
fn parse(stdout: &str) -> Vec<EngineRate> {
    stdout
        .lines()
        .filter_map(|line| serde_json::from_str::<Line>(line.trim()).ok())
        .map(|line| EngineRate {
            sequences: line.pl,
            generation_tps: line.speed_tg,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_json_line_gives_a_rate() {
        let stdout = "\n|    PP |     TG |\n\
            {\"n_kv_max\": 8192, \"pp\": 128, \"tg\": 32, \"pl\": 1, \"speed_tg\": 81.1, \"speed\": 143.2}\n\
            {\"n_kv_max\": 8192, \"pp\": 128, \"tg\": 32, \"pl\": 2, \"speed_tg\": 91.8, \"speed\": 177.4}\n";
        let rates = parse(stdout);
        assert_eq!(
            rates,
            [
                EngineRate {
                    sequences: 1,
                    generation_tps: 81.1
                },
                EngineRate {
                    sequences: 2,
                    generation_tps: 91.8
                }
            ]
        );
        let batched = Batched {
            rates,
            command: String::new(),
            slots: 2,
        };
        assert_eq!(batched.at(2), Some(91.8));
        assert_eq!(batched.at(3), None);
        // Four clients on two slots: two sequences decode at once.
        assert_eq!(batched.at_level(4), Some(91.8));
    }

    #[test]
    fn levels_past_the_slots_decode_as_many_sequences_as_there_are_slots() {
        assert_eq!(
            sequence_counts(&[1, 2, 3, 4, 6, 8, 12, 16], 8),
            [1, 2, 3, 4, 6, 8]
        );
        assert_eq!(sequence_counts(&[16, 4], 32), [4, 16]);
    }
}
