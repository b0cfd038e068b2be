//! The engine thread: admits queued jobs into free slots and decodes every active sequence,
//! plus prompt chunks of newly admitted ones, in one batch per step.

use std::collections::{HashSet, VecDeque};
use std::sync::atomic::Ordering;
use std::sync::mpsc::{Receiver, RecvTimeoutError, TryRecvError};
use std::sync::Arc;
use std::time::{Duration, Instant};

use llama_cpp_2::context::LlamaContext;
use llama_cpp_2::llama_batch::LlamaBatch;
use llama_cpp_2::model::LlamaModel;

use super::admission::next_job;
use super::cache::{CacheOwner, PromptCache};
use super::kv::{
    clear_cells, clear_slots, copy_cells, create_context, kv_bytes_per_token, min_copy_tokens,
    prefix_intact, sliding_window, trim_cells, BATCH_TOKENS,
};
use super::pacing::PrefillPacer;
use super::sequence::{Job, Outcome, Sequence};
use super::{EngineConfig, EngineStats, Event};

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
    let cache = PromptCache::new(config.parallel as usize, cache_tokens, config.cache_idle)
        .with_prefix_copy(min_copy_tokens(model, config, slot_context));
    Scheduler::new(model, config, cache, stats, slot_context as usize).run(&mut context, &commands);
}

pub(super) struct Scheduler<'m> {
    pub(super) model: &'m LlamaModel,
    stats: &'m EngineStats,
    pub(super) slots: Vec<Option<Sequence>>,
    waiting: VecDeque<Job>,
    pub(super) cache: PromptCache,
    batch: LlamaBatch<'static>,
    pacer: PrefillPacer,
    /// The model's attention window (0 if it attends to the whole context).
    sliding_window: usize,
    /// KV cells per slot.
    slot_context: usize,
    /// Slots with prompt tokens left, shortest first; kept to avoid allocating every step.
    prefilling: Vec<usize>,
    /// Prompt tokens each slot puts in the current step.
    chunks: Vec<usize>,
    piece: Vec<u8>,
    last_expiry: Instant,
    /// Admissions so far: each sequence's serial.
    pub(super) admitted: u64,
}

impl<'m> Scheduler<'m> {
    fn new(
        model: &'m LlamaModel,
        config: EngineConfig,
        cache: PromptCache,
        stats: &'m EngineStats,
        slot_context: usize,
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
    fn publish(&self) {
        let active = self.slots.iter().flatten().count();
        self.stats.active.store(active, Ordering::Relaxed);
        self.stats
            .cached_slots
            .store(self.cache.cached_slots(), Ordering::Relaxed);
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
            let followers = std::mem::take(&mut job.followers);
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
            stats.metrics.admitted(job.request.prompt.len(), reuse);
            self.admitted += 1;
            let leader = Sequence::new(seq_id, job, self.model.n_vocab(), reuse, self.admitted);
            self.place_followers(&free, placement.slot, &leader, followers, context);
            self.slots[placement.slot] = Some(leader);
        }
    }

    /// One decode: every generating sequence's next token plus prompt chunks, paced so the
    /// generating ones are not held up for long, shortest prompt first so that short prompts
    /// get their first token without waiting behind a long one.
    fn step(&mut self, context: &mut LlamaContext) {
        let started = Instant::now();
        let generating = self
            .slots
            .iter()
            .flatten()
            .filter(|seq| seq.next_token.is_some())
            .count();
        let capacity = usize::try_from(context.n_batch()).unwrap_or(usize::MAX);
        let prompt_tokens = self.plan_prompt_chunks(self.pacer.budget(generating, capacity));
        self.fill_batch();
        if self.batch.n_tokens() == 0 {
            return;
        }
        tracing::trace!(tokens = self.batch.n_tokens(), generating, "decode step");
        if let Err(error) = self.decode_and_mask(context) {
            tracing::error!(%error, tokens = self.batch.n_tokens(), "decode failed");
            self.fail_all(context);
            return;
        }
        self.fan_out(context);
        self.sample_all(context);
        self.pacer
            .record(generating, prompt_tokens, started.elapsed());
    }

    /// Decodes the batch while another thread computes the grammar masks constrained
    /// sequences will sample with next: a mask depends only on the tokens already chosen, so
    /// it need not wait for the logits, and the step waits for masks only when they take
    /// longer than the decode itself.
    fn decode_and_mask(
        &mut self,
        context: &mut LlamaContext,
    ) -> Result<(), llama_cpp_2::DecodeError> {
        let mut guides: Vec<_> = self
            .slots
            .iter_mut()
            .flatten()
            .map(|seq| &mut seq.guide)
            .filter(|guide| guide.needs_mask())
            .collect();
        if guides.is_empty() {
            return context.decode(&mut self.batch);
        }
        let batch = &mut self.batch;
        std::thread::scope(|scope| {
            let masks = scope.spawn(move || guides.iter_mut().for_each(|g| g.prepare_mask()));
            let decoded = context.decode(batch);
            // A panic in llguidance only loses the masks: `pick` computes them again.
            let _ = masks.join();
            decoded
        })
    }

    /// Shares `budget` prompt tokens among the prefilling sequences, shortest remaining prompt
    /// first, into `self.chunks` (by slot); returns how many.
    fn plan_prompt_chunks(&mut self, budget: usize) -> usize {
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
        self.chunks.fill(0);
        let mut planned = 0;
        for &index in &self.prefilling {
            let remaining = slots[index]
                .as_ref()
                .map_or(0, |seq| seq.prompt_remaining().len());
            self.chunks[index] = remaining.min(budget - planned);
            planned += self.chunks[index];
            if planned == budget {
                break;
            }
        }
        planned
    }

    /// Fills the batch in slot order: each generating sequence's last sampled token, each
    /// prefilling one's planned chunk. llama.cpp splits a batch over per-slot KV streams into
    /// passes of consecutive sequence ids taking equally many tokens each, so slot order is
    /// what lets every sequence's first token share one pass.
    fn fill_batch(&mut self) {
        self.batch.clear();
        for (slot, &chunk) in self.slots.iter_mut().zip(&self.chunks) {
            let Some(seq) = slot.as_mut() else {
                continue;
            };
            if let Some(token) = seq.next_token {
                if self
                    .batch
                    .add(token, seq.position(), &[seq.seq_id], true)
                    .is_ok()
                {
                    seq.next_token = None;
                    seq.kv_tokens.push(token);
                    seq.logits_at = Some(self.batch.n_tokens() - 1);
                }
                continue;
            }
            // Indices, not a copied chunk: this runs for every sequence at every step.
            let ends_prompt = chunk == seq.prompt_remaining().len();
            for offset in 0..chunk {
                let token = seq.prompt_remaining()[0];
                let last = ends_prompt && offset + 1 == chunk;
                if self
                    .batch
                    .add(token, seq.position(), &[seq.seq_id], last)
                    .is_err()
                {
                    break;
                }
                seq.kv_tokens.push(token);
                seq.prompt_sent += 1;
                self.stats.prefilled_tokens.fetch_add(1, Ordering::Relaxed);
                if last {
                    seq.logits_at = Some(self.batch.n_tokens() - 1);
                }
            }
        }
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
            let (waited, generated) = (seq.first_token(), seq.generated);
            let outcome = seq.sample(context, at, self.model, &mut self.piece);
            self.stats
                .metrics
                .sampled(waited, seq.generated - generated);
            let finish = match outcome {
                Outcome::Going => continue,
                Outcome::Finished(finish) => finish,
                Outcome::Failed(reason) => {
                    // Its cells hold text the grammar refused: nothing worth caching.
                    if let Some(seq) = self.slots[index].take() {
                        tracing::debug!(seq = seq.seq_id, reason, "sequence failed");
                        clear_cells(context, seq.seq_id);
                        seq.fail(reason);
                    }
                    self.publish();
                    continue;
                }
            };
            let Some(seq) = self.slots[index].take() else {
                continue;
            };
            self.stats.metrics.finished(seq.decode_rate());
            // Slot, cache and admission are settled before the client hears it is done, so
            // whatever it does next sees them free.
            let (job, kv_tokens, owed) = seq.into_parts();
            let evicted = self
                .cache
                .keep(index, job.request.cache_owner, kv_tokens, owed);
            clear_slots(context, &evicted);
            self.publish();
            let events = job.events.clone();
            drop(job);
            let _ = events.send(Event::Done(finish));
        }
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
