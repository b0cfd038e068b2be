//! `sotto models list`: each model with what its GGUF header says (read here, without
//! loading it) and whether the server on this machine has it loaded.

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use indicatif::HumanBytes;
use serde::Deserialize;

use crate::gguf::{self, split};
use crate::models::{self, ModelFile};

/// The part of the server's public `GET /health` read here.
#[derive(Deserialize)]
struct Health {
    models: Vec<ModelState>,
}

#[derive(Deserialize)]
struct ModelState {
    id: String,
    state: String,
}

pub async fn list(dir: &Path, port: u16) -> anyhow::Result<()> {
    let files = models::files_in(dir);
    if files.is_empty() {
        eprintln!(
            "no models in {}; add one with `sotto models pull REF`",
            dir.display()
        );
        return Ok(());
    }
    let states = server_states(port).await;
    if states.is_none() {
        eprintln!("no sotto server answered on 127.0.0.1:{port}: LOADED is `-`");
    }
    let mut rows = vec![[
        "ID".to_owned(),
        "SIZE".to_owned(),
        "QUANT".to_owned(),
        "CONTEXT".to_owned(),
        "TEMPLATE".to_owned(),
        "LOADED".to_owned(),
    ]];
    for file in &files {
        let loaded = states.as_ref().map_or("-", |states| {
            loaded(states.get(&file.id).map_or("", String::as_str))
        });
        rows.push(row(dir, file, loaded));
    }
    let widths: Vec<usize> = (0..6)
        .map(|column| {
            rows.iter()
                .map(|row| row[column].chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    for row in rows {
        let cells: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(cell, width)| format!("{cell:<width$}"))
            .collect();
        println!("{}", cells.join("  ").trim_end());
    }
    Ok(())
}

fn row(dir: &Path, file: &ModelFile, loaded: &str) -> [String; 6] {
    let file_name = format!("{}.gguf", file.id);
    // A split model's size is its parts' together.
    let bytes: u64 = split::all_parts(&file_name)
        .iter()
        .filter_map(|part| std::fs::metadata(dir.join(part)).ok())
        .map(|metadata| metadata.len())
        .sum();
    let (quant, context, template) = match gguf::read_file(&file.path) {
        Ok(metadata) => {
            let quant = metadata.quantisation().unwrap_or("-").to_owned();
            let context = metadata
                .context_length
                .map_or_else(|| "-".to_owned(), |tokens| tokens.to_string());
            (quant, context, template_family(&file.path, &metadata))
        }
        Err(error) => (format!("unreadable ({error})"), "-".into(), "-".into()),
    };
    [
        file.id.clone(),
        HumanBytes(bytes).to_string(),
        quant,
        context,
        template,
        loaded.to_owned(),
    ]
}

/// The family of the template the server will use: an `ID.jinja` beside the file wins over
/// the GGUF's own, as it does when serving.
fn template_family(gguf: &Path, metadata: &gguf::Metadata) -> String {
    let beside = gguf.with_extension("jinja");
    match std::fs::read_to_string(&beside) {
        Ok(template) => format!("{} (.jinja)", family(Some(&template))),
        Err(_) => family(metadata.chat_template.as_deref()).to_owned(),
    }
}

/// The chat format a template writes, by the turn markers it holds.
pub fn family(template: Option<&str>) -> &'static str {
    const MARKERS: &[(&str, &str)] = &[
        ("<|im_start|>", "chatml"),
        ("<start_of_turn>", "gemma"),
        ("<|start_header_id|>", "llama3"),
        ("<|START_OF_TURN_TOKEN|>", "command-r"),
        ("<｜User｜>", "deepseek"),
        ("[INST]", "mistral"),
        ("<|end|>", "phi3"),
        ("<|user|>", "zephyr"),
    ];
    let Some(template) = template else {
        return "none";
    };
    MARKERS
        .iter()
        .find(|(marker, _)| template.contains(marker))
        .map_or("other", |(_, family)| family)
}

fn loaded(state: &str) -> &str {
    match state {
        "ready" => "yes",
        "not_loaded" | "" => "no",
        other => other,
    }
}

/// Each model's state on the server at 127.0.0.1:`port` (its public `/health`), or `None`
/// when nothing answers there as sotto does.
async fn server_states(port: u16) -> Option<HashMap<String, String>> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(2))
        // A proxy set for downloads must not see, or answer for, this machine's own server.
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .ok()?;
    let response = client
        .get(format!("http://127.0.0.1:{port}/health"))
        .send()
        .await
        .ok()?;
    let health: Health = response.error_for_status().ok()?.json().await.ok()?;
    Some(
        health
            .models
            .into_iter()
            .map(|model| (model.id, model.state))
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::family;

    #[test]
    fn names_template_families_by_their_markers() {
        assert_eq!(family(None), "none");
        assert_eq!(family(Some("{{ '<|im_start|>' + role }}")), "chatml");
        assert_eq!(family(Some("{{ '<start_of_turn>user' }}")), "gemma");
        assert_eq!(
            family(Some("<|start_header_id|>{{ role }}<|end_header_id|>")),
            "llama3"
        );
        assert_eq!(family(Some("[INST] {{ m }} [/INST]")), "mistral");
        assert_eq!(family(Some("{{ m }}")), "other");
    }
}
