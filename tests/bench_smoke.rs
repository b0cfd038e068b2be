//! `sotto-bench` against a real sotto: it runs, and its report has a row per level with tokens
//! and no errors, and a row for each scenario. Not a performance test: nothing here depends
//! on how fast the machine is.

mod common;

use std::process::Command;

#[tokio::test(flavor = "multi_thread")]
async fn the_benchmark_reports_every_level_and_scenario_of_a_running_sotto() {
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
        "--turns=3".to_owned(),
        "--conversations=1".to_owned(),
        "--think-ms=50".to_owned(),
        "--long-prompt=200".to_owned(),
        "--long-prompt-streams=1".to_owned(),
        "--long-prompt-runs=1".to_owned(),
        "--long-prompt-stream-tokens=400".to_owned(),
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
