//! How many prompt tokens a decode step may carry while other sequences are generating.
//!
//! Every generating sequence waits for the whole step, so a step that also prefills a long
//! prompt delays all their next tokens. A fixed chunk size cannot bound that delay: a prompt
//! token costs more on a slower machine, a bigger model, or deeper into a long prompt. So the
//! pacer measures steps as they run and sizes chunks to keep a step near a time target.
//!
//! A prompt that can end in this step is worth a longer step: its first token comes a whole
//! step sooner, and when requests arrive together (clients in lockstep, a burst) taking them
//! a chunk at a time makes the last of them wait one step per request before it. So prompts
//! that finish get a second, larger budget, bounded by the longest gap streams may see.

use std::time::Duration;

/// Aimed-at duration of a step that carries prompt tokens while sequences generate. Streams
/// then see one token at least this often (plus noise), well inside 250 ms.
const STEP_TARGET_MS: f64 = 150.0;
/// The longest step taken to finish short prompts whole: what a stream may wait at most
/// between two tokens when a burst of requests arrives.
const STEP_LIMIT_MS: f64 = 240.0;
/// Chunks never shrink below this: each step also pays for reading all the weights once, so
/// tiny chunks would make a long prompt crawl.
const MIN_CHUNK: usize = 16;
/// Before anything is measured.
const FIRST_CHUNK: usize = 32;
/// Weight of the newest measurement in the running averages.
const SMOOTHING: f64 = 0.3;
/// How much of the prompt-cost fit each new step keeps: about the last ten steps count.
const FIT_DECAY: f64 = 0.9;

#[derive(Debug, Default)]
pub(super) struct PrefillPacer {
    /// Average duration of a step carrying only generated tokens, by how many (index).
    /// Decoding 1 sequence and decoding 8 differ by more than the prompt tokens one adds.
    decode_ms: Vec<Option<f64>>,
    /// What prompt tokens added to the steps that carried them.
    prompt_cost: PromptCost,
}

/// Prompt tokens one step may carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Budget {
    /// For chunks of prompts that do not end in this step.
    pub(super) chunked: usize,
    /// For prompts that end in this step (their first token comes out of it); at least
    /// `chunked`.
    pub(super) finishing: usize,
}

impl PrefillPacer {
    /// Prompt tokens the next step may carry, given how many sequences generate in it and
    /// what the batch holds at most.
    pub(super) fn budget(&self, generating: usize, capacity: usize) -> Budget {
        let capacity = capacity.saturating_sub(generating);
        if generating == 0 {
            // Nobody is waiting on this step: prefill as fast as the batch allows.
            return Budget {
                chunked: capacity,
                finishing: capacity,
            };
        }
        let decode = self.decode_estimate(generating);
        let tokens_within = |step_ms: f64| match self.prompt_cost.line() {
            None => FIRST_CHUNK,
            Some((fixed, per_token)) => ((step_ms - decode - fixed).max(0.0) / per_token) as usize,
        };
        let chunked = tokens_within(STEP_TARGET_MS).max(MIN_CHUNK).min(capacity);
        Budget {
            chunked,
            finishing: tokens_within(STEP_LIMIT_MS).clamp(chunked, capacity),
        }
    }

    /// Learns from a finished step.
    pub(super) fn record(&mut self, generating: usize, prompt_tokens: usize, took: Duration) {
        let ms = took.as_secs_f64() * 1e3;
        if prompt_tokens == 0 {
            if generating > 0 {
                if self.decode_ms.len() <= generating {
                    self.decode_ms.resize(generating + 1, None);
                }
                smooth(&mut self.decode_ms[generating], ms);
            }
            return;
        }
        let decode = if generating > 0 {
            self.decode_estimate(generating)
        } else {
            0.0
        };
        self.prompt_cost
            .add(prompt_tokens as f64, (ms - decode).max(0.0));
    }

    /// The decode time of `generating` sequences: measured, else that of the nearest count
    /// measured, else nothing.
    fn decode_estimate(&self, generating: usize) -> f64 {
        let measured = |count: usize| self.decode_ms.get(count).copied().flatten();
        (0..self.decode_ms.len().max(generating + 1))
            .find_map(|distance| {
                measured(generating + distance)
                    .or_else(|| measured(generating.checked_sub(distance)?))
            })
            .unwrap_or(0.0)
    }
}

/// A line through recent (prompt tokens, added ms) points, fitted by least squares with
/// older steps weighing less. The fixed part is real: each sequence's chunk is a pass of its
/// own over the weights, and attention over a deep prompt costs per pass (measured with
/// llama-bench on this project's CPUs: 16 tokens at depth 1,900 cost as much as 30 at depth 0).
/// Averaging per token alone folds that into every token, so chunks shrink, each costs more
/// per token, and chunks shrink again.
#[derive(Debug, Default)]
struct PromptCost {
    weight: f64,
    tokens: f64,
    ms: f64,
    tokens_squared: f64,
    tokens_ms: f64,
}

impl PromptCost {
    fn add(&mut self, tokens: f64, ms: f64) {
        for sum in [
            &mut self.weight,
            &mut self.tokens,
            &mut self.ms,
            &mut self.tokens_squared,
            &mut self.tokens_ms,
        ] {
            *sum *= FIT_DECAY;
        }
        self.weight += 1.0;
        self.tokens += tokens;
        self.ms += ms;
        self.tokens_squared += tokens * tokens;
        self.tokens_ms += tokens * ms;
    }

    /// `(fixed ms, ms per token)`. Steps that all carried about as many tokens cannot tell
    /// the two apart: then the line goes through the origin, as an average per token.
    fn line(&self) -> Option<(f64, f64)> {
        if self.tokens <= 0.0 {
            return None;
        }
        let spread = self.weight * self.tokens_squared - self.tokens * self.tokens;
        let through_origin = (0.0, (self.ms / self.tokens).max(0.001));
        // Less than about two tokens of spread between steps: not enough to fit a slope.
        if spread <= 4.0 * self.weight * self.weight {
            return Some(through_origin);
        }
        let per_token = (self.weight * self.tokens_ms - self.tokens * self.ms) / spread;
        let fixed = (self.ms - per_token * self.tokens) / self.weight;
        if per_token <= 0.001 || fixed < 0.0 {
            return Some(through_origin);
        }
        Some((fixed, per_token))
    }
}

fn smooth(average: &mut Option<f64>, value: f64) {
    *average = Some(match *average {
        Some(old) => old + SMOOTHING * (value - old),
        None => value,
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(millis: u64) -> Duration {
        Duration::from_millis(millis)
    }

    fn chunked(pacer: &PrefillPacer, generating: usize, capacity: usize) -> usize {
        pacer.budget(generating, capacity).chunked
    }

    #[test]
    fn without_generating_sequences_the_whole_batch_is_prompt() {
        let budget = PrefillPacer::default().budget(0, 512);
        assert_eq!((budget.chunked, budget.finishing), (512, 512));
    }

    #[test]
    fn chunks_fit_the_step_target_once_steps_are_measured() {
        let mut pacer = PrefillPacer::default();
        assert_eq!(chunked(&pacer, 4, 512), FIRST_CHUNK);
        // Decoding 4 sequences takes 50 ms; a step with 32 prompt tokens 130 ms: 2.5 ms each.
        pacer.record(4, 0, ms(50));
        pacer.record(4, 32, ms(130));
        // (150 - 50) / 2.5 = 40 tokens; prompts that end in the step get (240 - 50) / 2.5.
        assert_eq!(
            pacer.budget(4, 512),
            Budget {
                chunked: 40,
                finishing: 76
            }
        );
    }

    #[test]
    fn slow_prompt_tokens_shrink_chunks_but_not_below_the_floor() {
        let mut pacer = PrefillPacer::default();
        pacer.record(8, 0, ms(140));
        pacer.record(8, 32, ms(1000));
        assert_eq!(
            pacer.budget(8, 512),
            Budget {
                chunked: MIN_CHUNK,
                finishing: MIN_CHUNK
            }
        );
        // And the batch's capacity always bounds them.
        let mut fast = PrefillPacer::default();
        fast.record(2, 0, ms(10));
        fast.record(2, 100, ms(20));
        assert_eq!(
            fast.budget(2, 64),
            Budget {
                chunked: 62,
                finishing: 62
            }
        );
    }

    #[test]
    fn a_fixed_cost_per_step_is_told_apart_from_the_cost_per_token() {
        let mut pacer = PrefillPacer::default();
        pacer.record(4, 0, ms(50));
        // 60 ms whatever the chunk, then 4 ms a token.
        for tokens in [16, 32, 8] {
            pacer.record(4, tokens, ms(50 + 60 + 4 * tokens as u64));
        }
        // (150 - 50 - 60) / 4 = 10, raised to the floor; (240 - 50 - 60) / 4 = 32.5.
        assert_eq!(
            pacer.budget(4, 512),
            Budget {
                chunked: MIN_CHUNK,
                finishing: 32
            }
        );
    }

    #[test]
    fn decode_time_is_kept_per_number_of_generating_sequences() {
        let mut pacer = PrefillPacer::default();
        pacer.record(1, 0, ms(15));
        pacer.record(8, 0, ms(100));
        assert_eq!(pacer.decode_estimate(1), 15.0);
        assert_eq!(pacer.decode_estimate(8), 100.0);
        // Unmeasured counts take the nearest measured one.
        assert_eq!(pacer.decode_estimate(6), 100.0);
        assert_eq!(pacer.decode_estimate(2), 15.0);
        assert_eq!(pacer.decode_estimate(12), 100.0);
    }
}
