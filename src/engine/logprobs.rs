//! Log-probabilities of sampled tokens, for `logprobs` and `top_logprobs`. They are the
//! log-softmax of the model's own distribution at that step: its raw logits over the whole
//! vocabulary, before `logit_bias`, penalties, a grammar's mask, temperature or truncation
//! (llama.cpp's server reports the same by default). A token a grammar or a bias forced can
//! therefore have a low logprob, and at temperature 0 the chosen token is the first of its
//! top list unless one of those changed the pick.

use llama_cpp_2::model::LlamaModel;
use llama_cpp_2::token::LlamaToken;

/// Most alternatives a request may ask for per token (OpenAI's limit).
pub const MAX_TOP_LOGPROBS: u8 = 20;

/// One sampled token's log-probability and the most likely alternatives at its step.
#[derive(Debug, Clone, PartialEq)]
pub struct TokenLogprob {
    pub token: Alternative,
    /// Most likely first; ties keep the lower token id first.
    pub top: Vec<Alternative>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Alternative {
    /// The token's text as bytes: a token may hold part of a UTF-8 character.
    pub bytes: Vec<u8>,
    pub logprob: f32,
}

/// The log-probability of `chosen` under `logits`, with the `top` most likely tokens.
pub(super) fn of(
    logits: &[f32],
    chosen: LlamaToken,
    top: usize,
    model: &LlamaModel,
) -> TokenLogprob {
    let log_total = log_sum_exp(logits);
    let logprob = |id: usize| logits.get(id).map_or(f32::NEG_INFINITY, |l| l - log_total);
    let piece = |id: usize| {
        let mut bytes = Vec::new();
        if let Ok(token) = i32::try_from(id) {
            model
                .vocab()
                .token_to_piece_into(LlamaToken(token), &mut bytes, false, None);
        }
        bytes
    };
    let alternative = |id: usize| Alternative {
        bytes: piece(id),
        logprob: logprob(id),
    };
    let chosen = usize::try_from(chosen.0).unwrap_or(usize::MAX);
    TokenLogprob {
        token: alternative(chosen),
        top: top_ids(logits, top).into_iter().map(alternative).collect(),
    }
}

/// log Σ exp(logit), computed from the largest logit so that nothing overflows.
fn log_sum_exp(logits: &[f32]) -> f32 {
    let max = logits
        .iter()
        .copied()
        .filter(|l| l.is_finite())
        .fold(f32::NEG_INFINITY, f32::max);
    if !max.is_finite() {
        return 0.0;
    }
    let sum: f64 = logits
        .iter()
        .filter(|l| l.is_finite())
        .map(|&l| f64::from(l - max).exp())
        .sum();
    max + sum.ln() as f32
}

/// The ids of the `k` largest logits, largest first, in one pass over the vocabulary.
fn top_ids(logits: &[f32], k: usize) -> Vec<usize> {
    let mut best: Vec<(f32, usize)> = Vec::with_capacity(k + 1);
    if k == 0 {
        return Vec::new();
    }
    for (id, &logit) in logits.iter().enumerate() {
        if !logit.is_finite() {
            continue;
        }
        if best.len() == k && best.last().is_some_and(|&(low, _)| logit <= low) {
            continue;
        }
        // Sorted by logit, descending; an equal logit goes after those already kept, so the
        // lower id stays first.
        let at = best.partition_point(|&(kept, _)| kept >= logit);
        best.insert(at, (logit, id));
        best.truncate(k);
    }
    best.into_iter().map(|(_, id)| id).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_sum_exp_matches_the_definition_and_does_not_overflow() {
        let logits = [1.0_f32, 2.0, 3.0];
        let direct = logits.iter().map(|l| l.exp()).sum::<f32>().ln();
        assert!((log_sum_exp(&logits) - direct).abs() < 1e-5);
        // exp(1000) overflows f32; subtracting the maximum keeps it finite.
        let large = [1000.0_f32, 1000.0];
        assert!((log_sum_exp(&large) - (1000.0 + 2.0_f32.ln())).abs() < 1e-3);
    }

    #[test]
    fn the_top_ids_are_the_largest_sorted_with_ties_by_id() {
        let logits = [0.5, 3.0, -1.0, 3.0, 2.0, f32::NAN, 10.0];
        assert_eq!(top_ids(&logits, 3), vec![6, 1, 3]);
        assert_eq!(top_ids(&logits, 0), Vec::<usize>::new());
        assert_eq!(top_ids(&logits, 10), vec![6, 1, 3, 4, 0, 2]);
    }
}
