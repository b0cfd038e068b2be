//! `sotto models pull REF`: what to download (one file, or every part of a split model),
//! under which names, checked against which hashes.

use indicatif::HumanBytes;
use reqwest::{StatusCode, Url};
use std::path::Path;

use super::args::PullArgs;
use super::download::{download, Job};
use super::error::PullError;
use super::http::Fetcher;
use super::names;
use super::reference::{self, DEFAULT_HF_ENDPOINT};
use crate::gguf::split;

pub async fn pull(args: PullArgs, dir: &Path) -> Result<(), PullError> {
    let endpoint = args
        .hf_endpoint
        .clone()
        .or_else(|| std::env::var("HF_ENDPOINT").ok())
        .filter(|endpoint| !endpoint.trim().is_empty())
        .unwrap_or_else(|| DEFAULT_HF_ENDPOINT.to_owned());
    let source = reference::parse(&args.reference, &endpoint)?;
    let hashes = args
        .sha256
        .iter()
        .map(|hex| sha256_arg(hex))
        .collect::<Result<Vec<_>, _>>()?;
    if !(args.max_download_gb.is_finite() && args.max_download_gb > 0.0) {
        return Err(PullError::Usage(
            "--max-download-gb must be a positive number".into(),
        ));
    }
    let max_bytes = (args.max_download_gb * 1e9) as u64;
    if let Some(id) = &args.name {
        if !names::valid_id(id) {
            return Err(PullError::Usage(
                "--name must be a plain file name without .gguf (no `/`, `..` or leading `.`)"
                    .into(),
            ));
        }
    }
    let files = files(&source, args.name.as_deref())?;
    if !hashes.is_empty() && hashes.len() != files.len() {
        return Err(PullError::Usage(format!(
            "give --sha256 once per file: this model has {} part(s)",
            files.len()
        )));
    }
    std::fs::create_dir_all(dir).map_err(PullError::disk("creating", dir))?;
    // Before any download: a model is not half replaced because its second part exists.
    for name in files.iter().filter_map(|(_, name)| name.as_deref()) {
        if !args.force && dir.join(name).symlink_metadata().is_ok() {
            let id = name.trim_end_matches(".gguf").to_owned();
            return Err(PullError::Exists { id });
        }
    }
    let hf_host = source.hf.then(|| source.url.host_str()).flatten();
    let fetcher = Fetcher::new(hf_host)?;
    let count = files.len();
    for (index, (url, file_name)) in files.into_iter().enumerate() {
        let job = Job {
            url,
            file_name,
            expected_sha256: hashes.get(index).cloned(),
            dir,
            force: args.force,
            max_bytes,
        };
        let pulled = download(&fetcher, &job)
            .await
            .map_err(|error| with_hint(error, source.hf))?;
        let checked = pulled.checked_against.map_or_else(
            || "not checked: no hash was given or published".to_owned(),
            |against| format!("matches {against}"),
        );
        let part = if count > 1 {
            format!(" (part {} of {count})", index + 1)
        } else {
            String::new()
        };
        println!(
            "pulled {}{part}: {}, sha256 {} ({checked})",
            pulled.path.display(),
            HumanBytes(pulled.bytes),
            pulled.sha256
        );
    }
    Ok(())
}

/// Each file to download with its name in the models directory (`None`: the server names it).
fn files(
    source: &reference::Source,
    name: Option<&str>,
) -> Result<Vec<(Url, Option<String>)>, PullError> {
    let Some(file_name) = source.file_name.as_deref() else {
        return Ok(vec![(
            source.url.clone(),
            name.map(|id| format!("{id}.gguf")),
        )]);
    };
    let Some(part) = split::parse(file_name) else {
        let local = name.map_or_else(|| file_name.to_owned(), |id| format!("{id}.gguf"));
        return Ok(vec![(source.url.clone(), Some(local))]);
    };
    if part.index != 1 {
        return Err(PullError::Usage(format!(
            "this is part {} of a split model: pull its first part (-00001-of-{:05}.gguf), which pulls every part",
            part.index, part.count
        )));
    }
    // llama.cpp finds the other parts by this pattern: a new name keeps it.
    let prefix = name.unwrap_or(part.prefix);
    Ok((1..=part.count)
        .map(|index| {
            let remote = split::part_name(part.prefix, index, part.count);
            let local = split::part_name(prefix, index, part.count);
            (source.sibling(&remote), Some(local))
        })
        .collect())
}

/// Hugging Face answers 401 for a gated or private repository without a token that may
/// read it (and 404 for one that does not exist).
fn with_hint(error: PullError, hf: bool) -> PullError {
    match &error {
        PullError::Status { status, .. }
            if hf && (*status == StatusCode::UNAUTHORIZED || *status == StatusCode::FORBIDDEN) =>
        {
            PullError::Usage(format!(
                "{error}: the repository is gated or private; set HF_TOKEN to a token that can read it"
            ))
        }
        _ => error,
    }
}

fn sha256_arg(hex: &str) -> Result<String, PullError> {
    let hex = hex.trim().to_ascii_lowercase();
    if hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(hex)
    } else {
        Err(PullError::Usage(
            "--sha256 must be 64 hexadecimal digits".into(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_split_reference_pulls_every_part_under_its_pattern() {
        let source =
            reference::parse("hf:o/r/big-00001-of-00003.gguf", DEFAULT_HF_ENDPOINT).expect("valid");
        let parts = files(&source, Some("mine")).expect("a first part");
        let names: Vec<_> = parts.iter().map(|(_, name)| name.clone()).collect();
        assert_eq!(
            names,
            [
                Some("mine-00001-of-00003.gguf".to_owned()),
                Some("mine-00002-of-00003.gguf".to_owned()),
                Some("mine-00003-of-00003.gguf".to_owned())
            ]
        );
        assert_eq!(
            parts[2].0.as_str(),
            "https://huggingface.co/o/r/resolve/main/big-00003-of-00003.gguf"
        );
        let later =
            reference::parse("hf:o/r/big-00002-of-00003.gguf", DEFAULT_HF_ENDPOINT).expect("valid");
        assert!(files(&later, None).is_err());
    }
}
