//! How many prompt tokens a decode step may carry while other sequences are generating.
//!
//! Every generating sequence waits for the whole step, so a step that also prefills a long
//! prompt delays all their next tokens. A fixed chunk size cannot bound that delay: a prompt
//! token costs more on a slower machine, a bigger model, or deeper into a long prompt. So the
//! pacer measures steps as they run and sizes chunks to keep a step near a time target.

use std::time::Duration;

/// Aimed-at duration of a step that carries prompt tokens while sequences generate. Streams
/// then see one token at least this often (plus noise), well inside 250 ms.
const STEP_TARGET_MS: f64 = 150.0;
/// Chunks never shrink below this: each step also pays for reading all the weights once, so
/// tiny chunks would make a long prompt crawl.
const MIN_CHUNK: usize = 16;
/// Before anything is measured.
const FIRST_CHUNK: usize = 32;
/// Weight of the newest measurement in the running averages.
const SMOOTHING: f64 = 0.3;

#[derive(Debug, Default)]
pub(super) struct PrefillPacer {
    /// Average duration of a step carrying only generated tokens.
    decode_ms: Option<f64>,
    /// Average extra duration per prompt token in a step.
    prompt_token_ms: Option<f64>,
}

impl PrefillPacer {
    /// Prompt tokens the next step may carry, given how many sequences generate in it and
    /// what the batch holds at most.
    pub(super) fn budget(&self, generating: usize, capacity: usize) -> usize {
        let capacity = capacity.saturating_sub(generating);
        if generating == 0 {
            // Nobody is waiting on this step: prefill as fast as the batch allows.
            return capacity;
        }
        let chunk = match self.prompt_token_ms {
            None => FIRST_CHUNK,
            Some(per_token) => {
                let room = STEP_TARGET_MS - self.decode_ms.unwrap_or(0.0);
                (room.max(0.0) / per_token) as usize
            }
        };
        chunk.max(MIN_CHUNK).min(capacity)
    }

    /// Learns from a finished step.
    pub(super) fn record(&mut self, generating: usize, prompt_tokens: usize, took: Duration) {
        let ms = took.as_secs_f64() * 1e3;
        if prompt_tokens == 0 {
            if generating > 0 {
                smooth(&mut self.decode_ms, ms);
            }
            return;
        }
        let decode = if generating > 0 {
            self.decode_ms.unwrap_or(0.0)
        } else {
            0.0
        };
        let per_token = ((ms - decode) / prompt_tokens as f64).max(0.001);
        smooth(&mut self.prompt_token_ms, per_token);
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

    #[test]
    fn without_generating_sequences_the_whole_batch_is_prompt() {
        assert_eq!(PrefillPacer::default().budget(0, 512), 512);
    }

    #[test]
    fn chunks_fit_the_step_target_once_steps_are_measured() {
        let mut pacer = PrefillPacer::default();
        assert_eq!(pacer.budget(4, 512), FIRST_CHUNK);
        // Decoding 4 sequences takes 50 ms; a step with 32 prompt tokens 130 ms: 2.5 ms each.
        pacer.record(4, 0, ms(50));
        pacer.record(4, 32, ms(130));
        // (150 - 50) / 2.5 = 40 tokens.
        assert_eq!(pacer.budget(4, 512), 40);
    }

    #[test]
    fn slow_prompt_tokens_shrink_chunks_but_not_below_the_floor() {
        let mut pacer = PrefillPacer::default();
        pacer.record(8, 0, ms(140));
        pacer.record(8, 32, ms(1000));
        assert_eq!(pacer.budget(8, 512), MIN_CHUNK);
        // And the batch's capacity always bounds them.
        let mut fast = PrefillPacer::default();
        fast.record(2, 0, ms(10));
        fast.record(2, 100, ms(20));
        assert_eq!(fast.budget(2, 64), 62);
    }
}
