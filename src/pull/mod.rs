//! `sotto models pull|list|rm`: getting GGUF models into the models directory (from a URL or
//! Hugging Face, resumable and checked), listing what is there, and removing it. Nothing here
//! loads a model: the server does that.

mod args;
mod command;
mod download;
mod error;
mod http;
mod list;
mod names;
mod partial;
mod progress;
mod reference;
mod remove;

use std::path::PathBuf;

pub use args::ModelsAction;

/// What the commands use when their flags say nothing: the server's settings (from the same
/// environment and config file as `serve`).
pub struct Defaults {
    pub models_dir: PathBuf,
    pub port: u16,
}

pub async fn run(action: ModelsAction, defaults: Defaults) -> anyhow::Result<()> {
    let dir = |dir: args::ModelsDir| {
        dir.models_dir
            .unwrap_or_else(|| defaults.models_dir.clone())
    };
    match action {
        ModelsAction::Pull(args) => {
            let models_dir = dir(args.dir.clone());
            Ok(command::pull(args, &models_dir).await?)
        }
        ModelsAction::List { dir: models, port } => {
            list::list(&dir(models), port.unwrap_or(defaults.port)).await
        }
        ModelsAction::Rm { dir: models, id } => remove::remove(&dir(models), &id),
    }
}
