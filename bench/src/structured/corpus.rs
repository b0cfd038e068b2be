//! The schema sample: one subfolder per dataset, one JSON Schema per file.

use std::path::{Path, PathBuf};

use anyhow::Context;
use serde_json::Value;

/// One schema of the sample, with the bench's own validator for it.
pub struct Schema {
    pub dataset: String,
    /// The file name: enough to find the schema again, and no content of it.
    pub file: String,
    pub schema: Value,
    /// `None` when the `jsonschema` crate cannot compile the schema itself (a remote `$ref`,
    /// say): replies to it are then counted as unchecked, neither valid nor invalid.
    pub validator: Option<jsonschema::Validator>,
}

/// The datasets of `dir` in name order, each with at most `per_dataset` schemas (the first
/// in file name order, so that a smaller run is a prefix of a larger one).
pub fn load(dir: &Path, per_dataset: usize) -> anyhow::Result<Vec<(String, Vec<Schema>)>> {
    let mut datasets = Vec::new();
    for folder in sorted_entries(dir)?.into_iter().filter(|p| p.is_dir()) {
        let dataset = file_name(&folder);
        let mut schemas = Vec::new();
        let files = sorted_entries(&folder)?
            .into_iter()
            .filter(|p| p.extension().is_some_and(|e| e == "json"));
        for path in files.take(per_dataset) {
            let text = std::fs::read_to_string(&path)
                .with_context(|| format!("reading {}", path.display()))?;
            let schema: Value = serde_json::from_str(&text)
                .with_context(|| format!("{} is not JSON", path.display()))?;
            // Formats are checked too: a server that cannot enforce `format` should refuse
            // the schema, not answer with a string that breaks it.
            let validator = jsonschema::options()
                .should_validate_formats(true)
                .build(&schema)
                .ok();
            schemas.push(Schema {
                dataset: dataset.clone(),
                file: file_name(&path),
                schema,
                validator,
            });
        }
        if !schemas.is_empty() {
            datasets.push((dataset, schemas));
        }
    }
    anyhow::ensure!(
        !datasets.is_empty(),
        "no schemas in {}: it should hold one folder of .json files per dataset",
        dir.display()
    );
    Ok(datasets)
}

fn sorted_entries(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut entries = std::fs::read_dir(dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .map(|entry| entry.map(|e| e.path()))
        .collect::<Result<Vec<_>, _>>()?;
    entries.sort();
    Ok(entries)
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map_or_else(String::new, |n| n.to_string_lossy().into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn datasets_are_folders_and_limits_apply_in_name_order() {
        let dir = tempfile::tempdir().expect("dir");
        let write = |path: &str, text: &str| {
            let path = dir.path().join(path);
            std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
            std::fs::write(path, text).expect("write");
        };
        write("b/2.json", r#"{"type": "integer"}"#);
        write("b/1.json", r#"{"type": "string", "format": "date"}"#);
        write("b/notes.txt", "not a schema");
        write("a/1.json", r#"{"$ref": "https://example.com/remote.json"}"#);
        write("README.md", "ignored");

        let datasets = load(dir.path(), 1).expect("load");
        let names: Vec<(&str, Vec<&str>)> = datasets
            .iter()
            .map(|(d, s)| (d.as_str(), s.iter().map(|s| s.file.as_str()).collect()))
            .collect();
        assert_eq!(names, [("a", vec!["1.json"]), ("b", vec!["1.json"])]);
        // A remote reference cannot be resolved offline: no validator, not a failure.
        assert!(datasets[0].1[0].validator.is_none());
        let date = datasets[1].1[0].validator.as_ref().expect("a validator");
        assert!(date.is_valid(&serde_json::json!("2026-11-26")));
        assert!(!date.is_valid(&serde_json::json!("yesterday")));
        assert_eq!(load(dir.path(), 5).expect("load")[1].1.len(), 2);
    }
}
