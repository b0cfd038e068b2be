//! `sotto models pull`, `list` and `rm`, with the real binary against an HTTP server this
//! test starts (where the real thing is the internet) serving the real default model: with
//! ranges, a dropped connection, Hugging Face's redirect and published hash, and hostile
//! answers.

use crate::common;

use std::path::Path;
use std::process::Output;
use std::time::Duration;

use common::process::{output_within, sotto_command, ServerProcess};
use serde_json::json;
use sha2::{Digest, Sha256};

use common::file_server::FileServer;

pub const FILE: &str = "SmolLM2-135M-Instruct.Q4_1.gguf";

/// `sotto models ARGS...`, with none of this process's Hugging Face settings.
pub fn models(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = sotto_command();
    command
        .arg("models")
        .args(args)
        .env_remove("HF_TOKEN")
        .env_remove("HF_ENDPOINT")
        .envs(env.iter().copied());
    output_within(command, Duration::from_secs(120))
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn sha256_of(path: &Path) -> String {
    let bytes = std::fs::read(path).expect("the pulled file");
    Sha256::digest(bytes)
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

/// The names in `dir`, sorted.
pub fn names_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .map(|entry| entry.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

pub fn dir_arg(dir: &Path) -> String {
    dir.to_str().expect("a UTF-8 temp path").to_owned()
}

/// A pull that is cut half way resumes with a Range request, prints progress lines, and gives
/// the exact file, which then answers a chat, is listed with its header's facts and as loaded
/// by the server, and is removed by `rm`.
#[tokio::test]
async fn a_pull_resumes_after_a_dropped_connection_and_the_model_then_answers() {
    let server = FileServer::start();
    let root = tempfile::tempdir().expect("root");
    let dir = root.path().join("models");
    let url = format!("{}/flaky/{FILE}", server.base);
    let output = models(
        &[
            "pull",
            &url,
            "--models-dir",
            &dir_arg(&dir),
            "--name",
            "pulled",
        ],
        &[],
    );
    let stderr = text(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    // Plain progress lines (stderr is not a terminal here), a retry, then the end.
    assert!(stderr.contains("pull: pulled.gguf 10% ("), "{stderr}");
    assert!(stderr.contains("retrying in 1s"), "{stderr}");
    assert!(stderr.contains("pull: pulled.gguf 100% ("), "{stderr}");
    let seen = server.seen();
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert_eq!(seen[0].range, None);
    let resumed_at: u64 = seen[1]
        .range
        .as_deref()
        .and_then(|range| range.strip_prefix("bytes="))
        .and_then(|range| range.strip_suffix('-'))
        .and_then(|start| start.parse().ok())
        .unwrap_or_else(|| panic!("the second request resumes: {seen:?}"));
    assert!(
        resumed_at > 0 && resumed_at <= server.len() / 2,
        "{resumed_at}"
    );
    assert_eq!(sha256_of(&dir.join("pulled.gguf")), server.sha256());
    assert!(
        !dir.join("pulled.gguf.partial").exists(),
        "{:?}",
        names_in(&dir)
    );
    // Nothing was published and nothing given: the output says the hash was not checked.
    assert!(text(&output.stdout).contains("not checked"));

    // The server started on that folder serves it (the harness adds the default model too).
    let process = ServerProcess::start(root.path(), &["--auth", "off", "--model", "pulled"], None);
    wait_loaded(&process.base, "pulled").await;
    let reply = common::client()
        .post(format!("{}/v1/chat/completions", process.base))
        .json(&json!({
            "model": "pulled",
            "messages": [{ "role": "user", "content": "Say hello." }],
            "max_tokens": 8,
            "temperature": 0,
        }))
        .send()
        .await
        .expect("a chat request");
    assert_eq!(reply.status(), 200);
    let body: serde_json::Value = reply.json().await.expect("json");
    let content = body["choices"][0]["message"]["content"].as_str();
    assert!(content.is_some_and(|c| !c.is_empty()), "{body}");

    let port = process.port().to_string();
    let list = models(
        &["list", "--models-dir", &dir_arg(&dir), "--port", &port],
        &[],
    );
    let listing = text(&list.stdout);
    assert!(list.status.success(), "{}", text(&list.stderr));
    let row = listing
        .lines()
        .find(|line| line.starts_with("pulled "))
        .unwrap_or_else(|| panic!("{listing}"));
    let cells: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(
        cells,
        ["pulled", "93.81", "MiB", "Q4_1", "8192", "chatml", "yes"],
        "{listing}"
    );
    let default = listing
        .lines()
        .find(|line| line.starts_with(common::MODEL))
        .unwrap_or_else(|| panic!("{listing}"));
    assert!(default.ends_with(" no"), "{listing}");

    let removed = models(&["rm", "pulled", "--models-dir", &dir_arg(&dir)], &[]);
    assert!(removed.status.success(), "{}", text(&removed.stderr));
    assert!(!dir.join("pulled.gguf").exists());
    let list = models(
        &["list", "--models-dir", &dir_arg(&dir), "--port", &port],
        &[],
    );
    assert!(
        !text(&list.stdout).contains("pulled"),
        "{}",
        text(&list.stdout)
    );
    let again = models(&["rm", "pulled", "--models-dir", &dir_arg(&dir)], &[]);
    assert!(!again.status.success());
    assert!(text(&again.stderr).contains("no model `pulled`"));
}

/// A partial file an earlier run left (interrupted, or killed) is hashed and resumed from its
/// end; one that already holds the whole file is finished without downloading again.
#[test]
fn a_later_run_resumes_the_partial_file_an_earlier_one_left() {
    let server = FileServer::start();
    let root = tempfile::tempdir().expect("root");
    let dir = dir_arg(root.path());
    let model = std::fs::read(common::model_file()).expect("the default model");
    let half = model.len() / 3;
    std::fs::write(root.path().join("a.gguf.partial"), &model[..half]).expect("partial");
    std::fs::write(root.path().join("b.gguf.partial"), &model).expect("whole partial");
    let url = format!("{}/files/{FILE}", server.base);
    for id in ["a", "b"] {
        let output = models(&["pull", &url, "--models-dir", &dir, "--name", id], &[]);
        assert!(output.status.success(), "{}", text(&output.stderr));
        assert!(text(&output.stderr).contains("resuming"));
        assert_eq!(
            sha256_of(&root.path().join(format!("{id}.gguf"))),
            server.sha256()
        );
    }
    let ranges: Vec<Option<String>> = server.seen().into_iter().map(|seen| seen.range).collect();
    assert_eq!(
        ranges,
        [
            Some(format!("bytes={half}-")),
            Some(format!("bytes={}-", model.len()))
        ]
    );
    assert_eq!(names_in(root.path()), ["a.gguf", "b.gguf"]);
}

async fn wait_loaded(base: &str, id: &str) {
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let health = common::model_health_at(base, id).await;
        match health.as_ref().and_then(|model| model["state"].as_str()) {
            Some("ready") => return,
            Some("failed") => panic!("{id} failed to load"),
            _ => {}
        }
        assert!(std::time::Instant::now() < deadline, "{id} did not load");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[test]
fn a_checksum_mismatch_is_refused_and_leaves_no_file() {
    let server = FileServer::start();
    let root = tempfile::tempdir().expect("root");
    let dir = dir_arg(root.path());
    let wrong = "0".repeat(64);
    let url = format!("{}/files/{FILE}", server.base);
    let output = models(
        &["pull", &url, "--models-dir", &dir, "--sha256", &wrong],
        &[],
    );
    assert!(!output.status.success());
    let stderr = text(&output.stderr);
    let last = stderr.lines().last().unwrap_or_default();
    assert!(last.starts_with("error: SHA-256 mismatch"), "{stderr}");
    assert!(
        last.contains(&wrong) && last.contains(&server.sha256()),
        "{last}"
    );
    assert_eq!(names_in(root.path()), Vec::<String>::new());

    // The same for a hash the server publishes (Hugging Face's X-Linked-Etag) that is wrong.
    let output = models(
        &[
            "pull",
            &format!("hf:someone/tampered/{FILE}"),
            "--models-dir",
            &dir,
            "--hf-endpoint",
            &server.base,
        ],
        &[],
    );
    let stderr = text(&output.stderr);
    assert!(!output.status.success());
    assert!(stderr.contains("SHA-256 mismatch"), "{stderr}");
    assert_eq!(names_in(root.path()), Vec::<String>::new());
}

/// `hf:` resolves against `--hf-endpoint`; the token goes to that host only, never to the
/// storage it redirects to, and is never printed; the published hash is checked.
#[test]
fn hf_references_resolve_against_the_endpoint() {
    let server = FileServer::start();
    let root = tempfile::tempdir().expect("root");
    let token = "hf_canary_token_7f3a";
    let output = models(
        &[
            "pull",
            &format!("hf:someone/SmolLM2-GGUF/{FILE}@v1.0"),
            "--models-dir",
            &dir_arg(root.path()),
        ],
        &[("SOTTO_HF_ENDPOINT", &server.base), ("HF_TOKEN", token)],
    );
    let (stdout, stderr) = (text(&output.stdout), text(&output.stderr));
    assert!(output.status.success(), "{stderr}");
    assert!(
        stdout.contains("matches the hash the server published"),
        "{stdout}"
    );
    assert!(!stdout.contains(token) && !stderr.contains(token));
    let seen = server.seen();
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert_eq!(
        seen[0].path,
        format!("/someone/SmolLM2-GGUF/resolve/v1.0/{FILE}")
    );
    assert_eq!(
        seen[0].authorization.as_deref(),
        Some("Bearer hf_canary_token_7f3a")
    );
    assert_eq!(seen[1].path, format!("/files/{FILE}"));
    assert_eq!(
        seen[1].host.as_deref(),
        Some(&*format!("localhost:{}", server.port))
    );
    assert_eq!(seen[1].authorization, None);
    assert_eq!(sha256_of(&root.path().join(FILE)), server.sha256());

    // A second pull of the same model is refused without --force, and replaces it with it.
    let args = [
        "pull",
        &format!("hf:someone/SmolLM2-GGUF/{FILE}"),
        "--models-dir",
        &dir_arg(root.path()),
        "--hf-endpoint",
        &server.base,
    ];
    let again = models(&args, &[]);
    assert!(!again.status.success());
    assert!(text(&again.stderr).contains("exists; pass --force"));
    let forced = models(&[&args[..], &["--force"]].concat(), &[]);
    assert!(forced.status.success(), "{}", text(&forced.stderr));
    assert_eq!(names_in(root.path()), [FILE]);
}

/// A split model's first part pulls every part; the listing shows one model of their total
/// size.
#[test]
fn a_split_model_pulls_every_part_and_lists_once() {
    let server = FileServer::start();
    let root = tempfile::tempdir().expect("root");
    let dir = dir_arg(root.path());
    let url = format!("{}/files/tiny-00001-of-00002.gguf", server.base);
    let output = models(&["pull", &url, "--models-dir", &dir], &[]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert_eq!(
        names_in(root.path()),
        ["tiny-00001-of-00002.gguf", "tiny-00002-of-00002.gguf"]
    );
    let paths: Vec<String> = server.seen().into_iter().map(|seen| seen.path).collect();
    assert_eq!(
        paths,
        [
            "/files/tiny-00001-of-00002.gguf",
            "/files/tiny-00002-of-00002.gguf"
        ]
    );
    let list = models(&["list", "--models-dir", &dir, "--port", "1"], &[]);
    let listing = text(&list.stdout);
    assert_eq!(listing.lines().count(), 2, "{listing}");
    assert!(
        listing.contains("tiny-00001-of-00002  187.61 MiB  Q4_1"),
        "{listing}"
    );
    assert!(listing.trim_end().ends_with('-'), "no server: {listing}");
    let removed = models(&["rm", "tiny-00001-of-00002", "--models-dir", &dir], &[]);
    assert!(removed.status.success());
    assert_eq!(names_in(root.path()), Vec::<String>::new());
}
