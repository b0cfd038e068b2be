//! The module structure the code relies on, checked by reading the source: no module imports
//! a module that imports it back (at the top level, and between the files of one directory),
//! and the library exports only what `main.rs` and the tests use.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn source_files(dir: &Path, files: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("src/ is readable") {
        let path = entry.expect("a directory entry").path();
        if path.is_dir() {
            source_files(&path, files);
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            files.push(path);
        }
    }
}

/// The source without comments, so a path named in prose is not an import.
fn code(source: &str) -> String {
    source
        .lines()
        .filter(|line| !line.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n")
}

fn leading_ident(text: &str) -> Option<String> {
    let ident: String = text
        .trim_start()
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect();
    (!ident.is_empty()).then_some(ident)
}

/// The first segment of every path that starts with `prefix` (`crate::`, `super::`), grouped
/// imports (`crate::{a, b::c}`) included.
fn referenced(code: &str, prefix: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let mut rest = code;
    while let Some(at) = rest.find(prefix) {
        rest = &rest[at + prefix.len()..];
        let Some(group) = rest.strip_prefix('{') else {
            found.extend(leading_ident(rest));
            continue;
        };
        let (mut depth, mut item) = (0usize, String::new());
        for c in group.chars() {
            match c {
                '{' => depth += 1,
                '}' if depth == 0 => break,
                '}' => depth -= 1,
                ',' if depth == 0 => {
                    found.extend(leading_ident(&item));
                    item.clear();
                }
                _ if depth == 0 => item.push(c),
                _ => {}
            }
        }
        found.extend(leading_ident(&item));
    }
    found.retain(|name| name != "self");
    found
}

/// A cycle in `graph`, as the path that closes it.
fn find_cycle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(start) = path.iter().position(|n| n == node) {
            let mut cycle = path[start..].to_vec();
            cycle.push(node.to_owned());
            return Some(cycle);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.to_owned());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(cycle) = visit(next, graph, path, done) {
                return Some(cycle);
            }
        }
        path.pop();
        done.insert(node.to_owned());
        None
    }
    let mut done = BTreeSet::new();
    graph
        .keys()
        .find_map(|node| visit(node, graph, &mut Vec::new(), &mut done))
}

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

#[test]
fn no_module_imports_a_module_that_imports_it_back() {
    let src = src();
    let mut files = Vec::new();
    source_files(&src, &mut files);
    let mut top_level: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut siblings: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in &files {
        let relative = file.strip_prefix(&src).expect("under src/");
        let parts: Vec<String> = relative
            .iter()
            .map(|part| part.to_string_lossy().trim_end_matches(".rs").to_owned())
            .collect();
        // The crate root and the binaries are not modules of the library.
        if parts[0] == "lib" || parts[0] == "main" || parts[0] == "bin" {
            continue;
        }
        let code = code(&std::fs::read_to_string(file).expect("readable source"));
        let module = parts[0].clone();
        let edges = top_level.entry(module.clone()).or_default();
        edges.extend(
            referenced(&code, "crate::")
                .into_iter()
                .filter(|m| *m != module),
        );
        // Between the files of one directory; `mod.rs` declares them, so it is left out.
        if parts.len() == 2 && parts[1] != "mod" {
            let name = format!("{}/{}", parts[0], parts[1]);
            let edges = siblings.entry(name.clone()).or_default();
            for sibling in referenced(&code, "super::") {
                if src.join(&parts[0]).join(format!("{sibling}.rs")).exists() {
                    edges.insert(format!("{}/{sibling}", parts[0]));
                }
            }
            edges.remove(&name);
        }
    }
    assert!(
        top_level.len() > 10,
        "the source was not found: {top_level:?}"
    );
    assert_eq!(
        find_cycle(&top_level),
        None,
        "an import cycle between modules"
    );
    assert_eq!(
        find_cycle(&siblings),
        None,
        "an import cycle between files of one module"
    );
}

#[test]
fn the_library_exports_only_what_the_binary_and_tests_use() {
    let lib = std::fs::read_to_string(src().join("lib.rs")).expect("lib.rs");
    let exported: BTreeSet<String> = code(&lib)
        .lines()
        .filter_map(|line| line.trim().strip_prefix("pub mod "))
        .filter_map(leading_ident)
        .collect();
    let allowed = ["cli", "config", "telemetry", "testing"].map(String::from);
    let allowed = BTreeSet::from(allowed);
    assert!(
        exported.is_subset(&allowed),
        "exported modules: {exported:?}"
    );
}

/// The manifest only denies unsafe code, so the test harness can make its one `atexit` call;
/// the crates that ship forbid it, which no `allow` inside them can undo.
#[test]
fn the_shipped_crates_forbid_unsafe_code() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    for crate_root in ["src/lib.rs", "src/main.rs", "bench/src/main.rs"] {
        let source = std::fs::read_to_string(root.join(crate_root)).expect("a crate root");
        assert!(
            code(&source)
                .lines()
                .any(|line| line.trim() == "#![forbid(unsafe_code)]"),
            "{crate_root} does not forbid unsafe code"
        );
    }
}

#[test]
fn the_checker_sees_grouped_imports_and_cycles() {
    let found = referenced(
        "use crate::{api::{self, ApiError}, web};\nlet x = crate::state::X;",
        "crate::",
    );
    assert_eq!(
        found,
        BTreeSet::from(["api".into(), "state".into(), "web".into()])
    );
    let graph = BTreeMap::from([
        ("a".to_owned(), BTreeSet::from(["b".to_owned()])),
        ("b".to_owned(), BTreeSet::from(["a".to_owned()])),
    ]);
    assert!(find_cycle(&graph).is_some());
}
