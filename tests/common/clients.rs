//! The client scripts under tests/sdk/ and tests/e2e/, run against the shared server: each reads
//! SOTTO_BASE_URL, SOTTO_API_KEY and SOTTO_MODEL, exits non-zero at its first failed check and
//! prints "N passed, 0 failed" when all pass (tests/agent_clients.rs, tests/responses.rs).

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::{shared_app, MODEL};

/// Each script makes a handful of requests of at most 200 tokens: seconds, not minutes, even
/// with the other scripts running beside it on two cores.
const TIME_LIMIT: Duration = Duration::from_secs(240);

pub fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// An interpreter `make venv` prepares: `variable` names it, else the virtualenv in the root.
fn python(variable: &str, venv: &str) -> PathBuf {
    let python = std::env::var_os(variable)
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join(venv).join("bin/python"));
    assert!(
        python.exists(),
        "{} is missing: run `make venv` (make test does)",
        python.display()
    );
    python
}

pub fn main_python() -> PathBuf {
    python("SOTTO_TEST_PYTHON", ".venv")
}

/// instructor's pins conflict with .venv's openai, so it has a virtualenv of its own.
pub fn instructor_python() -> PathBuf {
    python("SOTTO_TEST_INSTRUCTOR_PYTHON", ".venv-instructor")
}

/// Reads all of `pipe` on a thread of its own.
fn drain<R: Read + Send + 'static>(pipe: Option<R>) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let mut text = String::new();
        if let Some(mut pipe) = pipe {
            let _ = pipe.read_to_string(&mut text);
        }
        text
    })
}

/// Runs `program script` against the shared server and fails the test with the script's whole
/// output unless it exits 0 having printed its "N passed, 0 failed" line. Returns its stdout.
pub async fn run_client(program: PathBuf, script: &str) -> String {
    let app = shared_app().await;
    let mut child = Command::new(&program)
        .arg(root().join(script))
        .current_dir(root())
        .env("SOTTO_BASE_URL", app.url("/v1"))
        .env("SOTTO_API_KEY", &app.api_key)
        .env("SOTTO_MODEL", MODEL)
        // No __pycache__ beside the scripts; no colour codes in the output shown on failure.
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|error| panic!("{} does not start: {error}", program.display()));
    // Read both pipes while the script runs, or a chatty script blocks on a full pipe.
    let stdout = drain(child.stdout.take());
    let stderr = drain(child.stderr.take());

    // The server runs on another runtime, but polling keeps this one free for the others' tests.
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("waiting for the script") {
            break Some(status);
        }
        if started.elapsed() > TIME_LIMIT {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let stdout = stdout.join().expect("stdout reader");
    let stderr = stderr.join().expect("stderr reader");
    let elapsed = started.elapsed();
    let Some(status) = status else {
        panic!("{script} did not finish within {TIME_LIMIT:?}:\n{stdout}\n{stderr}");
    };
    assert!(
        status.success(),
        "{script} failed ({status}) after {elapsed:.1?}:\n{stdout}\n{stderr}"
    );
    assert!(
        stdout
            .lines()
            .any(|line| line.ends_with(" passed, 0 failed")),
        "{script} exited 0 without its summary line:\n{stdout}\n{stderr}"
    );
    eprintln!("{script} ({elapsed:.1?}):\n{stdout}");
    stdout
}
