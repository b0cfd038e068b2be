//! The structured-output scenario: JSON Schema coverage per dataset of a schema sample
//! (JSONSchemaBench's), and the speed of streams constrained by real schemas, alone and mixed
//! with free ones. Every server gets the same schemas, in turn.

mod corpus;
pub mod coverage;
pub mod report;
pub mod speed;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use crate::load::{Plan, Target};
use coverage::{Answer, Outcome, Tally};
use speed::PhaseStats;

/// The scenario's shape, from the command line.
#[derive(Debug, Clone)]
pub struct Setup {
    pub dir: PathBuf,
    pub per_dataset: usize,
    pub max_tokens: u32,
    pub timeout: Duration,
    /// Coverage requests in flight at once.
    pub clients: usize,
    pub streams: usize,
    pub stream_tokens: u32,
    pub window: Duration,
}

/// Everything the scenario measured; per-server lists are in the servers' order.
#[derive(Debug, Clone, Default)]
pub struct Results {
    pub setup: Option<Setup>,
    pub datasets: Vec<String>,
    /// Per server, per dataset.
    pub coverage: Vec<Vec<Tally>>,
    /// Per server: how often each refusal or error reason came (reason, count), most first.
    pub reasons: Vec<Vec<(String, usize)>>,
    /// Per server: the schemas whose reply broke them or that failed (`dataset/file`), to
    /// try again by hand.
    pub invalid: Vec<Vec<String>>,
    pub failed: Vec<Vec<String>>,
    /// The schemas whose outcome differs between servers (`dataset/file`), with each
    /// server's outcome and completion tokens.
    pub differing: Vec<(String, Vec<(Outcome, u64)>)>,
    /// The schemas of the constrained streams (`dataset/file`).
    pub speed_schemas: Vec<String>,
    /// Why the constrained streams did not run, when they did not.
    pub speed_note: Option<String>,
    /// Per server: constrained alone, free alone, mixed.
    pub speed: Vec<[PhaseStats; 3]>,
}

/// Runs coverage on every server, then the speed phases, each phase on every server in turn.
pub async fn run(
    client: &reqwest::Client,
    targets: &[(String, Target)],
    plan: &Arc<Plan>,
    setup: &Setup,
) -> anyhow::Result<Results> {
    let datasets = corpus::load(&setup.dir, setup.per_dataset)?;
    let schemas: Vec<&corpus::Schema> = datasets.iter().flat_map(|(_, s)| s).collect();
    let mut results = Results {
        setup: Some(setup.clone()),
        datasets: datasets.iter().map(|(name, _)| name.clone()).collect(),
        ..Results::default()
    };
    let mut answers = Vec::new();
    for (name, target) in targets {
        let shape = (setup.max_tokens, setup.clients, setup.timeout);
        let server = coverage::run(client, target, plan, &schemas, shape).await;
        let tallies: Vec<Tally> = datasets
            .iter()
            .map(|(dataset, _)| {
                let mut tally = Tally::default();
                for (schema, answer) in schemas.iter().zip(&server) {
                    if &schema.dataset == dataset {
                        tally.add(answer.outcome);
                    }
                }
                tally
            })
            .collect();
        eprintln!(
            "structured     {name:<14} coverage %: {}",
            tallies
                .iter()
                .map(|t| report::opt0(t.coverage_percent()))
                .collect::<Vec<_>>()
                .join(" ")
        );
        results.coverage.push(tallies);
        results.reasons.push(reasons(&server));
        let files = |outcome: Outcome| -> Vec<String> {
            schemas
                .iter()
                .zip(&server)
                .filter(|(_, a)| a.outcome == outcome)
                .map(|(s, _)| format!("{}/{}", s.dataset, s.file))
                .collect()
        };
        results.invalid.push(files(Outcome::Invalid));
        results.failed.push(files(Outcome::Error));
        answers.push(server);
    }

    for (index, schema) in schemas.iter().enumerate() {
        let per_server: Vec<&Answer> = answers.iter().filter_map(|a| a.get(index)).collect();
        if per_server
            .windows(2)
            .all(|pair| pair[0].outcome == pair[1].outcome)
        {
            continue;
        }
        let name = format!("{}/{}", schema.dataset, schema.file);
        // The replies go to the log only, where a reader compares them by hand.
        for ((server, _), answer) in targets.iter().zip(&per_server) {
            eprintln!(
                "structured     differs {name} {server} {:?} {} tokens: {}",
                answer.outcome,
                answer.completion_tokens,
                answer.reply.replace('\n', "\\n")
            );
        }
        let outcomes = per_server
            .iter()
            .map(|a| (a.outcome, a.completion_tokens))
            .collect();
        results.differing.push((name, outcomes));
    }

    let chosen = speed_schemas(&schemas, &answers, setup.streams);
    if chosen.is_empty() {
        results.speed_note = Some(
            "no schema was taken (valid or truncated) by every server: constrained streams \
             not measured"
                .into(),
        );
    }
    results.speed_schemas = chosen
        .iter()
        .map(|&i| format!("{}/{}", schemas[i].dataset, schemas[i].file))
        .collect();
    let chosen: Arc<Vec<Value>> =
        Arc::new(chosen.iter().map(|&i| schemas[i].schema.clone()).collect());
    results.speed = vec![Default::default(); targets.len()];
    for (index, phase) in speed::phases(setup.streams).into_iter().enumerate() {
        if phase.constrained > 0 && chosen.is_empty() {
            continue;
        }
        for ((name, target), stats) in targets.iter().zip(&mut results.speed) {
            let shape = (phase, setup.stream_tokens, setup.window);
            let measured = speed::run_phase(client, target, plan, &chosen, shape).await;
            eprintln!(
                "structured     {name:<14} {} constrained + {} free: {} / {} tok/s per stream",
                phase.constrained,
                phase.free,
                report::opt1(measured.constrained.per_stream_tps),
                report::opt1(measured.free.per_stream_tps),
            );
            stats[index] = measured;
            // Streams hung up at the deadline may still be winding down on the server.
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
    Ok(results)
}

/// The schemas of the constrained streams: those every server took (valid or truncated),
/// longest replies first (the smallest count of completion tokens over the servers), at most
/// `streams` of them. Long replies keep a stream decoding rather than compiling and prefilling.
fn speed_schemas(
    schemas: &[&corpus::Schema],
    answers: &[Vec<Answer>],
    streams: usize,
) -> Vec<usize> {
    let taken = |a: &Answer| matches!(a.outcome, Outcome::Valid | Outcome::Truncated);
    let mut candidates: Vec<(u64, usize)> = (0..schemas.len())
        .filter_map(|i| {
            let per_server: Option<Vec<&Answer>> = answers.iter().map(|a| a.get(i)).collect();
            let per_server = per_server?;
            (!per_server.is_empty() && per_server.iter().all(|a| taken(a))).then(|| {
                (
                    per_server
                        .iter()
                        .map(|a| a.completion_tokens)
                        .min()
                        .unwrap_or(0),
                    i,
                )
            })
        })
        .collect();
    // Longest first; ties in sample order, so a run is reproducible.
    candidates.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    candidates
        .into_iter()
        .take(streams)
        .map(|(_, i)| i)
        .collect()
}

/// Refusal and error reasons with their counts, most frequent first.
fn reasons(answers: &[Answer]) -> Vec<(String, usize)> {
    let mut counts = std::collections::BTreeMap::<String, usize>::new();
    for answer in answers {
        if let Some(reason) = &answer.reason {
            let label = match answer.outcome {
                Outcome::Refused => "refused",
                Outcome::Invalid => "invalid",
                _ => "error",
            };
            *counts
                .entry(format!("{label}: {}", short(reason)))
                .or_default() += 1;
        }
    }
    let mut sorted: Vec<(String, usize)> = counts.into_iter().collect();
    sorted.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    sorted
}

/// A reason cut to one short line, for a table.
fn short(reason: &str) -> String {
    let line = reason.lines().next().unwrap_or_default().replace('|', "/");
    match line.char_indices().nth(120) {
        Some((at, _)) => format!("{}…", &line[..at]),
        None => line,
    }
}
