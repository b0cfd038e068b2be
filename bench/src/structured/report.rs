//! The structured-output section of the markdown report, with the targets checked.

use std::fmt::Write as _;

use super::coverage::Tally;
use super::speed::StreamStats;
use super::Results;

/// How many refusal and error reasons the report lists per server.
const REASONS: usize = 6;

pub fn markdown(results: &Results, servers: &[String]) -> String {
    let Some(setup) = &results.setup else {
        return String::new();
    };
    let mut md = format!(
        "\n## Structured output\n\nSchemas from `{}` (at most {} per dataset, in file name \
         order), each sent once as `response_format: {{\"type\": \"json_schema\", \
         \"json_schema\": {{\"name\": \"s\", \"schema\": …, \"strict\": true}}}}` with a fixed \
         prompt, max_tokens {}, temperature 0, {} requests at a time, {} s timeout. Valid: \
         `stop` and the reply validates (the `jsonschema` crate, formats checked); truncated: \
         `length`; refused: a 4xx; invalid: `stop` but the reply does not parse or validate; \
         error: a 5xx, a broken stream or the timeout; unchecked: `stop`, but the bench's \
         validator cannot compile the schema. Coverage: valid + unchecked, in percent of the \
         schemas (a truncated reply proves nothing either way).\n\n\
         | Dataset | Schemas | Server | Valid | Truncated | Refused | Invalid | Error \
         | Unchecked | Coverage % |\n|---|---:|---|---:|---:|---:|---:|---:|---:|---:|\n",
        setup.dir.display(),
        setup.per_dataset,
        setup.max_tokens,
        setup.clients,
        setup.timeout.as_secs(),
    );
    let mut totals = vec![Tally::default(); servers.len()];
    for (index, dataset) in results.datasets.iter().enumerate() {
        for (server, tallies) in servers.iter().zip(&results.coverage) {
            if let Some(tally) = tallies.get(index) {
                coverage_row(&mut md, dataset, server, tally);
            }
        }
    }
    for (total, tallies) in totals.iter_mut().zip(&results.coverage) {
        for tally in tallies {
            total.schemas += tally.schemas;
            total.valid += tally.valid;
            total.truncated += tally.truncated;
            total.refused += tally.refused;
            total.invalid += tally.invalid;
            total.errors += tally.errors;
            total.unchecked += tally.unchecked;
        }
    }
    for (server, total) in servers.iter().zip(&totals) {
        coverage_row(&mut md, "**All**", server, total);
    }
    for (server, reasons) in servers.iter().zip(&results.reasons) {
        if reasons.is_empty() {
            continue;
        }
        let _ = writeln!(
            md,
            "\nMost frequent refusal and error reasons on {server}:\n"
        );
        for (reason, count) in reasons.iter().take(REASONS) {
            let _ = writeln!(md, "- {count} × {reason}");
        }
    }
    for (server, invalid) in servers.iter().zip(&results.invalid) {
        if !invalid.is_empty() {
            let _ = writeln!(md, "\nInvalid replies on {server}: {}", invalid.join(", "));
        }
    }
    for (server, failed) in servers.iter().zip(&results.failed) {
        if !failed.is_empty() {
            let _ = writeln!(md, "\nErrors on {server}: {}", failed.join(", "));
        }
    }
    md.push_str(&differing(results, servers));
    md.push_str(&speed(results, servers));
    md.push_str(&targets(results, servers));
    md
}

/// The schemas whose outcome differs between the servers, each server's outcome with its
/// completion tokens (the replies are in the run's log).
fn differing(results: &Results, servers: &[String]) -> String {
    if results.differing.is_empty() {
        return String::new();
    }
    let mut md = format!(
        "\n### Where the servers differ\n\n| Schema | {} |\n|---|{}\n",
        servers.join(" | "),
        "---|".repeat(servers.len())
    );
    for (schema, outcomes) in &results.differing {
        let cells: Vec<String> = outcomes
            .iter()
            .map(|(outcome, tokens)| format!("{outcome:?} ({tokens} tokens)"))
            .collect();
        let _ = writeln!(md, "| {schema} | {} |", cells.join(" | "));
    }
    md
}

fn coverage_row(md: &mut String, dataset: &str, server: &str, t: &Tally) {
    let _ = writeln!(
        md,
        "| {dataset} | {} | {server} | {} | {} | {} | {} | {} | {} | {} |",
        t.schemas,
        t.valid,
        t.truncated,
        t.refused,
        t.invalid,
        t.errors,
        t.unchecked,
        opt0(t.coverage_percent())
    );
}

fn speed(results: &Results, servers: &[String]) -> String {
    let Some(setup) = &results.setup else {
        return String::new();
    };
    let mut md = format!(
        "\n### Constrained and free streams\n\nThree phases of {} s on each server in turn: \
         {} constrained streams alone, {} free streams alone, then half of each. A constrained \
         stream sends the fixed prompt with one of the schemas below, back to back (its reply \
         ends when the document is complete); a free one sends the load prompts with the banned \
         tokens, max_tokens {} for both. Per-stream: decode speed, sum of (tokens - 1) over sum \
         of (last token - first token) over the phase's requests; total: tokens received in \
         the window per second; TTFT includes the grammar's compilation.\n\n",
        setup.window.as_secs_f64(),
        setup.streams,
        setup.streams,
        setup.stream_tokens,
    );
    if !results.speed_schemas.is_empty() {
        let _ = writeln!(
            md,
            "Schemas of the constrained streams: {}.\n",
            results.speed_schemas.join(", ")
        );
    }
    if let Some(note) = &results.speed_note {
        let _ = writeln!(md, "{note}.\n");
    }
    md.push_str(
        "| Server | Phase | Kind | Streams | Requests | Errors | Total tok/s | Per-stream tok/s \
         | TTFT p50 ms |\n|---|---|---|---:|---:|---:|---:|---:|---:|\n",
    );
    let names = ["constrained alone", "free alone", "mixed"];
    for (server, phases) in servers.iter().zip(&results.speed) {
        for (phase, stats) in names.iter().zip(phases) {
            for (kind, s) in [("constrained", &stats.constrained), ("free", &stats.free)] {
                if s.streams > 0 {
                    speed_row(&mut md, (server, phase, kind), s);
                }
            }
        }
    }
    for (server, phases) in servers.iter().zip(&results.speed) {
        let errors = phases
            .iter()
            .flat_map(|p| [&p.constrained, &p.free])
            .find_map(|s| s.first_error.as_ref());
        if let Some(error) = errors {
            let _ = writeln!(md, "\nFirst stream error on {server}: {error}");
        }
    }
    md
}

fn speed_row(md: &mut String, (server, phase, kind): (&str, &str, &str), s: &StreamStats) {
    let _ = writeln!(
        md,
        "| {server} | {phase} | {kind} | {} | {} | {} | {:.1} | {} | {} |",
        s.streams,
        s.requests,
        s.errors,
        s.total_tps,
        opt1(s.per_stream_tps),
        opt0(s.ttft_p50_ms)
    );
}

/// The targets, per server; coverage is compared with the second server's.
fn targets(results: &Results, servers: &[String]) -> String {
    let mut md = String::from(
        "\n### Targets\n\nConstrained ÷ free: per-stream speed of constrained streams alone over \
         free streams alone (target ≥ 0.8). Free slowdown: how much slower free streams decode \
         mixed with constrained ones than alone (target < 5%). Coverage ahead: on every dataset, \
         this server's coverage is above the second server's (= where both are equal).\n\n\
         | Server | Constrained ÷ free | Free slowdown mixed % | Invalid replies | Coverage ahead |\n\
         |---|---:|---:|---:|---|\n",
    );
    for (index, server) in servers.iter().enumerate() {
        let Some(phases) = results.speed.get(index) else {
            continue;
        };
        let free = phases[1].free.per_stream_tps;
        let ratio = ratio_of(phases[0].constrained.per_stream_tps, free);
        let slowdown = ratio_of(phases[2].free.per_stream_tps, free).map(|r| 100.0 * (1.0 - r));
        let invalid: usize = results.coverage[index].iter().map(|t| t.invalid).sum();
        let ahead = match (index, results.coverage.get(1)) {
            (0, Some(other)) => ahead(&results.coverage[0], other, &results.datasets),
            _ => "n/a".to_owned(),
        };
        let _ = writeln!(
            md,
            "| {server} | {} | {} | {invalid} | {ahead} |",
            opt2(ratio),
            opt1(slowdown)
        );
    }
    md
}

/// "yes", or the datasets where `ours` is behind (`=` marks a tie).
fn ahead(ours: &[Tally], other: &[Tally], datasets: &[String]) -> String {
    let mut behind = Vec::new();
    let mut ties = Vec::new();
    for ((a, b), name) in ours.iter().zip(other).zip(datasets) {
        match (a.coverage_percent(), b.coverage_percent()) {
            (Some(a), Some(b)) if a < b => behind.push(name.as_str()),
            (Some(a), Some(b)) if a == b => ties.push(name.as_str()),
            _ => {}
        }
    }
    match (behind.is_empty(), ties.is_empty()) {
        (true, true) => "yes".to_owned(),
        (true, false) => format!("yes (= on {})", ties.join(", ")),
        (false, _) => format!("no: behind on {}", behind.join(", ")),
    }
}

fn ratio_of(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    let (a, b) = (a?, b?);
    (b > 0.0).then(|| a / b)
}

pub fn opt0(value: Option<f64>) -> String {
    crate::report::opt(value, 0)
}

pub fn opt1(value: Option<f64>) -> String {
    crate::report::opt(value, 1)
}

fn opt2(value: Option<f64>) -> String {
    crate::report::opt(value, 2)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tally(valid: usize, refused: usize) -> Tally {
        Tally {
            schemas: valid + refused,
            valid,
            refused,
            ..Tally::default()
        }
    }

    #[test]
    fn ahead_names_the_datasets_behind_and_ties() {
        let names = ["a".to_owned(), "b".to_owned()];
        let ours = [tally(3, 1), tally(2, 2)];
        assert_eq!(ahead(&ours, &[tally(2, 2), tally(1, 3)], &names), "yes");
        assert_eq!(
            ahead(&ours, &[tally(3, 1), tally(1, 3)], &names),
            "yes (= on a)"
        );
        assert_eq!(
            ahead(&ours, &[tally(2, 2), tally(4, 0)], &names),
            "no: behind on b"
        );
    }
}
