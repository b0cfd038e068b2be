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

pub use args::ModelsAction;

pub async fn run(action: ModelsAction) -> anyhow::Result<()> {
    match action {
        ModelsAction::Pull(args) => Ok(command::pull(args).await?),
        ModelsAction::List { dir, port } => list::list(&dir.models_dir, port).await,
        ModelsAction::Rm { dir, id } => remove::remove(&dir.models_dir, &id),
    }
}
