//! The chat page in a real browser: Debian's Chromium, driven by playwright-core from Node's
//! own test runner (`tests/e2e/*.test.mjs`), against the real server with the real model.
//!
//! Needs `/usr/bin/chromium` and `tests/e2e/node_modules`; `make test` installs both. Without
//! them this test fails (it does not skip): a green run must mean the browser tests ran.

mod common;

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
    let screenshots = root.join("target/screenshots");
    std::fs::create_dir_all(&screenshots).expect("screenshot directory");
    println!("screenshots go to {}", screenshots.display());

    // SOTTO_E2E_FILTER=storage runs only the files whose name contains "storage" (while
    // iterating on one scenario); unset, every file runs.
    let mut files = vec!["tests/e2e/".to_owned()];
    if let Ok(filter) = std::env::var("SOTTO_E2E_FILTER") {
        files = std::fs::read_dir(&e2e)
            .expect("tests/e2e")
            .map(|entry| {
                entry
                    .expect("entry")
                    .file_name()
                    .to_string_lossy()
                    .into_owned()
            })
            .filter(|name| name.ends_with(".test.mjs") && name.contains(&filter))
            .map(|name| format!("tests/e2e/{name}"))
            .collect();
        assert!(
            !files.is_empty(),
            "no tests/e2e file matches SOTTO_E2E_FILTER={filter}"
        );
    }
    let mut child = Command::new("node")
        .args(["--test", "--test-concurrency=1", "--test-reporter=spec"])
        .args(&files)
        .current_dir(root)
        .env("SOTTO_BASE_URL", &app.base)
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
}
