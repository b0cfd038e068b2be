//! `sotto-bench`: streaming chat load against sotto and llama.cpp's llama-server, side by side.
//! `sotto-bench --help` says what it measures and how.

#![forbid(unsafe_code)]

mod batched_bench;
mod chart;
mod cli;
mod conversation;
mod llama_bench;
mod load;
mod prefill_gap;
mod report;
mod servers;
mod stats;
mod structured;

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Parser;
use tokio::signal::unix::{signal, SignalKind};

use cli::Args;
use load::{Plan, Target};
use report::{Report, Scenarios, ServerInfo};
use servers::{Launch, Server};
use stats::LevelStats;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    args.validate()?;
    // Servers are killed when `run` is dropped: at its end, on an error, on ctrl-c or SIGTERM.
    let mut terminate = signal(SignalKind::terminate())?;
    tokio::select! {
        result = run(&args) => result,
        _ = tokio::signal::ctrl_c() => anyhow::bail!("interrupted: servers stopped"),
        _ = terminate.recv() => anyhow::bail!("terminated: servers stopped"),
    }
}

async fn run(args: &Args) -> anyhow::Result<()> {
    let load_before = report::load_average();
    let idle = report::idle_percent(Duration::from_secs(1)).await;
    if idle.is_some_and(|idle| idle < 80.0) {
        eprintln!("warning: the CPUs are busy before the run: figures will be noisy");
    }
    if args.font.is_file() {
        chart::load_font(&args.font)?;
    }
    let model_id = args.request_model()?;
    let client = http_client(args)?;
    let mut servers = start_servers(args, &model_id)?;
    for server in &mut servers {
        eprintln!("waiting for {} at {}", server.name, server.base);
        let timeout = Duration::from_secs(args.startup_timeout);
        server.wait_ready(&client, &model_id, timeout).await?;
    }

    let plan = Arc::new(Plan {
        model: model_id,
        max_tokens: args.max_tokens,
        temperature: args.temperature,
        seed: args.seed,
        ban_tokens: args.ban_tokens.clone(),
    });
    let targets: Vec<Target> = servers.iter().map(|s| target(args, s)).collect();
    for target in &targets {
        load::warm_up(&client, target, &plan).await?;
    }

    let mut scenarios = Scenarios::default();
    let mut levels = Vec::new();
    let level_list: &[u32] = if args.no_levels { &[] } else { &args.levels };
    if !level_list.is_empty() {
        scenarios.batched = run_batched_bench(args, level_list);
    }
    for &clients in level_list {
        if clients == 1 {
            scenarios.tg128.extend(run_llama_bench(args));
        }
        let mut level = Vec::new();
        for (server, target) in servers.iter().zip(&targets) {
            let stats = measure(&client, server, target, &plan, clients, args.duration()).await?;
            eprintln!(
                "{clients:>3} clients  {:<14} {:>7.1} tok/s total  {:>6} tok/s per stream  \
                 TTFT p50 {:>6} ms  errors {}",
                server.name,
                stats.total_tps,
                stats
                    .per_stream_tps
                    .map_or("n/a".into(), |v| format!("{v:.1}")),
                stats
                    .ttft_p50_ms
                    .map_or("n/a".into(), |v| format!("{v:.0}")),
                stats.errors,
            );
            level.push(stats);
        }
        levels.push(level);
        if clients == 1 {
            // Bracketing the level: the machine's speed drifts within a minute.
            scenarios.tg128.extend(run_llama_bench(args));
        }
    }
    if args.turns > 0 {
        for (server, target) in servers.iter().zip(&targets) {
            let shape = conversation::Shape {
                turns: args.turns,
                conversations: args.conversations,
                think: Duration::from_millis(args.think_ms),
            };
            let stats = conversation::run(&client, target, &plan, &shape).await;
            eprintln!(
                "conversation   {:<14} TTFT by turn (ms): {}  errors {}",
                server.name,
                stats
                    .ttft_ms
                    .iter()
                    .map(|ms| format!("{ms:.0}"))
                    .collect::<Vec<_>>()
                    .join(" "),
                stats.errors
            );
            scenarios.conversations.push(stats);
        }
    }
    if args.long_prompt > 0 {
        for (server, target) in servers.iter().zip(&targets) {
            let setup = prefill_gap::GapSetup {
                streams: args.long_prompt_streams,
                stream_tokens: args.long_prompt_stream_tokens,
                prompt_tokens: args.long_prompt,
                runs: args.long_prompt_runs,
            };
            let stats = prefill_gap::run(&client, target, &plan, &setup).await;
            eprintln!(
                "long prompt    {:<14} prefill {} ms, longest gap {} ms (steady {} ms)  errors {}",
                server.name,
                report::opt(stats.prefill_ms, 0),
                report::opt(stats.longest_gap_ms, 0),
                report::opt(stats.steady_gap_ms, 0),
                stats.errors
            );
            scenarios.gaps.push(stats);
        }
    }
    if args.structured_schemas > 0 {
        let named: Vec<(String, Target)> = servers
            .iter()
            .zip(&targets)
            .map(|(server, target)| (server.name.clone(), target.clone()))
            .collect();
        let results = structured::run(&client, &named, &plan, &structured_setup(args)).await?;
        scenarios.structured = Some(results);
    }
    write_results(args, &servers, levels, scenarios, load_before)
}

fn structured_setup(args: &Args) -> structured::Setup {
    structured::Setup {
        dir: args.structured.clone(),
        per_dataset: args.structured_schemas,
        max_tokens: args.structured_max_tokens,
        timeout: Duration::from_secs(args.structured_timeout),
        clients: args.structured_clients,
        streams: args.structured_streams,
        stream_tokens: args.structured_stream_tokens,
        window: Duration::from_secs_f64(args.structured_duration),
    }
}

/// tg128 of --llama-bench; a failure is reported and the run goes on without it.
fn run_llama_bench(args: &Args) -> Option<llama_bench::Tg128> {
    let binary = args.llama_bench.as_ref()?;
    match llama_bench::run(binary, &args.model, args.threads(), 3) {
        Ok(tg128) => {
            eprintln!("llama-bench tg128 {:.1} tok/s", tg128.tokens_per_second);
            Some(tg128)
        }
        Err(error) => {
            eprintln!("warning: llama-bench: {error:#}");
            None
        }
    }
}

/// --llama-batched-bench at these levels; a failure is reported and the run goes on.
fn run_batched_bench(args: &Args, levels: &[u32]) -> Option<batched_bench::Batched> {
    let binary = args.llama_batched_bench.as_ref()?;
    let shape = batched_bench::Shape {
        model: &args.model,
        threads: args.threads(),
        levels,
        slots: args.parallel,
        prompt_tokens: 64,
        generated_tokens: args.max_tokens,
    };
    match batched_bench::run(binary, &shape) {
        Ok(batched) => {
            for rate in &batched.rates {
                eprintln!(
                    "llama-batched-bench {:>3} sequences {:>7.1} tok/s generated",
                    rate.sequences, rate.generation_tps
                );
            }
            Some(batched)
        }
        Err(error) => {
            eprintln!("warning: llama-batched-bench: {error:#}");
            None
        }
    }
}

/// One connection per request, as many clients do: a kept-alive connection may be closed by
/// the server just as it is reused (llama-server does so), which would count as an error.
fn http_client(args: &Args) -> anyhow::Result<reqwest::Client> {
    Ok(reqwest::Client::builder()
        .timeout(Duration::from_secs(args.request_timeout))
        .pool_max_idle_per_host(0)
        .build()?)
}

fn start_servers(args: &Args, model_id: &str) -> anyhow::Result<Vec<Server>> {
    let launch = Launch {
        model_file: args.model.clone(),
        model_id: model_id.to_owned(),
        threads: args.threads(),
        parallel: args.parallel,
        ctx_size: args.ctx_size,
    };
    let mut servers = Vec::new();
    if let Some(binary) = &args.sotto {
        servers.push(Server::start_sotto(binary, &launch, &args.sotto_arg)?);
    }
    if let Some(binary) = &args.llama_server {
        servers.push(Server::start_llama_server(
            binary,
            &launch,
            &args.llama_server_arg,
        )?);
    }
    for value in &args.url {
        let (name, base) = cli::named_url(value);
        servers.push(Server::external(name, base));
    }
    Ok(servers)
}

/// Started servers need no key (sotto runs with `--auth off`); running ones get --api-key.
fn target(args: &Args, server: &Server) -> Target {
    Target {
        url: server.base.clone(),
        api_key: match server.command {
            Some(_) => None,
            None => args.api_key.clone(),
        },
    }
}

async fn measure(
    client: &reqwest::Client,
    server: &Server,
    target: &Target,
    plan: &Arc<Plan>,
    clients: u32,
    duration: Duration,
) -> anyhow::Result<LevelStats> {
    let cpu_before = server.cpu_seconds();
    let started = Instant::now();
    let run = load::run_level(client, target, plan, clients, duration).await?;
    let wall = started.elapsed().as_secs_f64();
    let mut stats = stats::summarize(&run);
    stats.peak_rss_mib = server.peak_rss_mib();
    stats.cpu_percent = match (cpu_before, server.cpu_seconds()) {
        (Some(before), Some(after)) => Some(100.0 * (after - before) / wall),
        _ => None,
    };
    Ok(stats)
}

fn write_results(
    args: &Args,
    servers: &[Server],
    levels: Vec<Vec<LevelStats>>,
    scenarios: Scenarios,
    load_before: String,
) -> anyhow::Result<()> {
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    let started = args.sotto.is_some() || args.llama_server.is_some();
    let mut settings = vec![format!(
        "Requests: model `{}`, max_tokens {}, temperature {}, seed {}, banned tokens [{}], \
         streaming with usage; {} s per level and server{}",
        args.request_model()?,
        args.max_tokens,
        args.temperature,
        args.seed,
        args.ban_tokens
            .iter()
            .map(u32::to_string)
            .collect::<Vec<_>>()
            .join(", "),
        args.duration,
        if args.no_levels {
            " (levels skipped)"
        } else {
            ""
        },
    )];
    if started {
        settings.push(format!(
            "Started servers: model file `{}`, {} threads, {} slots, {} tokens of context per slot",
            args.model.display(),
            args.threads(),
            args.parallel,
            args.ctx_size
        ));
    }
    let series: Vec<chart::Series> = servers
        .iter()
        .enumerate()
        .map(|(index, server)| chart::Series {
            name: server.name.clone(),
            points: levels
                .iter()
                .filter_map(|level| level.get(index))
                .map(|s| (s.clients, s.total_tps))
                .collect(),
        })
        .collect();
    let report = Report {
        command_line: report::command_line(),
        settings,
        servers: servers
            .iter()
            .map(|s| ServerInfo {
                name: s.name.clone(),
                base: s.base.clone(),
                command: s.command.clone(),
            })
            .collect(),
        levels,
        scenarios,
        notes: args.note.clone(),
        load_before,
        load_after: report::load_average(),
    };
    let markdown = args.out.join("latest.md");
    std::fs::write(&markdown, report.markdown())
        .with_context(|| format!("writing {}", markdown.display()))?;
    eprintln!("wrote {}", markdown.display());
    if args.no_levels {
        // No levels, no chart.
        return Ok(());
    }
    let png = args.out.join("latest.png");
    if !args.font.is_file() {
        anyhow::bail!(
            "no chart: font {} not found (Debian: fonts-dejavu-core, or --font)",
            args.font.display()
        );
    }
    let title = format!("Streaming chat, max_tokens {}", args.max_tokens);
    chart::draw(&png, &title, &series)?;
    eprintln!("wrote {}", png.display());
    Ok(())
}
