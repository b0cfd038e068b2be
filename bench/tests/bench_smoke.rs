//! `sotto-bench` against a real sotto: it runs, and its report has a row per level with tokens
//! and no errors, and a row for each scenario. Not a performance test: nothing here depends
//! on how fast the machine is.
//!
//! This crate does not depend on the server's library, so the server is its `sotto` binary,
//! started as a child process: the one cargo built beside this test, or `SOTTO_TEST_SERVER_BIN`.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

/// The default model `make model` fetches.
const MODEL: &str = "SmolLM2-135M-Instruct.Q4_1";

/// The tests of this file run one at a time: each starts a server using every core, and two
/// at once on a loaded machine left the first one's 6 s levels without tokens.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

#[tokio::test(flavor = "multi_thread")]
async fn the_benchmark_reports_every_level_and_scenario_of_a_running_sotto() {
    let _alone = ONE_AT_A_TIME.lock().await;
    let server_dir = tempfile::tempdir().expect("server dir");
    let app = Sotto::start(server_dir.path());
    let api_key = app.create_api_key().await;
    let out = tempfile::tempdir().expect("out dir");
    let bench = env!("CARGO_BIN_EXE_sotto-bench");
    let args = [
        format!("--url=sotto={}", app.base),
        format!("--api-key={api_key}"),
        format!("--request-model={MODEL}"),
        "--levels=1,2".to_owned(),
        // Long enough that a loaded machine (first tokens seen at 2.3 s) still gets tokens
        // inside each level's window.
        "--duration=6".to_owned(),
        "--max-tokens=16".to_owned(),
        "--ban-tokens=0,2".to_owned(),
        "--turns=3".to_owned(),
        "--conversations=1".to_owned(),
        "--think-ms=50".to_owned(),
        "--long-prompt=200".to_owned(),
        "--long-prompt-streams=1".to_owned(),
        "--long-prompt-runs=1".to_owned(),
        "--long-prompt-stream-tokens=400".to_owned(),
        // The structured-output scenario has its own test below.
        "--structured-schemas=0".to_owned(),
        format!("--out={}", out.path().display()),
    ];
    let output = tokio::task::spawn_blocking(move || Command::new(bench).args(args).output())
        .await
        .expect("join")
        .expect("sotto-bench runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "sotto-bench failed:\n{stderr}\nsotto's log:\n{}",
        app.log()
    );

    let report = std::fs::read_to_string(out.path().join("latest.md")).expect("latest.md");
    assert!(
        report.contains("| Clients | Server | Total tok/s |"),
        "{report}"
    );
    for level in [1, 2] {
        let row = table_row(&report, level, "sotto")
            .unwrap_or_else(|| panic!("no row for {level} clients:\n{report}"));
        let total: f64 = row[2].parse().expect("total tok/s is a number");
        assert!(total > 0.0, "no tokens at {level} clients:\n{report}");
        assert_eq!(row[7], "0", "errors at {level} clients:\n{report}");
    }

    // Conversation: a time to first token for each of the 3 turns, and no errors.
    let row = row_after(&report, "## Conversation", "sotto").expect("conversation row");
    let ttfts: Vec<f64> = row[1..4]
        .iter()
        .map(|cell| {
            cell.parse()
                .unwrap_or_else(|_| panic!("a time per turn:\n{report}"))
        })
        .collect();
    assert!(ttfts.iter().all(|&ms| ms > 0.0), "{report}");
    assert_eq!(row.last().map(String::as_str), Some("0"), "{report}");

    // Long prompt: about 200 prompt tokens as the server counted them, gaps measured.
    let row = row_after(&report, "## Long prompt", "sotto").expect("long-prompt row");
    let number = |cell: &str| -> f64 {
        cell.parse()
            .unwrap_or_else(|_| panic!("{cell} is not a number:\n{report}"))
    };
    let tokens = number(&row[1]);
    assert!((150.0..=250.0).contains(&tokens), "{report}");
    let gap = number(&row[3]);
    assert!(gap > 0.0, "{report}");
    assert_eq!(row.last().map(String::as_str), Some("0"), "{report}");

    let png = std::fs::read(out.path().join("latest.png")).expect("latest.png");
    assert!(png.starts_with(b"\x89PNG"), "the chart is a PNG");
}

/// The structured-output scenario on a sotto the benchmark starts itself (`--sotto`): one
/// schema per dataset of the sample, and short speed phases. Until the engine enforces
/// schemas, sotto refuses them all with a 400 and only the free streams are timed.
#[tokio::test(flavor = "multi_thread")]
async fn the_structured_scenario_reports_coverage_and_speed_per_server() {
    let _alone = ONE_AT_A_TIME.lock().await;
    let sample = schema_sample();
    let datasets: Vec<String> = std::fs::read_dir(&sample)
        .expect("the schema sample")
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| path.is_dir())
        .filter_map(|path| Some(path.file_name()?.to_string_lossy().into_owned()))
        .collect();
    assert!(!datasets.is_empty(), "no datasets in {}", sample.display());
    let out = tempfile::tempdir().expect("out dir");
    let bench = env!("CARGO_BIN_EXE_sotto-bench");
    let args = [
        format!("--sotto={}", server_binary().display()),
        format!("--model={}", model_file().display()),
        "--parallel=2".to_owned(),
        "--ctx-size=1024".to_owned(),
        "--no-levels".to_owned(),
        "--turns=0".to_owned(),
        "--long-prompt=0".to_owned(),
        "--ban-tokens=0,2".to_owned(),
        format!("--structured={}", sample.display()),
        "--structured-schemas=1".to_owned(),
        "--structured-max-tokens=16".to_owned(),
        // Generous: on a loaded machine a first token has taken 2.3 s.
        "--structured-timeout=120".to_owned(),
        "--structured-clients=2".to_owned(),
        "--structured-streams=2".to_owned(),
        "--structured-stream-tokens=16".to_owned(),
        "--structured-duration=8".to_owned(),
        format!("--out={}", out.path().display()),
    ];
    let output = tokio::task::spawn_blocking(move || Command::new(bench).args(args).output())
        .await
        .expect("join")
        .expect("sotto-bench runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "sotto-bench failed:\n{stderr}");
    let report = std::fs::read_to_string(out.path().join("latest.md")).expect("latest.md");
    let section = &report[report.find("## Structured output").expect("the section")..];
    let number = |cell: &str| -> f64 {
        cell.parse()
            .unwrap_or_else(|_| panic!("{cell} is not a number:\n{report}"))
    };

    // Coverage: one row per dataset, each schema counted exactly once, never a 200 whose
    // reply breaks its schema, and no 5xx or timeout.
    let mut taken = 0.0;
    for dataset in &datasets {
        let row = section
            .lines()
            .map(cells)
            .find(|c| c.len() == 10 && &c[0] == dataset && c[2] == "sotto")
            .unwrap_or_else(|| panic!("no coverage row for {dataset}:\n{report}"));
        let counts: Vec<f64> = row[3..9].iter().map(|c| number(c)).collect();
        assert_eq!(number(&row[1]), 1.0, "{report}");
        assert_eq!(counts.iter().sum::<f64>(), 1.0, "{report}");
        assert_eq!(counts[3], 0.0, "an invalid reply on {dataset}:\n{report}");
        assert_eq!(counts[4], 0.0, "an error on {dataset}:\n{report}");
        taken += counts[0] + counts[1];
        let coverage = number(&row[9]);
        assert!((0.0..=100.0).contains(&coverage), "{report}");
    }

    // Speed: a row per phase and kind, with numbers and no errors. No speed is asserted: on
    // a loaded machine (2 cores, load 10-12) an 8 s phase has seen no token at all.
    let speed = |phase: &str, kind: &str| -> Vec<String> {
        section
            .lines()
            .map(cells)
            .find(|c| c.len() == 9 && c[0] == "sotto" && c[1] == phase && c[2] == kind)
            .unwrap_or_else(|| panic!("no {phase} {kind} row:\n{report}"))
    };
    let mut rows = vec![speed("free alone", "free")];
    if taken > 0.0 {
        rows.push(speed("constrained alone", "constrained"));
        rows.push(speed("mixed", "constrained"));
        rows.push(speed("mixed", "free"));
    } else {
        assert!(
            section.contains("constrained streams not measured"),
            "{report}"
        );
    }
    for row in &rows {
        assert!(number(&row[4]) >= 1.0, "no requests:\n{report}");
        assert_eq!(row[5], "0", "stream errors:\n{report}");
        assert!(number(&row[6]) >= 0.0, "{report}");
    }
    assert!(section.contains("### Targets"), "{report}");
}

/// The JSONSchemaBench sample beside the workspace (`../shared/jsonschemabench-sample`), or
/// `SOTTO_TEST_SCHEMAS_DIR`.
fn schema_sample() -> PathBuf {
    let dir = std::env::var_os("SOTTO_TEST_SCHEMAS_DIR").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/jsonschemabench-sample"),
        PathBuf::from,
    );
    assert!(
        dir.is_dir(),
        "{} is missing: the schema sample (or set SOTTO_TEST_SCHEMAS_DIR)",
        dir.display()
    );
    dir
}

/// The cells of the table row for `clients` and `server`.
fn table_row(report: &str, clients: u32, server: &str) -> Option<Vec<String>> {
    report
        .lines()
        .map(cells)
        .find(|cells| cells.len() >= 8 && cells[0] == clients.to_string() && cells[1] == server)
}

/// The cells of `server`'s row in the first table after `heading`.
fn row_after(report: &str, heading: &str, server: &str) -> Option<Vec<String>> {
    let section = &report[report.find(heading)?..];
    section
        .lines()
        .filter(|line| line.starts_with('|'))
        .map(cells)
        .find(|cells| cells[0] == server)
}

/// A markdown table line's cells, trimmed.
fn cells(line: &str) -> Vec<String> {
    line.trim_matches('|')
        .split('|')
        .map(|cell| cell.trim().to_owned())
        .collect()
}

/// `sotto serve` as the server's own tests run it: an ephemeral port, only the default model,
/// 2 slots of 1,024 tokens, open sign-up. Killed when dropped.
struct Sotto {
    child: Child,
    base: String,
    log: PathBuf,
}

impl Drop for Sotto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Sotto {
    /// Starts the server with its models, data and log in `dir`; returns once it listens (the
    /// benchmark itself waits for the model to load).
    // The child is killed and waited for by Drop, which clippy cannot see through.
    #[allow(clippy::zombie_processes)]
    fn start(dir: &Path) -> Self {
        let models = dir.join("models");
        let data = dir.join("data");
        for dir in [&models, &data] {
            std::fs::create_dir_all(dir).expect("dir");
        }
        std::os::unix::fs::symlink(model_file(), models.join(format!("{MODEL}.gguf")))
            .expect("model link");
        let log = dir.join("sotto.log");
        let log_file = File::create(&log).expect("log file");
        let mut command = Command::new(server_binary());
        command
            .args(["serve", "--port=0", "--parallel=2", "--ctx-size=1024"])
            .arg("--models-dir")
            .arg(&models)
            .arg("--data-dir")
            .arg(&data)
            .stdin(Stdio::null())
            .stdout(log_file.try_clone().expect("log file"))
            .stderr(log_file);
        // A developer's own settings (SOTTO_PORT, SOTTO_AUTH...) would change the server.
        for (name, _) in std::env::vars_os() {
            if name.to_string_lossy().starts_with("SOTTO_") {
                command.env_remove(name);
            }
        }
        let child = command.spawn().expect("sotto starts");
        let mut server = Self {
            child,
            base: String::new(),
            log,
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let log = server.log();
            if let Some(at) = log.find("listening on http://") {
                let address: String = log[at + "listening on ".len()..]
                    .chars()
                    .take_while(|c| !c.is_whitespace())
                    .collect();
                server.base = address;
                return server;
            }
            if let Ok(Some(status)) = server.child.try_wait() {
                panic!("sotto exited ({status}) before it listened:\n{log}");
            }
            assert!(Instant::now() < deadline, "sotto did not start:\n{log}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Signs a user up and creates an API key for them, over HTTP like a person would.
    async fn create_api_key(&self) -> String {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(60))
            .build()
            .expect("client");
        let signup = client
            .post(format!("{}/signup", self.base))
            .json(&json!({ "email": "bench@example.com", "password": "correct horse battery" }))
            .send()
            .await
            .expect("signup request");
        assert_eq!(signup.status(), 200, "signup failed:\n{}", self.log());
        // `sotto=TOKEN; HttpOnly; ...` over plain HTTP.
        let session = signup
            .headers()
            .get("set-cookie")
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.split(';').next())
            .expect("a session cookie")
            .to_owned();
        let keys = client
            .post(format!("{}/account/keys", self.base))
            .header("cookie", session)
            .json(&json!({ "name": "bench" }))
            .send()
            .await
            .expect("key request");
        assert_eq!(keys.status(), 201, "no API key:\n{}", self.log());
        let body: Value = keys.json().await.expect("json");
        body["new_key"].as_str().expect("new key").to_owned()
    }
}

/// The server binary: `SOTTO_TEST_SERVER_BIN`, else the `sotto` that cargo built beside this
/// test (`target/<profile>/deps/bench_smoke-*` → `target/<profile>/sotto`). Cargo builds it
/// with the server's tests (`cargo test --workspace`, `make test`), not for this crate alone.
fn server_binary() -> PathBuf {
    if let Some(path) = std::env::var_os("SOTTO_TEST_SERVER_BIN") {
        let path = PathBuf::from(path);
        assert!(
            path.is_file(),
            "SOTTO_TEST_SERVER_BIN={} is not a file",
            path.display()
        );
        return path;
    }
    let test = std::env::current_exe().expect("the test's path");
    let profile_dir = test
        .parent()
        .and_then(Path::parent)
        .expect("the test runs from target/<profile>/deps/");
    let binary = profile_dir.join("sotto");
    assert!(
        binary.is_file(),
        "{} is missing: build the server in the same profile first (`cargo build --release -p \
         sotto` for target/release), or name a sotto binary in SOTTO_TEST_SERVER_BIN",
        binary.display()
    );
    binary
}

/// The default model file in the workspace's models/ (or `SOTTO_TEST_MODELS_DIR`, as for the
/// server's tests).
fn model_file() -> PathBuf {
    let dir = std::env::var_os("SOTTO_TEST_MODELS_DIR").map_or_else(
        || {
            let workspace = Path::new(env!("CARGO_MANIFEST_DIR"))
                .parent()
                .expect("bench/ is inside the workspace");
            workspace.join("models")
        },
        PathBuf::from,
    );
    let file = dir.join(format!("{MODEL}.gguf"));
    assert!(
        file.exists(),
        "{} is missing: run `make model`",
        file.display()
    );
    file
}
