//! `sotto-bench` against a real sotto: it runs, and its report has a row per level with tokens
//! and no errors. Not a performance test: nothing here depends on how fast the machine is.

mod common;

use std::process::Command;

#[tokio::test(flavor = "multi_thread")]
async fn the_benchmark_reports_every_level_of_a_running_sotto() {
    let app = common::spawn_app(|config| config.parallel = 2).await;
    let out = tempfile::tempdir().expect("out dir");
    let bench = env!("CARGO_BIN_EXE_sotto-bench");
    let args = [
        format!("--url=sotto={}", app.base),
        format!("--api-key={}", app.api_key),
        format!("--request-model={}", common::MODEL),
        "--levels=1,2".to_owned(),
        "--duration=2".to_owned(),
        "--max-tokens=16".to_owned(),
        "--ban-tokens=0,2".to_owned(),
        format!("--out={}", out.path().display()),
    ];
    // The server runs on this test's runtime: the benchmark must not block it.
    let output = tokio::task::spawn_blocking(move || Command::new(bench).args(args).output())
        .await
        .expect("join")
        .expect("sotto-bench runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "sotto-bench failed:\n{stderr}");

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
    let png = std::fs::read(out.path().join("latest.png")).expect("latest.png");
    assert!(png.starts_with(b"\x89PNG"), "the chart is a PNG");
}

/// The cells of the table row for `clients` and `server`.
fn table_row(report: &str, clients: u32, server: &str) -> Option<Vec<String>> {
    report.lines().find_map(|line| {
        let cells: Vec<String> = line
            .trim_matches('|')
            .split('|')
            .map(|cell| cell.trim().to_owned())
            .collect();
        (cells.len() >= 8 && cells[0] == clients.to_string() && cells[1] == server).then_some(cells)
    })
}
