//! From timed requests to the figures of one level on one server.

use std::time::{Duration, Instant};

use crate::load::{LevelRun, Sample};

/// What the report shows for one level on one server.
#[derive(Debug, Clone, Default)]
pub struct LevelStats {
    pub clients: u32,
    pub requests: usize,
    pub errors: usize,
    /// Completion tokens received before the deadline, per second of the level.
    pub total_tps: f64,
    /// Mean over requests of (tokens - 1) / (last token - first token).
    pub per_stream_tps: Option<f64>,
    pub ttft_p50_ms: Option<f64>,
    pub ttft_p95_ms: Option<f64>,
    /// Share of prompt tokens the server took from its prompt cache, when it says.
    pub cached_prompt_percent: Option<f64>,
    /// Filled in by the caller from the server process.
    pub peak_rss_mib: Option<f64>,
    /// Server CPU time over the level's wall time (100 = one core busy).
    pub cpu_percent: Option<f64>,
    /// The first error seen, to say what went wrong.
    pub first_error: Option<String>,
}

pub fn summarize(run: &LevelRun) -> LevelStats {
    let ok: Vec<&Sample> = run.samples.iter().filter(|s| s.error.is_none()).collect();
    let window = run.deadline.duration_since(run.start).as_secs_f64();
    let tokens: f64 = ok.iter().map(|s| tokens_before(s, run.deadline)).sum();

    // Requests that ended before the deadline ran under the full load; the ones finished
    // after it ran with fewer neighbours and would flatter per-stream speed.
    let under_load: Vec<&Sample> = ok
        .iter()
        .copied()
        .filter(|s| s.last_token().is_some_and(|t| t <= run.deadline))
        .collect();
    let decode_set = if under_load.is_empty() {
        &ok
    } else {
        &under_load
    };
    let speeds: Vec<f64> = decode_set.iter().filter_map(|s| decode_speed(s)).collect();

    let mut ttfts: Vec<f64> = ok
        .iter()
        .filter_map(|s| Some(ms(s.first_token()?.duration_since(s.started))))
        .collect();
    ttfts.sort_by(f64::total_cmp);

    LevelStats {
        clients: run.clients,
        requests: run.samples.len(),
        errors: run.samples.len() - ok.len(),
        total_tps: tokens / window,
        per_stream_tps: mean(&speeds),
        ttft_p50_ms: percentile(&ttfts, 50.0),
        ttft_p95_ms: percentile(&ttfts, 95.0),
        cached_prompt_percent: cached_percent(&ok),
        peak_rss_mib: None,
        cpu_percent: None,
        first_error: run.samples.iter().find_map(|s| s.error.clone()),
    }
}

/// The share of a request's completion tokens that arrived before `deadline`, counted by its
/// text chunks (a chunk may hold more than one token, so `usage` sets the scale).
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
    sample.completion_tokens as f64 * before as f64 / chunks as f64
}

fn cached_percent(samples: &[&Sample]) -> Option<f64> {
    let (mut prompt, mut cached) = (0, 0);
    for sample in samples {
        prompt += sample.prompt_tokens?;
        cached += sample.cached_tokens?;
    }
    (prompt > 0).then(|| 100.0 * cached as f64 / prompt as f64)
}

fn decode_speed(sample: &Sample) -> Option<f64> {
    let span = sample.last_token()?.duration_since(sample.first_token()?);
    if sample.completion_tokens < 2 || span.is_zero() {
        return None;
    }
    Some((sample.completion_tokens - 1) as f64 / span.as_secs_f64())
}

pub fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

fn mean(values: &[f64]) -> Option<f64> {
    (!values.is_empty()).then(|| values.iter().sum::<f64>() / values.len() as f64)
}

/// The middle value (nearest rank); sorts `values`.
pub fn median(values: &mut [f64]) -> Option<f64> {
    values.sort_by(f64::total_cmp);
    percentile(values, 50.0)
}

/// Nearest-rank percentile of sorted values.
pub fn percentile(sorted: &[f64], p: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (p / 100.0 * sorted.len() as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, sorted.len()) - 1])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(start: Instant, first_ms: u64, tokens: u64, step_ms: u64) -> Sample {
        let token_times = (0..tokens)
            .map(|i| start + Duration::from_millis(first_ms + i * step_ms))
            .collect();
        Sample {
            started: start,
            token_times,
            completion_tokens: tokens,
            prompt_tokens: Some(10),
            cached_tokens: Some(4),
            reply: String::new(),
            finish_reason: None,
            status: None,
            error: None,
        }
    }

    #[test]
    fn percentiles_use_the_nearest_rank() {
        let values: Vec<f64> = (1..=20).map(f64::from).collect();
        assert_eq!(percentile(&values, 50.0), Some(10.0));
        assert_eq!(percentile(&values, 95.0), Some(19.0));
        assert_eq!(percentile(&[3.0], 95.0), Some(3.0));
        assert_eq!(percentile(&[], 50.0), None);
    }

    #[test]
    fn a_level_counts_tokens_inside_its_window_only() {
        let start = Instant::now();
        // 11 tokens 100 ms apart from 50 ms: 10 of them before the 1 s deadline.
        let late = sample(start, 50, 11, 100);
        let failed = Sample {
            error: Some("HTTP 429".into()),
            ..sample(start, 0, 0, 0)
        };
        let run = LevelRun {
            clients: 2,
            start,
            deadline: start + Duration::from_secs(1),
            samples: vec![late, failed],
        };
        let stats = summarize(&run);
        assert_eq!((stats.requests, stats.errors), (2, 1));
        assert!((stats.total_tps - 10.0).abs() < 1e-9);
        assert!((stats.per_stream_tps.unwrap_or_default() - 10.0).abs() < 1e-6);
        assert_eq!(stats.ttft_p50_ms, Some(50.0));
        assert_eq!(stats.cached_prompt_percent, Some(40.0));
        assert_eq!(stats.first_error.as_deref(), Some("HTTP 429"));
    }
}
