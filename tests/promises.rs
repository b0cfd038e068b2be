//! `docs/promises.md` maps each promise the README makes to the test that proves it; this
//! checks that every test it names exists, so the map cannot point at a renamed or deleted test.

use std::path::Path;

/// A test named in the map: `tests/file.rs::name`, `src/path.rs::name` or
/// `tests/e2e/file.test.mjs::scenario title`.
fn exists(root: &Path, reference: &str) -> Result<(), String> {
    let (file, name) = reference
        .split_once("::")
        .ok_or_else(|| format!("`{reference}` is not `file::test`"))?;
    let source = std::fs::read_to_string(root.join(file))
        .map_err(|error| format!("`{file}` (from `{reference}`): {error}"))?;
    let found = if file.ends_with(".mjs") {
        ["'", "\"", "`"]
            .iter()
            .any(|quote| source.contains(&format!("{quote}{name}{quote}")))
    } else {
        source.contains(&format!("fn {name}("))
    };
    found
        .then_some(())
        .ok_or_else(|| format!("`{reference}`: no such test in `{file}`"))
}

/// Every `` `...::...` `` in the last column of the map's tables.
fn references(map: &str) -> Vec<String> {
    map.lines()
        .filter(|line| line.starts_with('|') && !line.starts_with("|-"))
        .filter_map(|line| line.trim_end_matches('|').rsplit('|').next())
        .flat_map(|cell| {
            cell.split('`')
                .skip(1)
                .step_by(2)
                .map(str::to_owned)
                .collect::<Vec<_>>()
        })
        .filter(|reference| reference.contains("::"))
        .collect()
}

#[test]
fn every_test_named_in_the_promise_map_exists() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let map = std::fs::read_to_string(root.join("docs/promises.md")).expect("docs/promises.md");
    let references = references(&map);
    assert!(
        references.len() >= 40,
        "only {} tests named",
        references.len()
    );
    let missing: Vec<String> = references
        .iter()
        .filter_map(|reference| exists(root, reference).err())
        .collect();
    assert!(missing.is_empty(), "{}", missing.join("\n"));
}

#[test]
fn every_row_of_the_map_names_a_test() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let map = std::fs::read_to_string(root.join("docs/promises.md")).expect("docs/promises.md");
    let rows: Vec<&str> = map
        .lines()
        .filter(|line| line.starts_with("| ") && !line.starts_with("| Promise"))
        .collect();
    for row in rows {
        assert!(
            !references(row).is_empty(),
            "a promise without a test: {row}"
        );
    }
}
