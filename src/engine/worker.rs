//! The engine thread: admits queued jobs into free slots and decodes every active sequence,
//! plus prompt chunks of newly admitted ones, in one batch per step.

use std::collections::VecDeque;
use std::num::NonZeroU32;
use std::sync::atomic::Ordering;

use llama_cpp_2::context::params::LlamaContextParams;
use llama_cpp_2::context::LlamaContext;
use llama_cpp_2::llama_batch::LlamaBatch;
use llama_cpp_2::model::LlamaModel;
use llama_cpp_2::sampling::LlamaSampler;
use llama_cpp_2::token::LlamaToken;
use tokio::sync::mpsc::error::TryRecvError;
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender};
use tokio::sync::OwnedSemaphorePermit;

use super::text::{StopMatcher, StopScan, Utf8Decoder};
use super::{EngineConfig, EngineStats, Event, Finish, FinishReason, GenerationRequest};

/// Most tokens one decode step takes.
const BATCH_TOKENS: u32 = 512;
/// Prompt tokens per step while other sequences are generating, so a long prompt delays
/// their next token by a bounded amount instead of freezing them.
const PREFILL_CHUNK_WHILE_DECODING: usize = 64;

pub(super) struct Job {
    pub request: GenerationRequest,
    pub events: UnboundedSender<Event>,
    /// Held until the job ends: the engine's admission (queue) capacity.
    pub _admission: OwnedSemaphorePermit,
}

/// A job that holds a slot.
struct Sequence {
    seq_id: i32,
    job: Job,
    sampler: LlamaSampler,
    /// Tokens already in this sequence's KV cells.
    n_past: i32,
    /// Prompt tokens already sent to the batch.
    prompt_sent: usize,
    /// The last sampled token, to be decoded next.
    next_token: Option<LlamaToken>,
    /// Batch index whose logits are this sequence's next distribution.
    logits_at: Option<i32>,
    generated: u32,
    decoder: Utf8Decoder,
    stop: StopMatcher,
}

pub(super) fn run(
    model: &LlamaModel,
    config: EngineConfig,
    jobs: UnboundedReceiver<Job>,
    stats: &EngineStats,
    ready: std::sync::mpsc::Sender<Result<u32, String>>,
) {
    let context = super::backend()
        .map_err(|e| e.to_string())
        .and_then(|backend| {
            let threads = i32::try_from(config.threads).unwrap_or(i32::MAX);
            let params = LlamaContextParams::default()
                .with_n_ctx(NonZeroU32::new(
                    config.ctx_per_slot.saturating_mul(config.parallel),
                ))
                .with_n_batch(BATCH_TOKENS.max(config.parallel))
                .with_n_ubatch(BATCH_TOKENS.max(config.parallel))
                .with_n_seq_max(config.parallel)
                // One KV stream per sequence: each slot owns exactly `ctx_per_slot` cells.
                .with_kv_unified(false)
                .with_n_threads(threads)
                .with_n_threads_batch(threads);
            model
                .new_context(backend, params)
                .map_err(|e| format!("creating the llama.cpp context: {e}"))
        });
    let mut context = match context {
        Ok(context) => context,
        Err(error) => {
            let _ = ready.send(Err(error));
            return;
        }
    };
    let slot_context = context.n_ctx() / config.parallel;
    tracing::info!(
        slots = config.parallel,
        slot_context,
        threads = config.threads,
        "engine ready"
    );
    if ready.send(Ok(slot_context)).is_err() {
        return;
    }
    Scheduler::new(model, config).run(&mut context, jobs, stats);
}

struct Scheduler<'m> {
    model: &'m LlamaModel,
    slots: Vec<Option<Sequence>>,
    waiting: VecDeque<Job>,
    batch: LlamaBatch<'static>,
    piece: Vec<u8>,
}

impl<'m> Scheduler<'m> {
    fn new(model: &'m LlamaModel, config: EngineConfig) -> Self {
        let batch_tokens = BATCH_TOKENS.max(config.parallel) as usize;
        Self {
            model,
            slots: (0..config.parallel).map(|_| None).collect(),
            waiting: VecDeque::new(),
            batch: LlamaBatch::new(batch_tokens, 1),
            piece: Vec::with_capacity(32),
        }
    }

    fn run(
        &mut self,
        context: &mut LlamaContext,
        mut jobs: UnboundedReceiver<Job>,
        stats: &EngineStats,
    ) {
        let mut open = true;
        loop {
            if self.is_idle() {
                stats.active.store(0, Ordering::Relaxed);
                match jobs.blocking_recv() {
                    Some(job) => self.waiting.push_back(job),
                    None => return,
                }
            }
            while open {
                match jobs.try_recv() {
                    Ok(job) => self.waiting.push_back(job),
                    Err(TryRecvError::Empty) => break,
                    Err(TryRecvError::Disconnected) => open = false,
                }
            }
            self.drop_cancelled(context, stats);
            self.admit(context);
            stats
                .active
                .store(self.slots.iter().flatten().count(), Ordering::Relaxed);
            if self.is_idle() {
                if !open {
                    return;
                }
                continue;
            }
            self.step(context);
        }
    }

    fn is_idle(&self) -> bool {
        self.waiting.is_empty() && self.slots.iter().all(Option::is_none)
    }

    /// A client that went away (its receiver dropped) loses its slot and KV cells now.
    fn drop_cancelled(&mut self, context: &mut LlamaContext, stats: &EngineStats) {
        for slot in &mut self.slots {
            if slot.as_ref().is_some_and(|seq| seq.job.events.is_closed()) {
                if let Some(seq) = slot.take() {
                    free_cells(context, seq.seq_id);
                    stats.cancelled.fetch_add(1, Ordering::Relaxed);
                    tracing::debug!(seq = seq.seq_id, "sequence cancelled");
                }
            }
        }
        self.waiting.retain(|job| !job.events.is_closed());
    }

    fn admit(&mut self, context: &mut LlamaContext) {
        for (index, slot) in self.slots.iter_mut().enumerate() {
            if slot.is_some() {
                continue;
            }
            let Some(job) = self.waiting.pop_front() else {
                break;
            };
            let seq_id = i32::try_from(index).unwrap_or(i32::MAX);
            free_cells(context, seq_id);
            let sampler = job.request.sampling.build(self.model.n_vocab());
            let stop = StopMatcher::new(job.request.stop.clone());
            *slot = Some(Sequence {
                seq_id,
                job,
                sampler,
                n_past: 0,
                prompt_sent: 0,
                next_token: None,
                logits_at: None,
                generated: 0,
                decoder: Utf8Decoder::default(),
                stop,
            });
        }
    }

    /// One decode: every generating sequence's next token, then prompt chunks.
    fn step(&mut self, context: &mut LlamaContext) {
        self.batch.clear();
        let mut generating = 0;
        for seq in self.slots.iter_mut().flatten() {
            if let Some(token) = seq.next_token.take() {
                if self
                    .batch
                    .add(token, seq.n_past, &[seq.seq_id], true)
                    .is_err()
                {
                    seq.next_token = Some(token);
                    continue;
                }
                seq.n_past += 1;
                seq.logits_at = Some(self.batch.n_tokens() - 1);
                generating += 1;
            }
        }
        let capacity = usize::try_from(context.n_batch()).unwrap_or(usize::MAX);
        let mut budget = capacity.saturating_sub(generating);
        if generating > 0 {
            budget = budget.min(PREFILL_CHUNK_WHILE_DECODING);
        }
        for seq in self.slots.iter_mut().flatten() {
            let prompt = &seq.job.request.prompt;
            let remaining = prompt.len() - seq.prompt_sent;
            if remaining == 0 || budget == 0 {
                continue;
            }
            let take = remaining.min(budget);
            let mut added = 0;
            for (offset, &token) in prompt[seq.prompt_sent..seq.prompt_sent + take]
                .iter()
                .enumerate()
            {
                let last_of_prompt = seq.prompt_sent + offset + 1 == prompt.len();
                if self
                    .batch
                    .add(token, seq.n_past, &[seq.seq_id], last_of_prompt)
                    .is_err()
                {
                    break;
                }
                seq.n_past += 1;
                added += 1;
                if last_of_prompt {
                    seq.logits_at = Some(self.batch.n_tokens() - 1);
                }
            }
            seq.prompt_sent += added;
            budget -= added;
        }
        if self.batch.n_tokens() == 0 {
            return;
        }
        tracing::trace!(tokens = self.batch.n_tokens(), generating, "decode step");
        if let Err(error) = context.decode(&mut self.batch) {
            tracing::error!(%error, tokens = self.batch.n_tokens(), "decode failed");
            self.fail_batch(context);
            return;
        }
        for slot in &mut self.slots {
            let Some(seq) = slot.as_mut() else { continue };
            let Some(index) = seq.logits_at.take() else {
                continue;
            };
            let token = seq.sampler.sample(context, index);
            if let Some(finish) = advance(self.model, seq, token, &mut self.piece) {
                let _ = seq.job.events.send(Event::Done(finish));
                free_cells(context, seq.seq_id);
                *slot = None;
            }
        }
    }

    /// After a failed decode the batch's sequences are in an unknown state: end them all.
    fn fail_batch(&mut self, context: &mut LlamaContext) {
        for slot in &mut self.slots {
            if let Some(seq) = slot.take() {
                let _ = seq.job.events.send(Event::Failed(
                    "the engine could not decode this batch".into(),
                ));
                free_cells(context, seq.seq_id);
            }
        }
    }
}

/// Feeds a sampled token to its sequence; returns how it finished, if it did.
fn advance(
    model: &LlamaModel,
    seq: &mut Sequence,
    token: LlamaToken,
    piece: &mut Vec<u8>,
) -> Option<Finish> {
    let vocab = model.vocab();
    let reason = if vocab.is_eog(token) {
        Some(FinishReason::Stop)
    } else {
        seq.generated += 1;
        piece.clear();
        vocab.token_to_piece_into(token, piece, false, None);
        let text = seq.decoder.push(piece);
        match seq.stop.push(&text) {
            StopScan::Stopped(text) => {
                emit(seq, text);
                return Some(finish(seq, FinishReason::Stop));
            }
            StopScan::Continue(text) => emit(seq, text),
        }
        (seq.generated >= seq.job.request.max_tokens).then_some(FinishReason::Length)
    };
    match reason {
        Some(reason) => {
            // Text held back was not part of a stop sequence after all.
            seq.decoder.finish();
            let held = seq.stop.finish();
            emit(seq, held);
            Some(finish(seq, reason))
        }
        None => {
            seq.next_token = Some(token);
            None
        }
    }
}

fn emit(seq: &Sequence, text: String) {
    if !text.is_empty() {
        let _ = seq.job.events.send(Event::Text(text));
    }
}

fn finish(seq: &Sequence, reason: FinishReason) -> Finish {
    Finish {
        reason,
        prompt_tokens: u32::try_from(seq.job.request.prompt.len()).unwrap_or(u32::MAX),
        completion_tokens: seq.generated,
    }
}

fn free_cells(context: &mut LlamaContext, seq_id: i32) {
    let id = u32::try_from(seq_id).ok();
    if let Err(error) = context.clear_kv_cache_seq(id, None, None) {
        tracing::error!(%error, seq = seq_id, "freeing KV cells failed");
    }
}
