//! A model's embeddings: a second llama.cpp context, separate from the chat engine's, with
//! pooling on. It is created on the first embeddings request, on a thread of its own (see
//! `embed_worker`), so embedding never holds up chat sequences beyond sharing the CPU, and a
//! server that is never asked for embeddings never pays for the context.

use std::sync::{Arc, Mutex, PoisonError};

use anyhow::Context as _;
use llama_cpp_2::context::params::LlamaPoolingType;
use llama_cpp_2::model::LlamaModel;
use llama_cpp_2::token::LlamaToken;
use tokio::sync::{oneshot, Semaphore};

use super::admission::CallerLimits;
use super::cache::CacheOwner;
use super::embed_worker::{self, ContextShape, EmbedJob, EmbedReply};
use super::worker_thread::WorkerThread;
use super::{EngineConfig, SubmitError};

/// The longest input, in tokens, whatever `--ctx-size`: llama.cpp reserves an output buffer of
/// a vocabulary's worth of floats per token of a decode (400 MB for 2,048 tokens of a 49k
/// vocabulary), and retrieval chunks are rarely longer.
const MAX_CONTEXT: u32 = 2048;

/// One model's embeddings, started on first use.
pub struct Embeddings {
    model: Arc<LlamaModel>,
    shape: ContextShape,
    config: EngineConfig,
    /// The special tokens the model's tokenizer puts around a text (BOS, EOS, SEP), which
    /// token-array inputs get too.
    prefix: Vec<LlamaToken>,
    suffix: Vec<LlamaToken>,
    state: Mutex<State>,
}

enum State {
    Idle,
    Running(Arc<Embedder>),
    Stopped,
}

/// The running embeddings thread.
pub struct Embedder {
    worker: WorkerThread<EmbedJob>,
    admission: Arc<Semaphore>,
    capacity: usize,
    callers: Arc<CallerLimits>,
}

impl Embeddings {
    pub fn new(model: Arc<LlamaModel>, config: EngineConfig) -> Self {
        let tokens = model
            .n_ctx_train()
            .min(config.ctx_per_slot)
            .clamp(1, MAX_CONTEXT);
        let shape = ContextShape {
            tokens,
            pooling: pooling(&model),
            // Half the chat engine's threads: the two contexts share the CPU, and with as many
            // threads as cores each, both slow to a crawl when both run (llama.cpp's threads
            // wait for each other at every operation, and one of them is always descheduled).
            threads: config.threads.div_ceil(2),
        };
        let (prefix, suffix) = special_wrapping(&model);
        Self {
            model,
            shape,
            config,
            prefix,
            suffix,
            state: Mutex::new(State::Idle),
        }
    }

    /// Tokens one input may have, special tokens included.
    pub fn max_input_tokens(&self) -> usize {
        self.shape.tokens as usize
    }

    /// The length of every vector.
    pub fn dimensions(&self) -> usize {
        usize::try_from(self.model.n_embd_out()).unwrap_or(0)
    }

    pub fn n_vocab(&self) -> i32 {
        self.model.n_vocab()
    }

    /// A text as the model's tokenizer reads it for embedding: special tokens around it as its
    /// GGUF asks, none parsed inside it (an input is only ever text).
    pub fn tokenize(&self, text: &str) -> Vec<LlamaToken> {
        let mut tokens = self.prefix.clone();
        tokens.reserve(text.len() + 1 + self.suffix.len());
        self.model
            .vocab()
            .tokenize_into(text.as_bytes(), &mut tokens, false, false);
        tokens.extend_from_slice(&self.suffix);
        tokens
    }

    /// Token ids a client tokenized itself, with the same special tokens as a text.
    pub fn wrap(&self, ids: impl IntoIterator<Item = LlamaToken>) -> Vec<LlamaToken> {
        let mut tokens = self.prefix.clone();
        tokens.extend(ids);
        tokens.extend_from_slice(&self.suffix);
        tokens
    }

    /// The running embeddings thread; the first call creates the context and waits for it
    /// (blocking). After [`stop`](Self::stop), [`SubmitError::Stopped`].
    pub fn embedder(&self) -> anyhow::Result<Result<Arc<Embedder>, SubmitError>> {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        match &*state {
            State::Running(embedder) => return Ok(Ok(Arc::clone(embedder))),
            State::Stopped => return Ok(Err(SubmitError::Stopped)),
            State::Idle => {}
        }
        let embedder = Arc::new(self.start()?);
        *state = State::Running(Arc::clone(&embedder));
        Ok(Ok(embedder))
    }

    fn start(&self) -> anyhow::Result<Embedder> {
        let (jobs, receiver) = std::sync::mpsc::channel();
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let model = Arc::clone(&self.model);
        let shape = self.shape;
        let thread = std::thread::Builder::new()
            .name("sotto-embed".into())
            .spawn(move || embed_worker::run(&model, shape, receiver, ready_tx))
            .context("spawning the embeddings thread")?;
        let worker = WorkerThread::new(jobs, thread);
        ready_rx
            .recv()
            .context("the embeddings thread ended while starting")?
            .map_err(anyhow::Error::msg)?;
        let capacity = (self.config.parallel + self.config.queue) as usize;
        Ok(Embedder {
            worker,
            admission: Arc::new(Semaphore::new(capacity)),
            capacity,
            callers: CallerLimits::new(self.config.max_per_caller),
        })
    }

    /// Requests accepted and not yet answered (0 when the thread never started).
    pub fn in_flight(&self) -> usize {
        let state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        match &*state {
            State::Running(embedder) => embedder.capacity - embedder.admission.available_permits(),
            State::Idle | State::Stopped => 0,
        }
    }

    /// Ends the embeddings thread, if it runs, and waits until its context is freed; none is
    /// started afterwards. Blocking.
    pub fn stop(&self) {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if let State::Running(embedder) = std::mem::replace(&mut *state, State::Stopped) {
            embedder.worker.stop();
        }
    }
}

impl Embedder {
    /// Queues a request's inputs (each at most [`Embeddings::max_input_tokens`]); the vectors
    /// arrive, in order, on the receiver. Dropping it cancels what is not decoded yet.
    pub fn submit(
        &self,
        owner: CacheOwner,
        inputs: Vec<Vec<LlamaToken>>,
    ) -> Result<oneshot::Receiver<EmbedReply>, SubmitError> {
        let owner = Some(owner);
        let caller = self
            .callers
            .try_acquire(owner)
            .ok_or(SubmitError::CallerBusy {
                limit: self.callers.limit(),
            })?;
        let permit = Arc::clone(&self.admission)
            .try_acquire_owned()
            .map_err(|_| SubmitError::QueueFull)?;
        let (reply, receiver) = oneshot::channel();
        let job = EmbedJob {
            owner,
            inputs,
            reply,
            _admission: permit,
            _caller: caller,
        };
        self.worker.send(job).map_err(|_| SubmitError::Stopped)?;
        Ok(receiver)
    }
}

/// The GGUF's pooling type (`{arch}.pooling_type`, which embedding models carry); mean when it
/// has none (chat models) or asks for none or for reranking scores, which are not embeddings.
fn pooling(model: &LlamaModel) -> LlamaPoolingType {
    let declared = model
        .meta_val_str("general.architecture")
        .and_then(|arch| model.meta_val_str(&format!("{arch}.pooling_type")))
        .ok()
        .and_then(|value| value.parse::<i32>().ok())
        .map(LlamaPoolingType::from);
    match declared {
        Some(
            pooling @ (LlamaPoolingType::Mean | LlamaPoolingType::Cls | LlamaPoolingType::Last),
        ) => pooling,
        _ => LlamaPoolingType::Mean,
    }
}

/// What the tokenizer adds around a text when asked for special tokens, found by tokenizing a
/// word both ways: whatever surrounds the plain tokens.
fn special_wrapping(model: &LlamaModel) -> (Vec<LlamaToken>, Vec<LlamaToken>) {
    let vocab = model.vocab();
    let plain = vocab.tokenize(b"a", false, false);
    let wrapped = vocab.tokenize(b"a", true, false);
    let at = (0..=wrapped.len().saturating_sub(plain.len()))
        .find(|&at| wrapped[at..].starts_with(&plain));
    match at {
        Some(at) if !plain.is_empty() => {
            (wrapped[..at].to_vec(), wrapped[at + plain.len()..].to_vec())
        }
        _ => (Vec::new(), Vec::new()),
    }
}
