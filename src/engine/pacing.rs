//! How many prompt tokens a decode step may carry while other sequences are generating.
//!
//! Every generating sequence waits for the whole step, so a step that also prefills a long
//! prompt delays all their next tokens. A fixed chunk size cannot bound that delay: a prompt
//! token costs more on a slower machine, a bigger model, or deeper into a long prompt. So the
//! pacer measures steps as they run and sizes chunks to keep a step near a time target.

use std::time::Duration;

/// Aimed-at duration of a step that carries prompt tokens while sequences generate.
const STEP_TARGET_MS: f64 = 160.0;
/// What such a step may be expected to take at most, so that streams see one token at least
/// every 250 ms with room for noise. The floor below gives way to it.
const STEP_CEILING_MS: f64 = 200.0;
/// Chunks shrink below this only to stay under the ceiling: each step also pays for reading
/// all the weights once, so tiny chunks make a long prompt crawl.
const MIN_CHUNK: usize = 16;
/// However slow prompt tokens are (deep into a long prompt, llama.cpp's CPU attention for
/// fewer than 64 rows costs as much per token as a whole decode step), a prompt moves on.
const MIN_PROGRESS: usize = 4;
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
                let decode = self.decode_ms.unwrap_or(0.0);
                let fitting = |step_ms: f64| ((step_ms - decode).max(0.0) / per_token) as usize;
                fitting(STEP_TARGET_MS)
                    .max(fitting(STEP_CEILING_MS).min(MIN_CHUNK))
                    .max(MIN_PROGRESS)
            }
        };
        chunk.min(capacity)
    }

    /// Learns from a finished step. Steps nobody waited on are not paced, and their whole-batch
    /// prompts cost less per token than a paced step's chunk (llama.cpp switches to a faster
    /// attention kernel from 64 rows on), so they would teach chunks too large.
    pub(super) fn record(&mut self, generating: usize, prompt_tokens: usize, took: Duration) {
        if generating == 0 {
            return;
        }
        let ms = took.as_secs_f64() * 1e3;
        if prompt_tokens == 0 {
            smooth(&mut self.decode_ms, ms);
            return;
        }
        let decode = self.decode_ms.unwrap_or(0.0);
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
        // (160 - 50) / 2.5 = 44 tokens.
        assert_eq!(pacer.budget(4, 512), 44);
        // And the batch's capacity always bounds them.
        assert_eq!(pacer.budget(4, 36), 32);
    }

    /// Prompt tokens of `per_token_ms` each beside 4 streams whose decode takes 50 ms.
    fn paced_at(per_token_ms: u64) -> PrefillPacer {
        let mut pacer = PrefillPacer::default();
        pacer.record(4, 0, ms(50));
        pacer.record(4, 10, ms(50 + 10 * per_token_ms));
        pacer
    }

    #[test]
    fn the_floor_holds_while_a_step_stays_under_the_ceiling() {
        // The target fits 110 / 8 = 13 tokens; 16 take 178 ms, under the ceiling.
        assert_eq!(paced_at(8).budget(4, 512), MIN_CHUNK);
    }

    #[test]
    fn the_floor_gives_way_to_the_ceiling() {
        // 16 tokens of 12 ms would make a 242 ms step; 12 fit under 200 ms.
        assert_eq!(paced_at(12).budget(4, 512), 12);
        // Deep into a long prompt a token may cost 40 ms: the prompt still moves.
        assert_eq!(paced_at(40).budget(4, 512), MIN_PROGRESS);
    }

    #[test]
    fn unpaced_whole_batch_prefills_teach_nothing() {
        let mut pacer = paced_at(12);
        // A 512-token prefill nobody waited on, at 3 ms a token.
        pacer.record(0, 512, ms(1536));
        assert_eq!(pacer.budget(4, 512), 12);
    }
}
