//! The inference engine: one thread per loaded model owns the llama.cpp context and decodes
//! every active sequence in one batch per step (continuous batching). Handlers talk to it
//! through [`Engine`], a cheap, clonable handle.

mod sampling;
mod text;
mod worker;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

use anyhow::Context as _;
use llama_cpp_2::llama_backend::LlamaBackend;
use llama_cpp_2::model::LlamaModel;
use llama_cpp_2::token::LlamaToken;
use tokio::sync::{mpsc, Semaphore};

pub use sampling::SamplingParams;

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
}

/// One generation, ready for the engine: the prompt is already tokenized and checked.
#[derive(Debug)]
pub struct GenerationRequest {
    pub prompt: Vec<LlamaToken>,
    pub sampling: SamplingParams,
    pub max_tokens: u32,
    pub stop: Vec<String>,
}

/// What the engine reports for a generation, in order: text pieces, then one `Done` or `Failed`.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    Text(String),
    Done(Finish),
    Failed(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Finish {
    pub reason: FinishReason,
    pub prompt_tokens: u32,
    pub completion_tokens: u32,
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

/// Handle to one model's engine thread. Dropping every clone stops the thread once its
/// running sequences end.
#[derive(Clone)]
pub struct Engine {
    inner: Arc<Inner>,
}

struct Inner {
    jobs: mpsc::UnboundedSender<worker::Job>,
    admission: Arc<Semaphore>,
    capacity: usize,
    model: Arc<LlamaModel>,
    slot_context: u32,
    stats: Arc<EngineStats>,
}

impl Engine {
    /// Creates the context on a new thread and waits until it is ready.
    pub fn start(model: Arc<LlamaModel>, config: EngineConfig) -> anyhow::Result<Engine> {
        let (jobs, receiver) = mpsc::unbounded_channel();
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let stats = Arc::new(EngineStats::default());
        let worker_model = Arc::clone(&model);
        let worker_stats = Arc::clone(&stats);
        std::thread::Builder::new()
            .name("sotto-engine".into())
            .spawn(move || worker::run(&worker_model, config, receiver, &worker_stats, ready_tx))
            .context("spawning the engine thread")?;
        let slot_context = ready_rx
            .recv()
            .context("the engine thread ended while starting")?
            .map_err(anyhow::Error::msg)?;
        let capacity = (config.parallel + config.queue) as usize;
        Ok(Engine {
            inner: Arc::new(Inner {
                jobs,
                admission: Arc::new(Semaphore::new(capacity)),
                capacity,
                model,
                slot_context,
                stats,
            }),
        })
    }

    /// Queues a generation. Its events arrive on the returned receiver; dropping the receiver
    /// cancels the generation and frees its slot within one decode step.
    pub fn submit(
        &self,
        request: GenerationRequest,
    ) -> Result<mpsc::UnboundedReceiver<Event>, SubmitError> {
        let permit = Arc::clone(&self.inner.admission)
            .try_acquire_owned()
            .map_err(|_| SubmitError::QueueFull)?;
        let (events, receiver) = mpsc::unbounded_channel();
        let job = worker::Job {
            request,
            events,
            _admission: permit,
        };
        self.inner
            .jobs
            .send(job)
            .map_err(|_| SubmitError::Stopped)?;
        Ok(receiver)
    }

    /// Tokenizes text; special tokens written in it (such as a template's markers) are parsed.
    pub fn tokenize(&self, text: &str, add_bos: bool) -> Vec<LlamaToken> {
        self.inner
            .model
            .vocab()
            .tokenize(text.as_bytes(), add_bos, true)
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
}
