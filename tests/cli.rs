//! The command line documents every serve flag and its environment variable.

use std::process::Command;

#[test]
fn serve_help_lists_every_flag_with_its_environment_variable() {
    let output = Command::new(env!("CARGO_BIN_EXE_sotto"))
        .args(["serve", "--help"])
        .output()
        .expect("runs");
    assert!(output.status.success());
    let help = String::from_utf8_lossy(&output.stdout);
    for (flag, env) in [
        ("--host", "SOTTO_HOST"),
        ("--port", "SOTTO_PORT"),
        ("--models-dir", "SOTTO_MODELS_DIR"),
        ("--model", "SOTTO_MODEL"),
        ("--parallel", "SOTTO_PARALLEL"),
        ("--ctx-size", "SOTTO_CTX_SIZE"),
        ("--threads", "SOTTO_THREADS"),
        ("--queue", "SOTTO_QUEUE"),
        ("--max-body", "SOTTO_MAX_BODY"),
        ("--data-dir", "SOTTO_DATA_DIR"),
    ] {
        assert!(
            help.contains(flag) && help.contains(env),
            "{flag} / {env} missing from:\n{help}"
        );
    }
}

#[test]
fn an_unknown_model_id_fails_at_start_up_with_a_clear_message() {
    let dir = tempfile::tempdir().expect("temp dir");
    let output = Command::new(env!("CARGO_BIN_EXE_sotto"))
        .args(["serve", "--port", "0", "--model", "missing-model"])
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .arg("--models-dir")
        .arg(dir.path())
        .env("RUST_LOG", "info")
        .output()
        .expect("runs");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("missing-model"), "{stderr}");
}

#[test]
fn flags_can_come_from_the_environment() {
    // SOTTO_PARALLEL is read (and validated) like --parallel.
    let dir = tempfile::tempdir().expect("temp dir");
    let output = Command::new(env!("CARGO_BIN_EXE_sotto"))
        .args(["serve", "--port", "0"])
        .arg("--models-dir")
        .arg(dir.path())
        .env("SOTTO_PARALLEL", "0")
        .output()
        .expect("runs");
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("parallel"));
}
