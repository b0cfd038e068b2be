//! Sampling parameters (plain data that crosses threads) and the llama.cpp sampler chain built
//! from them on the engine thread.

use llama_cpp_2::sampling::LlamaSampler;
use llama_cpp_2::token::logit_bias::LlamaLogitBias;
use llama_cpp_2::token::LlamaToken;

/// How many recent tokens the repetition penalties look at (llama.cpp's default).
const PENALTY_LAST_N: i32 = 64;

/// Validated sampling settings for one request. Defaults follow llama.cpp's server, which suit
/// small local models better than OpenAI's `temperature: 1` with no truncation.
#[derive(Debug, Clone, PartialEq)]
pub struct SamplingParams {
    /// 0 means greedy decoding.
    pub temperature: f32,
    pub top_p: f32,
    /// 0 disables top-k.
    pub top_k: i32,
    pub min_p: f32,
    pub seed: u32,
    pub presence_penalty: f32,
    pub frequency_penalty: f32,
    /// 1 disables the multiplicative repetition penalty.
    pub repeat_penalty: f32,
    pub logit_bias: Vec<(LlamaToken, f32)>,
}

impl Default for SamplingParams {
    fn default() -> Self {
        Self {
            temperature: 0.8,
            top_p: 0.95,
            top_k: 40,
            min_p: 0.05,
            seed: 0,
            presence_penalty: 0.0,
            frequency_penalty: 0.0,
            repeat_penalty: 1.0,
            logit_bias: Vec::new(),
        }
    }
}

impl SamplingParams {
    /// Builds the sampler chain: bias, penalties, then truncation and temperature, then the
    /// final pick. Greedy when the temperature is 0 so outputs are reproducible.
    pub fn build(&self, n_vocab: i32) -> LlamaSampler {
        let mut chain = Vec::with_capacity(7);
        if !self.logit_bias.is_empty() {
            let biases: Vec<LlamaLogitBias> = self
                .logit_bias
                .iter()
                .map(|&(token, bias)| LlamaLogitBias::new(token, bias))
                .collect();
            chain.push(LlamaSampler::logit_bias(n_vocab, &biases));
        }
        if self.presence_penalty != 0.0
            || self.frequency_penalty != 0.0
            || self.repeat_penalty != 1.0
        {
            chain.push(LlamaSampler::penalties(
                n_vocab,
                PENALTY_LAST_N,
                self.repeat_penalty,
                self.frequency_penalty,
                self.presence_penalty,
            ));
        }
        if self.temperature <= 0.0 {
            chain.push(LlamaSampler::greedy());
        } else {
            if self.top_k > 0 {
                chain.push(LlamaSampler::top_k(self.top_k));
            }
            if self.top_p < 1.0 {
                chain.push(LlamaSampler::top_p(self.top_p, 1));
            }
            if self.min_p > 0.0 {
                chain.push(LlamaSampler::min_p(self.min_p, 1));
            }
            chain.push(LlamaSampler::temp(self.temperature));
            chain.push(LlamaSampler::dist(self.seed));
        }
        LlamaSampler::chain_simple(chain)
    }
}
