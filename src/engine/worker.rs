//! The engine thread: admits queued jobs into free slots and decodes every active sequence,
//! plus prompt chunks of newly admitted ones, in one batch per step.

use std::collections::VecDeque;
use std::num::NonZeroU32;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{Receiver, RecvTimeoutError, TryRecvError};
use std::time::{Duration, Instant};

use llama_cpp_2::context::params::LlamaContextParams;
use llama_cpp_2::context::LlamaContext;
use llama_cpp_2::llama_batch::LlamaBatch;
use llama_cpp_2::model::LlamaModel;

use super::cache::{CacheOwner, PromptCache};
use super::pacing::PrefillPacer;
use super::sequence::{Job, Sequence};
use super::{EngineConfig, EngineStats, Event};

/// Most tokens one decode step takes.
const BATCH_TOKENS: u32 = 512;

pub(super) enum Command {
    Generate(Job),
    /// Drop every cached prefix of this owner (log-out, key revoked).
    Forget(CacheOwner),
}

pub(super) fn run(
    model: &LlamaModel,
    config: EngineConfig,
    commands: Receiver<Command>,
    stats: &EngineStats,
    ready: std::sync::mpsc::Sender<Result<u32, String>>,
) {
    let mut context = match create_context(model, config) {
        Ok(context) => context,
        Err(error) => {
            let _ = ready.send(Err(error));
            return;
        }
    };
    let slot_context = context.n_ctx() / config.parallel;
    let cache_tokens = config.cache_mb.saturating_mul(1 << 20) / kv_bytes_per_token(model).max(1);
    tracing::info!(
        slots = config.parallel,
        slot_context,
        threads = config.threads,
        cache_tokens,
        "engine ready"
    );
    if ready.send(Ok(slot_context)).is_err() {
        return;
    }
    let cache = PromptCache::new(config.parallel as usize, cache_tokens, config.cache_idle)
        .with_prefix_copy(min_copy_tokens(model, slot_context));
    Scheduler::new(model, config, cache, stats).run(&mut context, &commands);
}

fn create_context(model: &LlamaModel, config: EngineConfig) -> Result<LlamaContext<'_>, String> {
    let backend = super::backend().map_err(|e| e.to_string())?;
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
}

/// The shortest shared prefix worth copying between slots. llama.cpp copies a slot's whole
/// KV stream (`slot_context` cells), so a short prefix is cheaper to prefill again. A prompt
/// token costs about 2 FLOPs per weight, a copied cell its bytes; taking the CPU's compute
/// as ~10 times its copy bandwidth (FLOP/s over B/s), copying wins above this many tokens.
fn min_copy_tokens(model: &LlamaModel, slot_context: u32) -> usize {
    const MIN_TOKENS: usize = 16;
    let stream_bytes = kv_bytes_per_token(model) as u64 * u64::from(slot_context);
    let break_even = stream_bytes.saturating_mul(5) / model.n_params().max(1);
    usize::try_from(break_even).map_or(usize::MAX, |tokens| tokens.max(MIN_TOKENS))
}

/// Positions a sliding-window model attends back to (0: the whole context), from the GGUF
/// metadata llama.cpp itself reads.
fn sliding_window(model: &LlamaModel) -> usize {
    let window = model
        .meta_val_str("general.architecture")
        .and_then(|arch| model.meta_val_str(&format!("{arch}.attention.sliding_window")));
    window.ok().and_then(|w| w.parse().ok()).unwrap_or(0)
}

/// KV cache bytes one token takes (K and V, f16, every layer).
fn kv_bytes_per_token(model: &LlamaModel) -> usize {
    let head_dim = model.n_embd() as usize / (model.n_head().max(1) as usize);
    2 * 2 * model.n_layer() as usize * model.n_head_kv() as usize * head_dim
}

struct Scheduler<'m> {
    model: &'m LlamaModel,
    stats: &'m EngineStats,
    slots: Vec<Option<Sequence>>,
    waiting: VecDeque<Job>,
    cache: PromptCache,
    batch: LlamaBatch<'static>,
    pacer: PrefillPacer,
    /// The model's attention window (0 if it attends to the whole context).
    sliding_window: usize,
    /// Slots with prompt tokens left, shortest first; kept to avoid allocating every step.
    prefilling: Vec<usize>,
    piece: Vec<u8>,
    last_expiry: Instant,
}

impl<'m> Scheduler<'m> {
    fn new(
        model: &'m LlamaModel,
        config: EngineConfig,
        cache: PromptCache,
        stats: &'m EngineStats,
    ) -> Self {
        Self {
            model,
            stats,
            slots: (0..config.parallel).map(|_| None).collect(),
            waiting: VecDeque::new(),
            cache,
            batch: LlamaBatch::new(BATCH_TOKENS.max(config.parallel) as usize, 1),
            pacer: PrefillPacer::default(),
            sliding_window: sliding_window(model),
            prefilling: Vec::with_capacity(config.parallel as usize),
            piece: Vec::with_capacity(32),
            last_expiry: Instant::now(),
        }
    }

    fn run(&mut self, context: &mut LlamaContext, commands: &Receiver<Command>) {
        // Idle waits wake up now and then to expire cached prefixes.
        let tick =
            (self.cache.idle_timeout() / 2).clamp(Duration::from_secs(1), Duration::from_secs(60));
        let mut open = true;
        loop {
            if self.is_idle() {
                match commands.recv_timeout(tick) {
                    Ok(command) => self.handle(command, context),
                    Err(RecvTimeoutError::Timeout) => {}
                    Err(RecvTimeoutError::Disconnected) => return,
                }
            }
            while open {
                match commands.try_recv() {
                    Ok(command) => self.handle(command, context),
                    Err(TryRecvError::Empty) => break,
                    Err(TryRecvError::Disconnected) => open = false,
                }
            }
            if self.last_expiry.elapsed() >= tick {
                self.last_expiry = Instant::now();
                let expired = self.cache.expire(self.last_expiry);
                clear_slots(context, &expired);
            }
            self.drop_cancelled(context);
            self.admit(context);
            self.publish();
            if self.is_idle() {
                if !open {
                    return;
                }
                continue;
            }
            self.step(context);
        }
    }

    /// Updates the counters `/health` shows. Called before a client is told anything, so
    /// what it reads next is never stale.
    fn publish(&self) {
        let active = self.slots.iter().flatten().count();
        self.stats.active.store(active, Ordering::Relaxed);
        self.stats
            .cached_slots
            .store(self.cache.cached_slots(), Ordering::Relaxed);
    }

    fn handle(&mut self, command: Command, context: &mut LlamaContext) {
        match command {
            Command::Generate(job) => self.waiting.push_back(job),
            Command::Forget(owner) => {
                let forgotten = self.cache.forget(owner);
                clear_slots(context, &forgotten);
                self.publish();
            }
        }
    }

    fn is_idle(&self) -> bool {
        self.waiting.is_empty() && self.slots.iter().all(Option::is_none)
    }

    /// A client that went away (its receiver dropped) loses its slot and KV cells now, or its
    /// place in the queue.
    fn drop_cancelled(&mut self, context: &mut LlamaContext) {
        let stats = self.stats;
        for slot in &mut self.slots {
            if slot.as_ref().is_some_and(Sequence::is_cancelled) {
                if let Some(seq) = slot.take() {
                    clear_cells(context, seq.seq_id);
                    stats.cancelled.fetch_add(1, Ordering::Relaxed);
                    tracing::debug!(seq = seq.seq_id, "sequence cancelled");
                }
            }
        }
        let queued = self.waiting.len();
        self.waiting.retain(|job| !job.events.is_closed());
        stats
            .cancelled
            .fetch_add(queued - self.waiting.len(), Ordering::Relaxed);
    }

    /// Gives waiting jobs free slots, re-using an owner's cached prefix where there is one.
    fn admit(&mut self, context: &mut LlamaContext) {
        let stats = self.stats;
        while !self.waiting.is_empty() {
            let free: Vec<usize> = (0..self.slots.len())
                .filter(|&i| self.slots[i].is_none())
                .collect();
            let Some(job) = self.waiting.front() else {
                break;
            };
            let owner = job.request.cache_owner;
            let Some(placement) = self.cache.place(&free, owner, &job.request.prompt) else {
                break;
            };
            let Some(job) = self.waiting.pop_front() else {
                break;
            };
            let seq_id = i32::try_from(placement.slot).unwrap_or(i32::MAX);
            let mut reuse = placement.reuse;
            if let Some(source) = placement.copy_from {
                reuse = copy_cells(context, source, seq_id, reuse);
            }
            if placement.trim && !trim_cells(context, seq_id, reuse) {
                // Some caches (sliding-window or recurrent models) cannot cut a sequence short.
                reuse = 0;
            }
            if reuse > 0 && !prefix_intact(context, seq_id, reuse, self.sliding_window) {
                clear_cells(context, seq_id);
                reuse = 0;
            }
            stats
                .reused_tokens
                .fetch_add(reuse as u64, Ordering::Relaxed);
            self.slots[placement.slot] =
                Some(Sequence::new(seq_id, job, self.model.n_vocab(), reuse));
        }
    }

    /// One decode: every generating sequence's next token, then prompt chunks, paced so the
    /// generating ones are not held up for long, shortest prompt first so that short prompts
    /// get their first token without waiting behind a long one.
    fn step(&mut self, context: &mut LlamaContext) {
        let started = Instant::now();
        self.batch.clear();
        let generating = self.add_generated_tokens();
        let capacity = usize::try_from(context.n_batch()).unwrap_or(usize::MAX);
        let prompt_tokens = self.add_prompt_chunks(self.pacer.budget(generating, capacity));
        if self.batch.n_tokens() == 0 {
            return;
        }
        tracing::trace!(tokens = self.batch.n_tokens(), generating, "decode step");
        if let Err(error) = context.decode(&mut self.batch) {
            tracing::error!(%error, tokens = self.batch.n_tokens(), "decode failed");
            self.fail_all(context);
            return;
        }
        self.sample_all(context);
        self.pacer
            .record(generating, prompt_tokens, started.elapsed());
    }

    /// Puts every generating sequence's last sampled token in the batch; returns how many.
    fn add_generated_tokens(&mut self) -> usize {
        let mut generating = 0;
        for seq in self.slots.iter_mut().flatten() {
            let Some(token) = seq.next_token else {
                continue;
            };
            if self
                .batch
                .add(token, seq.position(), &[seq.seq_id], true)
                .is_err()
            {
                continue;
            }
            seq.next_token = None;
            seq.kv_tokens.push(token);
            seq.logits_at = Some(self.batch.n_tokens() - 1);
            generating += 1;
        }
        generating
    }

    /// Adds up to `budget` prompt tokens, shortest remaining prompt first; returns how many.
    fn add_prompt_chunks(&mut self, budget: usize) -> usize {
        let slots = &self.slots;
        self.prefilling.clear();
        self.prefilling.extend((0..slots.len()).filter(|&i| {
            slots[i]
                .as_ref()
                .is_some_and(|seq| !seq.prompt_remaining().is_empty())
        }));
        self.prefilling.sort_by_key(|&i| {
            slots[i]
                .as_ref()
                .map_or(usize::MAX, |seq| seq.prompt_remaining().len())
        });
        let mut added = 0;
        for &index in &self.prefilling {
            let Some(seq) = self.slots[index].as_mut() else {
                continue;
            };
            // Indices, not a copied chunk: this runs for every sequence at every step.
            let take = seq.prompt_remaining().len().min(budget - added);
            let ends_prompt = take == seq.prompt_remaining().len();
            for offset in 0..take {
                let token = seq.prompt_remaining()[0];
                let last = ends_prompt && offset + 1 == take;
                if self
                    .batch
                    .add(token, seq.position(), &[seq.seq_id], last)
                    .is_err()
                {
                    return added;
                }
                seq.kv_tokens.push(token);
                seq.prompt_sent += 1;
                added += 1;
                if last {
                    seq.logits_at = Some(self.batch.n_tokens() - 1);
                }
            }
            if added == budget {
                break;
            }
        }
        added
    }

    /// Samples every sequence whose logits the last decode produced; hands finished ones'
    /// cells to the prompt cache and tells their clients.
    fn sample_all(&mut self, context: &mut LlamaContext) {
        for index in 0..self.slots.len() {
            let Some(seq) = self.slots[index].as_mut() else {
                continue;
            };
            let Some(at) = seq.logits_at.take() else {
                continue;
            };
            let Some(finish) = seq.sample(context, at, self.model, &mut self.piece) else {
                continue;
            };
            let Some(seq) = self.slots[index].take() else {
                continue;
            };
            // Slot, cache and admission are settled before the client hears it is done, so
            // whatever it does next sees them free.
            let (job, kv_tokens) = seq.into_parts();
            let evicted = self.cache.keep(index, job.request.cache_owner, kv_tokens);
            clear_slots(context, &evicted);
            self.publish();
            let events = job.events.clone();
            drop(job);
            let _ = events.send(Event::Done(finish));
        }
    }

    /// After a failed decode the batch's sequences are in an unknown state: end them all.
    fn fail_all(&mut self, context: &mut LlamaContext) {
        for slot in &mut self.slots {
            if let Some(seq) = slot.take() {
                seq.fail("the engine could not decode this batch");
                clear_cells(context, seq.seq_id);
            }
        }
    }
}

/// Copies all of `source`'s cells into `seq_id` (which `trim_cells` then cuts to the shared
/// prefix); returns the tokens re-used, 0 if the copy failed. llama.cpp copies whole KV
/// streams between sequences, at the next decode.
fn copy_cells(context: &mut LlamaContext, source: usize, seq_id: i32, reuse: usize) -> usize {
    let source = i32::try_from(source).unwrap_or(i32::MAX);
    match context.copy_kv_cache_seq(source, seq_id, None, None) {
        Ok(()) => reuse,
        Err(error) => {
            tracing::error!(%error, seq = seq_id, "copying KV cells failed");
            0
        }
    }
}

/// Whether the cells of positions a continuation at `reuse` attends to are all there: with a
/// sliding window, llama.cpp drops cells older than the window, which a prefix cut shorter
/// than the conversation that filled the slot may need again.
fn prefix_intact(context: &LlamaContext, seq_id: i32, reuse: usize, window: usize) -> bool {
    let needed_from = if window > 0 {
        reuse.saturating_sub(window)
    } else {
        0
    };
    let (first, last) = (
        context.kv_cache_seq_pos_min(seq_id),
        context.kv_cache_seq_pos_max(seq_id),
    );
    let (Ok(first), Ok(last)) = (usize::try_from(first), usize::try_from(last)) else {
        return false;
    };
    first <= needed_from && last + 1 >= reuse
}

fn clear_slots(context: &mut LlamaContext, slots: &[usize]) {
    for &slot in slots {
        clear_cells(context, i32::try_from(slot).unwrap_or(i32::MAX));
    }
}

fn clear_cells(context: &mut LlamaContext, seq_id: i32) {
    let id = u32::try_from(seq_id).ok();
    if let Err(error) = context.clear_kv_cache_seq(id, None, None) {
        tracing::error!(%error, seq = seq_id, "freeing KV cells failed");
    }
}

/// Keeps the first `keep` cells of a sequence; false if the cache cannot do that.
fn trim_cells(context: &mut LlamaContext, seq_id: i32, keep: usize) -> bool {
    let trimmed = u32::try_from(seq_id)
        .ok()
        .zip(u32::try_from(keep).ok())
        .is_some_and(|(id, keep)| {
            context
                .clear_kv_cache_seq(Some(id), Some(keep), None)
                .unwrap_or(false)
        });
    if !trimmed {
        clear_cells(context, seq_id);
    }
    trimmed
}
