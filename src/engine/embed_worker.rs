//! The embeddings thread: owns one model's embeddings context (a llama.cpp context is not
//! `Send`), decodes the inputs [`EmbedQueue`] plans, several as separate sequences per decode,
//! and answers each request once all its inputs are pooled and normalised.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::mpsc::{Receiver, TryRecvError};
use std::time::{Duration, Instant};

use llama_cpp_2::context::params::{LlamaContextParams, LlamaPoolingType};
use llama_cpp_2::context::LlamaContext;
use llama_cpp_2::llama_batch::LlamaBatch;
use llama_cpp_2::model::LlamaModel;
use llama_cpp_2::token::LlamaToken;
use tokio::sync::{oneshot, OwnedSemaphorePermit};

use super::admission::CallerPermit;
use super::cache::CacheOwner;
use super::embed_queue::EmbedQueue;

/// Most sequences one decode takes (llama.cpp allows 256).
pub(super) const MAX_SEQS: u32 = 64;
/// How long one decode should take at most: another caller's request waits that long for its
/// turn behind a large batch.
const STEP_TARGET: Duration = Duration::from_secs(1);
/// The fewest tokens a decode may take (unless the queue holds fewer). Measured with the
/// default model on a 2-core machine (the embeddings thread gets one core), a decode runs at
/// ~73 tokens/s from 33 to 470 tokens alike, so there a 128-token step takes ~1.7 s at no cost
/// in throughput, where the old fixed 512 took ~7 s.
const MIN_DECODE_TOKENS: usize = 128;

/// The token budget of the next decode: what the last one's rate does in [`STEP_TARGET`], so a
/// fast machine (more threads, a GPU) takes larger steps and a slow one smaller, within
/// [`MIN_DECODE_TOKENS`] and the context. Decodes too small to show the rate leave it as is.
fn next_budget(budget: usize, tokens: usize, took: Duration, capacity: usize) -> usize {
    if tokens < MIN_DECODE_TOKENS / 2 || took.is_zero() {
        return budget;
    }
    let per_target = tokens as f64 * STEP_TARGET.as_secs_f64() / took.as_secs_f64();
    // Float to integer casts saturate; the clamp bounds the rest. Its upper end never falls
    // below the floor (`clamp` would panic): a context smaller than the floor is applied where
    // the budget is used.
    (per_target as usize).clamp(MIN_DECODE_TOKENS, capacity.max(MIN_DECODE_TOKENS))
}

/// What a request gets back: one unit vector per input, or why the engine failed.
pub type EmbedReply = Result<Vec<Vec<f32>>, String>;

/// One request: its inputs, already tokenized and checked against the context size.
pub(super) struct EmbedJob {
    pub owner: Option<CacheOwner>,
    pub inputs: Vec<Vec<LlamaToken>>,
    pub reply: oneshot::Sender<EmbedReply>,
    pub _admission: OwnedSemaphorePermit,
    pub _caller: CallerPermit,
}

impl EmbedJob {
    /// Gives the request's places (queue, caller) back, then answers: a client sending its
    /// next request the moment it has this one's answer must find them free.
    fn answer(self, reply: EmbedReply) {
        let EmbedJob {
            reply: sender,
            _admission,
            _caller,
            ..
        } = self;
        drop((_admission, _caller));
        let _ = sender.send(reply);
    }
}

/// How the context is made.
#[derive(Debug, Clone, Copy)]
pub(super) struct ContextShape {
    /// Tokens of context: the longest input, and the most one decode can hold.
    pub tokens: u32,
    pub pooling: LlamaPoolingType,
    pub threads: u32,
}

pub(super) fn run(
    model: &LlamaModel,
    shape: ContextShape,
    jobs: Receiver<EmbedJob>,
    ready: std::sync::mpsc::Sender<Result<(), String>>,
) {
    let mut context = match create_context(model, shape) {
        Ok(context) => context,
        Err(error) => {
            let _ = ready.send(Err(error));
            return;
        }
    };
    tracing::info!(
        context = shape.tokens,
        pooling = ?shape.pooling,
        threads = shape.threads,
        "embeddings context ready"
    );
    if ready.send(Ok(())).is_err() {
        return;
    }
    let mut worker = Worker {
        queue: EmbedQueue::default(),
        running: HashMap::new(),
        next_id: 0,
        batch: LlamaBatch::new(shape.tokens as usize, 1),
        capacity: shape.tokens as usize,
        budget: MIN_DECODE_TOKENS,
    };
    worker.run(&mut context, &jobs);
}

fn create_context(model: &LlamaModel, shape: ContextShape) -> Result<LlamaContext<'_>, String> {
    let backend = super::backend().map_err(|e| e.to_string())?;
    let threads = i32::try_from(shape.threads).unwrap_or(i32::MAX);
    // One physical batch as large as the context: llama.cpp pools each sequence over one
    // micro-batch, so a sequence must never be split between two.
    let params = LlamaContextParams::default()
        .with_n_ctx(NonZeroU32::new(shape.tokens))
        .with_n_batch(shape.tokens)
        .with_n_ubatch(shape.tokens)
        .with_n_seq_max(MAX_SEQS)
        .with_kv_unified(true)
        .with_embeddings(true)
        .with_pooling_type(shape.pooling)
        .with_n_threads(threads)
        .with_n_threads_batch(threads);
    model
        .new_context(backend, params)
        .map_err(|e| format!("creating the embeddings context: {e}"))
}

/// A request being worked on: its inputs, and the vectors computed so far.
struct Running {
    job: EmbedJob,
    vectors: Vec<Option<Vec<f32>>>,
    left: usize,
}

struct Worker {
    queue: EmbedQueue,
    running: HashMap<u64, Running>,
    next_id: u64,
    batch: LlamaBatch<'static>,
    capacity: usize,
    /// Tokens the next decode may take ([`next_budget`]).
    budget: usize,
}

impl Worker {
    fn run(&mut self, context: &mut LlamaContext, jobs: &Receiver<EmbedJob>) {
        loop {
            if self.queue.is_empty() {
                match jobs.recv() {
                    Ok(job) => self.accept(job),
                    Err(_) => return,
                }
            }
            loop {
                match jobs.try_recv() {
                    Ok(job) => self.accept(job),
                    Err(TryRecvError::Empty) => break,
                    // Stopped: what still runs has no reader any more.
                    Err(TryRecvError::Disconnected) => return,
                }
            }
            self.drop_cancelled();
            self.step(context);
        }
    }

    fn accept(&mut self, job: EmbedJob) {
        let id = self.next_id;
        self.next_id += 1;
        let lengths = job.inputs.iter().map(Vec::len).collect();
        self.queue.push(job.owner, id, lengths);
        let count = job.inputs.len();
        self.running.insert(
            id,
            Running {
                job,
                vectors: vec![None; count],
                left: count,
            },
        );
    }

    /// A client that went away loses its place.
    fn drop_cancelled(&mut self) {
        let gone: Vec<u64> = self
            .running
            .iter()
            .filter(|(_, running)| running.job.reply.is_closed())
            .map(|(&id, _)| id)
            .collect();
        for id in gone {
            self.running.remove(&id);
            self.queue.remove(id);
        }
    }

    /// One decode of the planned inputs, each its own sequence; then answers the requests
    /// it completed.
    fn step(&mut self, context: &mut LlamaContext) {
        let planned = self
            .queue
            .plan(self.budget.min(self.capacity), MAX_SEQS as usize);
        if planned.is_empty() {
            return;
        }
        self.batch.clear();
        for (seq, &(id, index)) in planned.iter().enumerate() {
            let Some(tokens) = self.running.get(&id).map(|r| &r.job.inputs[index]) else {
                continue;
            };
            let seq = i32::try_from(seq).unwrap_or(i32::MAX);
            for (position, &token) in tokens.iter().enumerate() {
                let position = i32::try_from(position).unwrap_or(i32::MAX);
                // Pooling reads every token's output.
                if self.batch.add(token, position, &[seq], true).is_err() {
                    // Cannot happen: the plan fits the batch. Fail rather than pool a part.
                    self.fail(&planned, "an input did not fit the batch");
                    return;
                }
            }
        }
        let started = Instant::now();
        let decoded = context.decode(&mut self.batch);
        let took = started.elapsed();
        let tokens = usize::try_from(self.batch.n_tokens()).unwrap_or(0);
        self.budget = next_budget(self.budget, tokens, took, self.capacity);
        tracing::trace!(
            sequences = planned.len(),
            tokens,
            took_ms = took.as_millis(),
            next_budget = self.budget,
            "embeddings decode"
        );
        if let Err(error) = decoded {
            tracing::error!(%error, "embeddings decode failed");
            context.clear_kv_cache();
            self.fail(&planned, "the engine could not decode this batch");
            return;
        }
        for (seq, &(id, index)) in planned.iter().enumerate() {
            let seq = i32::try_from(seq).unwrap_or(i32::MAX);
            let vector = context.embeddings_seq_ith(seq).map(normalised);
            let Some(running) = self.running.get_mut(&id) else {
                continue;
            };
            match vector {
                Ok(vector) => {
                    running.vectors[index] = Some(vector);
                    running.left -= 1;
                    // Done with these tokens; a large request need not hold them all.
                    running.job.inputs[index] = Vec::new();
                }
                Err(_) => self.fail(&[(id, index)], "the context returned no embedding"),
            }
        }
        // Every sequence's cells, for the next decode.
        context.clear_kv_cache();
        self.answer_finished();
    }

    fn answer_finished(&mut self) {
        let finished: Vec<u64> = self
            .running
            .iter()
            .filter(|(_, running)| running.left == 0)
            .map(|(&id, _)| id)
            .collect();
        for id in finished {
            self.queue.remove(id);
            if let Some(running) = self.running.remove(&id) {
                let vectors = running.vectors.into_iter().flatten().collect();
                running.job.answer(Ok(vectors));
            }
        }
    }

    fn fail(&mut self, planned: &[(u64, usize)], reason: &str) {
        for &(id, _) in planned {
            self.queue.remove(id);
            if let Some(running) = self.running.remove(&id) {
                running.job.answer(Err(reason.to_owned()));
            }
        }
    }
}

/// The vector scaled to length 1 (OpenAI's embeddings are unit vectors, so a dot product is
/// their cosine similarity). A zero vector stays zero.
fn normalised(vector: &[f32]) -> Vec<f32> {
    let norm = vector
        .iter()
        .map(|&x| f64::from(x) * f64::from(x))
        .sum::<f64>()
        .sqrt();
    if norm == 0.0 || !norm.is_finite() {
        return vector.to_vec();
    }
    vector
        .iter()
        .map(|&x| (f64::from(x) / norm) as f32)
        .collect()
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::{next_budget, normalised, MIN_DECODE_TOKENS};

    #[test]
    fn vectors_come_out_unit_length() {
        let unit = normalised(&[3.0, 4.0]);
        assert_eq!(unit, [0.6, 0.8]);
        assert_eq!(normalised(&[0.0, 0.0]), [0.0, 0.0]);
        let long: Vec<f32> = (0..576).map(|i| (i as f32).sin() * 30.0).collect();
        let norm: f32 = normalised(&long).iter().map(|x| x * x).sum();
        assert!((norm - 1.0).abs() < 1e-5, "{norm}");
    }

    #[test]
    fn the_budget_follows_the_rate_within_its_bounds() {
        let ms = Duration::from_millis;
        // This machine's rate (~73 tokens/s): the floor.
        assert_eq!(next_budget(128, 120, ms(1650), 2048), MIN_DECODE_TOKENS);
        // Ten times faster: a second's worth.
        assert_eq!(next_budget(128, 128, ms(175), 2048), 731);
        // A GPU: the whole context.
        assert_eq!(next_budget(731, 731, ms(50), 2048), 2048);
        // Slower again: back down.
        assert_eq!(next_budget(2048, 2048, ms(4000), 2048), 512);
        // Too small a decode to tell (one short input) or no time at all: unchanged.
        assert_eq!(next_budget(512, 11, ms(300), 2048), 512);
        assert_eq!(next_budget(512, 500, Duration::ZERO, 2048), 512);
        // A context smaller than the floor.
        assert_eq!(next_budget(128, 100, ms(1), 64), MIN_DECODE_TOKENS);
    }
}
