//! The no-logs guarantee, tested from outside: the real binary at `RUST_LOG=trace` gets a
//! unique canary through every request path, and afterwards the canary is nowhere: not in the
//! database or its WAL, the data directory, anything the server printed, or its temp directory.

mod common;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{client, session_cookie, sse_payloads};
use futures::StreamExt;
use serde_json::{json, Value};

struct Server {
    child: Child,
    base: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// The child is killed and waited for by `Server`'s Drop, which clippy cannot see through.
#[allow(clippy::zombie_processes)]
fn start(root: &Path) -> Server {
    let models = root.join("models");
    let data = root.join("data");
    let tmp = root.join("tmp");
    for dir in [&models, &data, &tmp] {
        std::fs::create_dir_all(dir).expect("dir");
    }
    std::os::unix::fs::symlink(
        common::model_file(),
        models.join(format!("{}.gguf", common::MODEL)),
    )
    .expect("link");
    let child = Command::new(env!("CARGO_BIN_EXE_sotto"))
        .args([
            "serve",
            "--port",
            "0",
            "--ctx-size",
            "1024",
            "--parallel",
            "2",
        ])
        .arg("--models-dir")
        .arg(&models)
        .arg("--data-dir")
        .arg(&data)
        .env("RUST_LOG", "trace")
        .env("TMPDIR", &tmp)
        .stdout(std::fs::File::create(root.join("stdout.log")).expect("stdout file"))
        .stderr(std::fs::File::create(root.join("stderr.log")).expect("stderr file"))
        .stdin(Stdio::null())
        .spawn()
        .expect("the server starts");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let log = std::fs::read_to_string(root.join("stderr.log")).unwrap_or_default();
        if let Some(at) = log.find("listening on http://") {
            let address: String = log[at + 20..]
                .chars()
                .take_while(|c| !c.is_whitespace())
                .collect();
            return Server {
                child,
                base: format!("http://{address}"),
            };
        }
        assert!(
            Instant::now() < deadline,
            "the server did not start:\n{log}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Every file under `dir` that contains `needle`.
fn files_containing(dir: &Path, needle: &[u8]) -> Vec<String> {
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return found;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            found.extend(files_containing(&path, needle));
        } else if path.is_file() && !path.is_symlink() {
            let bytes = std::fs::read(&path).unwrap_or_default();
            if bytes.windows(needle.len()).any(|w| w == needle) {
                found.push(path.display().to_string());
            }
        }
    }
    found
}

#[tokio::test]
async fn a_canary_sent_every_way_is_stored_and_logged_nowhere() {
    let root = tempfile::tempdir().expect("temp dir");
    let server = start(root.path());
    let base = server.base.clone();
    let canary = format!("CANARY{}", uuid::Uuid::new_v4().simple());
    let http = client();

    // Ready, signed up, logged in, with a key.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let health = match http.get(format!("{base}/health")).send().await {
            Ok(response) => response.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        };
        if health.contains("\"ready\"") {
            break;
        }
        assert!(Instant::now() < deadline, "the model did not load");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let email = format!("canary-user-{}@example.com", std::process::id());
    let signup = http
        .post(format!("{base}/signup"))
        .form(&[
            ("email", email.as_str()),
            ("password", "a password that is long"),
        ])
        .send()
        .await
        .expect("signup");
    assert_eq!(signup.status(), 303);
    let login = http
        .post(format!("{base}/login"))
        .form(&[
            ("email", email.as_str()),
            ("password", "a password that is long"),
        ])
        .send()
        .await
        .expect("login");
    let cookie = session_cookie(&login).expect("session");
    let keyed: Value = http
        .post(format!("{base}/account/keys"))
        .header("cookie", &cookie)
        .header("accept", "application/json")
        .form(&[("name", "canary test")])
        .send()
        .await
        .expect("key")
        .json()
        .await
        .expect("json");
    let key = keyed["new_key"].as_str().expect("key").to_owned();
    // A password change with the canary as the (wrong) current and the new password.
    let change = http
        .post(format!("{base}/account/password"))
        .header("cookie", &cookie)
        .form(&[
            ("current_password", canary.as_str()),
            ("new_password", canary.as_str()),
        ])
        .send()
        .await
        .expect("password change");
    assert_eq!(change.status(), 401);
    let api = |path: &str| {
        http.post(format!("{base}{path}"))
            .bearer_auth(&key)
            .header("x-canary", &canary)
            .header("user-agent", &canary)
    };
    let messages = json!([
        { "role": "system", "content": format!("Secret word: {canary}.") },
        { "role": "user", "content": format!("Repeat the secret word {canary} three times.") },
    ]);

    // Non-streaming and streaming chat.
    let plain = api("/v1/chat/completions")
        .json(&json!({ "messages": messages, "max_tokens": 24 }))
        .send()
        .await
        .expect("chat");
    assert_eq!(plain.status(), 200);
    let streamed = api("/v1/chat/completions")
        .json(&json!({ "messages": messages, "max_tokens": 24, "stream": true }))
        .send()
        .await
        .expect("stream");
    assert_eq!(streamed.status(), 200);
    assert!(sse_payloads(streamed)
        .await
        .last()
        .is_some_and(|p| p == "[DONE]"));
    // A stream the client drops half-way.
    let cancelled = api("/v1/chat/completions")
        .json(&json!({ "messages": messages, "max_tokens": 600, "stream": true, "logit_bias": { "0": -100, "2": -100 } }))
        .send()
        .await
        .expect("stream");
    let mut body = cancelled.bytes_stream();
    body.next().await.expect("a chunk").expect("bytes");
    drop(body);
    // Requests that fail validation, exceed the context, or are not JSON.
    let invalid = api("/v1/chat/completions")
        .json(&json!({ "messages": messages, "temperature": canary }))
        .send()
        .await
        .expect("invalid");
    assert_eq!(invalid.status(), 400);
    let too_long = json!([{ "role": "user", "content": format!("{canary} ").repeat(400) }]);
    let overflow = api("/v1/chat/completions")
        .json(&json!({ "messages": too_long }))
        .send()
        .await
        .expect("overflow");
    assert_eq!(overflow.status(), 400);
    let broken = api("/v1/chat/completions")
        .header("content-type", "application/json")
        .body(format!("{{\"messages\": [{canary}"))
        .send()
        .await
        .expect("broken");
    assert_eq!(broken.status(), 400);
    let not_json = api("/v1/chat/completions")
        .header("content-type", "text/plain")
        .body(canary.clone())
        .send()
        .await
        .expect("not json");
    assert_eq!(not_json.status(), 415);
    let unknown_model = api("/v1/chat/completions")
        .json(&json!({ "model": canary, "messages": messages }))
        .send()
        .await
        .expect("model");
    assert_eq!(unknown_model.status(), 404);
    // Legacy completion.
    let legacy = api("/v1/completions")
        .json(&json!({ "prompt": format!("The secret is {canary}"), "max_tokens": 16 }))
        .send()
        .await
        .expect("legacy");
    assert_eq!(legacy.status(), 200);
    // The canary as a key, a path and a query string.
    let bad_key = http
        .post(format!("{base}/v1/chat/completions"))
        .bearer_auth(format!("sk-sotto-{canary}"))
        .json(&json!({ "messages": messages }))
        .send()
        .await
        .expect("bad key");
    assert_eq!(bad_key.status(), 401);
    let lost = http
        .get(format!("{base}/v1/{canary}?q={canary}"))
        .send()
        .await
        .expect("404");
    assert_eq!(lost.status(), 404);

    // Let the cancelled stream be noticed, then stop the server so every log line is written.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let health: Value = http
            .get(format!("{base}/health"))
            .send()
            .await
            .expect("health")
            .json()
            .await
            .expect("json");
        if health["models"][0]["in_flight"] == 0 {
            assert_eq!(health["models"][0]["cancelled"], 1);
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the cancelled stream kept running"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut server = server;
    let _ = Command::new("kill")
        .args(["-INT", &server.child.id().to_string()])
        .status();
    let _ = server.child.wait();

    let stderr = std::fs::read_to_string(root.path().join("stderr.log")).expect("log");
    assert!(
        stderr.contains("TRACE"),
        "RUST_LOG=trace did not take effect"
    );
    assert!(
        stderr.contains("/v1/chat/completions"),
        "request lines are logged"
    );
    let found = files_containing(root.path(), canary.as_bytes());
    assert!(found.is_empty(), "the canary leaked into {found:?}");

    // No stored row holds the client's address.
    let db = rusqlite::Connection::open(root.path().join("data/sotto.db")).expect("db");
    for table in ["users", "sessions", "api_keys"] {
        let mut statement = db
            .prepare(&format!("SELECT * FROM {table}"))
            .expect("select");
        let columns = statement.column_count();
        let mut rows = statement.query([]).expect("rows");
        while let Some(row) = rows.next().expect("row") {
            for column in 0..columns {
                let value: rusqlite::types::Value = row.get(column).expect("value");
                let text = match value {
                    rusqlite::types::Value::Text(text) => text.into_bytes(),
                    rusqlite::types::Value::Blob(bytes) => bytes,
                    _ => Vec::new(),
                };
                assert!(
                    !text.windows(9).any(|w| w == b"127.0.0.1"),
                    "{table} stores an address"
                );
            }
        }
    }
}
