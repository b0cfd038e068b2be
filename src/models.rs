//! The models in `--models-dir`: which files exist, which are loaded, and loading them.
//!
//! Every `.gguf` file in the directory is a model whose id is its file name without the
//! extension. A model is loaded on a background thread (at start-up, or on its first request);
//! until it is ready, requests for it get a "model loading" answer.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::UNIX_EPOCH;

use anyhow::Context as _;
use llama_cpp_2::model::params::LlamaModelParams;
use llama_cpp_2::model::LlamaModel;
use llama_cpp_2::token::LlamaToken;

use crate::chat_template::ChatTemplate;
use crate::engine::{self, Embeddings, Engine, EngineConfig};
use crate::monitoring::{Metrics, ModelMetrics};

/// A model file in the models directory.
#[derive(Debug, Clone)]
pub struct ModelFile {
    pub id: String,
    pub path: PathBuf,
    /// Modification time, seconds since the epoch (OpenAI's `created`).
    pub created: u64,
    pub bytes: u64,
}

/// A model ready to serve.
pub struct LoadedModel {
    pub id: String,
    pub engine: Engine,
    pub template: ChatTemplate,
    /// The template's turn boundary as tokens (see `GenerationRequest::next_turn`).
    pub turn_boundary: Option<Arc<[LlamaToken]>>,
    /// Its embeddings context, created on the first embeddings request.
    pub embeddings: Embeddings,
}

#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("no such model")]
    NotFound,
    #[error("the model is loading")]
    Loading,
    #[error("the model failed to load")]
    Failed,
}

enum State {
    Loading,
    Ready(Arc<LoadedModel>),
    Failed,
}

pub struct ModelRegistry {
    dir: PathBuf,
    engine_config: EngineConfig,
    templates: TemplateFiles,
    states: Mutex<HashMap<String, State>>,
    /// Loads and unloads are counted here, and each engine gets its model's series.
    metrics: Metrics,
}

/// Chat templates that replace the ones in the GGUF files (`--chat-template-file`).
#[derive(Debug, Clone, Default)]
pub struct TemplateFiles {
    per_model: HashMap<String, PathBuf>,
    every_model: Option<PathBuf>,
}

impl TemplateFiles {
    /// Reads `ID=PATH` (one model) and `PATH` (every model) values.
    pub fn parse(values: &[String]) -> Self {
        let mut files = Self::default();
        for value in values {
            match value.split_once('=') {
                Some((id, path)) if !id.is_empty() && !id.contains('/') => {
                    files.per_model.insert(id.to_owned(), PathBuf::from(path));
                }
                _ => files.every_model = Some(PathBuf::from(value)),
            }
        }
        files
    }

    /// The template file for model `id` whose GGUF is at `gguf`, if one replaces its own.
    fn for_model(&self, id: &str, gguf: &Path) -> Option<PathBuf> {
        let beside = gguf.with_extension("jinja");
        self.per_model
            .get(id)
            .cloned()
            .or_else(|| beside.is_file().then_some(beside))
            .or_else(|| self.every_model.clone())
    }
}

impl ModelRegistry {
    pub fn new(
        dir: PathBuf,
        engine_config: EngineConfig,
        templates: TemplateFiles,
        metrics: Metrics,
    ) -> Arc<Self> {
        Arc::new(Self {
            dir,
            engine_config,
            templates,
            states: Mutex::new(HashMap::new()),
            metrics,
        })
    }

    /// Every model file, sorted by id. The directory is read each time so a file dropped in
    /// while the server runs is listed at once.
    pub fn files(&self) -> Vec<ModelFile> {
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return Vec::new();
        };
        let mut files: Vec<ModelFile> = entries
            .flatten()
            .filter_map(|entry| model_file(&entry.path()))
            .collect();
        files.sort_by(|a, b| a.id.cmp(&b.id));
        files
    }

    pub fn file(&self, id: &str) -> Option<ModelFile> {
        self.files().into_iter().find(|file| file.id == id)
    }

    /// The loaded model, or why it cannot serve yet. An unloaded model starts loading.
    pub fn get(self: &Arc<Self>, id: &str) -> Result<Arc<LoadedModel>, ModelError> {
        let mut states = self.states.lock().unwrap_or_else(PoisonError::into_inner);
        match states.get(id) {
            Some(State::Ready(model)) => return Ok(Arc::clone(model)),
            Some(State::Loading) => return Err(ModelError::Loading),
            Some(State::Failed) => return Err(ModelError::Failed),
            None => {}
        }
        let file = self.file(id).ok_or(ModelError::NotFound)?;
        states.insert(file.id.clone(), State::Loading);
        drop(states);
        self.spawn_load(file);
        Err(ModelError::Loading)
    }

    /// Starts loading these models in the background; unknown ids are an error.
    pub fn preload(self: &Arc<Self>, ids: &[String]) -> anyhow::Result<()> {
        for id in ids {
            match self.get(id) {
                Ok(_) | Err(ModelError::Loading) => {}
                Err(error) => anyhow::bail!("model `{id}`: {error}"),
            }
        }
        Ok(())
    }

    /// The model's state by name: `not_loaded`, `loading`, `ready` or `failed`.
    pub fn state(&self, id: &str) -> &'static str {
        let states = self.states.lock().unwrap_or_else(PoisonError::into_inner);
        match states.get(id) {
            None => "not_loaded",
            Some(State::Loading) => "loading",
            Some(State::Ready(_)) => "ready",
            Some(State::Failed) => "failed",
        }
    }

    /// Drops an owner's cached prompts from every loaded model.
    pub fn forget(&self, owner: crate::engine::CacheOwner) {
        for model in self.loaded() {
            model.engine.forget(owner);
        }
    }

    /// Drops, from every loaded model, what is cached for owners not in `live`.
    pub fn keep_only(&self, live: std::collections::HashSet<crate::engine::CacheOwner>) {
        let live = Arc::new(live);
        for model in self.loaded() {
            model.engine.keep_only(Arc::clone(&live));
        }
    }

    /// Stops every loaded model's engine and embeddings thread, and waits until each has freed
    /// its context (a llama.cpp thread still running at exit crashes the process). Blocking.
    /// A model still loading is not waited for.
    pub fn stop(&self) {
        for model in self.loaded() {
            model.engine.stop();
            model.embeddings.stop();
            self.metrics.model_unloaded(&model.id);
        }
    }

    /// The models loaded so far.
    pub fn loaded(&self) -> Vec<Arc<LoadedModel>> {
        let states = self.states.lock().unwrap_or_else(PoisonError::into_inner);
        let mut models: Vec<_> = states
            .values()
            .filter_map(|state| match state {
                State::Ready(model) => Some(Arc::clone(model)),
                _ => None,
            })
            .collect();
        models.sort_by(|a, b| a.id.cmp(&b.id));
        models
    }

    fn spawn_load(self: &Arc<Self>, file: ModelFile) {
        let registry = Arc::clone(self);
        let spawned = std::thread::Builder::new().name("sotto-load".into()).spawn(move || {
            let started = std::time::Instant::now();
            let template = registry.templates.for_model(&file.id, &file.path);
            let metrics = registry.metrics.model(&file.id);
            let state = match load(&file, template.as_deref(), registry.engine_config, metrics) {
                Ok(model) => {
                    tracing::info!(model = %file.id, elapsed_ms = started.elapsed().as_millis() as u64, "model loaded");
                    registry.metrics.model_loaded(&file.id, started.elapsed());
                    State::Ready(Arc::new(model))
                }
                Err(error) => {
                    tracing::error!(model = %file.id, error = format!("{error:#}"), "model failed to load");
                    registry.metrics.model_load_failed(&file.id);
                    State::Failed
                }
            };
            let mut states = registry.states.lock().unwrap_or_else(PoisonError::into_inner);
            states.insert(file.id, state);
        });
        if let Err(error) = spawned {
            tracing::error!(%error, "could not spawn a model loading thread");
        }
    }
}

fn model_file(path: &Path) -> Option<ModelFile> {
    if path.extension()? != "gguf" {
        return None;
    }
    let id = path.file_stem()?.to_str()?.to_owned();
    let metadata = std::fs::metadata(path).ok()?;
    if !metadata.is_file() {
        return None;
    }
    let created = metadata
        .modified()
        .ok()
        .and_then(|time| time.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |age| age.as_secs());
    Some(ModelFile {
        id,
        path: path.to_owned(),
        created,
        bytes: metadata.len(),
    })
}

fn load(
    file: &ModelFile,
    template_file: Option<&Path>,
    config: EngineConfig,
    metrics: ModelMetrics,
) -> anyhow::Result<LoadedModel> {
    let backend = engine::backend()?;
    let model = LlamaModel::load_from_file(backend, &file.path, &LlamaModelParams::default())
        .with_context(|| format!("loading {}", file.path.display()))?;
    let vocab = model.vocab();
    // A model without a BOS or EOS token reports an id outside the vocabulary: never look it up.
    let special = |token: llama_cpp_2::token::LlamaToken| {
        if (0..model.n_vocab()).contains(&token.0) {
            String::from_utf8_lossy(&vocab.token_to_piece(token, true, None)).into_owned()
        } else {
            String::new()
        }
    };
    let bos = special(vocab.bos());
    let eos = special(vocab.eos());
    let source = match template_file {
        Some(path) => Some(
            std::fs::read_to_string(path)
                .with_context(|| format!("reading the chat template {}", path.display()))?,
        ),
        None => model
            .chat_template(None)
            .ok()
            .and_then(|t| t.to_string().ok()),
    };
    if let Some(path) = template_file {
        tracing::info!(model = %file.id, template = %path.display(), "chat template from a file");
    } else if source.is_none() {
        tracing::warn!(model = %file.id, "no chat template in the GGUF; using ChatML");
    }
    let template = ChatTemplate::new(source, bos, eos)?;
    let model = Arc::new(model);
    let embeddings = Embeddings::new(Arc::clone(&model), config);
    let engine = Engine::start(model, config, metrics)?;
    let turn_boundary = template
        .turn_boundary()
        .map(|text| engine.tokenize(&text, &[], false))
        .filter(|tokens| !tokens.is_empty())
        .map(Arc::from);
    Ok(LoadedModel {
        id: file.id.clone(),
        engine,
        template,
        turn_boundary,
        embeddings,
    })
}
