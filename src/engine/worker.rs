//! The engine thread's loop: takes commands, admits queued jobs into free slots (re-using
//! cached prefixes), then runs a step (`step.rs`) over every active sequence.

use std::collections::{HashSet, VecDeque};
use std::sync::atomic::Ordering;
use std::sync::mpsc::{Receiver, RecvTimeoutError, TryRecvError};
use std::sync::Arc;
use std::time::{Duration, Instant};

use llama_cpp_2::context::session::SeqState;
use llama_cpp_2::context::LlamaContext;
use llama_cpp_2::llama_batch::LlamaBatch;
use llama_cpp_2::model::LlamaModel;

use super::admission::next_job;
use super::cache::{CacheOwner, Displaced, PromptCache};
use super::kv::{
    clear_cells, clear_slots, copy_cells, create_context, kv_bytes_per_token, min_copy_tokens,
    prefix_intact, restore_cells, save_cells, sliding_window, trim_cells, BATCH_TOKENS,
};
use super::pacing::PrefillPacer;
use super::sequence::{Job, Sequence};
use super::{EngineConfig, EngineStats};

/// How long the engine must sit idle before it decodes ahead of cached conversations' next
/// turns. A client sending its next request at once (a script, a benchmark) would otherwise
/// wait for that step, usually for nothing; a person takes seconds to read and type.
const DECODE_AHEAD_PAUSE: Duration = Duration::from_millis(250);

pub(super) enum Command {
    /// Boxed: a job is large, and the other commands are small.
    Generate(Box<Job>),
    /// Drop every cached prefix of this owner (log-out, key revoked).
    Forget(CacheOwner),
    /// Drop every cached prefix whose owner is not in the set (credentials revoked elsewhere,
    /// such as from the command line).
    KeepOnly(Arc<HashSet<CacheOwner>>),
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
    let per_token = usize::try_from(kv_bytes_per_token(model, config)).unwrap_or(usize::MAX);
    let cache_tokens = config.cache_mb.saturating_mul(1 << 20) / per_token.max(1);
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
    let window = sliding_window(model);
    let cache = PromptCache::new(config.parallel as usize, cache_tokens, config.cache_idle)
        .with_prefix_copy(min_copy_tokens(model, config, slot_context))
        .with_sliding_window(window);
    Scheduler::new(model, config, cache, stats, slot_context as usize, window)
        .run(&mut context, &commands);
}

pub(super) struct Scheduler<'m> {
    pub(super) model: &'m LlamaModel,
    pub(super) stats: &'m EngineStats,
    pub(super) slots: Vec<Option<Sequence>>,
    waiting: VecDeque<Job>,
    pub(super) cache: PromptCache<SeqState>,
    pub(super) batch: LlamaBatch<'static>,
    pub(super) pacer: PrefillPacer,
    /// The model's attention window (0 if it attends to the whole context).
    sliding_window: usize,
    /// KV cells per slot.
    slot_context: usize,
    /// Slots with prompt tokens left, shortest first; kept to avoid allocating every step.
    pub(super) prefilling: Vec<usize>,
    /// Prompt tokens each slot puts in the current step.
    pub(super) chunks: Vec<usize>,
    pub(super) piece: Vec<u8>,
    last_expiry: Instant,
    /// Admissions so far: each sequence's serial.
    pub(super) admitted: u64,
}

impl<'m> Scheduler<'m> {
    fn new(
        model: &'m LlamaModel,
        config: EngineConfig,
        cache: PromptCache<SeqState>,
        stats: &'m EngineStats,
        slot_context: usize,
        sliding_window: usize,
    ) -> Self {
        Self {
            model,
            stats,
            slots: (0..config.parallel).map(|_| None).collect(),
            waiting: VecDeque::new(),
            cache,
            batch: LlamaBatch::new(BATCH_TOKENS.max(config.parallel) as usize, 1),
            pacer: PrefillPacer::default(),
            sliding_window,
            slot_context,
            prefilling: Vec::with_capacity(config.parallel as usize),
            chunks: vec![0; config.parallel as usize],
            piece: Vec::with_capacity(32),
            last_expiry: Instant::now(),
            admitted: 0,
        }
    }

    fn run(&mut self, context: &mut LlamaContext, commands: &Receiver<Command>) {
        // Idle waits wake up now and then to expire cached prefixes.
        let tick =
            (self.cache.idle_timeout() / 2).clamp(Duration::from_secs(1), Duration::from_secs(60));
        loop {
            // Whether the engine sat idle through DECODE_AHEAD_PAUSE with tokens owed.
            let mut paused = false;
            if self.is_idle() {
                let owed = self.cache.has_owed();
                match commands.recv_timeout(if owed { DECODE_AHEAD_PAUSE } else { tick }) {
                    Ok(command) => self.handle(command, context),
                    Err(RecvTimeoutError::Timeout) => paused = owed,
                    Err(RecvTimeoutError::Disconnected) => return,
                }
            }
            loop {
                match commands.try_recv() {
                    Ok(command) => self.handle(command, context),
                    Err(TryRecvError::Empty) => break,
                    // Stopped: the server has let its open requests finish, so what still runs
                    // has no reader, and ends now.
                    Err(TryRecvError::Disconnected) => return,
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
                if paused {
                    self.decode_owed(context);
                }
                continue;
            }
            self.step(context);
        }
    }

    /// Updates the counters `/health` shows. Called before a client is told anything, so
    /// what it reads next is never stale.
    pub(super) fn publish(&self) {
        let active = self.slots.iter().flatten().count();
        self.stats.active.store(active, Ordering::Relaxed);
        self.stats
            .cached_slots
            .store(self.cache.cached_slots(), Ordering::Relaxed);
        self.stats
            .spilled_conversations
            .store(self.cache.spilled_conversations(), Ordering::Relaxed);
    }

    fn handle(&mut self, command: Command, context: &mut LlamaContext) {
        match command {
            Command::Generate(job) => self.waiting.push_back(*job),
            Command::Forget(owner) => {
                let forgotten = self.cache.forget(owner);
                clear_slots(context, &forgotten);
                self.publish();
            }
            Command::KeepOnly(live) => {
                let forgotten = self.cache.keep_only(&live);
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
                    stats.metrics.cancelled.increment(1);
                    tracing::debug!(seq = seq.seq_id, "sequence cancelled");
                }
            }
        }
        let queued = self.waiting.len();
        self.waiting.retain(|job| !job.events.is_closed());
        let left = queued - self.waiting.len();
        stats.cancelled.fetch_add(left, Ordering::Relaxed);
        stats.metrics.cancelled.increment(left as u64);
    }

    /// Gives waiting jobs free slots, the caller holding the fewest slots first (see
    /// `admission::next_job`), re-using an owner's cached prefix where there is one.
    fn admit(&mut self, context: &mut LlamaContext) {
        let stats = self.stats;
        // Runs every step: with jobs waiting, the usual case is that no slot is free.
        while !self.waiting.is_empty() && self.slots.iter().any(Option::is_none) {
            let free: Vec<usize> = (0..self.slots.len())
                .filter(|&i| self.slots[i].is_none())
                .collect();
            let running: Vec<_> = self
                .slots
                .iter()
                .enumerate()
                .filter_map(|(slot, seq)| {
                    let seq = seq.as_ref()?;
                    Some((slot, seq.job.request.cache_owner, seq.kv_tokens.as_slice()))
                })
                .collect();
            let next = next_job(
                self.waiting.iter().map(|job| job.request.cache_owner),
                running.iter().map(|&(_, owner, _)| owner),
            );
            let Some((index, job)) = next.and_then(|i| Some((i, self.waiting.get(i)?))) else {
                break;
            };
            // All of a request's choices start together, from one prefill.
            if free.len() < 1 + job.followers.len() {
                break;
            }
            let owner = job.request.cache_owner;
            let placement = self
                .cache
                .place(&free, owner, &job.request.prompt, &running);
            let Some(placement) = placement else {
                break;
            };
            let Some(mut job) = self.waiting.remove(index) else {
                break;
            };
            let started = Instant::now();
            let followers = std::mem::take(&mut job.followers);
            let seq_id = i32::try_from(placement.slot).unwrap_or(i32::MAX);
            let set_aside = placement.displaced.is_some();
            if let Some(displaced) = placement.displaced {
                self.set_aside(context, placement.slot, displaced);
            }
            let mut reuse = placement.reuse;
            if let Some(state) = &placement.restore {
                reuse = restore_cells(context, state, seq_id, reuse);
            } else if let Some(source) = placement.copy_from {
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
            tracing::trace!(
                slot = placement.slot,
                prompt_tokens = job.request.prompt.len(),
                reuse,
                copied = placement.copy_from.is_some(),
                restored = placement.restore.is_some(),
                set_aside,
                took_us = started.elapsed().as_micros() as u64,
                "admitted"
            );
            stats
                .reused_tokens
                .fetch_add(reuse as u64, Ordering::Relaxed);
            stats.metrics.admitted(job.request.prompt.len(), reuse);
            self.admitted += 1;
            let leader = Sequence::new(seq_id, job, self.model.n_vocab(), reuse, self.admitted);
            self.place_followers(&free, placement.slot, &leader, followers, context);
            self.slots[placement.slot] = Some(leader);
        }
    }

    /// Saves the cells of a conversation a request displaces from `slot` into the cache's RAM
    /// tier, unless its owner already holds all of it; called before anything touches the
    /// slot's cells.
    pub(super) fn set_aside(
        &mut self,
        context: &mut LlamaContext,
        slot: usize,
        displaced: Displaced,
    ) {
        let seq_id = i32::try_from(slot).unwrap_or(i32::MAX);
        let evicted = self.cache.spill(displaced, || save_cells(context, seq_id));
        clear_slots(context, &evicted);
    }

    /// After a pause with nothing to do, decodes the tokens cached conversations' next turns
    /// will start with (the chat template's turn boundary), so a follow-up prefills only its
    /// new message. One step, however many slots: a request arriving meanwhile waits for it.
    fn decode_owed(&mut self, context: &mut LlamaContext) {
        let capacity = usize::try_from(context.n_batch()).unwrap_or(usize::MAX);
        self.batch.clear();
        let mut decoding = Vec::new();
        for (slot, position, tokens) in self.cache.take_owed() {
            // The cache's token list must always match the cells: all of a slot's tokens go
            // in, or none.
            if position + tokens.len() > self.slot_context
                || usize::try_from(self.batch.n_tokens()).unwrap_or(usize::MAX) + tokens.len()
                    > capacity
            {
                continue;
            }
            let seq_id = i32::try_from(slot).unwrap_or(i32::MAX);
            for (offset, &token) in tokens.iter().enumerate() {
                let at = i32::try_from(position + offset).unwrap_or(i32::MAX);
                let last = offset + 1 == tokens.len();
                if self.batch.add(token, at, &[seq_id], last).is_err() {
                    self.batch.clear();
                    return;
                }
            }
            decoding.push((slot, tokens));
        }
        if decoding.is_empty() {
            return;
        }
        if let Err(error) = context.decode(&mut self.batch) {
            tracing::error!(%error, "decoding ahead of the next turn failed");
            for (slot, _) in decoding {
                self.cache.discard(slot);
                clear_slots(context, &[slot]);
            }
            return;
        }
        for (slot, tokens) in decoding {
            self.cache.extend(slot, &tokens);
            self.stats
                .decoded_ahead
                .fetch_add(tokens.len() as u64, Ordering::Relaxed);
        }
    }
}
