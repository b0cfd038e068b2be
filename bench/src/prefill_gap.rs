//! The long-prompt scenario: a few streams are generating when a request with a long prompt
//! arrives. A server that prefills the whole prompt in one go freezes the streams until it is
//! done; one that interleaves prompt chunks with decode steps keeps them emitting. Measured:
//! the streams' longest gap between two tokens while the long prompt is prefilled.

use std::time::{Duration, Instant};

use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;

use crate::load::{self, Plan, Sample, Target, PROMPTS};
use crate::stats::{median, ms};

/// Tokens a stream must have emitted before it counts as decoding, past its own prefill.
const WARM_TOKENS: usize = 8;
/// How long the streams decode undisturbed before the long prompt is sent: the window in
/// which the steady gap is measured.
const STEADY: Duration = Duration::from_secs(1);

/// The scenario's shape.
#[derive(Debug, Clone, Copy)]
pub struct GapSetup {
    /// Streams generating when the long prompt arrives.
    pub streams: usize,
    /// Their `max_tokens`: enough to outlast the prefill (they are stopped once the long
    /// request has its first token).
    pub stream_tokens: u32,
    /// About how many tokens the long prompt has.
    pub prompt_tokens: usize,
    pub runs: usize,
}

/// What the report shows for the scenario on one server.
#[derive(Debug, Clone, Default)]
pub struct GapStats {
    pub runs: usize,
    pub streams: usize,
    /// The long request's prompt tokens (as the server counted them), median over runs.
    pub prompt_tokens: Option<f64>,
    /// The long request's time to first token: its prefill, median over runs, ms.
    pub prefill_ms: Option<f64>,
    /// Longest gap between two tokens of a running stream while the long prompt was being
    /// prefilled, over all runs, ms.
    pub longest_gap_ms: Option<f64>,
    /// The same for the second before the long prompt was sent (all streams decoding): the
    /// gap without it.
    pub steady_gap_ms: Option<f64>,
    pub errors: usize,
    pub first_error: Option<String>,
}

/// Runs the scenario `runs` times with `streams` running streams and a prompt of about
/// `prompt_tokens` tokens.
pub async fn run(
    client: &reqwest::Client,
    target: &Target,
    plan: &Plan,
    setup: &GapSetup,
) -> GapStats {
    let GapSetup {
        streams,
        stream_tokens,
        prompt_tokens,
        runs,
    } = *setup;
    let mut stats = GapStats {
        runs,
        streams,
        ..GapStats::default()
    };
    let words = match calibrate(client, target, plan, prompt_tokens).await {
        Ok(words) => words,
        Err(error) => {
            stats.errors += 1;
            stats.first_error = Some(format!("calibrating the long prompt: {error:#}"));
            return stats;
        }
    };
    let (mut prompts, mut prefills) = (Vec::new(), Vec::new());
    let (mut longest, mut steady) = (None::<f64>, None::<f64>);
    for index in 0..runs {
        // A different text every run, so no run finds the previous one in a prompt cache.
        let prompt = long_prompt(words, 1 + index as u64);
        let outcome = run_once(client, target, plan, (streams, stream_tokens), &prompt).await;
        for error in outcome.errors {
            stats.errors += 1;
            stats.first_error.get_or_insert(error);
        }
        let Some(window) = outcome.window else {
            continue;
        };
        prefills.push(ms(window.1 - window.0));
        prompts.extend(outcome.prompt_tokens.map(|t| t as f64));
        for stream in &outcome.streams {
            let inside = longest_gap(&stream.token_times, window.0, window.1);
            longest = max(longest, inside);
            let before = window.0 - STEADY;
            steady = max(steady, longest_gap(&stream.token_times, before, window.0));
        }
    }
    stats.prompt_tokens = median(&mut prompts);
    stats.prefill_ms = median(&mut prefills);
    stats.longest_gap_ms = longest;
    stats.steady_gap_ms = steady;
    stats
}

struct Outcome {
    streams: Vec<Sample>,
    /// From sending the long request to its first token.
    window: Option<(Instant, Instant)>,
    prompt_tokens: Option<u64>,
    errors: Vec<String>,
}

async fn run_once(
    client: &reqwest::Client,
    target: &Target,
    plan: &Plan,
    (streams, stream_tokens): (usize, u32),
    prompt: &str,
) -> Outcome {
    let (stop, stopped) = watch::channel(false);
    let (warm_tx, mut warm_rx) = mpsc::unbounded_channel();
    let mut tasks = JoinSet::new();
    for index in 0..streams {
        let (client, target) = (client.clone(), target.clone());
        let body = plan.body(PROMPTS[index % PROMPTS.len()], stream_tokens);
        let (warm_tx, mut stopped) = (warm_tx.clone(), stopped.clone());
        tasks.spawn(async move {
            let on_token = |count| {
                if count == WARM_TOKENS {
                    let _ = warm_tx.send(());
                }
            };
            let stop = async move {
                let _ = stopped.wait_for(|&stop| stop).await;
            };
            load::request_until(&client, &target, &body, on_token, stop).await
        });
    }
    drop((warm_tx, stopped));
    let mut warm = 0;
    while warm < streams && warm_rx.recv().await.is_some() {
        warm += 1;
    }
    let sample = if warm == streams {
        tokio::time::sleep(STEADY).await;
        Some(load::request(client, target, &plan.body(prompt, 4)).await)
    } else {
        None
    };
    let _ = stop.send(true);
    let mut outcome = Outcome {
        streams: Vec::new(),
        window: None,
        prompt_tokens: None,
        errors: Vec::new(),
    };
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok(stream) => outcome.streams.push(stream),
            Err(error) => outcome.errors.push(format!("stream task: {error}")),
        }
    }
    for stream in &outcome.streams {
        outcome.errors.extend(stream.error.clone());
    }
    match sample {
        None => outcome
            .errors
            .push("a running stream ended before it was warm".to_owned()),
        Some(sample) => match (&sample.error, sample.first_token()) {
            (None, Some(first)) => {
                outcome.window = Some((sample.started, first));
                outcome.prompt_tokens = sample.prompt_tokens;
            }
            (error, _) => outcome.errors.push(
                error
                    .clone()
                    .unwrap_or_else(|| "the long request had no tokens".to_owned()),
            ),
        },
    }
    outcome
}

/// How many words make a prompt of about `target` tokens: the server counts the tokens of
/// two prompts (usage.prompt_tokens), which also gives the chat template's own tokens.
async fn calibrate(
    client: &reqwest::Client,
    target: &Target,
    plan: &Plan,
    tokens: usize,
) -> anyhow::Result<usize> {
    const PROBE_WORDS: usize = 400;
    let mut counts = Vec::new();
    for words in [0, PROBE_WORDS] {
        // Seed 0 is never measured, so the probe does not warm a cache for a run.
        let sample = load::request(client, target, &plan.body(&long_prompt(words, 0), 1)).await;
        if let Some(error) = sample.error {
            anyhow::bail!(error);
        }
        let count = sample
            .prompt_tokens
            .ok_or_else(|| anyhow::anyhow!("the server reports no usage.prompt_tokens"))?;
        counts.push(count as f64);
    }
    let per_word = (counts[1] - counts[0]) / PROBE_WORDS as f64;
    anyhow::ensure!(per_word > 0.0, "the probe prompts have the same length");
    Ok(((tokens as f64 - counts[0]) / per_word).max(1.0) as usize)
}

const WORDS: &[&str] = &[
    "the", "river", "market", "quietly", "engine", "morning", "seven", "garden", "report", "under",
    "bright", "window", "travel", "because", "winter", "paper", "across", "music", "station",
    "careful", "harbour", "number", "yellow", "between", "kitchen", "mountain", "letter", "simple",
    "history", "forest", "measure", "village", "before", "question", "silver", "during", "teacher",
    "animal", "sudden", "library", "without", "machine", "orange", "follow", "island", "season",
    "garage", "planet", "almost", "ticket",
];

/// `words` words of varied, deterministic filler text, in sentences, after an instruction.
fn long_prompt(words: usize, seed: u64) -> String {
    let mut text = String::from("Summarise these notes in one sentence.\n\n");
    let mut state = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
    for index in 0..words {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        let word = WORDS[(state >> 33) as usize % WORDS.len()];
        text.push_str(word);
        text.push_str(if index % 12 == 11 { ". " } else { " " });
    }
    text
}

/// Longest time between two consecutive tokens where the second arrives after `from` and the
/// first before `to`: the gaps overlapping the window.
fn longest_gap(times: &[Instant], from: Instant, to: Instant) -> Option<f64> {
    times
        .windows(2)
        .filter(|pair| pair[1] > from && pair[0] < to)
        .map(|pair| ms(pair[1] - pair[0]))
        .max_by(f64::total_cmp)
}

fn max(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gaps_overlapping_the_window_count() {
        let t0 = Instant::now();
        let at = |millis| t0 + Duration::from_millis(millis);
        let times = [at(0), at(10), at(20), at(300), at(310), at(500)];
        // Window 100..200: only the 20 -> 300 gap overlaps it.
        assert_eq!(longest_gap(&times, at(100), at(200)), Some(280.0));
        // Window 305..320: 300 -> 310 and 310 -> 500 overlap it.
        assert_eq!(longest_gap(&times, at(305), at(320)), Some(190.0));
        assert_eq!(longest_gap(&times, at(600), at(700)), None);
    }

    #[test]
    fn long_prompts_differ_by_seed_and_grow_with_words() {
        assert_ne!(long_prompt(50, 1), long_prompt(50, 2));
        assert_eq!(long_prompt(50, 1), long_prompt(50, 1));
        let count = |text: &str| text.split_whitespace().count();
        assert_eq!(count(&long_prompt(50, 1)) - count(&long_prompt(0, 1)), 50);
    }
}
