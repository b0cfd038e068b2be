//! The models in `--models-dir`: which files exist, which are loaded, and loading them.
//!
//! Every `.gguf` file in the directory is a model whose id is its file name without the
//! extension. A model is loaded on a background thread (at start-up, or on its first request);
//! until it is ready, requests for it get a "model loading" answer. Loading one may first
//! unload others (see [`residency`]): the least recently used ones that serve nothing, when
//! `--max-loaded-models` or `--memory-budget-mb` would be exceeded; `--model-idle-secs`
//! unloads a model nobody has used for that long.

mod aliases;
mod residency;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, UNIX_EPOCH};

use anyhow::Context as _;
use llama_cpp_2::model::params::LlamaModelParams;
use llama_cpp_2::model::LlamaModel;
use llama_cpp_2::token::LlamaToken;

use crate::chat_template::ChatTemplate;
use crate::engine::{self, Embeddings, Engine, EngineConfig};
use crate::monitoring::{Metrics, ModelMetrics};
pub use aliases::{conflict as alias_conflict, Alias, Aliases};
pub use residency::Limits as Residency;
use residency::Resident;

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
    /// Bytes of weights and chat KV cache it holds, for `--memory-budget-mb`.
    pub footprint: u64,
}

impl LoadedModel {
    /// Serving or about to serve a request: a handler holds it (between finding it and
    /// submitting), or its engines have requests running or waiting.
    fn busy(self: &Arc<Self>) -> bool {
        Arc::strong_count(self) > 1
            || self.engine.in_flight() > 0
            || self.embeddings.in_flight() > 0
    }

    /// Ends its engines and waits until their contexts are freed. Blocking.
    fn unload(&self, metrics: &Metrics) {
        self.engine.stop();
        self.embeddings.stop();
        metrics.model_unloaded(&self.id);
        tracing::info!(model = %self.id, "model unloaded");
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("no such model")]
    NotFound,
    #[error("the model is loading")]
    Loading,
    #[error("the model failed to load")]
    Failed,
    /// Loading it would unload a model that is serving requests.
    #[error("every loaded model is busy")]
    Busy,
}

enum State {
    /// With the estimate of its footprint: its file's size.
    Loading(u64),
    Ready {
        model: Arc<LoadedModel>,
        last_used: Instant,
    },
    Failed,
}

pub struct ModelRegistry {
    dir: PathBuf,
    aliases: Aliases,
    engine_config: EngineConfig,
    templates: TemplateFiles,
    limits: Residency,
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
        aliases: Aliases,
        engine_config: EngineConfig,
        templates: TemplateFiles,
        metrics: Metrics,
        limits: Residency,
    ) -> Arc<Self> {
        Arc::new(Self {
            dir,
            aliases,
            engine_config,
            templates,
            limits,
            states: Mutex::new(HashMap::new()),
            metrics,
        })
    }

    /// Every model file, sorted by id. The directory is read each time so a file dropped in
    /// while the server runs is listed at once.
    pub fn files(&self) -> Vec<ModelFile> {
        files_in(&self.dir)
    }

    /// The file of the model `id` names, itself or by an alias.
    pub fn file(&self, id: &str) -> Option<ModelFile> {
        let id = self.aliases.resolve(id);
        self.files().into_iter().find(|file| file.id == id)
    }

    pub fn aliases(&self) -> &Aliases {
        &self.aliases
    }

    /// The loaded model `id` names (itself or by an alias), or why it cannot serve yet. An
    /// unloaded model starts loading, once the models it displaces are unloaded; if they are
    /// all busy, [`ModelError::Busy`].
    pub fn get(self: &Arc<Self>, id: &str) -> Result<Arc<LoadedModel>, ModelError> {
        let id = self.aliases.resolve(id);
        let mut states = self.states.lock().unwrap_or_else(PoisonError::into_inner);
        match states.get_mut(id) {
            Some(State::Ready { model, last_used }) => {
                *last_used = Instant::now();
                return Ok(Arc::clone(model));
            }
            Some(State::Loading(_)) => return Err(ModelError::Loading),
            Some(State::Failed) => return Err(ModelError::Failed),
            None => {}
        }
        let file = self.file(id).ok_or(ModelError::NotFound)?;
        let victims = residency::make_room(&residents(&states), file.bytes, &self.limits)
            .map_err(|_| ModelError::Busy)?;
        let displaced: Vec<Arc<LoadedModel>> = victims
            .iter()
            .filter_map(|victim| match states.remove(victim) {
                Some(State::Ready { model, .. }) => Some(model),
                _ => None,
            })
            .collect();
        states.insert(file.id.clone(), State::Loading(file.bytes));
        drop(states);
        self.spawn_load(file, displaced);
        Err(ModelError::Loading)
    }

    /// Starts loading these models in the background, as many as may be loaded at once (the
    /// others load on first use); unknown ids are an error.
    pub fn preload(self: &Arc<Self>, ids: &[String]) -> anyhow::Result<()> {
        for (index, id) in ids.iter().enumerate() {
            if self.file(id).is_none() {
                anyhow::bail!("model `{id}`: {}", ModelError::NotFound);
            }
            if index >= self.limits.max_loaded {
                tracing::info!(model = %id, "loads on first use (--max-loaded-models)");
                continue;
            }
            match self.get(id) {
                Ok(_) | Err(ModelError::Loading) => {}
                Err(error) => anyhow::bail!("model `{id}`: {error}"),
            }
        }
        Ok(())
    }

    /// Unloads the models nobody has used for `--model-idle-secs`. Blocking.
    pub fn unload_idle(&self) {
        let expired: Vec<Arc<LoadedModel>> = {
            let mut states = self.states.lock().unwrap_or_else(PoisonError::into_inner);
            residency::expired(&residents(&states), &self.limits, Instant::now())
                .iter()
                .filter_map(|id| match states.remove(id) {
                    Some(State::Ready { model, .. }) => Some(model),
                    _ => None,
                })
                .collect()
        };
        for model in expired {
            model.unload(&self.metrics);
        }
    }

    /// The model's state by name: `not_loaded`, `loading`, `ready` or `failed`.
    pub fn state(&self, id: &str) -> &'static str {
        let id = self.aliases.resolve(id);
        let states = self.states.lock().unwrap_or_else(PoisonError::into_inner);
        match states.get(id) {
            None => "not_loaded",
            Some(State::Loading(_)) => "loading",
            Some(State::Ready { .. }) => "ready",
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
                State::Ready { model, .. } => Some(Arc::clone(model)),
                _ => None,
            })
            .collect();
        models.sort_by(|a, b| a.id.cmp(&b.id));
        models
    }

    /// Loads `file` on a thread of its own, once the models it displaces have freed their
    /// memory.
    fn spawn_load(self: &Arc<Self>, file: ModelFile, displaced: Vec<Arc<LoadedModel>>) {
        let registry = Arc::clone(self);
        let spawned = std::thread::Builder::new().name("sotto-load".into()).spawn(move || {
            for model in displaced {
                model.unload(&registry.metrics);
            }
            let started = Instant::now();
            let template = registry.templates.for_model(&file.id, &file.path);
            let metrics = registry.metrics.model(&file.id);
            let state = match load(&file, template.as_deref(), registry.engine_config, metrics) {
                Ok(model) => {
                    tracing::info!(
                        model = %file.id,
                        elapsed_ms = started.elapsed().as_millis() as u64,
                        footprint_mb = model.footprint >> 20,
                        "model loaded"
                    );
                    registry.metrics.model_loaded(&file.id, started.elapsed());
                    State::Ready {
                        model: Arc::new(model),
                        last_used: Instant::now(),
                    }
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

/// Unloads idle models every few seconds, for `--model-idle-secs`; returns at once without it.
pub async fn unload_idle(registry: Arc<ModelRegistry>) {
    let Some(idle) = registry.limits.idle else {
        return;
    };
    let period = (idle / 4).clamp(Duration::from_secs(1), Duration::from_secs(30));
    let mut ticks = tokio::time::interval(period);
    loop {
        ticks.tick().await;
        let registry = Arc::clone(&registry);
        // Unloading waits for the engine threads to end.
        if tokio::task::spawn_blocking(move || registry.unload_idle())
            .await
            .is_err()
        {
            tracing::error!("unloading idle models failed");
        }
    }
}

/// The policy's view of the loaded and loading models.
fn residents(states: &HashMap<String, State>) -> Vec<Resident> {
    states
        .iter()
        .filter_map(|(id, state)| match state {
            State::Ready { model, last_used } => Some(Resident {
                id: id.clone(),
                last_used: *last_used,
                footprint: model.footprint,
                busy: model.busy(),
            }),
            State::Loading(estimate) => Some(Resident {
                id: id.clone(),
                last_used: Instant::now(),
                footprint: *estimate,
                busy: true,
            }),
            State::Failed => None,
        })
        .collect()
}

/// Every model file in `dir`, sorted by id (also read by `sotto models list` and `rm`).
pub(crate) fn files_in(dir: &Path) -> Vec<ModelFile> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<ModelFile> = entries
        .flatten()
        .filter_map(|entry| model_file(&entry.path()))
        .collect();
    files.sort_by(|a, b| a.id.cmp(&b.id));
    files
}

/// A split model is served from its first part: its other parts are not models of their own.
fn model_file(path: &Path) -> Option<ModelFile> {
    if path.extension()? != "gguf" || crate::gguf::split::is_later_part(path.file_name()?.to_str()?)
    {
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
    // llama.cpp offloads no layer when it has no GPU backend, whatever is asked.
    let gpu_layers = config
        .gpu_layers
        .unwrap_or(if backend.supports_gpu_offload() {
            u32::MAX
        } else {
            0
        });
    tracing::info!(model = %file.id, gpu_layers, gpu_backend = backend.supports_gpu_offload(), "loading model");
    let params = LlamaModelParams::default().with_n_gpu_layers(gpu_layers);
    let model = LlamaModel::load_from_file(backend, &file.path, &params)
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
    let kv = kv_bytes(&model, config);
    tracing::info!(
        model = %file.id,
        kv_cache_kib = kv >> 10,
        cache_type_k = ?config.cache_type_k,
        cache_type_v = ?config.cache_type_v,
        "KV cache"
    );
    let footprint = model.size() + kv;
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
        footprint,
    })
}

/// The chat context's KV cache in bytes (every slot's tokens); the embeddings context,
/// created on demand, is not counted.
fn kv_bytes(model: &LlamaModel, config: EngineConfig) -> u64 {
    let tokens = u64::from(config.ctx_per_slot) * u64::from(config.parallel);
    engine::kv_bytes_per_token(model, config) * tokens
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_split_model_is_listed_once_by_its_first_part() {
        let dir = tempfile::tempdir().expect("temp dir");
        for name in [
            "big-00001-of-00002.gguf",
            "big-00002-of-00002.gguf",
            "small.gguf",
            "small.gguf.partial",
            "small.jinja",
        ] {
            std::fs::write(dir.path().join(name), b"GGUF").expect("write");
        }
        let ids: Vec<String> = files_in(dir.path()).into_iter().map(|f| f.id).collect();
        assert_eq!(ids, ["big-00001-of-00002", "small"]);
    }
}
