//! The markdown report: settings, machine, the table and the ratio of the first two servers.

use std::fmt::Write as _;

use crate::batched_bench::Batched;
use crate::conversation::ConversationStats;
use crate::llama_bench::Tg128;
use crate::prefill_gap::GapStats;
use crate::stats::LevelStats;
use crate::structured;

/// One measured server as the report names it.
pub struct ServerInfo {
    pub name: String,
    pub base: String,
    pub command: Option<String>,
}

/// What was measured beside the load levels; per-server lists are in `servers` order.
#[derive(Default)]
pub struct Scenarios {
    /// llama-bench tg128 just before and just after the 1-client level.
    pub tg128: Vec<Tg128>,
    /// llama-batched-bench at the levels' sequence counts, before the levels.
    pub batched: Option<Batched>,
    pub conversations: Vec<ConversationStats>,
    pub gaps: Vec<GapStats>,
    pub structured: Option<structured::Results>,
}

pub struct Report {
    pub command_line: String,
    pub settings: Vec<String>,
    pub servers: Vec<ServerInfo>,
    /// Per level, the stats of each server in `servers` order.
    pub levels: Vec<Vec<LevelStats>>,
    pub scenarios: Scenarios,
    pub notes: Vec<String>,
    pub load_before: String,
    pub load_after: String,
}

impl Report {
    pub fn markdown(&self) -> String {
        let mut md = String::new();
        md.push_str("# sotto-bench results\n\n");
        let _ = writeln!(md, "- Date: {}", utc_now());
        let _ = writeln!(md, "- Machine: {}", machine());
        let _ = writeln!(
            md,
            "- Load average (1, 5, 15 min) before the run: {}; after: {}",
            self.load_before, self.load_after
        );
        let _ = writeln!(md, "- Command: `{}`", self.command_line);
        for setting in &self.settings {
            let _ = writeln!(md, "- {setting}");
        }
        md.push_str("\n## Servers\n\n");
        for server in &self.servers {
            match &server.command {
                Some(command) => {
                    let _ = writeln!(md, "- **{}**: `{command}`", server.name);
                }
                None => {
                    let _ = writeln!(
                        md,
                        "- **{}**: already running at {}",
                        server.name, server.base
                    );
                }
            }
        }
        if !self.levels.is_empty() {
            md.push_str(&self.levels_section());
        }
        md.push_str(&self.engine_limit());
        md.push_str(&self.single_stream());
        md.push_str(&self.conversations());
        md.push_str(&self.gaps());
        if let Some(results) = &self.scenarios.structured {
            let names: Vec<String> = self.servers.iter().map(|s| s.name.clone()).collect();
            md.push_str(&structured::report::markdown(results, &names));
        }
        if !self.notes.is_empty() {
            md.push_str("\n## Notes\n\n");
            for note in &self.notes {
                let _ = writeln!(md, "- {note}");
            }
        }
        md
    }

    /// The levels' table with its legend and first errors.
    fn levels_section(&self) -> String {
        let mut md = String::from("\n## Results\n\n");
        md.push_str(&self.table());
        md.push_str(
            "\nTotal: completion tokens received during the level's window, per second. \
             Per-stream: mean of (tokens - 1) / (last token - first token) over requests that \
             ended inside the window. TTFT: from sending the request to the first text chunk. \
             Peak RSS: the server's VmHWM so far. CPU: server CPU time over the window \
             (100% = one core). Prompt cached: prompt tokens the server says it re-used \
             (`usage.prompt_tokens_details.cached_tokens`) over all prompt tokens.\n",
        );
        if let Some(errors) = self.first_errors() {
            md.push_str("\nFirst error per server and level:\n\n");
            md.push_str(&errors);
        }
        md
    }

    fn table(&self) -> String {
        let mut md = String::from(
            "| Clients | Server | Total tok/s | Per-stream tok/s | TTFT p50 ms | TTFT p95 ms \
             | Requests | Errors | Peak RSS MiB | CPU % | Prompt cached % |\n\
             |---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
        );
        for level in &self.levels {
            for (stats, server) in level.iter().zip(&self.servers) {
                let _ = writeln!(
                    md,
                    "| {} | {} | {:.1} | {} | {} | {} | {} | {} | {} | {} | {} |",
                    stats.clients,
                    server.name,
                    stats.total_tps,
                    opt(stats.per_stream_tps, 1),
                    opt(stats.ttft_p50_ms, 0),
                    opt(stats.ttft_p95_ms, 0),
                    stats.requests,
                    stats.errors,
                    opt(stats.peak_rss_mib, 0),
                    opt(stats.cpu_percent, 0),
                    opt(stats.cached_prompt_percent, 0),
                );
            }
            if let [a, b, ..] = level.as_slice() {
                let _ = writeln!(
                    md,
                    "| {} | **{} ÷ {}** | **{}** | {} | {} | {} | | | {} | | |",
                    a.clients,
                    self.servers[0].name,
                    self.servers[1].name,
                    opt(ratio(Some(a.total_tps), Some(b.total_tps)), 2),
                    opt(ratio(a.per_stream_tps, b.per_stream_tps), 2),
                    opt(ratio(a.ttft_p50_ms, b.ttft_p50_ms), 2),
                    opt(ratio(a.ttft_p95_ms, b.ttft_p95_ms), 2),
                    opt(ratio(a.peak_rss_mib, b.peak_rss_mib), 2),
                );
            }
        }
        md
    }

    /// Each server's total at each level against the engine's generation rate with as many
    /// sequences (llama-batched-bench).
    fn engine_limit(&self) -> String {
        let Some(batched) = &self.scenarios.batched else {
            return String::new();
        };
        let mut md = format!(
            "\n## Against the engine's limit\n\n`{}`, run once before the levels: the \
             generation rate of llama.cpp alone with as many sequences decoding together as \
             a server with {} slots decodes at that level (`speed_tg`; past {} clients the rest \
             wait), no server and no HTTP. A server's total also pays for every request's \
             prompt and for the gaps between requests, so it stays below.\n\n\
             | Clients | Sequences | Engine tok/s |",
            batched.command, batched.slots, batched.slots
        );
        for server in &self.servers {
            let _ = write!(md, " {} tok/s | {} ÷ engine |", server.name, server.name);
        }
        md.push_str("\n|---:|---:|---:|");
        md.push_str(&"---:|---:|".repeat(self.servers.len()));
        md.push('\n');
        for level in &self.levels {
            let Some(clients) = level.first().map(|stats| stats.clients) else {
                continue;
            };
            let engine = batched.at_level(clients);
            let sequences = clients.min(batched.slots);
            let _ = write!(md, "| {clients} | {sequences} | {} |", opt(engine, 1));
            for stats in level {
                let _ = write!(
                    md,
                    " {:.1} | {} |",
                    stats.total_tps,
                    opt(ratio(Some(stats.total_tps), engine), 2)
                );
            }
            md.push('\n');
        }
        md
    }

    /// Each server's single-client decode speed against llama-bench's tg128.
    fn single_stream(&self) -> String {
        let Some(first) = self.scenarios.tg128.first() else {
            return String::new();
        };
        let runs = &self.scenarios.tg128;
        let mean = runs.iter().map(|t| t.tokens_per_second).sum::<f64>() / runs.len() as f64;
        let each: Vec<String> = runs
            .iter()
            .map(|t| format!("{:.1} ± {:.1}", t.tokens_per_second, t.stddev))
            .collect();
        let mut md = format!(
            "\n## Single stream against llama-bench\n\n`{}`, run just before and just after \
             the 1-client level: tg128 {} tokens/s, mean {mean:.1}.\n\n\
             | Server | Per-stream tok/s at 1 client | ÷ tg128 |\n|---|---:|---:|\n",
            first.command,
            each.join(" and "),
        );
        let single = self
            .levels
            .iter()
            .find(|l| l.first().is_some_and(|s| s.clients == 1));
        for (stats, server) in single.into_iter().flatten().zip(&self.servers) {
            let _ = writeln!(
                md,
                "| {} | {} | {} |",
                server.name,
                opt(stats.per_stream_tps, 1),
                opt(ratio(stats.per_stream_tps, Some(mean)), 2)
            );
        }
        md
    }

    fn conversations(&self) -> String {
        let Some(first) = self.scenarios.conversations.first() else {
            return String::new();
        };
        let turns = first.ttft_ms.len().max(1);
        let mut md = format!(
            "\n## Conversation\n\nOne client, {} conversations of {} turns each, one after \
             the other; every turn sends the whole conversation so far (the server's own \
             replies included) plus a new question, {} ms after the previous reply ended (a \
             person reading it and typing). Time to first token by turn, median over \
             the conversations, in ms; growth is the last turn's over the first's. Cold: the \
             first conversation's first turn, when the server had nothing cached; later first \
             turns may re-use the chat template's cached preamble (a default system prompt).\n\n\
             | Server | {} | Growth | Cold turn 1 | Growth from cold | Last prompt tokens \
             | Last cached tokens | Errors |\n\
             |---|{}---:|---:|---:|---:|---:|---:|\n",
            first.shape.conversations,
            turns,
            first.shape.think.as_millis(),
            (1..=turns)
                .map(|t| format!("Turn {t}"))
                .collect::<Vec<_>>()
                .join(" | "),
            "---:|".repeat(turns),
        );
        for (stats, server) in self.scenarios.conversations.iter().zip(&self.servers) {
            let ttfts: Vec<String> = (0..turns)
                .map(|t| opt(stats.ttft_ms.get(t).copied(), 0))
                .collect();
            let _ = writeln!(
                md,
                "| {} | {} | {} | {} | {} | {} | {} | {} |",
                server.name,
                ttfts.join(" | "),
                opt(stats.growth(), 2),
                opt(stats.cold_ttft_ms, 0),
                opt(stats.growth_from_cold(), 2),
                opt(stats.last_prompt_tokens, 0),
                opt(stats.last_cached_tokens, 0),
                stats.errors
            );
        }
        md.push_str(&scenario_errors(
            self.scenarios.conversations.iter().map(|s| &s.first_error),
            &self.servers,
        ));
        md
    }

    fn gaps(&self) -> String {
        let Some(first) = self.scenarios.gaps.first() else {
            return String::new();
        };
        let mut md = format!(
            "\n## Long prompt while streams run\n\n{} streams are generating when a request \
             with a long prompt arrives ({} runs per server, a new prompt each time). Prefill: \
             the long request's time to first token (median). Longest gap: the longest time \
             between two tokens of a running stream while it was prefilled (worst over the \
             runs); steady: the same in the second before it arrived.\n\n\
             | Server | Long prompt tokens | Prefill ms | Longest gap ms | Steady gap ms | Errors |\n\
             |---|---:|---:|---:|---:|---:|\n",
            first.streams, first.runs
        );
        for (stats, server) in self.scenarios.gaps.iter().zip(&self.servers) {
            let _ = writeln!(
                md,
                "| {} | {} | {} | {} | {} | {} |",
                server.name,
                opt(stats.prompt_tokens, 0),
                opt(stats.prefill_ms, 0),
                opt(stats.longest_gap_ms, 0),
                opt(stats.steady_gap_ms, 0),
                stats.errors
            );
        }
        md.push_str(&scenario_errors(
            self.scenarios.gaps.iter().map(|s| &s.first_error),
            &self.servers,
        ));
        md
    }

    fn first_errors(&self) -> Option<String> {
        let mut md = String::new();
        for level in &self.levels {
            for (stats, server) in level.iter().zip(&self.servers) {
                if let Some(error) = &stats.first_error {
                    let _ = writeln!(md, "- {} clients, {}: {error}", stats.clients, server.name);
                }
            }
        }
        (!md.is_empty()).then_some(md)
    }
}

/// "First error" lines of a scenario, one per server that had one.
fn scenario_errors<'a>(
    errors: impl Iterator<Item = &'a Option<String>>,
    servers: &[ServerInfo],
) -> String {
    let mut md = String::new();
    for (error, server) in errors.zip(servers) {
        if let Some(error) = error {
            let _ = writeln!(md, "\nFirst error on {}: {error}", server.name);
        }
    }
    md
}

pub fn opt(value: Option<f64>, decimals: usize) -> String {
    value.map_or_else(|| "n/a".to_owned(), |v| format!("{v:.decimals$}"))
}

fn ratio(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    let (a, b) = (a?, b?);
    (b > 0.0).then(|| a / b)
}

/// Cores, CPU model and kernel of this machine.
pub fn machine() -> String {
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name")?.split_once(':'))
        .map_or("unknown CPU", |(_, name)| name.trim());
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    format!("{cores} cores (nproc), {model}, Linux {}", kernel.trim())
}

/// The 1, 5 and 15 minute load averages.
pub fn load_average() -> String {
    let loadavg = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    loadavg
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

/// How idle all CPUs are over `window`, from `/proc/stat` (the load average lags too much).
pub async fn idle_percent(window: std::time::Duration) -> Option<f64> {
    let before = cpu_times()?;
    tokio::time::sleep(window).await;
    let after = cpu_times()?;
    let total = after.0.checked_sub(before.0)?;
    (total > 0).then(|| 100.0 * after.1.saturating_sub(before.1) as f64 / total as f64)
}

/// (all, idle + iowait) jiffies of the `cpu` line.
fn cpu_times() -> Option<(u64, u64)> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let fields: Vec<u64> = stat
        .lines()
        .next()?
        .split_whitespace()
        .skip(1)
        .take(8)
        .map(|v| v.parse().ok())
        .collect::<Option<_>>()?;
    Some((fields.iter().sum(), fields.get(3)? + fields.get(4)?))
}

/// `YYYY-MM-DD HH:MM UTC`.
fn utc_now() -> String {
    utc_minute(std::time::SystemTime::now())
}

fn utc_minute(time: std::time::SystemTime) -> String {
    // `YYYY-MM-DDTHH:MM:SSZ`: fixed width up to the year 9999.
    let stamp = humantime::format_rfc3339_seconds(time).to_string();
    format!("{} {} UTC", &stamp[..10], &stamp[11..16])
}

/// The command line as typed, quoted where the shell would need it.
pub fn command_line() -> String {
    std::env::args()
        .map(|arg| {
            let plain = !arg.is_empty()
                && arg
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_./=,:@+%".contains(c));
            if plain {
                arg
            } else {
                format!("'{}'", arg.replace('\'', r"'\''"))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_utc_to_the_minute() {
        let at = |secs| std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs);
        assert_eq!(utc_minute(at(0)), "1970-01-01 00:00 UTC");
        assert_eq!(
            utc_minute(at(20_416 * 86_400 + 13 * 3600 + 7 * 60 + 59)),
            "2025-11-24 13:07 UTC"
        );
        assert_eq!(utc_minute(at(951_782_400)), "2000-02-29 00:00 UTC");
    }

    #[test]
    fn ratios_need_both_sides() {
        assert_eq!(ratio(Some(3.0), Some(2.0)), Some(1.5));
        assert_eq!(ratio(Some(3.0), None), None);
        assert_eq!(ratio(Some(3.0), Some(0.0)), None);
    }
}
