//! The config file, the environment and flags in every order of precedence, seen through the
//! real binary's `sotto config` (and `serve`) run in a temporary working directory.

use crate::common;

use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

use common::process::{output_with_stdin, output_within, sotto_command, ServerProcess};
use common::MODEL;
use serde_json::{json, Value};

/// `sotto config args` in `dir` with exactly `env` (no `SOTTO_*` of this process).
fn sotto_config(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = sotto_command();
    command
        .current_dir(dir)
        .arg("config")
        .args(args)
        .envs(env.iter().copied());
    output_within(command, Duration::from_secs(30))
}

/// What `sotto config` printed, which must have succeeded.
fn shown(output: Output) -> String {
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("utf-8")
}

/// What a failed command printed on stderr.
fn refused(output: Output) -> String {
    assert!(!output.status.success(), "accepted");
    String::from_utf8(output.stderr).expect("utf-8")
}

/// The line `sotto config` printed for `key`.
fn line<'a>(shown: &'a str, key: &str) -> &'a str {
    let prefix = format!("{key} = ");
    shown
        .lines()
        .find(|line| line.starts_with(&prefix))
        .unwrap_or_else(|| panic!("no {key} in:\n{shown}"))
}

/// A working directory; its path as the binary sees it (the current directory is canonical).
fn work_dir() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().canonicalize().expect("canonical");
    (dir, path)
}

fn write(path: &Path, text: &str) {
    std::fs::write(path, text).expect("write");
}

#[test]
fn flags_beat_the_environment_which_beats_the_file_which_beats_the_defaults() {
    // Every combination of the three sources, for two keys of different types.
    for (in_file, in_env, in_flags) in (0..8).map(|i| (i & 1 != 0, i & 2 != 0, i & 4 != 0)) {
        let (_dir, dir) = work_dir();
        let file = dir.join("sotto.toml");
        if in_file {
            write(&file, "port = 9001\nauth = \"off\"\n");
        }
        let env: &[(&str, &str)] = if in_env {
            &[("SOTTO_PORT", "9002"), ("SOTTO_AUTH", "on")]
        } else {
            &[]
        };
        let flags: &[&str] = if in_flags {
            &["--port", "9003", "--auth", "off"]
        } else {
            &[]
        };
        let shown = shown(sotto_config(&dir, flags, env));
        let case = format!("file={in_file} env={in_env} flags={in_flags}");
        let file = file.display();
        let (port, auth) = match (in_file, in_env, in_flags) {
            (_, _, true) => (
                "port = 9003  # flag --port".to_owned(),
                "auth = \"off\"  # flag --auth".to_owned(),
            ),
            (_, true, false) => (
                "port = 9002  # env SOTTO_PORT".to_owned(),
                "auth = \"on\"  # env SOTTO_AUTH".to_owned(),
            ),
            (true, false, false) => (
                format!("port = 9001  # file {file}"),
                format!("auth = \"off\"  # file {file}"),
            ),
            (false, false, false) => (
                "port = 8080  # default".to_owned(),
                "auth = \"on\"  # default".to_owned(),
            ),
        };
        assert_eq!(line(&shown, "port"), port, "{case}");
        assert_eq!(line(&shown, "auth"), auth, "{case}");
        // What no source sets stays the default.
        assert_eq!(
            line(&shown, "parallel"),
            "parallel = 4  # default",
            "{case}"
        );
    }
}

#[test]
fn lists_come_from_arrays_commas_and_repeated_flags() {
    let (_dir, dir) = work_dir();
    let file = dir.join("sotto.toml");
    write(
        &file,
        "model = [\"a\", \"b\"]\ntrusted_proxies = \"10.0.0.1,::1\"\n",
    );
    let from_file = shown(sotto_config(&dir, &[], &[]));
    let file = file.display();
    assert_eq!(
        line(&from_file, "model"),
        format!("model = [\"a\", \"b\"]  # file {file}")
    );
    assert_eq!(
        line(&from_file, "trusted_proxies"),
        format!("trusted_proxies = [\"10.0.0.1\", \"::1\"]  # file {file}")
    );
    // SOTTO_CONFIG and another tool's SOTTO_ variable are not settings, nor unknown keys.
    let env = [
        ("SOTTO_MODEL", "c,d"),
        ("SOTTO_BASE_URL", "http://127.0.0.1:1"),
    ];
    let from_env = shown(sotto_config(&dir, &[], &env));
    assert_eq!(
        line(&from_env, "model"),
        "model = [\"c\", \"d\"]  # env SOTTO_MODEL"
    );
    let from_flags = shown(sotto_config(
        &dir,
        &["--model", "e", "--model", "f"],
        &[("SOTTO_MODEL", "c,d")],
    ));
    assert_eq!(
        line(&from_flags, "model"),
        "model = [\"e\", \"f\"]  # flag --model"
    );
}

#[test]
fn aliases_come_from_a_table_a_list_or_flags() {
    let (_dir, dir) = work_dir();
    write(
        &dir.join("sotto.toml"),
        "[alias]\nchat = \"Qwen2.5-1.5B\"\nsmall = \"SmolLM2\"\n",
    );
    let from_file = shown(sotto_config(&dir, &[], &[]));
    assert!(
        line(&from_file, "alias").starts_with("alias = [\"chat=Qwen2.5-1.5B\", \"small=SmolLM2\"]"),
        "{from_file}"
    );
    let from_flags = shown(sotto_config(
        &dir,
        &["--alias", "a=b", "--alias", "c=d"],
        &[("SOTTO_ALIAS", "x=y")],
    ));
    assert!(
        line(&from_flags, "alias").starts_with("alias = [\"a=b\", \"c=d\"]  # flag --alias"),
        "{from_flags}"
    );
}

#[test]
fn the_file_is_sotto_toml_in_the_working_directory_unless_one_is_named() {
    let (_dir, dir) = work_dir();
    write(&dir.join("sotto.toml"), "parallel = 2\n");
    write(&dir.join("other.toml"), "parallel = 3\n");
    let sub = dir.join("sub");
    std::fs::create_dir(&sub).expect("dir");

    let default = shown(sotto_config(&dir, &[], &[]));
    let expected = format!("parallel = 2  # file {}", dir.join("sotto.toml").display());
    assert_eq!(line(&default, "parallel"), expected);
    let other = format!("parallel = 3  # file {}", dir.join("other.toml").display());
    let named = shown(sotto_config(&dir, &["--config", "other.toml"], &[]));
    assert_eq!(line(&named, "parallel"), other);
    let by_env = shown(sotto_config(&dir, &[], &[("SOTTO_CONFIG", "other.toml")]));
    assert_eq!(line(&by_env, "parallel"), other);
    // Only the working directory's: not a parent's.
    let below = shown(sotto_config(&sub, &[], &[]));
    assert_eq!(line(&below, "parallel"), "parallel = 4  # default");

    // A file named but missing is an error, whoever names it.
    let stderr = refused(sotto_config(&dir, &["--config", "missing.toml"], &[]));
    assert!(stderr.contains("missing.toml"), "{stderr}");
    assert!(stderr.contains("--config"), "{stderr}");
    let stderr = refused(sotto_config(&dir, &[], &[("SOTTO_CONFIG", "gone.toml")]));
    assert!(stderr.contains("gone.toml"), "{stderr}");
    assert!(stderr.contains("SOTTO_CONFIG"), "{stderr}");
}

/// `sotto serve` in `dir` stops at start-up with an error; what it printed.
fn serve_refused(dir: &Path) -> String {
    let mut command = sotto_command();
    command.current_dir(dir).arg("serve");
    refused(output_within(command, Duration::from_secs(60)))
}

#[test]
fn an_unknown_key_fails_at_start_up_naming_the_key_and_the_file_but_not_its_value() {
    let (_dir, dir) = work_dir();
    let file = dir.join("sotto.toml");
    let canary = "sk-canary-4f1b9c";
    write(&file, &format!("port = 0\napi_key = \"{canary}\"\n"));
    for stderr in [serve_refused(&dir), refused(sotto_config(&dir, &[], &[]))] {
        assert!(stderr.contains("`api_key`"), "{stderr}");
        assert!(stderr.contains(&file.display().to_string()), "{stderr}");
        assert!(!stderr.contains(canary), "{stderr}");
    }
    // Nor when the file does not parse, which TOML's own message would quote.
    write(&file, &format!("api_key = \"{canary}\n"));
    let stderr = refused(sotto_config(&dir, &[], &[]));
    assert!(stderr.contains(&file.display().to_string()), "{stderr}");
    assert!(stderr.contains("line 1"), "{stderr}");
    assert!(!stderr.contains(canary), "{stderr}");
}

#[test]
fn an_invalid_value_fails_at_start_up_naming_the_key_and_its_source() {
    let (_dir, dir) = work_dir();
    let file = dir.join("sotto.toml");
    let path = file.display().to_string();
    // Out of range (clap's check for flags, now for every source), of the wrong type, not
    // one of the choices, not an address.
    for (text, key) in [
        ("parallel = 0", "`parallel`"),
        ("ctx_size = 10", "`ctx_size`"),
        ("port = \"canary-port\"", "`port`"),
        ("port = 70000", "`port`"),
        ("auth = \"canary-auth\"", "`auth`"),
        ("trusted_proxies = [\"canary-proxy\"]", "`trusted_proxies"),
        ("alias = [\"../canary=m\"]", "`alias"),
        ("[alias]\ncanary = \"../etc\"", "`alias"),
        ("alias = [\"canary=m\", \"canary=n\"]", "`alias`"),
        ("alias = \"canary=chat,chat=m\"", "`alias`"),
    ] {
        write(&file, &format!("{text}\n"));
        let stderr = refused(sotto_config(&dir, &[], &[]));
        assert!(stderr.contains(key), "{text}: {stderr}");
        assert!(stderr.contains(&path), "{text}: {stderr}");
        assert!(!stderr.contains("canary"), "{text}: {stderr}");
    }
    write(&file, "parallel = 0\n");
    let stderr = serve_refused(&dir);
    assert!(
        stderr.contains("`parallel`") && stderr.contains(&path),
        "{stderr}"
    );
    // The same range from the other sources, each named.
    let stderr = refused(sotto_config(&dir, &[], &[("SOTTO_PARALLEL", "300")]));
    assert!(stderr.contains("env SOTTO_PARALLEL"), "{stderr}");
    let stderr = refused(sotto_config(&dir, &["--parallel", "0"], &[]));
    assert!(stderr.contains("flag --parallel"), "{stderr}");
}

#[test]
fn a_file_other_users_can_write_is_refused() {
    use std::os::unix::fs::PermissionsExt;
    let (_dir, dir) = work_dir();
    let file = dir.join("sotto.toml");
    write(&file, "parallel = 2\n");
    for mode in [0o666, 0o620] {
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(mode)).expect("chmod");
        let stderr = refused(sotto_config(&dir, &[], &[]));
        assert!(stderr.contains(&file.display().to_string()), "{stderr}");
        assert!(stderr.contains("other users"), "{stderr}");
    }
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    assert!(line(&shown(sotto_config(&dir, &[], &[])), "parallel").starts_with("parallel = 2"));
}

#[test]
fn the_example_files_parse_and_set_what_they_list() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    // The annotated example, and the one compose.yaml mounts.
    for example in ["sotto.example.toml", "deploy/sotto.toml"] {
        let text = std::fs::read_to_string(root.join(example)).expect(example);
        let (_dir, dir) = work_dir();
        let copy = dir.join("example.toml");
        write(&copy, &text);
        let shown = shown(sotto_config(&dir, &["--config", "example.toml"], &[]));
        let keys: Vec<&str> = text
            .lines()
            .filter(|line| !line.starts_with('#') && line.contains(" = "))
            .filter_map(|line| line.split(" = ").next())
            .collect();
        assert!(keys.len() >= 8, "{example}: {keys:?}");
        for key in keys {
            let origin = format!("# file {}", copy.display());
            assert!(
                line(&shown, key).ends_with(&origin),
                "{example} {key}: {shown}"
            );
        }
    }
}

#[tokio::test]
async fn serve_runs_with_the_values_of_the_file_alone() {
    let (_dir, dir) = work_dir();
    let models = common::models_dir();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port();
    let data = dir.join("data");
    write(
        &dir.join("sotto.toml"),
        &format!(
            "port = {port}\nmodels_dir = {:?}\ndata_dir = {:?}\nparallel = 3\nctx_size = 256\n\
             threads = 1\nauth = \"off\"\nmax_tokens_default = 3\n",
            models.path().display().to_string(),
            data.display().to_string(),
        ),
    );
    let mut command = sotto_command();
    command
        .current_dir(&dir)
        .arg("serve")
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.join("stderr.log")).expect("log"))
        .stdin(Stdio::null());
    let server = ServerProcess::listening(command.spawn().expect("starts"), &dir);
    assert_eq!(server.base, format!("http://127.0.0.1:{port}"));
    common::wait_model_ready(&server.base).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    while !server.stderr().contains("slots=3") {
        assert!(Instant::now() < deadline, "{}", server.stderr());
        std::thread::sleep(Duration::from_millis(20));
    }
    // No key needed (auth off), and a request without max_tokens gets the file's default.
    let response = common::client()
        .post(format!("{}/v1/completions", server.base))
        .json(&json!({ "model": MODEL, "prompt": "One, two,", "temperature": 0 }))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["x-sotto-max-tokens-default"], "3");
    let body: Value = response.json().await.expect("json");
    assert!(
        body["usage"]["completion_tokens"].as_u64() <= Some(3),
        "{body}"
    );
    // The accounts database is where the file says.
    assert!(data.join("sotto.db").exists());

    // The other commands act on the same server: its port, folders and database, from the
    // same file, with no flag.
    let other = |args: &[&str], stdin: &str| {
        let mut command = sotto_command();
        command.current_dir(&dir).args(args);
        let output = output_with_stdin(command, stdin.as_bytes());
        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        (output.status.success(), stdout, output.stderr)
    };
    let (healthy, _, stderr) = other(&["healthcheck"], "");
    assert!(healthy, "{}", String::from_utf8_lossy(&stderr));
    let (added, _, stderr) = other(
        &["users", "add", "admin@example.org"],
        "correct horse battery staple\n",
    );
    assert!(added, "{}", String::from_utf8_lossy(&stderr));
    let (_, users, _) = other(&["users", "list"], "");
    assert!(users.contains("admin@example.org"), "{users}");
    let (listed, models_listed, stderr) = other(&["models", "list"], "");
    assert!(listed, "{}", String::from_utf8_lossy(&stderr));
    let row = models_listed
        .lines()
        .find(|line| line.starts_with(MODEL))
        .unwrap_or_else(|| panic!("{models_listed}"));
    assert!(
        row.split_whitespace().last() == Some("yes"),
        "not seen loaded on the file's port: {models_listed}"
    );
    // A flag still wins over the file: no server answers on this port.
    let (healthy_elsewhere, _, _) = other(&["healthcheck", "--port", "1"], "");
    assert!(!healthy_elsewhere);
}

/// The compose example's Prometheus scrapes `sotto:9464`: `deploy/sotto.toml` must serve
/// `/metrics` on that port and answer to that name, which a Host check refuses unless listed.
/// The file runs as it is, with only the addresses, folders and sizes moved by flags (which
/// beat it) so the test needs no fixed port.
#[tokio::test]
async fn the_compose_example_lets_prometheus_scrape_sotto_by_its_service_name() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let scrape = std::fs::read_to_string(root.join("deploy/prometheus.yml")).expect("read");
    let target = scrape
        .split("targets: [\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("a scrape target");
    let (service, scraped_port) = target.split_once(':').expect("host:port");
    let config = std::fs::read_to_string(root.join("deploy/sotto.toml")).expect("read");
    assert!(
        config.contains(&format!("metrics_addr = \"0.0.0.0:{scraped_port}\"")),
        "deploy/sotto.toml serves /metrics on another port than Prometheus scrapes ({target})"
    );

    let (_dir, dir) = work_dir();
    write(&dir.join("deploy.toml"), &config);
    let models = common::models_dir();
    let metrics_port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port();
    let metrics_addr = format!("127.0.0.1:{metrics_port}");
    let data = dir.join("data");
    let mut command = sotto_command();
    command
        .current_dir(&dir)
        .args(["serve", "--config", "deploy.toml", "--host", "127.0.0.1"])
        .args(["--port", "0", "--metrics-addr", &metrics_addr])
        .args(["--threads", "1", "--ctx-size", "256", "--parallel", "1"])
        .arg("--models-dir")
        .arg(models.path())
        .arg("--data-dir")
        .arg(&data)
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.join("stderr.log")).expect("log"))
        .stdin(Stdio::null());
    let server = ServerProcess::listening(command.spawn().expect("starts"), &dir);
    common::wait_model_ready(&server.base).await;

    let scrape_as = |host: String| {
        common::client()
            .get(format!("http://{metrics_addr}/metrics"))
            .header("host", host)
            .send()
    };
    let response = scrape_as(format!("{service}:{metrics_port}"))
        .await
        .expect("scrape");
    assert_eq!(response.status(), 200);
    let body = response.text().await.expect("text");
    assert!(body.contains("sotto_model_loaded"), "{body}");
    // The name check is still on: only the listed names pass.
    let refused = scrape_as(format!("elsewhere.example:{metrics_port}"))
        .await
        .expect("scrape");
    assert_eq!(refused.status(), 421);
    // And the main port has no /metrics: it is only where the file put it.
    let main = common::client()
        .get(format!("{}/metrics", server.base))
        .send()
        .await
        .expect("request");
    assert_eq!(main.status(), 404);
}
