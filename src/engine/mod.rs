//! The inference engine: one thread per loaded model owns the llama.cpp context and decodes
//! every active sequence in one batch per step (continuous batching). Handlers talk to it
//! through [`Engine`], a cheap, clonable handle.

mod admission;
mod cache;
mod choices;
mod constraint;
mod embed_queue;
mod embed_worker;
mod embeddings;
mod guide;
mod kv;
mod logprobs;
mod pacing;
mod sampling;
mod sequence;
mod spacing;
mod specials;
mod step;
mod text;
mod worker;
mod worker_thread;

use std::collections::{HashMap, HashSet};
use std::ops::Range;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use llama_cpp_2::context::params::KvCacheType;
use llama_cpp_2::llama_backend::LlamaBackend;
use llama_cpp_2::model::LlamaModel;
use llama_cpp_2::token::LlamaToken;
use tokio::sync::{mpsc, Semaphore};

use crate::monitoring::ModelMetrics;

pub use cache::CacheOwner;
pub use constraint::{Constraint, Grammar, GrammarError, GrammarSpec, MAX_SPEC_BYTES};
pub use embeddings::Embeddings;
pub use kv::kv_bytes_per_token;
pub use logprobs::{Alternative, TokenLogprob, MAX_TOP_LOGPROBS};
pub use sampling::SamplingParams;
use specials::Piece;
pub use specials::SpecialTokens;

/// Sizes of one model's engine.
#[derive(Debug, Clone, Copy)]
pub struct EngineConfig {
    /// Sequences decoded together.
    pub parallel: u32,
    /// Context (prompt + completion) per sequence, in tokens.
    pub ctx_per_slot: u32,
    pub threads: u32,
    /// Requests allowed to wait for a slot.
    pub queue: u32,
    /// Requests one caller (one `cache_owner`; those without one count as one caller) may
    /// have running or waiting at once.
    pub max_per_caller: u32,
    /// Most KV memory finished conversations may keep for their next turn; 0 disables it.
    pub cache_mb: usize,
    /// A cached conversation unused this long is dropped.
    pub cache_idle: Duration,
    /// Flash attention on or off; `None` lets llama.cpp decide.
    pub flash_attn: Option<bool>,
    /// The KV cache's key and value element types.
    pub cache_type_k: KvCacheType,
    pub cache_type_v: KvCacheType,
    /// Layers offloaded to the GPU; `None`: all of them when a GPU backend is compiled in.
    pub gpu_layers: Option<u32>,
}

/// One generation, ready for the engine: the prompt is already tokenized and checked.
#[derive(Debug, Clone)]
pub struct GenerationRequest {
    pub prompt: Vec<LlamaToken>,
    pub sampling: SamplingParams,
    pub max_tokens: u32,
    pub stop: Vec<String>,
    /// Whose cached prefix this request may re-use (and leaves behind); `None` disables it.
    pub cache_owner: Option<CacheOwner>,
    /// What the chat template puts between this reply and the next user message (ChatML:
    /// `<|im_end|>\n<|im_start|>user\n`). When the reply ends on its own or at `max_tokens`, the
    /// idle engine decodes these into the cached slot, so the next turn prefills only its
    /// new message.
    pub next_turn: Option<Arc<[LlamaToken]>>,
    /// A grammar the reply must follow (`response_format`, forced tool calls).
    pub constraint: Option<Constraint>,
    /// Report each sampled token's log-probability with this many alternatives
    /// ([`Event::Logprob`]); `None`: none.
    pub logprobs: Option<u8>,
}

/// What the engine reports for a generation, in order: text pieces, then one `Done` or `Failed`.
/// A token's `Logprob`, when asked for, comes before the text it adds.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    Text(String),
    Logprob(TokenLogprob),
    Done(Finish),
    Failed(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Finish {
    pub reason: FinishReason,
    pub prompt_tokens: u32,
    pub completion_tokens: u32,
    /// Prompt tokens whose KV cells came from the cache instead of being prefilled.
    pub cached_tokens: u32,
    /// The index in the request's `stop` of the sequence that ended it, if one did (Anthropic's
    /// `stop_sequence` names it; OpenAI's `stop` does not tell it from the end token).
    pub stop_sequence: Option<usize>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FinishReason {
    /// End of generation token or a stop sequence.
    Stop,
    /// `max_tokens` reached.
    Length,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SubmitError {
    #[error("all slots are busy and the queue is full")]
    QueueFull,
    /// This caller already has `limit` requests running or waiting, its share.
    #[error("this caller already has {limit} requests in flight")]
    CallerBusy { limit: u32 },
    #[error("the engine has stopped")]
    Stopped,
}

/// Load counters of one engine, for health checks and tests.
#[derive(Debug, Default)]
pub struct EngineStats {
    /// Sequences holding a slot.
    pub active: AtomicUsize,
    /// Generations stopped because their client went away.
    pub cancelled: AtomicUsize,
    /// Prompt tokens served from the prompt cache instead of being prefilled.
    pub reused_tokens: AtomicU64,
    /// Idle slots holding a cached conversation.
    pub cached_slots: AtomicUsize,
    /// Cached conversations set aside in RAM because another request took their slot.
    pub spilled_conversations: AtomicUsize,
    /// Tokens of a next turn's opening decoded ahead into cached slots (`next_turn`).
    pub decoded_ahead: AtomicU64,
    /// Prompt tokens decoded (prefilled); the other choices of an `n` request add none.
    pub prefilled_tokens: AtomicU64,
    /// The model's Prometheus series, which the engine thread records into.
    pub metrics: ModelMetrics,
}

/// The process-wide llama.cpp backend. It may be initialised only once, and models load on
/// several threads at once, so the first caller initialises it while the others wait.
pub fn backend() -> anyhow::Result<&'static LlamaBackend> {
    static BACKEND: OnceLock<Result<LlamaBackend, String>> = OnceLock::new();
    BACKEND
        .get_or_init(|| {
            let mut backend =
                LlamaBackend::init().map_err(|e| format!("initialising llama.cpp: {e}"))?;
            // llama.cpp logs go nowhere: they are not ours to vet for content, and the server's
            // own logs say what matters (model loaded, context sizes).
            backend.void_logs();
            Ok(backend)
        })
        .as_ref()
        .map_err(|error| anyhow::anyhow!("{error}"))
}

/// Handle to one model's engine thread. Dropping the last clone stops the thread, ending what
/// still runs, and waits until its context is freed.
#[derive(Clone)]
pub struct Engine {
    inner: Arc<Inner>,
}

struct Inner {
    worker: worker_thread::WorkerThread<worker::Command>,
    admission: Arc<Semaphore>,
    capacity: usize,
    callers: Arc<admission::CallerLimits>,
    model: Arc<LlamaModel>,
    specials: SpecialTokens,
    slot_context: u32,
    slots: u32,
    stats: Arc<EngineStats>,
    compiler: Arc<constraint::Compiler>,
}

impl Engine {
    /// Creates the context on a new thread and waits until it is ready. The engine records
    /// its generations in `metrics`.
    pub fn start(
        model: Arc<LlamaModel>,
        config: EngineConfig,
        metrics: ModelMetrics,
    ) -> anyhow::Result<Engine> {
        let specials = SpecialTokens::of(&model);
        let (commands, receiver) = std::sync::mpsc::channel();
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let stats = Arc::new(EngineStats {
            metrics,
            ..EngineStats::default()
        });
        let worker_model = Arc::clone(&model);
        let worker_stats = Arc::clone(&stats);
        let thread = std::thread::Builder::new()
            .name("sotto-engine".into())
            .spawn(move || worker::run(&worker_model, config, receiver, &worker_stats, ready_tx))
            .context("spawning the engine thread")?;
        let worker = worker_thread::WorkerThread::new(commands, thread);
        let slot_context = ready_rx
            .recv()
            .context("the engine thread ended while starting")?
            .map_err(anyhow::Error::msg)?;
        let capacity = (config.parallel + config.queue) as usize;
        Ok(Engine {
            inner: Arc::new(Inner {
                worker,
                admission: Arc::new(Semaphore::new(capacity)),
                capacity,
                callers: admission::CallerLimits::new(config.max_per_caller),
                model,
                specials,
                slot_context,
                slots: config.parallel,
                stats,
                compiler: Arc::default(),
            }),
        })
    }

    /// Queues `n` generations from one prompt (OpenAI's `n`), one receiver each, in order.
    /// Dropping a receiver cancels its generation and frees its slot within one decode step.
    /// They start together once `n` slots are free: the prompt is prefilled once, in the first
    /// one's slot, and its cells copied to the others', which then sample from the same
    /// distribution with seeds `seed`, `seed + 1`, ... Each counts as one request against
    /// the caller's and the queue's limits. `n` must not exceed the slots.
    pub fn submit_choices(
        &self,
        request: GenerationRequest,
        n: u32,
    ) -> Result<Vec<mpsc::UnboundedReceiver<Event>>, SubmitError> {
        let mut jobs = Vec::new();
        let mut receivers = Vec::new();
        let submitted = Instant::now();
        for choice in 0..n.max(1) {
            let mut request = request.clone();
            request.sampling.seed = request.sampling.seed.wrapping_add(choice);
            // The caller's own limit first: a caller over it is told so, not that the server
            // is full, even when both are true. Permits taken so far go back on failure.
            let callers = &self.inner.callers;
            let caller =
                callers
                    .try_acquire(request.cache_owner)
                    .ok_or(SubmitError::CallerBusy {
                        limit: callers.limit(),
                    })?;
            let permit = Arc::clone(&self.inner.admission)
                .try_acquire_owned()
                .map_err(|_| SubmitError::QueueFull)?;
            let (events, receiver) = mpsc::unbounded_channel();
            jobs.push(sequence::Job {
                request,
                events,
                _admission: permit,
                _caller: caller,
                followers: Vec::new(),
                submitted,
            });
            receivers.push(receiver);
        }
        let mut job = jobs.remove(0);
        job.followers = jobs;
        let command = worker::Command::Generate(Box::new(job));
        self.inner
            .worker
            .send(command)
            .map_err(|_| SubmitError::Stopped)?;
        Ok(receivers)
    }

    /// The most choices one request may have: they start together, each in a slot, and each
    /// counts against its caller's requests in flight.
    pub fn max_choices(&self) -> u32 {
        self.inner.slots.min(self.inner.callers.limit())
    }

    /// Prompt tokens prefilled so far (see [`EngineStats::prefilled_tokens`]).
    pub fn prefilled_tokens(&self) -> u64 {
        self.inner.stats.prefilled_tokens.load(Ordering::Relaxed)
    }

    /// Whether the engine thread runs (it ends when stopped, or if it panicked).
    pub fn is_running(&self) -> bool {
        self.inner.worker.is_running()
    }

    /// Ends the engine thread, and what it still runs, and waits until its context is freed.
    /// Blocking. Every later submission fails with [`SubmitError::Stopped`].
    pub fn stop(&self) {
        self.inner.worker.stop();
    }

    /// Drops everything cached for `owner` (their session ended or their key was revoked).
    pub fn forget(&self, owner: CacheOwner) {
        let _ = self.inner.worker.send(worker::Command::Forget(owner));
    }

    /// Drops everything cached for owners not in `live`.
    pub fn keep_only(&self, live: Arc<HashSet<CacheOwner>>) {
        let _ = self.inner.worker.send(worker::Command::KeepOnly(live));
    }

    /// Cached conversations, in idle slots or set aside in RAM.
    pub fn cached_conversations(&self) -> usize {
        self.inner.stats.cached_slots.load(Ordering::Relaxed) + self.spilled_conversations()
    }

    /// Cached conversations set aside in RAM.
    pub fn spilled_conversations(&self) -> usize {
        self.inner
            .stats
            .spilled_conversations
            .load(Ordering::Relaxed)
    }

    /// Prompt tokens served from the cache so far.
    pub fn reused_tokens(&self) -> u64 {
        self.inner.stats.reused_tokens.load(Ordering::Relaxed)
    }

    pub fn decoded_ahead(&self) -> u64 {
        self.inner.stats.decoded_ahead.load(Ordering::Relaxed)
    }

    /// Tokenizes a prompt. Special tokens spelt in it are parsed, except inside `plain`
    /// (sorted, disjoint byte ranges: message content), which is only ever text.
    pub fn tokenize(&self, text: &str, plain: &[Range<usize>], add_bos: bool) -> Vec<LlamaToken> {
        tokenize(
            &self.inner.model,
            &self.inner.specials,
            text,
            plain,
            add_bos,
        )
    }

    /// Whether `text` holds the spelling of one of the model's special tokens.
    pub fn spells_special_token(&self, text: &str) -> bool {
        self.inner
            .specials
            .split(text.as_bytes(), &[])
            .iter()
            .any(|piece| matches!(piece, Piece::Token(_)))
    }

    pub fn model(&self) -> &LlamaModel {
        &self.inner.model
    }

    /// Tokens of context each sequence has (prompt plus completion).
    pub fn slot_context(&self) -> u32 {
        self.inner.slot_context
    }

    /// Sequences holding a slot right now.
    pub fn active(&self) -> usize {
        self.inner.stats.active.load(Ordering::Relaxed)
    }

    /// Generations stopped so far because their client went away.
    pub fn cancelled(&self) -> usize {
        self.inner.stats.cancelled.load(Ordering::Relaxed)
    }

    /// Requests accepted and not yet finished (running or waiting).
    pub fn in_flight(&self) -> usize {
        self.inner.capacity - self.inner.admission.available_permits()
    }

    /// Requests accepted and waiting for a slot. Each choice of an `n` request counts, as
    /// each takes a slot.
    pub fn waiting(&self) -> usize {
        self.in_flight().saturating_sub(self.active())
    }

    /// Sequences decoded together (`--parallel`).
    pub fn slots(&self) -> u32 {
        self.inner.slots
    }
}

/// [`Engine::tokenize`] without an engine: tests and tools that load a model themselves
/// tokenize exactly as the server does.
pub fn tokenize(
    model: &LlamaModel,
    specials: &SpecialTokens,
    text: &str,
    plain: &[Range<usize>],
    add_bos: bool,
) -> Vec<LlamaToken> {
    let vocab = model.vocab();
    let bytes = text.as_bytes();
    let mut tokens = Vec::new();
    if add_bos {
        tokens.push(vocab.bos());
    }
    // Each llama.cpp call has a fixed cost (some tokenizers compile their regex every time),
    // and a template puts the same text between its control tokens turn after turn (ChatML's
    // `\n`), so each distinct piece is tokenized once.
    let mut done: HashMap<&[u8], Range<usize>> = HashMap::new();
    for piece in specials.split(bytes, plain) {
        match piece {
            // Each text piece lies between special tokens, so llama.cpp tokenizes it exactly
            // as it would inside the whole prompt.
            Piece::Text(range) => {
                let piece = &bytes[range];
                if let Some(earlier) = done.get(piece) {
                    tokens.extend_from_within(earlier.clone());
                    continue;
                }
                let first = tokens.len();
                // A piece never has more tokens than bytes (plus SentencePiece's leading
                // space): reserving that spares llama.cpp a second pass.
                tokens.reserve(piece.len() + 1);
                vocab.tokenize_into(piece, &mut tokens, false, false);
                done.insert(piece, first..tokens.len());
            }
            Piece::Token(token) => tokens.push(token),
        }
    }
    tokens
}
