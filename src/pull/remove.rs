//! `sotto models rm ID`: deletes a model's file, or every part of a split model. A chat
//! template `ID.jinja` beside it is kept (it may be the user's own work). A server that has
//! the model loaded keeps serving it from memory until it unloads it.

use std::path::Path;

use anyhow::bail;
use indicatif::HumanBytes;

use super::names;
use crate::gguf::split;
use crate::models;

pub fn remove(dir: &Path, id: &str) -> anyhow::Result<()> {
    if !names::valid_id(id) {
        bail!("a model id is a file name without .gguf: no `/`, `..` or leading `.`");
    }
    if !models::files_in(dir).iter().any(|file| file.id == id) {
        bail!("no model `{id}` in {}", dir.display());
    }
    let (mut files, mut bytes) = (0, 0);
    for part in split::all_parts(&format!("{id}.gguf")) {
        let path = dir.join(part);
        // A link's own size: removing a link frees nothing of its target.
        let Ok(metadata) = path.symlink_metadata() else {
            continue;
        };
        std::fs::remove_file(&path)
            .map_err(|error| anyhow::anyhow!("removing {}: {error}", path.display()))?;
        files += 1;
        bytes += metadata.len();
    }
    println!("removed {id} ({files} file(s), {})", HumanBytes(bytes));
    if dir.join(format!("{id}.jinja")).exists() {
        println!("kept its chat template {id}.jinja");
    }
    Ok(())
}
