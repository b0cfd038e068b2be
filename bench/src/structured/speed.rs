//! Speed: constrained streams alone, free streams alone, and the two mixed, each for a fixed
//! window. Each client sends requests back to back and hangs up at the window's end (a server
//! generating a token a second under some grammar would otherwise hold the run for minutes).

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::task::JoinSet;

use super::coverage;
use crate::load::{self, Plan, Sample, Target, PROMPTS};
use crate::stats::{ms, percentile};

/// How many streams of each kind run together.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Phase {
    pub constrained: usize,
    pub free: usize,
}

/// Figures of one kind of stream in one phase.
#[derive(Debug, Clone, Default)]
pub struct StreamStats {
    pub streams: usize,
    pub requests: usize,
    pub errors: usize,
    /// Tokens of this kind received inside the window, per second of it.
    pub total_tps: f64,
    /// Decode speed of one stream: over all its requests with 2 tokens or more,
    /// sum of (tokens - 1) over sum of (last token - first token).
    pub per_stream_tps: Option<f64>,
    /// Time to first token (prefill, and for constrained streams the grammar's compilation).
    pub ttft_p50_ms: Option<f64>,
    pub first_error: Option<String>,
}

/// One phase on one server.
#[derive(Debug, Clone, Default)]
pub struct PhaseStats {
    pub constrained: StreamStats,
    pub free: StreamStats,
}

/// The three phases of the scenario for `streams` streams: constrained alone, free alone,
/// half and half.
pub fn phases(streams: usize) -> [Phase; 3] {
    let half = streams / 2;
    [
        Phase {
            constrained: streams,
            free: 0,
        },
        Phase {
            constrained: 0,
            free: streams,
        },
        Phase {
            constrained: half,
            free: streams - half,
        },
    ]
}

/// Runs one phase for `window`: constrained client `i` uses `schemas[i % len]`, free client
/// `i` the load prompts from `i` on (with the plan's banned tokens, so it never ends early).
pub async fn run_phase(
    client: &reqwest::Client,
    target: &Target,
    plan: &Arc<Plan>,
    schemas: &Arc<Vec<Value>>,
    (phase, max_tokens, window): (Phase, u32, Duration),
) -> PhaseStats {
    let start = Instant::now();
    let deadline = start + window;
    let mut tasks = JoinSet::new();
    let clients = (0..phase.constrained)
        .map(|i| (true, i))
        .chain((0..phase.free).map(|i| (false, i)));
    for (constrained, index) in clients {
        let (client, target) = (client.clone(), target.clone());
        let (plan, schemas) = (Arc::clone(plan), Arc::clone(schemas));
        tasks.spawn(async move {
            let mut samples = Vec::new();
            let mut next = index;
            while Instant::now() < deadline {
                let body = if constrained {
                    let schema = &schemas[index % schemas.len().max(1)];
                    coverage::body(&plan, coverage::PROMPT, schema, max_tokens)
                } else {
                    Ok(plan.body(PROMPTS[next % PROMPTS.len()], max_tokens))
                };
                let sample = match body {
                    Ok(body) => {
                        let stop = tokio::time::sleep_until(deadline.into());
                        load::request_until(&client, &target, &body, |_| {}, stop).await
                    }
                    Err(error) => Sample {
                        error: Some(format!("building the request: {error}")),
                        ..Sample::new()
                    },
                };
                if sample.error.is_some() {
                    // Do not spin on a server that refuses.
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                samples.push(sample);
                next += 1;
            }
            (constrained, samples)
        });
    }
    let (mut constrained, mut free) = (Vec::new(), Vec::new());
    while let Some(joined) = tasks.join_next().await {
        match joined {
            Ok((true, samples)) => constrained.push(samples),
            Ok((false, samples)) => free.push(samples),
            Err(error) => eprintln!("warning: a stream task failed: {error}"),
        }
    }
    PhaseStats {
        constrained: summarize(&constrained, start, deadline),
        free: summarize(&free, start, deadline),
    }
}

/// The figures of one kind of stream: `streams` holds each client's requests.
pub fn summarize(streams: &[Vec<Sample>], start: Instant, deadline: Instant) -> StreamStats {
    let samples: Vec<&Sample> = streams.iter().flatten().collect();
    let ok: Vec<&Sample> = samples
        .iter()
        .copied()
        .filter(|s| s.error.is_none())
        .collect();
    let window = deadline.duration_since(start).as_secs_f64();
    let tokens: f64 = ok.iter().map(|s| tokens_before(s, deadline)).sum();
    let (mut decoded, mut span) = (0.0, 0.0);
    for sample in &ok {
        if let (Some(first), Some(last)) = (sample.first_token(), sample.last_token()) {
            let count = tokens_of(sample);
            if count >= 2.0 && last > first {
                decoded += count - 1.0;
                span += last.duration_since(first).as_secs_f64();
            }
        }
    }
    let mut ttfts: Vec<f64> = ok
        .iter()
        .filter_map(|s| Some(ms(s.first_token()?.duration_since(s.started))))
        .collect();
    ttfts.sort_by(f64::total_cmp);
    StreamStats {
        streams: streams.len(),
        requests: samples.len(),
        errors: samples.len() - ok.len(),
        total_tps: if window > 0.0 { tokens / window } else { 0.0 },
        per_stream_tps: (span > 0.0).then(|| decoded / span),
        ttft_p50_ms: percentile(&ttfts, 50.0),
        first_error: samples.iter().find_map(|s| s.error.clone()),
    }
}

/// A request's tokens: `usage` when it ran to the end, else its text chunks (one hung up at
/// the deadline has no usage).
fn tokens_of(sample: &Sample) -> f64 {
    if sample.completion_tokens > 0 {
        sample.completion_tokens as f64
    } else {
        sample.token_times.len() as f64
    }
}

/// The share of a request's tokens whose chunks arrived before `deadline`.
fn tokens_before(sample: &Sample, deadline: Instant) -> f64 {
    let chunks = sample.token_times.len();
    if chunks == 0 {
        return 0.0;
    }
    let before = sample
        .token_times
        .iter()
        .filter(|&&t| t <= deadline)
        .count();
    tokens_of(sample) * before as f64 / chunks as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(start: Instant, first_ms: u64, chunks: u64, step_ms: u64, usage: u64) -> Sample {
        Sample {
            started: start,
            token_times: (0..chunks)
                .map(|i| start + Duration::from_millis(first_ms + i * step_ms))
                .collect(),
            completion_tokens: usage,
            ..Sample::new()
        }
    }

    #[test]
    fn decode_speed_pools_requests_and_windows_count_tokens() {
        let start = Instant::now();
        let deadline = start + Duration::from_secs(2);
        // 11 tokens 100 ms apart (10/s), then one cut at the deadline without usage: 5 chunks
        // 50 ms apart (20/s).
        let whole = sample(start, 100, 11, 100, 11);
        let cut = sample(start, 1800, 5, 50, 0);
        let failed = Sample {
            error: Some("HTTP 500".into()),
            ..Sample::new()
        };
        let stats = summarize(&[vec![whole, cut], vec![failed]], start, deadline);
        assert_eq!((stats.streams, stats.requests, stats.errors), (2, 3, 1));
        // (10 + 4) tokens over (1.0 + 0.2) s.
        let speed = stats.per_stream_tps.expect("a speed");
        assert!((speed - 14.0 / 1.2).abs() < 1e-9, "{speed}");
        // 11 + 5 tokens, all before the deadline, over 2 s.
        assert!((stats.total_tps - 8.0).abs() < 1e-9);
        assert_eq!(stats.ttft_p50_ms, Some(100.0));
        assert_eq!(stats.first_error.as_deref(), Some("HTTP 500"));
    }

    #[test]
    fn the_mix_is_half_and_half() {
        let [alone, free, mix] = phases(5);
        assert_eq!((alone.constrained, alone.free), (5, 0));
        assert_eq!((free.constrained, free.free), (0, 5));
        assert_eq!((mix.constrained, mix.free), (2, 3));
    }
}
