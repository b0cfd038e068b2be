//! The `sotto models ...` command line.

use std::path::PathBuf;

use clap::{Args, Subcommand};

#[derive(Debug, Clone, Args)]
pub struct ModelsDir {
    /// Directory holding the `.gguf` model files [default: `serve`'s `models_dir`, from
    /// `SOTTO_MODELS_DIR` or the config file, else `models`].
    #[arg(long)]
    pub models_dir: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum ModelsAction {
    /// Download a GGUF model into the models directory (resumable, SHA-256 checked).
    Pull(PullArgs),
    /// List the models: size, quantisation, context length, chat template family, and whether
    /// the server on this machine has each loaded.
    List {
        #[command(flatten)]
        dir: ModelsDir,
        /// Port of the local server to ask which models are loaded [default: `serve`'s
        /// `port`, from `SOTTO_PORT` or the config file, else 8080].
        #[arg(long)]
        port: Option<u16>,
    },
    /// Delete a model's file (every part of a split model); a `ID.jinja` beside it is kept.
    Rm {
        #[command(flatten)]
        dir: ModelsDir,
        /// The model's id (its file name without `.gguf`).
        id: String,
    },
}

#[derive(Debug, Args)]
pub struct PullArgs {
    /// What to download: an `https://` (or `http://`) URL of a `.gguf` file, or
    /// `hf:OWNER/REPO/FILE.gguf` (optionally `@REVISION`) for a file on Hugging Face. A split
    /// model's first part (`...-00001-of-0000N.gguf`) pulls every part.
    #[arg(value_name = "REF")]
    pub reference: String,

    #[command(flatten)]
    pub dir: ModelsDir,

    /// The file's expected SHA-256 (hex). Without it the hash the server publishes is checked
    /// (Hugging Face's for its LFS files), if any. Once per part for a split model, in order.
    #[arg(long = "sha256", value_name = "HEX")]
    pub sha256: Vec<String>,

    /// Hugging Face, or a mirror of it, for `hf:` references [default: `HF_ENDPOINT` (the
    /// variable Hugging Face's own tools read), else https://huggingface.co].
    #[arg(long, env = "SOTTO_HF_ENDPOINT", value_name = "URL")]
    pub hf_endpoint: Option<String>,

    /// The model's id (its file name without `.gguf`); by default the downloaded file's name.
    #[arg(long = "name", value_name = "ID")]
    pub name: Option<String>,

    /// Replace a model of the same id.
    #[arg(long)]
    pub force: bool,

    /// Refuse a download larger than this many gigabytes (10^9 bytes).
    #[arg(long, default_value_t = 64.0, value_name = "GB")]
    pub max_download_gb: f64,
}
