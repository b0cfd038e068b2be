//! The command line documents every serve flag with its environment variable, and the
//! variables do what their flags do.

use crate::common;

use std::time::Duration;

use common::process::{output_within, sotto_command, ServerProcess};

/// Each flag of `sotto serve --help` with the environment variable its block names (`None`
/// when it names none), in the order listed.
fn serve_flags() -> Vec<(String, Option<String>)> {
    let mut command = sotto_command();
    command.args(["serve", "--help"]);
    let output = output_within(command, Duration::from_secs(30));
    assert!(output.status.success());
    let help = String::from_utf8(output.stdout).expect("utf-8 help");
    let mut flags: Vec<(String, Option<String>)> = Vec::new();
    for line in help.lines() {
        let trimmed = line.trim_start();
        // A flag's block starts with `-x, --flag` or `--flag`; its description is indented
        // further and never starts with a dash.
        let head = trimmed
            .split_once(", ")
            .filter(|(short, _)| short.len() == 2 && short.starts_with('-'))
            .map_or(trimmed, |(_, long)| long);
        if let Some(name) = head.strip_prefix("--") {
            let name: String = name
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
                .collect();
            flags.push((format!("--{name}"), None));
        } else if let Some(rest) = trimmed.strip_prefix("[env: ") {
            let env: String = rest
                .chars()
                .take_while(|c| *c != '=' && *c != ']')
                .collect();
            let (flag, slot) = flags.last_mut().expect("an env line after its flag");
            assert!(slot.is_none(), "{flag} names two variables");
            *slot = Some(env);
        }
    }
    flags
}

#[test]
fn serve_help_lists_every_flag_with_its_environment_variable() {
    let flags = serve_flags();
    let names: Vec<&str> = flags.iter().map(|(flag, _)| flag.as_str()).collect();
    // The parse found the flags (not, say, nothing at all); spot-check a few by exact name.
    for flag in [
        "--host",
        "--port",
        "--model",
        "--models-dir",
        "--auth",
        "--flash-attn",
    ] {
        assert!(names.contains(&flag), "{flag} missing from {names:?}");
    }
    assert!(flags.len() >= 26, "{names:?}");
    for (flag, env) in &flags {
        if flag == "--help" {
            continue;
        }
        // `--models-dir` → `SOTTO_MODELS_DIR`: the variable is the flag's own name.
        let expected = format!(
            "SOTTO_{}",
            flag.trim_start_matches("--")
                .replace('-', "_")
                .to_uppercase()
        );
        assert_eq!(env.as_deref(), Some(expected.as_str()), "{flag}");
    }
    // The README's configuration table names each of them with its variable.
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).expect("README");
    for (flag, env) in flags.iter().filter(|(flag, _)| flag != "--help") {
        let env = env.as_deref().unwrap_or_default();
        let row = readme.lines().find(|line| {
            line.starts_with("| `")
                && line[3..]
                    .split(['`', ' '])
                    .next()
                    .is_some_and(|first| first == flag)
        });
        let row = row.unwrap_or_else(|| panic!("no README row for {flag}"));
        assert!(row.split(['`', ' ', '|']).any(|word| word == env), "{row}");
    }
}

#[test]
fn an_unknown_model_id_fails_at_start_up_with_a_clear_message() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut command = sotto_command();
    command
        .args(["serve", "--port", "0", "--model", "missing-model"])
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .arg("--models-dir")
        .arg(dir.path())
        .env("RUST_LOG", "info");
    let output = output_within(command, Duration::from_secs(60));
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("missing-model"), "{stderr}");
}

#[test]
fn flags_can_come_from_the_environment() {
    // SOTTO_PARALLEL is read (and validated) like --parallel: a server that ignored it would
    // start, and the time limit fails the test instead of waiting forever.
    let dir = tempfile::tempdir().expect("temp dir");
    let mut command = sotto_command();
    command
        .args(["serve", "--port", "0"])
        .arg("--models-dir")
        .arg(dir.path())
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .env("SOTTO_PARALLEL", "0");
    let output = output_within(command, Duration::from_secs(60));
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("parallel"), "{stderr}");
}

/// A small server: one slot of a small context.
const SMALL: &[&str] = &["--ctx-size", "256", "--parallel", "1"];

/// A port nothing listens on right now.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port()
}

#[test]
fn sotto_port_in_the_environment_is_the_port() {
    for via_env in [true, false] {
        let root = tempfile::tempdir().expect("root");
        let port = free_port().to_string();
        let server = if via_env {
            ServerProcess::start_exactly(root.path(), SMALL, &[("SOTTO_PORT", &port)])
        } else {
            ServerProcess::start_exactly(root.path(), &[SMALL, &["--port", &port]].concat(), &[])
        };
        assert_eq!(
            server.base,
            format!("http://127.0.0.1:{port}"),
            "env={via_env}"
        );
    }
}

#[tokio::test]
async fn sotto_auth_in_the_environment_does_what_the_flag_does() {
    let status = |server: &ServerProcess| {
        // A body without messages: refused as such once the caller is let in.
        let url = format!("{}/v1/chat/completions", server.base);
        async move {
            common::client()
                .post(url)
                .json(&serde_json::json!({}))
                .send()
                .await
                .expect("request")
                .status()
                .as_u16()
        }
    };
    let root = tempfile::tempdir().expect("root");
    let default = ServerProcess::start_exactly(
        &root.path().join("a"),
        &[SMALL, &["--port", "0"]].concat(),
        &[],
    );
    assert_eq!(status(&default).await, 401, "a key is needed by default");
    let flag = ServerProcess::start_exactly(
        &root.path().join("b"),
        &[SMALL, &["--port", "0", "--auth", "off"]].concat(),
        &[],
    );
    assert_eq!(status(&flag).await, 400);
    let env = ServerProcess::start_exactly(
        &root.path().join("c"),
        &[SMALL, &["--port", "0"]].concat(),
        &[("SOTTO_AUTH", "off")],
    );
    assert_eq!(status(&env).await, 400);
}
