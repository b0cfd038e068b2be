//! The chat page in a real browser: Debian's Chromium, driven by playwright-core from Node's
//! own test runner (`tests/e2e/*.test.mjs`), against the real server with the real model.
//!
//! Needs `/usr/bin/chromium` and `tests/e2e/node_modules`; `make test` installs both. Without
//! them this test fails (it does not skip): a green run must mean the browser tests ran.

use crate::common;

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

const CHROMIUM: &str = "/usr/bin/chromium";
/// Far above a normal run (a few minutes), for a shared, busy machine; a hung browser still ends.
const TIME_LIMIT: Duration = Duration::from_secs(30 * 60);

/// Prints each line as it comes (visible with `--nocapture`, and on failure) and keeps it.
fn relay(stream: impl Read + Send + 'static, lines: Arc<Mutex<Vec<String>>>) -> JoinHandle<()> {
    std::thread::spawn(move || {
        for line in BufReader::new(stream).lines().map_while(Result::ok) {
            println!("{line}");
            lines.lock().expect("output lock").push(line);
        }
    })
}

// The server runs on this test's runtime, so waiting for node must not block it: the child is
// polled between sleeps instead of waited on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chat_page_in_a_real_browser() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let e2e = root.join("tests/e2e");
    assert!(
        Path::new(CHROMIUM).exists(),
        "{CHROMIUM} is missing: run `make browser-deps` (or `apt-get install chromium`)"
    );
    assert!(
        e2e.join("node_modules/playwright-core/package.json")
            .exists(),
        "tests/e2e/node_modules is missing: run `make browser-deps` (or `npm ci --prefix tests/e2e`)"
    );

    let app = common::spawn_app(|c| {
        c.ctx_size = 2048;
        // tests/e2e/lan.test.mjs opens the page as http://sotto.lan:PORT.
        c.allowed_hosts = vec!["sotto.lan".into()];
    })
    .await;
    // A second server for what the first must not do: one request at a time per caller (a
    // second one gets a real 429), and models that are not loaded until a chat asks for them
    // (the first such chat gets a real 503 model_loading). The directory is read on each
    // request, so files linked in after the start are listed.
    let limits = common::spawn_app(|c| {
        c.ctx_size = 2048;
        c.max_requests_per_caller = Some(1);
        // The spare models load beside the default one, which the later scenarios use.
        c.max_loaded_models = Some(u32::try_from(1 + SPARE_MODELS.len()).unwrap_or(u32::MAX));
    })
    .await;
    for twin in SPARE_MODELS {
        std::os::unix::fs::symlink(
            common::model_file(),
            limits.models_dir.join(format!("{twin}.gguf")),
        )
        .expect("a spare model linked in");
    }
    // A third server whose chat template opens a `<think>` block in the generation prompt: what
    // the default model writes first is thinking, streamed as `reasoning_content`.
    let thinking = common::spawn_app(|c| {
        c.ctx_size = 2048;
        c.chat_template_files = vec![root
            .join("tests/fixtures/think-chatml.jinja")
            .display()
            .to_string()];
    })
    .await;
    let screenshots = root.join("target/screenshots");
    std::fs::create_dir_all(&screenshots).expect("screenshot directory");
    println!("screenshots go to {}", screenshots.display());

    // SOTTO_E2E_FILTER=storage runs only the files whose name contains "storage" (while
    // iterating on one scenario); unset, every file runs. Node gets the files, not the
    // directory (Node 21 and later refuse one).
    let filter = std::env::var("SOTTO_E2E_FILTER").unwrap_or_default();
    let mut files: Vec<String> = std::fs::read_dir(&e2e)
        .expect("tests/e2e")
        .map(|entry| {
            entry
                .expect("entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .filter(|name| name.ends_with(".test.mjs") && name.contains(&filter))
        .collect();
    files.sort();
    assert!(
        !files.is_empty(),
        "no tests/e2e file matches SOTTO_E2E_FILTER={filter}"
    );
    let mut expected = 0;
    for name in &files {
        let source = std::fs::read_to_string(e2e.join(name)).expect("a test file");
        let count = scenarios_in(&source);
        assert!(count > 0, "tests/e2e/{name} defines no scenario");
        println!("tests/e2e/{name}: {count} scenarios");
        expected += count;
    }
    let tap = tempfile::NamedTempFile::new().expect("a file for node's TAP report");
    let mut child = Command::new("node")
        .args(["--test", "--test-concurrency=1"])
        // Spec for people (relayed below), TAP to a file for the counts checked at the end.
        .args(["--test-reporter=spec", "--test-reporter-destination=stdout"])
        .arg("--test-reporter=tap")
        .arg(format!(
            "--test-reporter-destination={}",
            tap.path().display()
        ))
        .args(files.iter().map(|name| format!("tests/e2e/{name}")))
        .current_dir(root)
        .env("SOTTO_BASE_URL", &app.base)
        .env("SOTTO_LIMITS_URL", &limits.base)
        .env("SOTTO_THINKING_URL", &thinking.base)
        .env("SOTTO_SPARE_MODELS", SPARE_MODELS.join(","))
        .env("SOTTO_SCREENSHOTS", &screenshots)
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("node runs (Node.js 20 or later is needed)");
    let lines = Arc::new(Mutex::new(Vec::new()));
    let readers = [
        relay(child.stdout.take().expect("stdout"), lines.clone()),
        relay(child.stderr.take().expect("stderr"), lines.clone()),
    ];

    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("waiting for node") {
            break status;
        }
        if started.elapsed() > TIME_LIMIT {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the browser tests did not finish within {TIME_LIMIT:?}");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    for reader in readers {
        reader.join().expect("output relay");
    }

    let output = lines.lock().expect("output lock").join("\n");
    assert!(
        status.success(),
        "the browser tests failed ({status}); node's output:\n{output}"
    );
    let report = std::fs::read_to_string(tap.path()).expect("node's TAP report");
    let tally = Tally::of(&report);
    assert_eq!(
        (tally.passed, tally.not_passed, tally.skipped),
        (expected, 0, 0),
        "{expected} scenarios are defined in {files:?}; node reports {tally:?}:\n{report}"
    );
}

/// Models linked into the second server's directory, each loaded on its first chat: one for
/// the real 503 model_loading, one for the per-conversation model choice. Their names sort
/// after the default model's, which the page lists first.
const SPARE_MODELS: [&str; 2] = ["Spare-Loading", "Spare-Second"];

/// The scenarios a file defines: its lines that begin with `test(` (a scenario made in a loop
/// would be miscounted, so scenarios are written out one by one).
fn scenarios_in(source: &str) -> usize {
    source
        .lines()
        .filter(|line| line.trim_start().starts_with("test("))
        .count()
}

/// Node's TAP report, read at its top level (one line per scenario) and in its summary.
#[derive(Debug)]
struct Tally {
    passed: usize,
    not_passed: usize,
    skipped: usize,
}

impl Tally {
    fn of(report: &str) -> Self {
        let top: Vec<&str> = report
            .lines()
            .filter(|line| line.starts_with("ok ") || line.starts_with("not ok "))
            .collect();
        let skipped_or_todo = |line: &&&str| line.contains(" # SKIP") || line.contains(" # TODO");
        // `# fail 0`, `# cancelled 0`, `# skipped 0`, `# todo 0`: four lines, each ending in 0.
        let summary: Vec<&str> = report
            .lines()
            .filter(|line| {
                ["# fail ", "# cancelled ", "# skipped ", "# todo "]
                    .iter()
                    .any(|key| line.starts_with(key))
            })
            .collect();
        let summary_clean = summary.len() == 4 && summary.iter().all(|line| line.ends_with(" 0"));
        Self {
            passed: top
                .iter()
                .filter(|line| line.starts_with("ok ") && !skipped_or_todo(line))
                .count(),
            not_passed: top
                .iter()
                .filter(|line| line.starts_with("not ok "))
                .count()
                + usize::from(!summary_clean),
            skipped: top.iter().filter(skipped_or_todo).count(),
        }
    }
}

#[test]
fn a_skipped_failed_or_missing_scenario_is_counted_as_such() {
    let report = "TAP version 13\n# Subtest: one\nok 1 - one\n    # Subtest: inner\n    ok 1 - inner\n# Subtest: two\nok 2 - two # SKIP\nnot ok 3 - three\n1..3\n# tests 3\n# pass 1\n# fail 1\n# cancelled 0\n# skipped 1\n# todo 0\n";
    let tally = Tally::of(report);
    assert_eq!((tally.passed, tally.not_passed, tally.skipped), (1, 2, 1));
    let clean = "ok 1 - one\nok 2 - two\n# fail 0\n# cancelled 0\n# skipped 0\n# todo 0\n";
    let tally = Tally::of(clean);
    assert_eq!((tally.passed, tally.not_passed, tally.skipped), (2, 0, 0));
    // A report without its summary (node stopped early) is not clean.
    assert_eq!(Tally::of("ok 1 - one\n").not_passed, 1);
    assert_eq!(
        scenarios_in("test('a', () => {});\n  test(`b`, f);\nassert.ok(/x/.test(s));\n"),
        2
    );
}
